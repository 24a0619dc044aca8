"""CBEC HTTP API (thin): ``POST /api/v1/cbec/messages`` and parcel, quota and receipt endpoints.

Messages come as ``application/xml`` (one CEB message or several concatenated) or ``application/json``
(one message in its JSON form, or a list). The answer lists the receipts in JSON, or in CEB XML when
the caller sends ``Accept: application/xml``. A request whose messages are all refused gets a 422
``application/problem+json`` whose ``errors`` name each offending field (``ceb:Order/ceb:OrderHead/...``).
"""

from __future__ import annotations

from functools import partial
from typing import Annotated, Any, NamedTuple

import orjson
from fastapi import APIRouter, Depends, Path, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from smartcustoms.cbec.ceb.parse import split_stream
from smartcustoms.cbec.ceb.receipts import emit_receipt, receipt_json
from smartcustoms.cbec.ceb.signature import SignaturePolicy
from smartcustoms.cbec.ceb.spec import CebError
from smartcustoms.cbec.ceb.transport import envelope_refusal, open_envelopes, unreadable_receipt
from smartcustoms.cbec.runner import record_refusals
from smartcustoms.cbec.schemas import CancellationDecisionIn, DecisionIn, ReceiptsOut
from smartcustoms.cbec.senders import caller_signatures, for_trader_parcel, foreign_codes
from smartcustoms.cbec.service import CbecService
from smartcustoms.core.errors import DomainError, FieldError, Forbidden, ValidationProblem
from smartcustoms.core.http import require
from smartcustoms.core.security import Principal, Role
from smartcustoms.enterprises import sender_codes

router = APIRouter(prefix="/api/v1/cbec", tags=["cbec"])

#: an example request body of ``POST /messages``: one CEB511 logistics waybill (simulated parties)
CEB_EXAMPLE = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<ceb:CEB511Message guid="BD2F48E3-83BF-457F-86D5-339680822A35" '
    'version="1.0" xmlns:ceb="http://www.chinaport.gov.cn/ceb"><ceb:Logistics><ceb:LogisticsHead>'
    "<ceb:guid>0301BDB9-DCD0-4CDA-8402-2AED38E07A5A</ceb:guid><ceb:appType>1</ceb:appType>"
    "<ceb:appTime>20260223122820</ceb:appTime><ceb:appStatus>2</ceb:appStatus>"
    "<ceb:logisticsCode>1101980201</ceb:logisticsCode><ceb:logisticsName>Swift Express</ceb:logisticsName>"
    "<ceb:logisticsNo>LNO0001000000000</ceb:logisticsNo><ceb:orderNo>O0001000000000</ceb:orderNo>"
    "<ceb:freight>10.00</ceb:freight><ceb:insuredFee>0</ceb:insuredFee><ceb:currency>142</ceb:currency>"
    "<ceb:weight>0.3</ceb:weight><ceb:packNo>1</ceb:packNo><ceb:goodsInfo>Toy</ceb:goodsInfo>"
    "<ceb:consignee>张三</ceb:consignee><ceb:consigneeAddress>上海市浦东新区示例路1号</ceb:consigneeAddress>"
    "<ceb:consigneeTelephone>13800000000</ceb:consigneeTelephone></ceb:LogisticsHead></ceb:Logistics>"
    "<ceb:BaseTransfer><ceb:copCode>1101980001</ceb:copCode><ceb:copName>Global Mall Platform</ceb:copName>"
    "<ceb:dxpMode>DXP</ceb:dxpMode><ceb:dxpId>DXPENT0000012345</ceb:dxpId></ceb:BaseTransfer></ceb:CEB511Message>")

