"""REST routes for declarations (thin: the service holds the logic)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Coroutine, Mapping
from datetime import date
from typing import Any, cast

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

from smartcustoms.core.errors import Conflict, loc_to_path
from smartcustoms.core.http import current_principal, require
from smartcustoms.core.security import Principal, Role
from smartcustoms.core.wire import MAX_OFFSET
from smartcustoms.declarations.batcher import LodgeBatcher
from smartcustoms.declarations.checks import code_list_errors
from smartcustoms.declarations.lifecycle import Lane, Status
from smartcustoms.declarations.schemas import (
    CancelIn,
    DecisionIn,
    DeclarationIn,
    DeclarationOut,
    DeclarationSummary,
    EventOut,
    TaxPaymentIn,
    TaxPaymentOut,
    VersionOut,
)
from smartcustoms.declarations.service import DeclarationInvalid, DeclarationService

_DECLARATION_BODIES = frozenset({"lodge", "amend"})  # the routes whose body is a DeclarationIn


def _loc(path: str) -> tuple[str | int, ...]:
    """``items[0].hs_code`` as Pydantic's ``("body", "items", 0, "hs_code")``."""
    return ("body", *(int(p) if p.isdigit() else p for p in re.findall(r"[^.\[\]]+", path)))


class OneRoundRoute(APIRoute):
    """A route that reports a declaration's code-list problems together with its wire errors (one round).

    Wire validation stops before the code-list checks when any field is wrong; a bad HS code would otherwise be
    reported only once every other field was valid. Fields the wire validation already flagged are not rechecked.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """The route's handler, wrapped for the declaration bodies."""
        handler = super().get_route_handler()
        if self.name not in _DECLARATION_BODIES:
            return handler

        async def checked(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                body = exc.body
                if not isinstance(body, Mapping):
                    raise
                wire = list(exc.errors())
                seen = {loc_to_path(tuple(e.get("loc", ()))) for e in wire}
                extra = [{"type": "code_list", "loc": _loc(e.field), "msg": e.message}
                         for e in code_list_errors(body, request.app.state.platform.codes, seen)]
                if not extra:
                    raise
                raise RequestValidationError(wire + extra, body=body) from None

        return checked


router = APIRouter(prefix="/api/v1/declarations", tags=["declarations"], route_class=OneRoundRoute)


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
def search(status: Status | None = Query(None, description="only declarations in this status"),
           lane: Lane | None = Query(None, description="only declarations routed to this lane"),
           office: str | None = Query(None, max_length=4, description="only this customs office (4 digits)"),
           importer: str | None = Query(None, max_length=18, description="only this importer (enterprise code)"),
           limit: int = Query(50, ge=1, le=500),
           offset: int = Query(0, ge=0, le=MAX_OFFSET),
           order: str = Query("-lodged_at", pattern=r"^-?(lodged_at|risk_score|total_value)$"),
           no: str | None = Query(None, max_length=18, description="declaration number or its first digits"),
           date_from: date | None = Query(None, description="lodged on or after this day (UTC)"),
           date_to: date | None = Query(None, description="lodged on or before this day (UTC)"),
           hs: str | None = Query(None, max_length=10, description="HS code or its first 2 to 10 digits"),
           who: Principal = Depends(current_principal), service: DeclarationService = Depends(get_service)):
    """Search the declarations the caller may see, filtered, sorted and paged."""
    return service.search(who, status=status, lane=lane, office=office, importer=importer,
                          limit=limit, offset=offset, order=order, no=no, date_from=date_from, date_to=date_to, hs=hs)


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
def amend(declaration_no: str, body: DeclarationIn,
          reason: str = Query("", max_length=500, description="why the declaration is amended (kept with the version)"),
          who: Principal = Depends(current_principal),
          service: DeclarationService = Depends(get_service)) -> DeclarationOut:
    """Amend a declaration while it is not yet under inspection or released; it keeps at least its lane.

    The body's ``client_message_id`` is the amendment's own key: a repeat returns the declaration, the same
    key with a different body is a 409. An amendment never releases: only an officer's decision does. The
    version replaced and the new one are kept: ``GET .../versions`` lists what each amendment changed.
    """
    return service.amend(who, declaration_no, body, reason)


@router.get("/{declaration_no}/versions", response_model=list[VersionOut])
def versions(declaration_no: str, who: Principal = Depends(current_principal),
             service: DeclarationService = Depends(get_service)) -> list[VersionOut]:
    """Each amendment, newest first, with what it changed field by field: header, goods items (added, removed,
    changed) and taxes. Empty for a declaration never amended."""
    return [VersionOut.model_validate({
        "version": v.version, "previous_version": d.old, "at": v.at, "actor": v.actor, "reason": v.reason,
        "header": d.header, "items": d.items, "tax": d.tax}, from_attributes=True)
        for v, d in service.version_diffs(who, declaration_no)]


@router.get("/{declaration_no}/tax-payment", response_model=TaxPaymentOut)
def tax_payment(declaration_no: str, who: Principal = Depends(current_principal),
                service: DeclarationService = Depends(get_service)) -> TaxPaymentOut:
    """Where the declaration's assessed taxes stand: due, paid, outstanding, due date and surcharge (CNY)."""
    return TaxPaymentOut.model_validate(service.tax_payment(who, declaration_no), from_attributes=True)


@router.post("/{declaration_no}/payments", response_model=TaxPaymentOut, status_code=201)
def record_payment(declaration_no: str, body: TaxPaymentIn,
                   who: Principal = Depends(require(Role.OFFICER, Role.ADMIN)),
                   service: DeclarationService = Depends(get_service)) -> TaxPaymentOut:
    """Customs confirm a payment of the declaration's taxes (audited); the same reference again changes nothing."""
    state = service.record_payment(who, declaration_no, body.amount_cny, body.reference, body.paid_at)
    return TaxPaymentOut.model_validate(state, from_attributes=True)


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
