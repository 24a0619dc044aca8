"""Manifest pages: the officers' referral queue, a referral with its decision form, a shipment's filings and legs,
the discrepancy queue with its resolution form (the declaration page's manifest card: manifest_card.py), and the
carrier's requests for information with the form to answer one."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from smartcustoms.core.errors import Conflict, ValidationProblem
from smartcustoms.core.security import Principal, Role
from smartcustoms.manifests.reconcile import DiscrepancyKind
from smartcustoms.manifests.schemas import (
    DECISIONS,
    DecisionIn,
    DiscrepancyResolution,
    DiscrepancyResolutionIn,
    InformationIn,
    Outcome,
    ReferralAction,
    ReferralStateOut,
)
from smartcustoms.manifests.service import REFERRED
from smartcustoms.web.i18n import language_of, translator
from smartcustoms.web.pages.base import (
    CUSTOMS,
    by_field,
    checked_form,
    field_errors,
    flash,
    login,
    page_router,
    platform_of,
    render,
)

router = page_router()

QUEUE_PAGE = 100
REASON_MAX = 2000
FilingId = Annotated[int, Path(ge=1, le=2**63 - 1)]


def _outcome(raw: str) -> Outcome | None:
    try:
        o = Outcome(raw)
    except ValueError:
        return None
    return o if o in REFERRED else None


@router.get("/manifests/referrals")
def referral_queue(request: Request, outcome: str = "", after: int = 0) -> Response:
    """Open manifest referrals, oldest first, a page at a time; reasons in the reader's language."""
    login(request, *CUSTOMS)
    wanted = _outcome(outcome)
    after = max(0, min(after, 2**63 - 1))  # a cursor past the last id is an empty page, not an error
    rows = platform_of(request).manifests.referrals(after_id=after, limit=QUEUE_PAGE, outcome=wanted)
    return render(request, "manifest_referrals.html", rows=rows, outcome=wanted.value if wanted else "",
                  outcomes=[o.value for o in REFERRED], zh=language_of(request) == "zh", after=after,
                  next_after=rows[-1].id if len(rows) == QUEUE_PAGE else None)


def _referral_page(request: Request, filing_id: int, status_code: int = 200, errors: dict | None = None,
                   sent: dict | None = None) -> Response:
    who = login(request, *CUSTOMS)
    svc = platform_of(request).manifests
    state: ReferralStateOut = svc.referral(filing_id, None)
    shipment = svc.shipment(state.transport_document_no, state.filer_code)
    filing = next(f for f in shipment.filings if f.id == filing_id)
    choices = [a.value for a in DECISIONS.get(state.outcome, ())] \
        if who.role is Role.OFFICER and not state.closed else []
    return render(request, "manifest_referral.html", status_code=status_code, r=state, f=filing, choices=choices,
                  zh=language_of(request) == "zh", errors=errors or {}, sent=sent or {}, reason_max=REASON_MAX)


@router.get("/manifests/referrals/{filing_id}")
def referral_page(filing_id: FilingId, request: Request) -> Response:
    """A referred consignment: its assessment, the steps taken, and (for officers) the decision form."""
    return _referral_page(request, filing_id)


@router.post("/manifests/referrals/{filing_id}/decision")
async def referral_decision(filing_id: FilingId, request: Request) -> Response:
    """An officer decides a referral: a decision, the reason (required) and a confirmation."""
    who = login(request, Role.OFFICER)
    form = await checked_form(request)
    sent: dict[str, Any] = {k: str(form.get(k, "")).strip() for k in ("action", "reason", "confirm")}
    errors: dict[str, list[str]] = {}
    decision = None
    try:
        decision = DecisionIn(action=ReferralAction(sent["action"]) if sent["action"] in
                              {a.value for a in ReferralAction} else sent["action"], reason=sent["reason"])
    except ValidationError as exc:
        errors = by_field(field_errors(exc))
    if not sent["confirm"]:
        errors.setdefault("confirm", []).append(translator(language_of(request))("manifests.confirm_missing"))
    if errors or decision is None:
        return _referral_page(request, filing_id, 422, errors, sent)
    try:
        state = await run_in_threadpool(platform_of(request).manifests.decide, filing_id, decision, who)
    except ValidationProblem as exc:
        return _referral_page(request, filing_id, 422, by_field(exc.errors), sent)
    except Conflict as exc:
        flash(request, "manifests.refused", "error", detail=exc.detail)
        return RedirectResponse(f"/manifests/referrals/{filing_id}", status_code=303)
    flash(request, "manifests.decided", doc=state.transport_document_no)
    return RedirectResponse("/manifests/referrals", status_code=303)


@router.get("/manifests/shipments/{document_no}")
def shipment_page(document_no: str, request: Request) -> Response:
    """A shipment: every filing (versions, modes) of a transport document and its houses, with outcomes
    (a carrier sees its own filings only)."""
    who = login(request)
    scope = None if who.is_customs else who.enterprise_code or "\x00"
    s = platform_of(request).manifests.shipment(document_no[:35], scope)
    return render(request, "manifest_shipment.html", s=s, zh=language_of(request) == "zh")


# ---------------------------------------------------------------------------------------------- discrepancies
STATUSES = ("open", "resolved", "all")


