"""Printable clearance documents (the release note, the tax assessment notice) and customs' confirmation of tax
payments.

The documents are HTML pages with a print stylesheet (``static/clearance.css``: A4, no navigation, page breaks
between sections that must not split); a trader opens its own declarations' documents (another enterprise's
are a 404), customs open any. They are read from the declaration's stored record, never re-computed.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from smartcustoms.core.clock import utcnow
from smartcustoms.core.errors import Conflict, DomainError
from smartcustoms.core.security import Role
from smartcustoms.declarations.lifecycle import Status
from smartcustoms.declarations.schemas import TaxPaymentIn
from smartcustoms.inspection import service as inspection
from smartcustoms.web.i18n import language_of, translator
from smartcustoms.web.messages import Localiser
from smartcustoms.web.pages.base import (
    by_field,
    checked_form,
    error_page,
    field_errors,
    flash,
    login,
    page_router,
    platform_of,
    render,
)

router = page_router()


def _released_event(events: list) -> Any | None:
    """The event that released the declaration (the latest release)."""
    return next((e for e in reversed(events) if e.to_status == Status.RELEASED and e.from_status != Status.RELEASED),
                None)


@router.get("/declarations/{no}/release-note")
def release_note(no: str, request: Request) -> Response:
    """The release note (放行通知书) of a released declaration: number, parties, goods, lane, release time, office."""
    who = login(request)
    platform = platform_of(request)
    d = platform.declarations.get(who, no)  # another enterprise's declaration is a 404
    t = translator(language_of(request))
    if d.status != Status.RELEASED:
        return error_page(request, 409, t("print.not_released", no=no, status=t(f"status.{d.status}")))
    events = platform.declarations.events(who, no)
    released = _released_event(events)
    decided = released is not None and bool((released.detail or {}).get("decision"))
    return render(request, "release_note.html", d=d, released=released, decided=decided, printed_at=utcnow())


@router.get("/declarations/{no}/tax-notice")
def tax_notice(no: str, request: Request) -> Response:
    """The tax assessment notice (税款缴纳通知书): duty, VAT and consumption tax per item and in total (CNY), duty
    recovered after an inspection, the due date and where payment stands."""
    who = login(request)
    platform = platform_of(request)
    d = platform.declarations.get(who, no)
    t = translator(language_of(request))
    if d.tax.tax_total_cny is None or d.status == Status.REJECTED:
        return error_page(request, 409, t("print.not_assessed", no=no))
    with platform.sessions() as s:
        result = inspection.result_for(s, no)
    recovered = result.duty_recovered if result is not None and result.duty_recovered else Decimal(0)
    payment = platform.declarations.tax_payment(who, no, recovered)
    return render(request, "tax_notice.html", d=d, recovered=recovered, payment=payment, printed_at=utcnow())


@router.post("/declarations/{no}/payments")
async def record_payment(no: str, request: Request) -> Response:
    """An officer confirms a payment of the declaration's taxes (audited); a refused form comes back as sent."""
    who = login(request, Role.OFFICER, Role.ADMIN)
    form = await checked_form(request)
    platform = platform_of(request)
    say = Localiser(language_of(request))  # the errors in the reader's language
    sent = {k: str(form.get(k) or "").strip() for k in ("amount_cny", "reference", "paid_at")}
    errors: dict[str, list[str]] = {}
    try:
        body = TaxPaymentIn.model_validate({"amount_cny": sent["amount_cny"], "reference": sent["reference"],
                                            "paid_at": sent["paid_at"] or None})
    except ValidationError as exc:
        errors = by_field(say.field_errors(field_errors(exc)))
        if "" in errors or "body" in errors:  # a whole-body rule (a zero amount) belongs to the amount
            errors.setdefault("amount_cny", []).extend(errors.pop("", []) + errors.pop("body", []))
    if not errors:
        try:
            await run_in_threadpool(platform.declarations.record_payment, who, no, body.amount_cny, body.reference,
                                    body.paid_at)
        except Conflict as exc:
            errors = by_field(say.field_errors(exc.errors)) if exc.errors else {"amount_cny": [exc.detail]}
        except DomainError as exc:
            if exc.status == 404:
                raise
            errors = by_field(say.field_errors(exc.errors)) if exc.errors else {"amount_cny": [exc.detail]}
    if errors:
        request.session["payment_form"] = {"no": no, "values": sent, "errors": errors}
        flash(request, "payment.invalid", "error")
        return RedirectResponse(f"/declarations/{no}#payment-form", status_code=303)
    flash(request, "payment.done", no=no, amount=f"{body.amount_cny:,.2f}")
    return RedirectResponse(f"/declarations/{no}#tax-payment", status_code=303)

