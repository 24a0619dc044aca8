"""Manifest pages: the officers' referral queue, a referral with its decision form, and a shipment's filings."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from smartcustoms.core.errors import Conflict, ValidationProblem
from smartcustoms.core.security import Role
from smartcustoms.manifests.schemas import DECISIONS, DecisionIn, Outcome, ReferralAction, ReferralStateOut
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
