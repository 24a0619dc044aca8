"""The trader portal: declarations list, the lodging form (validated as it is typed) and bulk upload."""

from __future__ import annotations

import csv
import io
import re
import threading
import uuid
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from smartcustoms.core.clock import utcnow
from smartcustoms.core.errors import Conflict, DomainError, FieldError, NotFound
from smartcustoms.core.security import Principal, Role
from smartcustoms.declarations.checks import all_errors
from smartcustoms.declarations.ingest import csv_columns, csv_template
from smartcustoms.declarations.lifecycle import AMENDABLE, CANCELLABLE, Lane, Status
from smartcustoms.declarations.schemas import DeclarationIn, DeclarationOut
from smartcustoms.declarations.service import validate
from smartcustoms.platform import Platform
from smartcustoms.web.i18n import language_of, translator
from smartcustoms.web.messages import Localiser
from smartcustoms.web.pages.base import (
    by_field,
    checked_form,
    flash,
    form_int,
    login,
    page_router,
    platform_of,
    render,
)
from smartcustoms.web.pages.lists import list_context, list_view
from smartcustoms.web.uploads import UploadJob, UploadStore, report_csv, run_upload

router = page_router()


@router.get("/declarations")
def declaration_list(request: Request) -> Response:
    """A user's declarations (a trader's own; every declaration for customs): searched by number, dates, HS
    code, importer, lane, office and status, sorted by any column, a page of 25 to 200 at a time (see
    ``web.pages.lists``). A wrong filter is named beside its field (422) and the others still apply."""
    who = login(request)
    svc = platform_of(request).declarations
    view = list_view(request, who, "/declarations")
    view.page = svc.list_page(who, view.query)
    counts = svc.count_by_status(who)
    return render(request, "declarations.html", status_code=422 if view.errors else 200, rows=view.page.rows,
                  counts=counts, status=view.query.status, view=view, **list_context(request, who))


_ITEM_KEY = re.compile(r"^items\[(\d{1,2})\]\.(\w+)$")
#: item fields whose form control always sends a value (a select with a default): they alone do not fill a row
_DEFAULTED_ITEM_FIELDS = frozenset({"unit"})


def declaration_from_form(form, drop: int | None = None) -> tuple[dict, list[int]]:
    """The nested declaration payload of a flat form (``items[0].hs_code`` ...); blanks are left out.

    A goods-item row with nothing typed in it (its unit select still sends its default) is no item: it is
    left out. Returns the payload and the form row of each item left in (see :func:`to_form_paths`).
    ``drop`` is a row the user removed (the form's remove button, without JavaScript).
    """
    obj: dict[str, Any] = {}
    items: dict[int, dict[str, str]] = {}
    fields = set(DeclarationIn.model_fields)
    for key, value in form.multi_items():
        value = str(value).strip()
        m = _ITEM_KEY.match(key)
        if m:
            item = items.setdefault(int(m.group(1)), {})
            if value:
                item[m.group(2)] = value
        elif key in fields and value:
            obj[key] = value
    rows = [i for i in sorted(items) if i != drop and set(items[i]) - _DEFAULTED_ITEM_FIELDS]
    obj["items"] = [items[i] for i in rows]
    return obj, rows


def to_form_paths(errors: list[FieldError], rows: list[int]) -> list[FieldError]:
    """Field errors with each item's index as the form row it came from (empty rows were left out)."""
    def row_path(path: str) -> str:
        m = re.match(r"^items\[(\d+)\]", path)
        if not m or int(m.group(1)) >= len(rows):
            return path
        return f"items[{rows[int(m.group(1))]}]" + path[m.end():]
    return [FieldError(row_path(e.field), e.message) for e in errors]


def check_declaration(platform: Platform, who: Principal, obj: dict) -> tuple[DeclarationIn | None,
                                                                              list[FieldError]]:
    """Wire-format and code-list checks of a form payload, as lodging would do them, all in one pass.

    When the payload does not parse, the code-list checks still run on each well-formed field, so a bad HS
    code is marked together with the missing fields rather than after them.
    """
    d: DeclarationIn | None
    try:
        d = DeclarationIn.model_validate(obj)
    except ValidationError as exc:
        d = None
        errors = all_errors(exc, obj, platform.codes)
    else:
        errors = validate(d, platform.codes, platform.declarations.clock())
    parties = (d.declarant_code, d.importer_code) if d else (obj.get("declarant_code"), obj.get("importer_code"))
    if who.role == Role.TRADER and who.enterprise_code not in parties and not (
            d is None and any(e.field in ("declarant_code", "importer_code") for e in errors)):
        errors.append(FieldError("importer_code", f"you act for {who.enterprise_code}: lodge as its declarant "
                                                  "or importer"))
    return d, errors