@router.get("/manifests/discrepancies")
def discrepancy_queue(request: Request, kind: str = "", status: str = "open", after: int = 0) -> Response:
    """The discrepancy queue: what reconciliation with arrival, tally and declarations found, oldest first."""
    who = login(request, *CUSTOMS)
    wanted = kind if kind in {k.value for k in DiscrepancyKind} else ""
    status = status if status in STATUSES else "open"
    after = max(0, min(after, 2**63 - 1))
    rows = platform_of(request).manifests.discrepancies.listing(
        status=status, kind=DiscrepancyKind(wanted) if wanted else None, after_id=after, limit=QUEUE_PAGE)
    return render(request, "manifest_discrepancies.html", rows=rows, kind=wanted, status=status,
                  kinds=[k.value for k in DiscrepancyKind], statuses=STATUSES, after=after,
                  next_after=rows[-1].id if len(rows) == QUEUE_PAGE else None,
                  resolutions=[r.value for r in DiscrepancyResolution], can_resolve=who.role is Role.OFFICER,
                  form_errors={}, form_sent={})


@router.post("/manifests/discrepancies/{discrepancy_id}/resolution")
async def discrepancy_resolution(discrepancy_id: FilingId, request: Request) -> Response:
    """An officer resolves a discrepancy: a resolution and the reason (required)."""
    who = login(request, Role.OFFICER)
    form = await checked_form(request)
    sent: dict[str, Any] = {k: str(form.get(k, "")).strip() for k in ("resolution", "reason")}
    svc = platform_of(request).manifests.discrepancies
    try:
        body = DiscrepancyResolutionIn.model_validate(sent)
    except ValidationError as exc:
        rows = [await run_in_threadpool(svc.get, discrepancy_id)]
        return render(request, "manifest_discrepancies.html", status_code=422, rows=rows, kind="", status="open",
                      kinds=[k.value for k in DiscrepancyKind], statuses=STATUSES, after=0, next_after=None,
                      resolutions=[r.value for r in DiscrepancyResolution], can_resolve=True,
                      form_errors={discrepancy_id: by_field(field_errors(exc))}, form_sent={discrepancy_id: sent})
    try:
        out = await run_in_threadpool(svc.resolve, discrepancy_id, body, who)
    except Conflict as exc:
        flash(request, "manifests.refused", "error", detail=exc.detail)
        return RedirectResponse("/manifests/discrepancies", status_code=303)
    flash(request, "discrepancy.resolved_flash", doc=out.transport_document_no)
    return RedirectResponse("/manifests/discrepancies", status_code=303)


# ------------------------------------------------------------------------ the carrier's requests for information
ANSWER_MAX = 4000  # as InformationIn allows


def _filer_of(request: Request) -> tuple[Principal, str]:
    """The signed-in trader and the enterprise it files for (a trader without one files for none: "\\x00")."""
    who = login(request, Role.TRADER)
    return who, who.enterprise_code or "\x00"


@router.get("/manifests/requests")
def information_requests(request: Request, after: int = 0) -> Response:
    """The carrier's open requests for information: its consignments customs asked about, oldest first."""
    _, filer = _filer_of(request)
    after = max(0, min(after, 2**63 - 1))
    rows = platform_of(request).manifests.referrals(after_id=after, limit=QUEUE_PAGE,
                                                    outcome=Outcome.REQUEST_FOR_INFORMATION, filer_code=filer)
    return render(request, "manifest_requests.html", rows=rows, zh=language_of(request) == "zh", after=after,
                  next_after=rows[-1].id if len(rows) == QUEUE_PAGE else None)


def _request_page(request: Request, filing_id: int, status_code: int = 200, errors: dict | None = None,
                  sent: dict | None = None) -> Response:
    _, filer = _filer_of(request)
    svc = platform_of(request).manifests
    state: ReferralStateOut = svc.referral(filing_id, filer)  # another filer's is as absent as a missing one
    shipment = svc.shipment(state.transport_document_no, filer)
    filing = next(f for f in shipment.filings if f.id == filing_id)
    latest = max(f.id for f in shipment.filings if f.kind == filing.kind
                 and f.consignment.transport_document_no == state.transport_document_no)
    can_answer = state.outcome is Outcome.REQUEST_FOR_INFORMATION and not state.closed and filing.id == latest
    return render(request, "manifest_request.html", status_code=status_code, r=state, f=filing,
                  can_answer=can_answer, zh=language_of(request) == "zh", errors=errors or {}, sent=sent or {},
                  answer_max=ANSWER_MAX)


@router.get("/manifests/requests/{filing_id}")
def information_request(filing_id: FilingId, request: Request) -> Response:
    """One of the carrier's referred consignments: customs' question (the reasons), the steps so far and, while
    the request for information is open, the form to answer it."""
    return _request_page(request, filing_id)


@router.post("/manifests/requests/{filing_id}/answer")
async def answer_request(filing_id: FilingId, request: Request) -> Response:
    """The carrier answers a request for information (required, at most 4,000 characters; kept on error)."""
    who, filer = _filer_of(request)
    form = await checked_form(request)
    sent = {"answer": str(form.get("answer", "")).strip()}
    try:
        body = InformationIn.model_validate(sent)
    except ValidationError as exc:
        return _request_page(request, filing_id, 422, by_field(field_errors(exc)), sent)
    try:
        state = await run_in_threadpool(platform_of(request).manifests.answer_information, filing_id, body.answer,
                                        filer, who)
    except Conflict as exc:
        flash(request, "manifest_request.refused", "error", detail=exc.detail)
        return RedirectResponse(f"/manifests/requests/{filing_id}", status_code=303)
    flash(request, "manifest_request.answered_flash", doc=state.transport_document_no)
    return RedirectResponse("/manifests/requests", status_code=303)
