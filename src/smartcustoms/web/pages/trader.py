"""The trader portal: declarations list, the lodging form (validated as it is typed) and bulk upload."""

from __future__ import annotations

import csv
import io
import re
import threading
import uuid
from datetime import timedelta
from typing import Annotated, Any

from fastapi import Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from smartcustoms.core.clock import utcnow
from smartcustoms.core.errors import DomainError, FieldError, NotFound
from smartcustoms.core.security import Principal, Role
from smartcustoms.core.wire import Offset
from smartcustoms.declarations.checks import all_errors
from smartcustoms.declarations.ingest import csv_columns, csv_template
from smartcustoms.declarations.lifecycle import Lane, Status
from smartcustoms.declarations.schemas import DeclarationIn
from smartcustoms.declarations.service import validate
from smartcustoms.platform import Platform
from smartcustoms.web.i18n import language_of, translator
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
from smartcustoms.web.uploads import UploadJob, UploadStore, report_csv, run_upload

router = page_router()


@router.get("/declarations")
def declaration_list(request: Request, status: str | None = None,
                     offset: Annotated[Offset, Query()] = 0) -> Response:
    """A user's declarations (a trader's own; every declaration for customs), by status, 50 a page."""
    who = login(request)
    svc = platform_of(request).declarations
    rows = svc.search(who, status=status or None, limit=50, offset=max(offset, 0))
    counts = svc.count_by_status(who)
    return render(request, "declarations.html", rows=rows, counts=counts, status=status, offset=offset)


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
    obj, rows = declaration_from_form(await checked_form(request))
    _, errors = check_declaration(platform, who, obj)
    hs = {f"items[{row}].hs_code": platform.codes.hs_description(it["hs_code"]) if platform.codes.is_valid_hs(
        it.get("hs_code", "")) else None for row, it in zip(rows, obj["items"], strict=True)}
    return JSONResponse({"errors": [e.as_dict() for e in to_form_paths(errors, rows)], "hs": hs})



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
    return _upload_page(request, login(request), job.as_dict())


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
    return JSONResponse(_job(request, job_id).as_dict())