def _form_context(platform: Platform, who: Principal, values: dict) -> dict:
    codes = platform.codes
    now = utcnow() - timedelta(minutes=1)
    defaults = {"declarant_code": who.enterprise_code or "", "importer_code": who.enterprise_code or "",
                "trade_mode": "0110", "transport_mode": "2", "incoterm": "CIF", "currency": "USD", "freight": "0",
                "packages": "1", "declared_at": now.strftime("%Y-%m-%dT%H:%M"),
                "client_message_id": f"web-{uuid.uuid4().hex[:12]}"}
    merged = {**defaults, **{k: v for k, v in values.items() if k != "items"}}
    items = values.get("items") or [{}]
    return {"v": merged, "items": items, "countries": sorted(codes.countries.items()),
            "currencies": sorted(codes.currencies.items()), "trade_modes": list(codes.trade_modes.values()),
            "transport_modes": list(codes.transport_modes.values()), "units": list(codes.units.values()),
            "offices": list(codes.customs_offices.values()),
            "incoterms": ("EXW", "FCA", "FAS", "FOB", "CFR", "CIF", "CPT", "CIP", "DAP", "DPU", "DDP")}


@router.get("/declarations/new")
def lodge_form(request: Request) -> Response:
    """The empty lodging form, with the trader's enterprise as declarant and importer."""
    who = login(request, Role.TRADER)  # customs roles do not lodge
    return render(request, "lodge.html", errors={}, **_form_context(platform_of(request), who, {}))


@router.post("/declarations/new")
async def lodge_submit(request: Request) -> Response:
    """Lodge the form's declaration; a wrong one comes back with each wrong field marked (422)."""
    who = login(request, Role.TRADER)
    platform = platform_of(request)
    form = await checked_form(request)
    removed = form_int(form.get("remove_item"))
    if removed is not None:  # an item row removed without JavaScript: the form again, nothing lodged
        obj, _ = declaration_from_form(form, drop=removed)
        return render(request, "lodge.html", errors={}, **_form_context(platform, who, obj))
    obj, _ = declaration_from_form(form)  # the form comes back with the items it kept, numbered as sent
    d, errors = check_declaration(platform, who, obj)
    if d is not None and not errors:
        try:
            out, _ = platform.declarations.lodge(who, d)
        except DomainError as exc:
            errors = exc.errors or [FieldError("form", exc.detail)]
        else:
            flash(request, "lodge.done", no=out.declaration_no)
            return RedirectResponse(f"/declarations/{out.declaration_no}", status_code=303)
    return render(request, "lodge.html", status_code=422, errors=by_field(errors),
                  **_form_context(platform, who, obj))


@router.post("/declarations/validate")
async def lodge_validate(request: Request) -> Response:
    """Validate-as-you-type: the field errors the form has now, and the HS description of each item."""
    who = login(request, Role.TRADER)
    platform = platform_of(request)
    form = await checked_form(request)
    obj, rows = declaration_from_form(form)
    _, errors = check_declaration(platform, who, obj)
    errors += amendment_reason_errors(form, translator(language_of(request)))  # the amendment form's reason
    hs = {f"items[{row}].hs_code": platform.codes.hs_description(it["hs_code"]) if platform.codes.is_valid_hs(
        it.get("hs_code", "")) else None for row, it in zip(rows, obj["items"], strict=True)}
    say = Localiser(language_of(request))  # the messages in the reader's language, with the field's label
    return JSONResponse({"errors": [e.as_dict() for e in say.field_errors(to_form_paths(errors, rows))], "hs": hs})



# -- bulk upload (jobs in web/uploads.py) -------------------------------------------------------------
def _jobs(request: Request) -> UploadStore:
    """The app's upload jobs, kept under the data directory."""
    state = request.app.state
    if not hasattr(state, "upload_jobs"):
        settings = platform_of(request).settings
        state.upload_jobs = UploadStore(settings.data_dir / "uploads", settings.upload_max_problems)
    return state.upload_jobs


