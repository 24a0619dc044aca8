"""The trader portal: declarations list, the lodging form (validated as it is typed) and bulk upload."""

from __future__ import annotations

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
from smartcustoms.declarations.schemas import DeclarationIn
from smartcustoms.declarations.service import validate
from smartcustoms.platform import Platform
from smartcustoms.web.pages.base import (
    by_field,
    checked_form,
    field_errors,
    flash,
    login,
    page_router,
    platform_of,
    render,
)
from smartcustoms.web.uploads import UploadJob, UploadStore, run_upload

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


def declaration_from_form(form) -> dict:
    """The nested declaration payload of a flat form (``items[0].hs_code`` ...); blanks are left out."""
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
    obj["items"] = [items[i] for i in sorted(items) if items[i]]
    return obj


def check_declaration(platform: Platform, who: Principal, obj: dict) -> tuple[DeclarationIn | None,
                                                                              list[FieldError]]:
    """Wire-format and code-list checks of a form payload, as lodging would do them."""
    try:
        d = DeclarationIn.model_validate(obj)
    except ValidationError as exc:
        return None, field_errors(exc)
    errors = validate(d, platform.codes, platform.declarations.clock())
    if who.role == Role.TRADER and who.enterprise_code not in (d.declarant_code, d.importer_code):
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
    obj = declaration_from_form(await checked_form(request))
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
    obj = declaration_from_form(await checked_form(request))
    _, errors = check_declaration(platform, who, obj)
    hs = {f"items[{i}].hs_code": platform.codes.hs_description(it["hs_code"]) if platform.codes.is_valid_hs(
        it.get("hs_code", "")) else None for i, it in enumerate(obj["items"])}
    return JSONResponse({"errors": [e.as_dict() for e in errors], "hs": hs})



# -- bulk upload (jobs in web/uploads.py) -------------------------------------------------------------
def _jobs(request: Request) -> UploadStore:
    """The app's upload jobs, kept under the data directory."""
    state = request.app.state
    if not hasattr(state, "upload_jobs"):
        settings = platform_of(request).settings
        state.upload_jobs = UploadStore(settings.data_dir / "uploads", settings.upload_max_problems)
    return state.upload_jobs


@router.get("/upload")
def upload_form(request: Request) -> Response:
    """The bulk upload form (a JSON Lines or CSV file of declarations)."""
    login(request, Role.TRADER)  # customs roles do not lodge
    return render(request, "upload.html", job=None)


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
    """An upload job's progress and its report by line."""
    return render(request, "upload.html", job=_job(request, job_id).as_dict())


@router.get("/upload/{job_id}/status")
def upload_status(job_id: str, request: Request) -> Response:
    """An upload job's progress as JSON (polled by the upload page)."""
    return JSONResponse(_job(request, job_id).as_dict())

