"""CBEC HTTP API (thin): ``POST /api/v1/cbec/messages`` and parcel, quota and receipt endpoints.

Messages come as ``application/xml`` (one CEB message or several concatenated) or ``application/json``
(one message in its JSON form, or a list). The answer lists the receipts in JSON, or in CEB XML when
the caller sends ``Accept: application/xml``. A request whose messages are all refused gets a 422
``application/problem+json`` whose ``errors`` name each offending field (``ceb:Order/ceb:OrderHead/...``).
"""

from __future__ import annotations

import threading
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from smartcustoms.cbec.messages import CebError, emit_receipt, receipt_json, split_stream
from smartcustoms.cbec.schemas import DecisionIn, ReceiptsOut
from smartcustoms.cbec.service import CbecService
from smartcustoms.errors import DomainError, FieldError, ValidationProblem
from smartcustoms.security import Principal, Role
from smartcustoms.web.deps import require

router = APIRouter(prefix="/api/v1/cbec", tags=["cbec"])

# The one place where authentication is injected.
senders = require(Role.TRADER, Role.OFFICER, Role.ADMIN)
customs = require(Role.OFFICER, Role.ANALYST, Role.ADMIN)
officers = require(Role.OFFICER, Role.ADMIN)


class MessagesRefused(DomainError):
    status = 422
    title = "The CEB message was refused"


_BUILDING = threading.Lock()


def get_service(request: Request) -> CbecService:
    """The process's single CBEC writer, built on first use (two first requests at once build one)."""
    svc = getattr(request.app.state, "cbec", None)
    if svc is None:
        with _BUILDING:
            svc = getattr(request.app.state, "cbec", None)
            if svc is None:
                url = request.app.state.platform.engine.url.render_as_string(hide_password=False)
                svc = CbecService(url)
                request.app.state.platform.rule_listeners.append(svc.refresh_rules)
                request.app.state.cbec = svc
    return svc


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
    receipts = await run_in_threadpool(svc.submit, items)
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
def list_parcels(status: Annotated[list[int], Query()] = [300, 500],  # noqa: B006 - FastAPI query default
                 after_id: int = 0, limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                 who: Principal = Depends(senders), svc: CbecService = Depends(get_service)) -> dict:
    mine = who.enterprise_code if who.role == Role.TRADER else None
    if who.role == Role.TRADER and mine is None:
        from smartcustoms.errors import Forbidden

        raise Forbidden("a trader's key must belong to an enterprise to list its parcels")
    rows = svc.parcels(status, after_id, limit, mine)
    return {"parcels": rows, "next_after_id": rows[-1]["id"] if len(rows) == limit else None}


@router.get("/parcels/{ebp_code}/{order_no}", summary="A parcel's decision, tax and status history")
def get_parcel(ebp_code: str, order_no: str, who: Principal = Depends(senders),
               svc: CbecService = Depends(get_service)) -> dict:
    parcel = svc.parcel(ebp_code, order_no)
    if who.role == Role.TRADER and who.enterprise_code not in (parcel["ebp_code"], parcel["ebc_code"]):
        from smartcustoms.errors import Forbidden

        raise Forbidden("this parcel belongs to another enterprise")
    return parcel


@router.post("/parcels/{ebp_code}/{order_no}/decision", summary="Officer decision: release, inspect, return...")
def post_decision(ebp_code: str, order_no: str, decision: DecisionIn, who: Principal = Depends(officers),
                  svc: CbecService = Depends(get_service)) -> dict:
    return svc.set_status(ebp_code, order_no, decision.status, decision.info, who.username,
                          expected=decision.expected_status)


@router.get("/quota/{buyer_id_number}/{year}", summary="A buyer's annual CBEC quota use")
def get_quota(buyer_id_number: str, year: int, who: Principal = Depends(customs),
              svc: CbecService = Depends(get_service)) -> dict:
    used = svc.quota_used(buyer_id_number, year)
    return {"buyerIdNumber": buyer_id_number, "year": year, "used": f"{used / 100:.2f}",
            "limit": "26000.00", "remaining": f"{max(0, 2_600_000 - used) / 100:.2f}"}


@router.get("/receipts", summary="CEB622 receipts of parcel status changes after an event id")
def get_receipts(after: int = 0, limit: int = 1000, who: Principal = Depends(senders),
                 svc: CbecService = Depends(get_service)) -> dict:
    return {"receipts": svc.receipts_since(after, min(limit, 10_000))}


__all__ = ["router", "CebError"]
