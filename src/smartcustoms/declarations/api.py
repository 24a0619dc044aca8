"""REST routes for declarations (thin: the service holds the logic)."""

from __future__ import annotations

import asyncio
from typing import cast

from fastapi import APIRouter, Depends, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from smartcustoms.core.errors import Conflict
from smartcustoms.core.http import current_principal, require
from smartcustoms.core.security import Principal, Role
from smartcustoms.core.wire import MAX_OFFSET
from smartcustoms.declarations.batcher import LodgeBatcher
from smartcustoms.declarations.schemas import (
    CancelIn,
    DecisionIn,
    DeclarationIn,
    DeclarationOut,
    DeclarationSummary,
    EventOut,
)
from smartcustoms.declarations.service import DeclarationInvalid, DeclarationService

router = APIRouter(prefix="/api/v1/declarations", tags=["declarations"])


async def get_service(request: Request) -> DeclarationService:
    """The deployment's declaration service."""
    return request.app.state.platform.declarations


async def get_lodging(request: Request) -> LodgeBatcher:
    """The deployment's lodging worker (micro-batches concurrent lodgements)."""
    return request.app.state.platform.lodging


@router.post("", response_model=DeclarationOut, status_code=201,
             responses={200: {"description": "a repeat of an earlier message: the first result"}})
async def lodge(body: DeclarationIn, response: Response, who: Principal = Depends(current_principal),
                lodging: LodgeBatcher = Depends(get_lodging),
                service: DeclarationService = Depends(get_service)) -> DeclarationOut:
    """Lodge a declaration: validated, stored, tax-assessed and routed to a lane before the answer.

    A repeated ``client_message_id`` returns the first result with 200; the same id with a different body
    is a 409. Concurrent requests are lodged together in micro-batches (one transaction, one scoring call).
    Only traders lodge (403 for customs roles); for another enterprise under a registered mandate.
    """
    res = await asyncio.wrap_future(lodging.submit(who, body))
    if res.conflict:
        raise Conflict("this client message id was used for a different declaration", res.errors)
    if res.errors:
        raise DeclarationInvalid("the declaration has errors; nothing was stored", res.errors)
    # a new declaration comes back read in the lodging transaction; a repeat is read now
    out = res.out if res.out is not None else await run_in_threadpool(service.get, who, cast(str, res.declaration_no))
    response.status_code = 201 if res.created else 200
    response.headers["Location"] = f"/api/v1/declarations/{out.declaration_no}"
    return out


@router.get("", response_model=list[DeclarationSummary])
def search(status: str | None = None, lane: str | None = None, office: str | None = None,
           importer: str | None = None, limit: int = Query(50, ge=1, le=500),
           offset: int = Query(0, ge=0, le=MAX_OFFSET),
           order: str = Query("-lodged_at", pattern=r"^-?(lodged_at|risk_score|total_value)$"),
           who: Principal = Depends(current_principal), service: DeclarationService = Depends(get_service)):
    """Search the declarations the caller may see, filtered, sorted and paged."""
    return service.search(who, status=status, lane=lane, office=office, importer=importer,
                                        limit=limit, offset=offset, order=order)


@router.get("/{declaration_no}", response_model=DeclarationOut)
def read(declaration_no: str, who: Principal = Depends(current_principal),
         service: DeclarationService = Depends(get_service)) -> DeclarationOut:
    """One declaration with its goods items and assessed taxes."""
    return service.get(who, declaration_no)


@router.get("/{declaration_no}/events", response_model=list[EventOut])
def events(declaration_no: str, who: Principal = Depends(current_principal),
           service: DeclarationService = Depends(get_service)) -> list[EventOut]:
    """The status history of one declaration."""
    return service.events(who, declaration_no)


@router.put("/{declaration_no}", response_model=DeclarationOut)
def amend(declaration_no: str, body: DeclarationIn, who: Principal = Depends(current_principal),
          service: DeclarationService = Depends(get_service)) -> DeclarationOut:
    """Amend a declaration while it is not yet under inspection or released; it keeps at least its lane.

    The body's ``client_message_id`` is the amendment's own key: a repeat returns the declaration, the same
    key with a different body is a 409. An amendment never releases: only an officer's decision does.
    """
    return service.amend(who, declaration_no, body)


@router.post("/{declaration_no}/cancel", response_model=DeclarationOut)
def cancel(declaration_no: str, body: CancelIn, who: Principal = Depends(current_principal),
           service: DeclarationService = Depends(get_service)) -> DeclarationOut:
    """Cancel a declaration that is still cancellable, with a reason."""
    return service.cancel(who, declaration_no, body.reason)


@router.post("/{declaration_no}/decision", response_model=DeclarationOut)
def decide(declaration_no: str, body: DecisionIn,
           who: Principal = Depends(require(Role.OFFICER, Role.ADMIN)),
           service: DeclarationService = Depends(get_service)) -> DeclarationOut:
    """An officer sends a held declaration to inspection, requests documents, releases or detains it (audited).

    With ``decision``, ``reason_code`` is one of that decision's reasons and ``reason`` an optional note.
    """
    return service.decide(who, declaration_no, body.to_status, body.reason, decision=body.decision,
                          reason_code=body.reason_code)
