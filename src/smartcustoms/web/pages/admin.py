"""The administrator's pages: users and API keys, enterprises and credit grades, mandates, the tariff table."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from smartcustoms.audit.service import record
from smartcustoms.core.db import transaction
from smartcustoms.core.errors import DomainError, FieldError, NotFound
from smartcustoms.core.security import Role
from smartcustoms.core.wire import Id
from smartcustoms.enterprises import mandates as mandate_service
from smartcustoms.enterprises import service as enterprises
from smartcustoms.enterprises.certificates import list_certificates
from smartcustoms.enterprises.schemas import ApiKeyIn, CreditGrade, EnterpriseIn, EnterpriseRole, MandateIn, UserIn
from smartcustoms.enterprises.sender_codes import sender_codes_by_enterprise
from smartcustoms.tax import service as tax_service
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

router = page_router()


def _admin_page(request: Request, status_code: int = 200, errors: dict | None = None, **extra: Any) -> Response:
    platform = platform_of(request)
    q = request.query_params.get("q", "")
    with platform.sessions() as s:
        users = enterprises.list_users(s)
        code = q.strip().upper()  # a searched enterprise code also narrows the mandates to that enterprise's
        mandates = mandate_service.list_mandates(s, code if re.fullmatch(r"[0-9A-Z]{10}|[0-9A-Z]{18}", code) else None,
                                                 limit=100)
        senders = sender_codes_by_enterprise(s)
        certs = list_certificates(s, limit=100)
        keys = enterprises.list_api_keys(s)
        ents, ent_total = enterprises.search_enterprises(s, q)
        lines, line_total = tax_service.tariff_lines(s, limit=20)
    return render(request, "admin.html", status_code=status_code, users=users, keys=keys, enterprises=ents,
                  enterprise_total=ent_total, q=q, tariff=lines, tariff_total=line_total, roles=list(Role),
                  grades=list(CreditGrade), enterprise_roles=list(EnterpriseRole), errors=errors or {},
                  mandates=mandates, sender_codes=senders, certificates=certs, **extra)


def _refused(request: Request, exc: ValidationError | DomainError, form: str, body: dict, field: str) -> Response:
    """The admin page again with a refused form's values and its errors beside their fields.

    A domain error without field errors is shown at ``field``."""
    if isinstance(exc, ValidationError):
        return _admin_page(request, 422, errors=by_field(field_errors(exc)), **{form: body})
    return _admin_page(request, exc.status, errors=by_field(exc.errors or [FieldError(field, exc.detail)]),
                       **{form: body})

@router.get("/admin")
def admin(request: Request) -> Response:
    """The administration page: users and keys, enterprises (searched by ``q``), mandates, the tariff table."""
    login(request, Role.ADMIN)
    return _admin_page(request)


@router.post("/admin/users")
async def admin_create_user(request: Request) -> Response:
    """Create a user (the password hashed in a worker thread); a wrong form comes back marked."""
    who = login(request, Role.ADMIN)
    form = await checked_form(request)
    body = {k: str(form.get(k, "")).strip() or None for k in ("username", "display_name", "password", "role",
                                                                "enterprise_code")}
    body["display_name"] = body["display_name"] or ""
    body["password"] = str(form.get("password", "")) or None  # as typed: spaces are part of a passphrase
    platform = platform_of(request)

    def create() -> None:  # scrypt: not on the event loop
        with transaction(platform.sessions) as s:
            enterprises.create_user(s, UserIn.model_validate(body), who)

    try:
        await run_in_threadpool(create)
    except (ValidationError, DomainError) as exc:
        return _refused(request, exc, "user_form", body, "username")
    flash(request, "admin.user_created", username=body["username"])
    return RedirectResponse("/admin", status_code=303)


@router.post("/admin/keys")
async def admin_create_key(request: Request) -> Response:
    """A new API key, shown on this response only: it is stored as a digest and cannot be shown again."""
    who = login(request, Role.ADMIN)
    form = await checked_form(request)
    username, label = str(form.get("username", "")), str(form.get("label", "")).strip()
    try:
        label = ApiKeyIn(label=label).label
    except ValidationError as exc:
        flash(request, "admin.key_label_invalid", "error", detail=field_errors(exc)[0].message)
        return RedirectResponse("/admin#users", status_code=303)
    with transaction(platform_of(request).sessions) as s:
        key = enterprises.create_api_key(s, username, label, who)
    response = _admin_page(request, new_key={"key": key, "username": username})
    response.headers["Cache-Control"] = "no-store"
    return response


@router.post("/admin/users/{username}/{change}")
async def admin_user_active(username: str, change: str, request: Request) -> Response:
    """Deactivate (sessions end, keys stop at once) or reactivate a user."""
    who = login(request, Role.ADMIN)
    await checked_form(request)
    if change not in ("deactivate", "reactivate"):
        raise NotFound(f"no action {change}")
    with transaction(platform_of(request).sessions) as s:
        enterprises.set_user_active(s, username, change == "reactivate", who)
    request.app.state.key_cache.clear()
    flash(request, f"admin.user_{change}d", username=username)
    return RedirectResponse("/admin#users", status_code=303)


@router.post("/admin/keys/{prefix}/revoke")
async def admin_revoke_key(prefix: str, request: Request) -> Response:
    """Revoke an API key at once (the app's key cache is cleared)."""
    who = login(request, Role.ADMIN)
    await checked_form(request)
    with transaction(platform_of(request).sessions) as s:
        enterprises.revoke_api_key(s, prefix, who)
    request.app.state.key_cache.clear()
    flash(request, "admin.key_revoked", prefix=prefix)
    return RedirectResponse("/admin#keys", status_code=303)


@router.post("/admin/enterprises")
async def admin_create_enterprise(request: Request) -> Response:
    """Register an enterprise with its roles and credit grade (audited)."""
    who = login(request, Role.ADMIN)
    form = await checked_form(request)
    body = {"code": str(form.get("code", "")).strip().upper(), "name": str(form.get("name", "")).strip(),
            "roles": form.getlist("roles"), "credit_grade": form.get("credit_grade") or "general"}
    try:
        with transaction(platform_of(request).sessions) as s:
            enterprises.create_enterprise(s, EnterpriseIn.model_validate(body), who)
    except (ValidationError, DomainError) as exc:
        return _refused(request, exc, "enterprise_form", body, "code")
    flash(request, "admin.enterprise_created", code=body["code"])
    return RedirectResponse("/admin#enterprises", status_code=303)


@router.post("/admin/mandates")
async def admin_create_mandate(request: Request) -> Response:
    """Register an importer's mandate for a declarant (audited)."""
    who = login(request, Role.ADMIN)
    form = await checked_form(request)
    body = {k: str(form.get(k, "")).strip().upper() or None for k in ("declarant_code", "importer_code")}
    body |= {k: str(form.get(k, "")).strip() or None for k in ("valid_from", "valid_to")}
    try:
        with transaction(platform_of(request).sessions) as s:
            mandate_service.create_mandate(s, MandateIn.model_validate(body), who)
    except (ValidationError, DomainError) as exc:
        return _refused(request, exc, "mandate_form", body, "declarant_code")
    flash(request, "admin.mandate_created", declarant=body["declarant_code"], importer=body["importer_code"])
    return RedirectResponse("/admin#mandates", status_code=303)


@router.post("/admin/mandates/{mandate_id}/revoke")
async def admin_revoke_mandate(mandate_id: Id, request: Request) -> Response:
    """End a mandate now (audited)."""
    who = login(request, Role.ADMIN)
    await checked_form(request)
    with transaction(platform_of(request).sessions) as s:
        mandate_service.revoke_mandate(s, mandate_id, who)
    flash(request, "admin.mandate_revoked", id=mandate_id)
    return RedirectResponse("/admin#mandates", status_code=303)


@router.post("/admin/enterprises/{code}/grade")
async def admin_grade(code: str, request: Request) -> Response:
    """Change an enterprise's credit grade, with the reason (audited)."""
    who = login(request, Role.ADMIN)
    form = await checked_form(request)
    grade, reason = str(form.get("grade", "")), str(form.get("reason", "")).strip()
    if grade not in {g.value for g in CreditGrade} or not reason:
        flash(request, "admin.grade_invalid", "error", code=code)
    else:
        with transaction(platform_of(request).sessions) as s:
            enterprises.set_credit_grade(s, code, CreditGrade(grade), reason, who)
        flash(request, "admin.grade_changed", code=code, grade=grade)
    return RedirectResponse(f"/admin?q={quote(code)}#enterprises", status_code=303)


@router.post("/admin/tariff")
async def admin_tariff(request: Request) -> Response:
    """Replace the tariff table from an uploaded CSV (all or nothing)."""
    who = login(request, Role.ADMIN)
    form = await checked_form(request)
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        flash(request, "upload.nofile", "error")
        return RedirectResponse("/admin#tariff", status_code=303)
    text = (await upload.read()).decode("utf-8-sig", errors="replace")
    try:
        rows = tax_service.parse_tariff_csv(text)
    except tax_service.TableFormatError as exc:
        return _admin_page(request, 422, errors={"tariff": [f"{e.field}: {e.message}" for e in
                                                            tax_service.table_field_errors(exc)][:20]})
    platform = platform_of(request)
    with transaction(platform.sessions) as s:
        tax_service.replace_tariff(s, rows)
        record(s, who, "tariff.replace", "tariff", "all", {"lines": len(rows), "file": upload.filename})
    platform.tariff.lines = tax_service.TariffTable.from_rows(rows).lines
    flash(request, "admin.tariff_done", lines=len(rows))
    return RedirectResponse("/admin#tariff", status_code=303)