def template_declaration(platform: Platform, who: Principal) -> DeclarationIn:
    """The example of the upload template: two goods items lodged by the trader's enterprise as importer."""
    codes = platform.codes
    office = "2248" if codes.is_valid_office("2248") else min(codes.customs_offices)
    code = who.enterprise_code or "9144030071"
    at = (utcnow() - timedelta(minutes=5)).replace(second=0, microsecond=0).isoformat() + "Z"
    return DeclarationIn.model_validate({
        "client_message_id": "order-2026-0001", "declarant_code": code, "importer_code": code,
        "seller_name": "Cerámica Levante S.L.", "trade_mode": "0110", "transport_mode": "2", "office_code": office,
        "departure_country": "ES", "origin_country": "ES", "currency": "USD", "incoterm": "CIF", "freight": "0",
        "gross_mass_kg": "21000", "net_mass_kg": "20000", "packages": 20, "total_value": "13000.00",
        "declared_at": at, "items": [
            {"hs_code": "6907220000", "description": "Glazed ceramic wall tiles", "model_spec": "30x60 cm",
             "quantity": "18000", "unit": "035", "net_mass_kg": "18000", "unit_price": "0.5",
             "total_value": "9000.00", "origin_country": "ES"},
            {"hs_code": "6907220000", "description": "Glazed ceramic floor tiles", "model_spec": "60x60 cm",
             "quantity": "2000", "unit": "035", "net_mass_kg": "2000", "unit_price": "2",
             "total_value": "4000.00", "origin_country": "ES"}]})


def _column_reference(platform: Platform, who: Principal) -> list[dict]:
    """The CSV columns as the upload page lists them: name, required, meaning, the template's example value."""
    first = next(csv.DictReader(io.StringIO(csv_template(template_declaration(platform, who)))))
    return [{"name": c.name, "required": c.required, "per_item": c.per_item, "example": first.get(c.name, "")}
            for c in csv_columns()]


def _upload_page(request: Request, who: Principal, job: dict | None) -> Response:
    t = translator(language_of(request))  # the words the page's script shows for statuses and lanes
    return render(request, "upload.html", job=job, columns=_column_reference(platform_of(request), who),
                  status_words={s.value: t(f"status.{s.value}") for s in Status},
                  lane_words={ln.value: t(f"lane.{ln.value}") for ln in Lane})


@router.get("/upload")
def upload_form(request: Request) -> Response:
    """The bulk upload form (a JSON Lines or CSV file of declarations), the CSV template and column reference."""
    who = login(request, Role.TRADER)  # customs roles do not lodge
    return _upload_page(request, who, None)


@router.get("/upload/template.csv")
def upload_template(request: Request) -> Response:
    """A CSV file in the upload format: the header row and one example declaration of two goods items."""
    who = login(request, Role.TRADER)
    body = csv_template(template_declaration(platform_of(request), who))
    return Response("\ufeff" + body, media_type="text/csv; charset=utf-8",  # the BOM: spreadsheets read UTF-8
                    headers={"Content-Disposition": 'attachment; filename="declarations-template.csv"'})


@router.post("/upload")
async def upload_submit(request: Request) -> Response:
    """Start an upload job in the background; its page follows the progress."""
    who = login(request, Role.TRADER)
    form = await checked_form(request)
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        flash(request, "upload.nofile", "error")
        return RedirectResponse("/upload", status_code=303)
    text = (await upload.read()).decode("utf-8-sig", errors="replace")
    jobs = _jobs(request)
    job = await run_in_threadpool(jobs.new, who.user_id, upload.filename)
    threading.Thread(target=run_upload, args=(platform_of(request), who, job, text, jobs), daemon=True).start()
    if request.headers.get("accept", "").startswith("application/json"):
        return JSONResponse({"job": job.id, "status_url": f"/upload/{job.id}/status"}, status_code=202)
    return RedirectResponse(f"/upload/{job.id}", status_code=303)


def _job(request: Request, job_id: str) -> UploadJob:
    who = login(request, Role.TRADER, Role.ADMIN)
    job = _jobs(request).get(job_id, who.user_id)
    if job is None:
        raise NotFound(f"no upload {job_id}")
    return job


