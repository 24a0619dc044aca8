"""Manifests HTTP API (thin): ``POST /api/v1/manifests/messages`` and the shipment, referral and carrier reads.

A carrier or forwarder (a trader key of its enterprise) files China customs manifest messages or IATA XFWB/XFZB
waybills as XML (one message, or several one after the other), or a UN/EDIFACT CUSCAR interchange. The
answer lists each message in order: accepted with each consignment's version and pre-loading outcome, or
refused with every problem's field path, line and reason. When every message of a request is refused the
answer is a 422 ``application/problem+json`` with the same per-message answers in its ``messages`` member.
A carrier reads only its own filings; customs staff read all, and officers work the referral queue.
"""

from __future__ import annotations

from typing import Annotated, Literal

import orjson
from fastapi import APIRouter, Depends, Path, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from smartcustoms.core.errors import FieldError, Forbidden, ValidationProblem
from smartcustoms.core.http import require
from smartcustoms.core.security import Principal, Role
from smartcustoms.manifests import responses
from smartcustoms.manifests.reconcile import DiscrepancyKind
from smartcustoms.manifests.schemas import (
    DecisionIn,
    DiscrepancyOut,
    DiscrepancyResolutionIn,
    InformationIn,
    IngestOut,
    Outcome,
    ReferralOut,
    ReferralStateOut,
    ShipmentOut,
)
from smartcustoms.manifests.service import ManifestService

router = APIRouter(prefix="/api/v1/manifests", tags=["manifests"])

filers = require(Role.TRADER)  # carriers and forwarders file; customs roles get 403
readers = require(Role.TRADER, Role.OFFICER, Role.ANALYST, Role.ADMIN)
customs = require(Role.OFFICER, Role.ANALYST, Role.ADMIN)
officers = require(Role.OFFICER)  # only officers decide referrals
FilingId = Annotated[int, Path(ge=1, le=2**63 - 1, description="the referred filing's id (from the referral queue)")]

DiscrepancyId = Annotated[int, Path(ge=1, le=2**63 - 1, description="the discrepancy's id (from the queue)")]
DocumentNo = Annotated[str, Path(min_length=1, max_length=35, pattern=r"^[A-Za-z0-9\-/._]+$")]


def get_service(request: Request) -> ManifestService:
    """The deployment's manifests service."""
    return request.app.state.platform.manifests


def _filer(who: Principal) -> str:
    if who.enterprise_code is None:
        raise Forbidden("a carrier's key must belong to an enterprise")
    return who.enterprise_code


def _scope(who: Principal) -> str | None:
    """The filer whose records the caller reads (None: customs staff read all)."""
    return None if who.is_customs else _filer(who)


_BODY = {"requestBody": {"required": True, "content": {
    "application/xml": {"schema": {"type": "string"}, "example": "<Manifest xmlns=\"urn:Declaration:datamodel:"
                        "standard:CN:MT1101:1\"><Head>...</Head><Declaration>...</Declaration></Manifest>"},
    "application/edifact": {"schema": {"type": "string"},
                            "example": "UNA:+.? 'UNB+UNOC:3+...'UNH+1+CUSCAR:D:95B:UN'..."},
}}}


def _wants_xml(accept: str) -> bool:
    """Whether the caller asks for XML (MT9999) before JSON in its Accept header (JSON stays the default)."""
    for media in accept.lower().split(","):
        kind, _, params = media.strip().partition(";")
        if "q=0" in params.replace(" ", "") and "q=0." not in params.replace(" ", ""):
            continue  # q=0: not acceptable
        if kind.strip() in ("application/json", "application/problem+json", "*/*", "application/*"):
            return False
        if kind.strip() in ("application/xml", "text/xml"):
            return True
    return False


@router.post("/messages", response_model=IngestOut, openapi_extra=_BODY,
             responses={422: {"description": "every message was refused (RFC 9457, with the answers)"},
                        200: {"content": {"application/xml": {"schema": {"type": "string"}}},
                              "description": "the answers; with Accept: application/xml, MT9999 general responses "
                                             "(one per message; several in <ManifestResponses>)"}})
async def file_messages(request: Request, who: Principal = Depends(filers),
                        svc: ManifestService = Depends(get_service)) -> Response:
    """File manifest messages (CN MT1x01-MT5x01, XFWB/XFZB, CUSCAR); one answer per message."""
    filer = _filer(who)
    body = await request.body()
    if not body.strip():
        raise ValidationProblem("the body holds no manifest message", [FieldError("body", "empty")],
                                title="The manifest message was refused")
    answers = await run_in_threadpool(svc.ingest, body, filer, who)
    if _wants_xml(request.headers.get("accept", "")):  # MT9999 general responses, one per message
        xml = responses.to_bytes([responses.build(a, sender=svc.settings.customs_sender_id, receiver=a.sender_id
                                                  or filer, now=svc.clock(), journey_id=a.journey_id,
                                                  conveyance_id=a.conveyance_id) for a in answers])
        refused = bool(answers) and not any(a.accepted or a.duplicate for a in answers)
        return Response(xml, status_code=422 if refused else 200, media_type="application/xml")
    payload = [a.model_dump(mode="json") for a in answers]
    if answers and not any(a.accepted or a.duplicate for a in answers):
        errors = [{"field": f"messages[{a.index}]/{e.field}" + (f" (line {e.line})" if e.line else ""),
                   "message": e.message} for a in answers for e in a.errors][:500]
        problem = {"type": "about:blank", "title": "The manifest message was refused", "status": 422,
                   "detail": "; ".join(f"{e['field']}: {e['message']}" for e in errors)[:2000],
                   "instance": request.url.path, "errors": errors, "messages": payload}
        return Response(orjson.dumps(problem), status_code=422, media_type="application/problem+json")
    return Response(orjson.dumps({"messages": payload}), media_type="application/json")