#: the request body of ``POST /messages`` as the OpenAPI document shows it (the route reads the raw body)
CEB_BODY = {"required": True, "description": (
    "CEB messages (海关跨境电子商务进口统一版 message standard): one message, several concatenated, or DXP "
    "envelopes (DxpMsg) carrying them; signed with the enterprise's registered certificate where required. "
    "The JSON form is a message object or a list of them, as the CEB XML elements."),
    "content": {
        "application/xml": {"schema": {"type": "string", "description": "concatenated CEB XML messages "
                                       "(CEB311/411/511/621, CEB513/623/625/711) or DxpMsg envelopes"},
                            "example": CEB_EXAMPLE},
        "application/json": {"schema": {"anyOf": [{"type": "object"}, {"type": "array", "items": {"type": "object"}}],
                                        "description": "a CEB message, or a list of them, as JSON objects"}}}}

# The one place where authentication is injected.
senders = require(Role.TRADER)  # platform messages come from traders only; customs roles get 403
readers = require(Role.TRADER, Role.OFFICER, Role.ADMIN)
customs = require(Role.OFFICER, Role.ANALYST, Role.ADMIN)
officers = require(Role.OFFICER, Role.ADMIN)

BIGINT_MAX = 2**63 - 1
AfterId = Annotated[int, Query(ge=0, le=BIGINT_MAX)]
Limit = Annotated[int, Query(ge=1, le=1000)]


class _Refusal(NamedTuple):
    """A message refused at the transport level: its position in the request, the field and the reason."""

    at: int | None
    field: str | None
    info: str


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


def caller_policy(request: Request, who: Principal, codes: dict[str, frozenset[str]],
                  svc: CbecService) -> SignaturePolicy:
    """What signatures the caller's messages need: made with a certificate registered for its enterprise."""
    assert who.enterprise_code is not None  # trader_codes refused a trader without one
    with request.app.state.platform.sessions() as s:
        return caller_signatures(s, who.enterprise_code, codes, svc.engine.settings.accept_unsigned)


def readable_codes(request: Request, who: Principal) -> frozenset[str] | None:
    """The platform / e-commerce codes whose parcels and receipts the caller reads (``None``: customs, all)."""
    if who.role != Role.TRADER:
        return None
    codes = trader_codes(request, who)
    return codes["ebp"] | codes["ebc"]


def _items(body: bytes, content_type: str) -> tuple[list[Any], list[int] | None]:
    """The request's messages, and the byte offset of each in the body (XML; ``None`` for JSON)."""
    if "json" in content_type or body.lstrip()[:1] in (b"{", b"["):
        try:
            obj = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise ValidationProblem(f"malformed JSON: {exc}", [FieldError("body", "malformed JSON")]) from None
        items = obj if isinstance(obj, list) else [obj]
        bad = [FieldError(f"body[{i}]" if isinstance(obj, list) else "body", "a message must be a JSON object")
               for i, item in enumerate(items) if not isinstance(item, dict | str)]
        if bad:
            raise ValidationProblem("the request holds something that is not a message", bad)
        return items, None
    parts = split_stream(body)
    if not parts:
        return [body], [0]
    return [m for _off, m in parts], [off for off, _m in parts]


def _unreadable_problem(request: Request, unreadable: list, offsets: list[int] | None,
                        receipts: list) -> Response:
    """The RFC 9457 problem (422) of a request with messages whose type could not be read (or DXP envelopes
    that could not be opened): each is named by its position (and byte offset in an XML body) and the field;
    the receipts of the request's other messages, which were processed, are in its ``receipts`` member (with a
    CEB900 format-check receipt for each enveloped message among the unreadable)."""
    errors = []
    for u in unreadable:
        where = "body" if u.at is None else f"messages[{u.at}]"
        if offsets is not None and u.at is not None and u.at < len(offsets):
            where += f" (byte {offsets[u.at]})"
        field = getattr(u, "field", None)
        errors.append({"field": f"{where}/{field}" if field else where, "message": u.info})
    body = {"type": "about:blank", "title": "The CEB message could not be read", "status": 422,
            "detail": "; ".join(f"{e['field']}: {e['message']}" for e in errors)[:2000],
            "instance": request.url.path, "errors": errors, "receipts": [receipt_json(r) for r in receipts]}
    return Response(orjson.dumps(body), status_code=422, media_type="application/problem+json")