@router.get("/upload/{job_id}")
def upload_page(job_id: str, request: Request) -> Response:
    """An upload job's progress, its problems by line and the declarations it lodged."""
    job = _job(request, job_id)
    return _upload_page(request, login(request), _job_in_language(request, job))


@router.get("/upload/{job_id}/report.csv")
def upload_report(job_id: str, request: Request) -> Response:
    """An upload job's problems as a CSV file (line, column, problem)."""
    job = _job(request, job_id)
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", job.filename.rsplit(".", 1)[0])[:60] or "upload"
    return Response("\ufeff" + report_csv(job), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}-problems.csv"'})


@router.get("/upload/{job_id}/status")
def upload_status(job_id: str, request: Request) -> Response:
    """An upload job's progress as JSON (polled by the upload page)."""
    return JSONResponse(_job_in_language(request, _job(request, job_id)))


def _job_in_language(request: Request, job: UploadJob) -> dict:
    """An upload job's state with each problem's message in the reader's language (the column's label in it)."""
    say, out = Localiser(language_of(request)), job.as_dict()
    out["problems"] = [{**p, "message": say.field_error(FieldError(str(p.get("field") or ""), p["message"])).message}
                       for p in out["problems"]]
    return out



# -- amending and cancelling a lodged declaration ------------------------------------------------------
_HEADER_FORM_FIELDS = ("declarant_code", "importer_code", "seller_name", "trade_mode", "transport_mode", "office_code",
                       "departure_country", "origin_country", "currency", "incoterm", "freight", "insurance",
                       "gross_mass_kg", "net_mass_kg", "packages", "total_value", "transport_document_no")
_ITEM_FORM_FIELDS = ("hs_code", "description", "model_spec", "quantity", "unit", "net_mass_kg", "unit_price",
                     "total_value", "origin_country")
MAX_REASON = 500


def _form_text(value: object) -> str:
    """A stored value as the form shows it: numbers without trailing zeros, nothing for none."""
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return f"{value.normalize():f}"
    return str(value)


def _local_time(at: datetime) -> str:
    """A declaration time as a ``datetime-local`` value (seconds and milliseconds only when there are some)."""
    if at.microsecond:
        return at.isoformat(timespec="milliseconds")
    return at.strftime("%Y-%m-%dT%H:%M:%S" if at.second else "%Y-%m-%dT%H:%M")


def amendment_values(d: DeclarationOut) -> dict:
    """The lodging form's values for the current version of ``d`` (header and goods items)."""
    values: dict[str, Any] = {f: _form_text(getattr(d, f)) for f in _HEADER_FORM_FIELDS}
    values["declared_at"] = _local_time(d.declared_at)
    values["items"] = [{f: _form_text(getattr(i, f)) for f in _ITEM_FORM_FIELDS} for i in d.items]
    return values


def amendment_reason_errors(form, t) -> list[FieldError]:
    """What is wrong with an amendment form's reason (none for the lodging form, which has no such field)."""
    if "amendment_reason" not in form:
        return []
    reason = str(form.get("amendment_reason") or "").strip()
    if not reason:
        return [FieldError("amendment_reason", t("amend.reason_missing"))]
    if len(reason) > MAX_REASON:
        return [FieldError("amendment_reason", t("amend.reason_long", n=MAX_REASON))]
    return []


def _not_amendable(request: Request, d: DeclarationOut, action: str) -> Response:
    """Back to the declaration with the reason an amendment or a cancellation is refused."""
    t = translator(language_of(request))
    flash(request, f"{action}.refused", "error", no=d.declaration_no, status=t(f"status.{d.status}"))
    return RedirectResponse(f"/declarations/{d.declaration_no}", status_code=303)


def _amend_page(request: Request, platform: Platform, who: Principal, d: DeclarationOut, values: dict,
                errors: dict, reason: str, status_code: int = 200) -> Response:
    ctx = _form_context(platform, who, values)
    ctx["v"]["client_message_id"] = values.get("client_message_id") or f"web-amend-{uuid.uuid4().hex[:12]}"
    return render(request, "lodge.html", status_code=status_code, errors=errors, amend=d, amend_reason=reason,
                  form_action=f"/declarations/{d.declaration_no}/amend", max_reason=MAX_REASON, **ctx)


