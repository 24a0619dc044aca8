"""The officer console: the hold queue, a declaration's case page, inspection results, held CBEC parcels."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from smartcustoms.cbec import service as cbec
from smartcustoms.core.clock import utcnow
from smartcustoms.core.errors import Conflict, NotFound
from smartcustoms.core.security import Role
from smartcustoms.declarations import holds, listing
from smartcustoms.declarations.lifecycle import (
    AMENDABLE,
    CANCELLABLE,
    DECISION_REASONS,
    DECISION_STATUS,
    FINAL,
    Decision,
    Status,
    can_transition,
)
from smartcustoms.declarations.schemas import DecisionIn
from smartcustoms.declarations.service import DeclarationInvalid
from smartcustoms.inspection import service as inspection
from smartcustoms.inspection.schemas import OFFENCE_TYPES, InspectionResultIn
from smartcustoms.web.i18n import language_of, translator
from smartcustoms.web.pages.base import (
    CUSTOMS,
    by_field,
    checked_form,
    field_errors,
    flash,
    form_int,
    login,
    page_router,
    platform_of,
    render,
)
from smartcustoms.web.pages.documents import documents_context
from smartcustoms.web.pages.exports import PARCEL_FILTERS
from smartcustoms.web.pages.lists import QUEUE_STATUSES, list_context, queue_view
from smartcustoms.web.pages.manifest_card import manifest_line_context

router = page_router()


def _lane_event(events) -> dict | None:
    for e in reversed(events):
        if e.to_status == "lane_assigned" and e.detail:
            return e.detail
    return None


def _last_decision(events) -> Any | None:
    """The latest officer's decision among a declaration's events (one with a ``decision`` detail), if any."""
    for e in reversed(events):
        if e.detail and e.detail.get("decision"):
            return e
    return None


def decision_choices(status: str) -> list[tuple[str, list[str]]]:
    """The decisions an officer may take on a declaration at ``status``, each with its reason codes."""
    if status not in Status.__members__.values() or status in FINAL:  # a release is final
        return []
    return [(d.value, list(DECISION_REASONS[d])) for d in Decision if can_transition(status, DECISION_STATUS[d])]


#: decisions that ask the officer to confirm (they end the hold: goods leave, or are seized)
CONFIRMED = (Decision.RELEASE.value, Decision.DETAIN.value)
CHOSEN = frozenset(d.value for d in Decision)


@router.get("/declarations/{no}")
def declaration_page(no: str, request: Request) -> Response:
    """A declaration: a trader sees its lane's consequence; customs see the importer's record and similar cases."""
    who = login(request)
    platform = platform_of(request)
    d = platform.declarations.get(who, no)  # another enterprise's declaration is a 404
    events = platform.declarations.events(who, no)
    lane = _lane_event(events)
    ctx: dict[str, Any] = {"d": d, "events": events, "lane_detail": lane, "offence_types": OFFENCE_TYPES,
                           "decision": _last_decision(events)}
    trader = who.role == Role.TRADER  # amendments, next steps and tax payment status (AMD)
    sent_payment = request.session.pop("payment_form", None)
    ctx |= {"versions": platform.declarations.version_diffs(who, no), "can_amend": trader and d.status in AMENDABLE,
            "can_cancel": trader and d.status in CANCELLABLE,
            "payment_form": sent_payment if sent_payment and sent_payment.get("no") == no else None}
    ctx |= documents_context(request, platform, who, d, events)  # the documents card (web/pages/documents.py)
    ctx |= manifest_line_context(platform.manifests.discrepancies, who, d)  # its manifest line (manifest_card.py)
    if who.role == Role.TRADER:  # the lane's consequence and customs' decision only: no rule, score or rank
        waiting = d.status == "lane_assigned" or (d.status == "inspection" and ctx["decision"] is None)
        ctx["trader_reasons"] = ["reason.held." + (d.lane or "")] if waiting and d.lane not in (None, "green") \
            else []
        with platform.sessions() as s:  # the tax box adds duty recovered by an inspection
            ctx["duty_recovered"] = r.duty_recovered if (r := inspection.result_for(s, no)) is not None else None
        ctx["payment"] = platform.declarations.tax_payment(who, no, ctx["duty_recovered"] or Decimal(0))
        return render(request, "declaration.html", **ctx)
    with platform.sessions() as s:
        ctx["result"] = inspection.result_for(s, no)
        ctx["history"] = inspection.importer_record(s, d.importer_code, exclude_no=no)
        ctx["similar"] = inspection.similar_cases(s, no, [i.hs_code for i in d.items], d.items[0].origin_country)
    ctx["payment"] = platform.declarations.tax_payment(who, no, ctx["result"].duty_recovered if ctx["result"]
                                                       else Decimal(0))
    officer = who.role in (Role.OFFICER, Role.ADMIN)
    ctx["can_record"] = (officer and ctx["result"] is None
                         and getattr(platform, "inspections", None) is not None
                         and d.status in ("lane_assigned", "inspection", "released"))
    ctx["decisions"] = decision_choices(d.status) if officer else []
    # a refused form comes back as it was sent, with its errors (never reset to the defaults)
    sent = request.session.pop("decision_form", None)
    ctx["decision_form"] = sent if sent and sent.get("no") == no else {}
    sent = request.session.pop("inspection_form", None)
    ctx["inspection_form"] = sent if sent and sent.get("no") == no else {}
    return render(request, "declaration.html", errors=ctx["inspection_form"].get("errors", {}),
                  confirmed=CONFIRMED, **ctx)


@router.post("/declarations/{no}/inspection")
async def record_inspection(no: str, request: Request) -> Response:
    """An officer records what the inspection found; the event log shows it at once."""
    who = login(request, Role.OFFICER, Role.ADMIN)
    form = await checked_form(request)
    platform = platform_of(request)
    outcome = str(form.get("outcome", ""))
    body: dict[str, Any] = {"outcome": outcome, "notes": str(form.get("notes", "")).strip()}
    if outcome == "offence":
        body |= {"offence_type": form.get("offence_type") or None, "critical": form.get("critical") == "on",
                 "duty_recovered": str(form.get("duty_recovered") or "0").strip()}
    sent = {"outcome": outcome, "offence_type": str(form.get("offence_type") or ""),
            "critical": form.get("critical") == "on", "duty_recovered": str(form.get("duty_recovered") or ""),
            "notes": str(form.get("notes", ""))}
    try:
        result = InspectionResultIn.model_validate(body)
        platform.inspections.record(who, no, result)
    except ValidationError as exc:
        request.session["inspection_form"] = {"no": no, "values": sent, "errors": by_field(field_errors(exc))}
        flash(request, "inspection.invalid", "error")
        return RedirectResponse(f"/declarations/{no}#inspection-form", status_code=303)
    except Conflict as exc:
        flash(request, "inspection.conflict", "error", detail=exc.detail)
    else:
        flash(request, "inspection.done", no=no)
    return RedirectResponse(f"/declarations/{no}#events", status_code=303)


@router.post("/declarations/{no}/decision")
async def record_decision(no: str, request: Request) -> Response:
    """An officer's decision on a held declaration, with a reason code and a note, through the same service
    call as the API's ``POST /api/v1/declarations/{no}/decision`` (event, audit entry, one transaction)."""
    who = login(request, Role.OFFICER, Role.ADMIN)
    form = await checked_form(request)
    platform = platform_of(request)
    sent: dict[str, Any] = {k: str(form.get(k, "")).strip() for k in ("decision", "reason_code", "reason")}
    sent["confirm"] = form.get("confirm") == "on"
    errors: dict[str, list[str]] = {}
    if sent["decision"] in CONFIRMED and not sent["confirm"]:
        errors["confirm"] = [translator(language_of(request))("decision.confirm_missing")]
    try:
        body = DecisionIn.model_validate({"decision": sent["decision"], "reason_code": sent["reason_code"] or None,
                                          "reason": sent["reason"]})
    except ValidationError as exc:
        errors = by_field(field_errors(exc)) | errors
    if not errors:
        try:
            await run_in_threadpool(platform.declarations.decide, who, no, None, body.reason,
                                    decision=body.decision, reason_code=body.reason_code)
        except DeclarationInvalid as exc:
            errors = by_field(exc.errors)
        except Conflict as exc:
            flash(request, "decision.conflict", "error", detail=exc.detail)
            return RedirectResponse(f"/declarations/{no}#decisions", status_code=303)
    if errors:
        request.session["decision_form"] = {"no": no, "values": sent, "errors": errors}
        flash(request, "decision.invalid", "error")
        anchor = f"decision-{sent['decision']}" if sent["decision"] in CHOSEN else "decisions"
        return RedirectResponse(f"/declarations/{no}#{anchor}", status_code=303)
    flash(request, "decision.done", no=no, decision=translator(language_of(request))(f"decision_done.{body.decision}"))
    return RedirectResponse(f"/declarations/{no}#events", status_code=303)