@router.get("/shipments/{document_no}", response_model=ShipmentOut)
def read_shipment(document_no: DocumentNo, who: Principal = Depends(readers),
                  svc: ManifestService = Depends(get_service)) -> ShipmentOut:
    """Every filing of a transport document and its houses, across messages and modes (a carrier: its own)."""
    return svc.shipment(document_no, _scope(who))


@router.get("/referrals", response_model=list[ReferralOut])
def list_referrals(who: Principal = Depends(customs), svc: ManifestService = Depends(get_service),
                   after_id: Annotated[int, Query(ge=0, le=2**63 - 1)] = 0,
                   limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                   outcome: Outcome | None = None) -> list[ReferralOut]:
    """The officers' queue: consignments whose latest filing was not ``assessment_complete``."""
    if outcome is Outcome.ASSESSMENT_COMPLETE:
        raise ValidationProblem("assessment_complete is not a referral",
                                [FieldError("outcome", "one of request_for_information, request_for_screening, "
                                                       "do_not_load")])
    return svc.referrals(after_id=after_id, limit=limit, outcome=outcome)


@router.get("/consignments/{filing_id}/referral", response_model=ReferralStateOut)
def read_referral(filing_id: FilingId, who: Principal = Depends(readers),
                  svc: ManifestService = Depends(get_service)) -> ReferralStateOut:
    """A referred consignment (its filing id) with every step taken (a carrier: its own filings only)."""
    return svc.referral(filing_id, _scope(who))


@router.post("/consignments/{filing_id}/decision", response_model=ReferralStateOut,
             responses={409: {"description": "already decided, superseded, or not answered yet (RFC 9457)"}})
def decide_referral(filing_id: FilingId, body: DecisionIn, who: Principal = Depends(officers),
                    svc: ManifestService = Depends(get_service)) -> ReferralStateOut:
    """An officer decides a referral (screening clear / threat found, do-not-load confirmed / lifted,
    information complete / escalated to screening), with the reason; audited, append-only."""
    return svc.decide(filing_id, body, who)


@router.post("/consignments/{filing_id}/information", response_model=ReferralStateOut,
             responses={409: {"description": "no open request for information (RFC 9457)"}})
def answer_information(filing_id: FilingId, body: InformationIn, who: Principal = Depends(filers),
                       svc: ManifestService = Depends(get_service)) -> ReferralStateOut:
    """The filing enterprise answers a request for information on its own consignment; an officer then
    completes or escalates it."""
    return svc.answer_information(filing_id, body.answer, _filer(who), who)


@router.get("/discrepancies", response_model=list[DiscrepancyOut])
def list_discrepancies(who: Principal = Depends(customs), svc: ManifestService = Depends(get_service),
                       status: Annotated[Literal["open", "resolved", "all"], Query()] = "open",
                       kind: DiscrepancyKind | None = None,
                       document_no: Annotated[str | None, Query(min_length=1, max_length=35,
                                                                pattern=r"^[A-Za-z0-9\-/._]+$")] = None,
                       declaration_no: Annotated[str | None, Query(min_length=1, max_length=18,
                                                                   pattern=r"^[A-Za-z0-9]+$")] = None,
                       filer_code: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
                       after_id: Annotated[int, Query(ge=0, le=2**63 - 1)] = 0,
                       limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[DiscrepancyOut]:
    """The discrepancy queue (customs staff): what reconciliation of manifests with arrival, tally and goods
    declarations found, oldest first; open ones by default."""
    return svc.discrepancies.listing(status=status, kind=kind, document_no=document_no,
                                     declaration_no=declaration_no, filer_code=filer_code, after_id=after_id,
                                     limit=limit)


@router.post("/discrepancies/{discrepancy_id}/resolution", response_model=DiscrepancyOut,
             responses={409: {"description": "already resolved (RFC 9457)"}})
def resolve_discrepancy(discrepancy_id: DiscrepancyId, body: DiscrepancyResolutionIn,
                        who: Principal = Depends(officers), svc: ManifestService = Depends(get_service)
                        ) -> DiscrepancyOut:
    """An officer resolves a discrepancy with a resolution and the reason (audited, append-only)."""
    return svc.discrepancies.resolve(discrepancy_id, body, who)


@router.get("/carriers", response_model=list[dict])
def carrier_statistics(who: Principal = Depends(readers), svc: ManifestService = Depends(get_service)
                       ) -> list[dict]:
    """Filings, late and amended filings and referrals per carrier (a carrier: its own line)."""
    return svc.carrier_statistics(_scope(who))