@router.get("/declarations/{no}/amend")
def amend_form(no: str, request: Request) -> Response:
    """The lodging form filled in with the declaration's current version, to amend it while that is allowed."""
    who = login(request, Role.TRADER)
    platform = platform_of(request)
    d = platform.declarations.get(who, no)  # another enterprise's declaration is a 404
    if d.status not in AMENDABLE:
        return _not_amendable(request, d, "amend")
    return _amend_page(request, platform, who, d, amendment_values(d), {}, "")


@router.post("/declarations/{no}/amend")
async def amend_submit(no: str, request: Request) -> Response:
    """Amend the declaration with the form's content and a reason; errors come back all at once (422).

    The service enforces the lifecycle: an amendment is re-assessed and re-laned, keeps at least its lane and
    never releases; a declaration under inspection, released, cancelled or rejected can no longer be amended.
    """
    who = login(request, Role.TRADER)
    platform = platform_of(request)
    d = await run_in_threadpool(platform.declarations.get, who, no)
    if d.status not in AMENDABLE:
        return _not_amendable(request, d, "amend")
    form = await checked_form(request)
    reason = str(form.get("amendment_reason") or "").strip()
    removed = form_int(form.get("remove_item"))
    obj, rows = declaration_from_form(form, drop=removed)
    if obj.get("declared_at") == _local_time(d.declared_at):  # unchanged: keep the stored time to the microsecond
        obj["declared_at"] = d.declared_at.isoformat()
    if removed is not None:  # an item row removed without JavaScript: the form again, nothing amended
        return _amend_page(request, platform, who, d, {**obj, "declared_at": form.get("declared_at", "")}, {}, reason)
    decl, errors = check_declaration(platform, who, obj)
    errors = to_form_paths(errors, rows) + amendment_reason_errors(form, translator(language_of(request)))
    if decl is not None and not errors:
        try:
            await run_in_threadpool(platform.declarations.amend, who, no, decl, reason)
        except DomainError as exc:
            now = await run_in_threadpool(platform.declarations.get, who, no)
            if isinstance(exc, Conflict) and not exc.errors and now.status not in AMENDABLE:
                return _not_amendable(request, now, "amend")  # an officer's decision came first: say so
            errors = to_form_paths(exc.errors, rows) if exc.errors else [FieldError("form", exc.detail)]
        else:
            flash(request, "amend.done", no=no)
            return RedirectResponse(f"/declarations/{no}#versions", status_code=303)
    values = {**obj, "declared_at": str(form.get("declared_at", ""))}
    shown = by_field(Localiser(language_of(request)).field_errors(errors))
    return _amend_page(request, platform, who, d, values, shown, reason, status_code=422)


@router.get("/declarations/{no}/cancel")
def cancel_form(no: str, request: Request) -> Response:
    """Confirm the cancellation of a declaration, with a reason."""
    who = login(request, Role.TRADER)
    d = platform_of(request).declarations.get(who, no)
    if d.status not in CANCELLABLE:
        return _not_amendable(request, d, "cancel")
    return render(request, "cancel.html", d=d, errors={}, reason="", max_reason=MAX_REASON)


@router.post("/declarations/{no}/cancel")
async def cancel_submit(no: str, request: Request) -> Response:
    """Cancel the declaration with the confirmed reason (an append-only event and an audit entry)."""
    who = login(request, Role.TRADER)
    platform = platform_of(request)
    d = await run_in_threadpool(platform.declarations.get, who, no)
    if d.status not in CANCELLABLE:
        return _not_amendable(request, d, "cancel")
    form = await checked_form(request)
    reason = str(form.get("reason") or "").strip()
    t = translator(language_of(request))
    errors: dict[str, list[str]] = {}
    if not reason:
        errors["reason"] = [t("cancel.reason_missing")]
    elif len(reason) > MAX_REASON:
        errors["reason"] = [t("amend.reason_long", n=MAX_REASON)]
    if form.get("confirm") != "on":
        errors["confirm"] = [t("cancel.confirm_missing")]
    if errors:
        return render(request, "cancel.html", status_code=422, d=d, errors=errors, reason=reason,
                      max_reason=MAX_REASON, confirmed=form.get("confirm") == "on")
    try:
        await run_in_threadpool(platform.declarations.cancel, who, no, reason)
    except Conflict:
        return _not_amendable(request, await run_in_threadpool(platform.declarations.get, who, no), "cancel")
    flash(request, "cancel.done", no=no)
    return RedirectResponse(f"/declarations/{no}#events", status_code=303)