@router.post("/messages", response_model=ReceiptsOut,
             summary="Submit CEB311/411/511/621 (and 513/623/625/711) messages",
             openapi_extra={"requestBody": CEB_BODY},
             responses={200: {"content": {"application/xml": {"schema": {
                 "type": "string", "description": "the receipts as CEB XML (with Accept: application/xml)"}}}}})
async def post_messages(request: Request, who: Principal = Depends(senders),
                        svc: CbecService = Depends(get_service)) -> Response:
    """Take in a trader's CEB messages and answer with a receipt for each (JSON, or XML with Accept: xml).

    Every message goes through the clearance pipeline before the answer: a parcel whose four documents are in
    is taxed, checked against the buyer's annual quota, scored and released or held. A request whose messages
    are all refused is a 422 naming each; messages whose type cannot be read are a 422 listing their offsets.
    """
    body = await request.body()
    if not body.strip():
        raise ValidationProblem("empty request body", [FieldError("body", "no message")])
    items, offsets = _items(body, request.headers.get("content-type", ""))
    opened = open_envelopes(items)  # DXP envelopes (DxpMsg): their CEB messages go through the pipeline
    codes = await run_in_threadpool(trader_codes, request, who)
    authorize = partial(foreign_codes, codes=codes, enterprise=who.enterprise_code)
    signatures = await run_in_threadpool(caller_policy, request, who, codes, svc)
    result = await run_in_threadpool(svc.submit_batch, opened.raws, authorize, signatures)
    receipts = result.receipts
    if result.unreadable or opened.errors:  # refused at the transport level: no business receipt answers them
        now = svc.engine.clock()
        refusals: list[Any] = []
        unopened = []
        for i, exc in sorted(opened.errors.items()):
            refusals.append(_Refusal(i, exc.field, exc.reason))
            unopened.append(envelope_refusal(exc, now))
        if unopened:
            await run_in_threadpool(_record_refusals, svc, unopened)
            receipts += unopened
        for u in result.unreadable:
            at = opened.positions[u.at] if u.at is not None else None
            refusals.append(_Refusal(at, None, u.info))
            env = opened.envelopes.get(at) if at is not None else None
            if env is not None:  # enveloped: the official CEB900 format-check receipt names its CopMsgId
                receipts.append(unreadable_receipt(env, u.info, now))
        return _unreadable_problem(request, sorted(refusals, key=lambda r: -1 if r.at is None else r.at),
                                   offsets, receipts)
    if "xml" in request.headers.get("accept", ""):
        return Response(b"".join(emit_receipt(r) for r in receipts), media_type="application/xml")
    refused = [r for r in receipts if r.status < 0 or (r.status == 100 and r.kind != "CEB622")]
    if refused and len(refused) == len(items) and all(r.info for r in refused):
        raise MessagesRefused("; ".join(r.info for r in refused)[:2000], _field_errors(refused))
    out: dict[str, Any] = {"receipts": [receipt_json(r) for r in receipts]}
    if opened.envelopes:  # the transport fields of the enveloped messages, by position in the request
        out["envelopes"] = [{"message": i, "copMsgId": e.cop_msg_id, "senderId": e.sender_id,
                             "receiverIds": list(e.receiver_ids), "msgType": e.msg_type}
                            for i, e in sorted(opened.envelopes.items())]
    return Response(orjson.dumps(out), media_type="application/json")


def _record_refusals(svc: CbecService, refusals: list) -> None:
    """``cbec_rejection`` rows for the request's DXP envelopes that could not be opened (under the writer's lock)."""
    with svc.lock:
        record_refusals(svc.engine.store, refusals)


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
    """Parcels in the given CEB622 statuses (default: 300 and 500, held), oldest first, keyset-paged by id.

    Customs see every parcel; a trader only its own enterprise's, with reasons in plain words.
    """
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
    """An officer sets a parcel's status (audited, answered by a CEB622 receipt); a return gives quota back.

    With ``expected_status``, a parcel no longer in that status is a 409 (another officer decided first).
    """
    return svc.set_status(ebp_code, order_no, decision.status, decision.info, who.username,
                          expected=decision.expected_status, role=str(who.role))