# -- officer console -----------------------------------------------------------------------------------
@router.get("/queue")
def hold_queue(request: Request) -> Response:
    """The held declarations, counted per office and lane, highest score first; searched, sorted and paged as
    every declaration list is (see ``web.pages.lists``), a wrong filter named beside its field (422)."""
    who = login(request, *CUSTOMS)
    platform = platform_of(request)
    view = queue_view(request, who)
    view.page = platform.declarations.list_page(who, view.query, QUEUE_STATUSES)
    with platform.sessions() as s:
        counts = holds.hold_queue(s, limit=0).counts  # per office and lane, whatever the filters
        decided = holds.latest_decisions(s, [r["declaration_no"] for r in view.page.rows])
        doc_marks = platform.documents.queue_marks(s, [r["declaration_no"] for r in view.page.rows])
    q = holds.HoldQueue(view.page.rows, counts, view.page.total)
    offices = sorted({o for o, _ in counts})
    return render(request, "queue.html", status_code=422 if view.errors else 200, q=q, view=view,
                  lane=view.query.lane or "", office=view.query.office or "", offices=offices,
                  lanes=holds.HOLD_LANES, now=utcnow(), decided=decided, held_statuses=list(QUEUE_STATUSES),
                  doc_marks=doc_marks,
                  **list_context(request, who))


