"""CBEC HTTP API (thin): ``POST /api/v1/cbec/messages`` and parcel, quota and receipt endpoints.

Messages come as ``application/xml`` (one CEB message or several concatenated) or ``application/json``
(one message in its JSON form, or a list). The answer lists the receipts in JSON, or in CEB XML when
the caller sends ``Accept: application/xml``. A request whose messages are all refused gets a 422
``application/problem+json`` whose ``errors`` name each offending field (``ceb:Order/ceb:OrderHead/...``).
"""

from __future__ import annotations

from functools import partial
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Path, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from smartcustoms.cbec.ceb.parse import split_stream
from smartcustoms.cbec.ceb.receipts import emit_receipt, receipt_json
from smartcustoms.cbec.ceb.spec import CebError
from smartcustoms.cbec.schemas import DecisionIn, ReceiptsOut
from smartcustoms.cbec.senders import for_trader_parcel, foreign_codes
from smartcustoms.cbec.service import CbecService
from smartcustoms.core.errors import DomainError, FieldError, Forbidden, ValidationProblem
from smartcustoms.core.http import require
from smartcustoms.core.security import Principal, Role
from smartcustoms.enterprises import sender_codes

router = APIRouter(prefix="/api/v1/cbec", tags=["cbec"])

# The one place where authentication is injected.
senders = require(Role.TRADER)  # platform messages come from traders only; customs roles get 403
readers = require(Role.TRADER, Role.OFFICER, Role.ADMIN)
customs = require(Role.OFFICER, Role.ANALYST, Role.ADMIN)
officers = require(Role.OFFICER, Role.ADMIN)

BIGINT_MAX = 2**63 - 1
AfterId = Annotated[int, Query(ge=0, le=BIGINT_MAX)]
Limit = Annotated[int, Query(ge=1, le=1000)]


class MessagesRefused(DomainError):
    status = 422
    title = "The CEB message was refused"


def get_service(request: Request) -> CbecService:
    """The process's single CBEC writer (the platform builds it on first use)."""
    return request.app.state.platform.cbec


def trader_codes(request: Request, who: Principal) -> dict[str, frozenset[str]]:
    """Sender-code kind -> the codes the trader's enterprise sends and reads under (its own code in each)."""
    if who.enterprise_code is None:
        raise Forbidden("a trader's key must belong to an enterprise")
    with request.app.state.platform.sessions() as s:
        return sender_codes.codes_of(s, who.enterprise_code)


def readable_codes(request: Request, who: Principal) -> frozenset[str] | None:
    """The platform / e-commerce codes whose parcels and receipts the caller reads (``None``: customs, all)."""
    if who.role != Role.TRADER:
        return None
    codes = trader_codes(request, who)
    return codes["ebp"] | codes["ebc"]


def _items(body: bytes, content_type: str) -> list[Any]:
    if "json" in content_type or body.lstrip()[:1] in (b"{", b"["):
        try:
            obj = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise ValidationProblem(f"malformed JSON: {exc}", [FieldError("body", "malformed JSON")]) from None
        return obj if isinstance(obj, list) else [obj]
    return [m for _off, m in split_stream(body)] or [body]


@router.post("/messages", response_model=ReceiptsOut, summary="Submit CEB311/411/511/621 messages")
async def post_messages(request: Request, who: Principal = Depends(senders),
                        svc: CbecService = Depends(get_service)) -> Response:
    body = await request.body()
    if not body.strip():
        raise ValidationProblem("empty request body", [FieldError("body", "no message")])
    items = _items(body, request.headers.get("content-type", ""))
    codes = await run_in_threadpool(trader_codes, request, who)
    authorize = partial(foreign_codes, codes=codes, enterprise=who.enterprise_code)
    receipts = await run_in_threadpool(svc.submit, items, authorize)
    if "xml" in request.headers.get("accept", ""):
        return Response(b"".join(emit_receipt(r) for r in receipts), media_type="application/xml")
    refused = [r for r in receipts if r.status < 0 or (r.status == 100 and r.kind != "CEB622")]
    if refused and len(refused) == len(items) and all(r.info for r in refused):
        raise MessagesRefused("; ".join(r.info for r in refused)[:2000], _field_errors(refused))
    return Response(orjson.dumps({"receipts": [receipt_json(r) for r in receipts]}), media_type="application/json")


def _field_errors(refused: list) -> list[FieldError]:
    out = []
    for r in refused:
        for part in r.info.split("; "):
            field, _, message = part.partition(": ")
            out.append(FieldError(field if message else "message", message or part))
    return out


@router.get("/parcels", summary="Parcels by status: the officers' queue of held parcels, with their reasons")
def list_parcels(request: Request,
                 status: Annotated[list[int], Query(max_length=20)] = [300, 500],  # noqa: B006 - FastAPI default
                 after_id: AfterId = 0, limit: Limit = 100,
                 who: Principal = Depends(readers), svc: CbecService = Depends(get_service)) -> dict:
    bad = [FieldError(f"status[{i}]", "not a CEB622 status (-1..999)") for i, v in enumerate(status)
           if not -1 <= v <= 999]
    if bad:
        raise ValidationProblem("bad status filter", bad)
    mine = readable_codes(request, who)
    rows = svc.parcels(status, after_id, limit, mine)
    out = rows if mine is None else [for_trader_parcel(r) for r in rows]
    return {"parcels": out, "next_after_id": rows[-1]["id"] if len(rows) == limit else None}


@router.get("/parcels/{ebp_code}/{order_no}", summary="A parcel's decision, tax and status history")
def get_parcel(request: Request, ebp_code: Annotated[str, Path(max_length=18)],
               order_no: Annotated[str, Path(max_length=60)], who: Principal = Depends(readers),
               svc: CbecService = Depends(get_service)) -> dict:
    """A trader reads its own enterprise's parcels (another's is a 404, as a missing one), with plain reasons."""
    mine = readable_codes(request, who)
    parcel = svc.parcel(ebp_code, order_no, mine)
    return parcel if mine is None else for_trader_parcel(parcel)


@router.post("/parcels/{ebp_code}/{order_no}/decision", summary="Officer decision: release, inspect, return...")
def post_decision(ebp_code: str, order_no: str, decision: DecisionIn, who: Principal = Depends(officers),
                  svc: CbecService = Depends(get_service)) -> dict:
    return svc.set_status(ebp_code, order_no, decision.status, decision.info, who.username,
                          expected=decision.expected_status, role=str(who.role))


@router.get("/quota/{buyer_id_number}/{year}", summary="A buyer's annual CBEC quota use")
def get_quota(buyer_id_number: Annotated[str, Path(max_length=60)], year: Annotated[int, Path(ge=1900, le=9999)],
              who: Principal = Depends(customs),
              svc: CbecService = Depends(get_service)) -> dict:
    used = svc.quota_used(buyer_id_number, year)
    return {"buyerIdNumber": buyer_id_number, "year": year, "used": f"{used / 100:.2f}",
            "limit": "26000.00", "remaining": f"{max(0, 2_600_000 - used) / 100:.2f}"}


@router.get("/receipts", summary="CEB622 receipts of parcel status changes after an event id")
def get_receipts(request: Request, after: AfterId = 0, limit: Limit = 1000, who: Principal = Depends(readers),
                 svc: CbecService = Depends(get_service)) -> dict:
    """A trader polls its own enterprise's receipts (as platform or e-commerce firm), with plain reasons."""
    return {"receipts": svc.receipts_since(after, limit, readable_codes(request, who))}


__all__ = ["router", "CebError"]