@router.get("/quota/{buyer_id_number}/{year}", summary="A buyer's annual CBEC quota use")
def get_quota(buyer_id_number: Annotated[str, Path(max_length=60)], year: Annotated[int, Path(ge=1900, le=9999)],
              who: Principal = Depends(customs),
              svc: CbecService = Depends(get_service)) -> dict:
    """How much of a buyer's annual CBEC allowance (26,000 CNY) the year's parcels have used (customs only)."""
    used = svc.quota_used(buyer_id_number, year)
    return {"buyerIdNumber": buyer_id_number, "year": year, "used": f"{used / 100:.2f}",
            "limit": "26000.00", "remaining": f"{max(0, 2_600_000 - used) / 100:.2f}"}


@router.get("/receipts", summary="CEB622 receipts of parcel status changes after an event id")
def get_receipts(request: Request, after: AfterId = 0, limit: Limit = 1000, who: Principal = Depends(readers),
                 svc: CbecService = Depends(get_service)) -> dict:
    """A trader polls its own enterprise's receipts (as platform or e-commerce firm), with plain reasons."""
    return {"receipts": svc.receipts_since(after, limit, readable_codes(request, who))}


AFTERCARE_KINDS = ("CEB513", "CEB623", "CEB625", "CEB711")


def _aftercare_codes(request: Request, who: Principal) -> frozenset[str] | None:
    """The platform, e-commerce and logistics codes whose CEB513/623/625/711 documents a trader reads."""
    if who.role != Role.TRADER:
        return None
    codes = trader_codes(request, who)
    return codes["ebp"] | codes["ebc"] | codes["logistics"]


@router.get("/aftercare", summary="CEB513 waybill statuses, CEB623 cancellations, CEB625 returns, CEB711 entry lists")
def list_aftercare(request: Request,
                   kind: Annotated[list[str], Query(max_length=4)] = ["CEB623"],  # noqa: B006 - FastAPI default
                   status: Annotated[list[int], Query(max_length=10)] = [120],  # noqa: B006 - pending review
                   after_id: AfterId = 0, limit: Limit = 100, who: Principal = Depends(readers),
                   svc: CbecService = Depends(get_service)) -> dict:
    """The officers' queue of cancellations awaiting review by default; a trader sees its own documents."""
    bad = [FieldError(f"kind[{i}]", "not CEB513, CEB623, CEB625 or CEB711") for i, k in enumerate(kind)
           if k not in AFTERCARE_KINDS]
    bad += [FieldError(f"status[{i}]", "not a receipt status (-1..999)") for i, v in enumerate(status)
            if not -1 <= v <= 999]
    if bad:
        raise ValidationProblem("bad filter", bad)
    rows = svc.aftercare(kind, status, after_id, limit, _aftercare_codes(request, who))
    return {"documents": rows, "next_after_id": rows[-1]["id"] if len(rows) == limit else None}


@router.get("/aftercare/{doc_id}", summary="One CEB513/623/625/711 document with its outcome")
def get_aftercare(request: Request, doc_id: Annotated[int, Path(ge=1, le=BIGINT_MAX)],
                  who: Principal = Depends(readers), svc: CbecService = Depends(get_service)) -> dict:
    """One waybill status, cancellation, return or entry list with its outcome; a trader reads only its own."""
    return svc.aftercare_document(doc_id, _aftercare_codes(request, who))


@router.post("/aftercare/{doc_id}/decision", summary="Officer decision on a CEB623 cancellation (CEB624 receipt)")
def post_cancellation_decision(doc_id: Annotated[int, Path(ge=1, le=BIGINT_MAX)], decision: CancellationDecisionIn,
                               who: Principal = Depends(officers), svc: CbecService = Depends(get_service)) -> dict:
    """Approve (the parcel is cancelled, status 100, and the buyer's quota refunded) or refuse; audited."""
    return svc.decide_cancellation(doc_id, decision.approve, decision.info, who.username, role=str(who.role))


__all__ = ["router", "CebError"]