# -- officer console: held CBEC parcels ----------------------------------------------------------------
# what an officer may record on the parcel page, in this order (offered when TRANSITIONS allows it)
PARCEL_DECISIONS = (800, 500, 501, 502, 503, 599, 700)
NOTE_MAX = 2000  # as DecisionIn.info


def _parcel_url(ebp_code: str, order_no: str) -> str:
    return f"/parcels/{quote(ebp_code, safe='')}/{quote(order_no, safe='')}"


def parcel_choices(current: int) -> list[int]:
    """The results an officer can record for a parcel now at ``current`` (the CBEC service's transitions)."""
    allowed = cbec.TRANSITIONS.get(current, frozenset())
    return [s for s in PARCEL_DECISIONS if s in allowed]


@router.get("/parcels")
def parcel_queue(request: Request, status: str = "held", after: str = "", size: str = "") -> Response:
    """Held CBEC parcels (oldest first) or recent outcomes (latest first), a page of ``size`` (25 to 200, as
    the declaration lists) at a time by cursor."""
    login(request, *CUSTOMS)
    platform = platform_of(request)
    if status not in PARCEL_FILTERS:
        status = "held"
    n = form_int(size)
    n = n if n in listing.PAGE_SIZES else cbec.PARCEL_PAGE
    with platform.sessions() as s:
        q = cbec.parcel_queue(s, PARCEL_FILTERS[status], after=after or None, limit=n)
    return render(request, "parcels.html", q=q, status=status, after=after, filters=list(PARCEL_FILTERS),
                  held=status in ("held", "300", "500"), now=utcnow(), parcel_url=_parcel_url, size=n,
                  page_sizes=listing.PAGE_SIZES)


@router.get("/parcels/{ebp_code}/{order_no}")
def parcel_page(ebp_code: str, order_no: str, request: Request) -> Response:
    """A CBEC parcel with its status history, and the results an officer may record for it now."""
    who = login(request, *CUSTOMS)
    platform = platform_of(request)
    with platform.sessions() as s:
        p = cbec.parcel_view(s, ebp_code, order_no)
    if p is None:
        raise NotFound(f"no CBEC parcel for platform {ebp_code} order {order_no}")
    choices = parcel_choices(p["status"]) if who.role in (Role.OFFICER, Role.ADMIN) else []
    return render(request, "parcel.html", p=p, choices=choices, note_max=NOTE_MAX,
                  action=_parcel_url(ebp_code, order_no) + "/decision")


@router.post("/parcels/{ebp_code}/{order_no}/decision")
async def parcel_decision(ebp_code: str, order_no: str, request: Request) -> Response:
    """An officer's result for a parcel, recorded by the process's CBEC writer (``set_status``).

    The writer checks the transition; a refusal (``Conflict``, ``NotFound``) comes back as a flashed
    error. ``from_status`` (the status the form was shown for) keeps a stale form from deciding a
    parcel that another officer has decided meanwhile.
    """
    who = login(request, Role.OFFICER, Role.ADMIN)
    form = await checked_form(request)
    t = translator(language_of(request))
    here = _parcel_url(ebp_code, order_no)
    raw, note, seen = (str(form.get(k, "")).strip() for k in ("status", "note", "from_status"))
    status = form_int(raw)
    if status not in PARCEL_DECISIONS:
        flash(request, "parcel.invalid", "error")
        return RedirectResponse(here, status_code=303)
    if len(note) > NOTE_MAX:
        flash(request, "parcel.note_too_long", "error", n=NOTE_MAX)
        return RedirectResponse(here, status_code=303)
    def decide() -> int | None:
        """None when recorded; the parcel's status when it is no longer the one the form was shown for."""
        try:
            request.app.state.platform.cbec.set_status(ebp_code, order_no, status, note, who.username,
                                                       expected=form_int(seen), role=str(who.role))
        except cbec.StatusChanged as exc:
            return exc.current
        return None

    try:
        current = await run_in_threadpool(decide)
    except Conflict as exc:  # the transition is not allowed from the parcel's status
        flash(request, "parcel.refused", "error", detail=exc.detail)
        return RedirectResponse(here, status_code=303)
    except NotFound as exc:
        flash(request, "parcel.refused", "error", detail=exc.detail)
        return RedirectResponse("/parcels", status_code=303)
    if current is not None:
        flash(request, "parcel.changed", "error", status=current, name=t(f"parcel_status.{current}"))
        return RedirectResponse(here, status_code=303)
    flash(request, "parcel.decided", order=order_no, status=status, name=t(f"parcel_status.{status}"))
    return RedirectResponse(here + "#events", status_code=303)

