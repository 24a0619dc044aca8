"""The administrator's pages: users and API keys, enterprises and credit grades, mandates, the tariff table.

Lists page with a choice of page size; a revocation, deactivation or tariff replacement asks first (a page
of its own, no script needed); a new key's secret is shown once, after a redirect (refreshing shows no
second key).
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import select
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
from smartcustoms.enterprises.models import Enterprise, User
from smartcustoms.enterprises.schemas import ApiKeyIn, CreditGrade, EnterpriseIn, EnterpriseRole, MandateIn, UserIn
from smartcustoms.enterprises.sender_codes import sender_codes_by_enterprise
from smartcustoms.tax import service as tax_service
from smartcustoms.web.pages.base import (
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
from smartcustoms.web.sessions import session_secret

router = page_router()

PAGE_SIZES = (20, 50, 100, 200)
ENTERPRISE_PAGE, TARIFF_PAGE, USER_PAGE, KEY_PAGE = 100, 20, 50, 50  # default page sizes
PENDING_TARIFF_SECONDS = 3600  # a checked tariff upload waits this long for its confirmation


@dataclass(frozen=True)
class Pager:
    """One page of a list: its rows are ``first``..``last`` (1-based) of ``total``; links keep the other filters."""

    page: int
    size: int
    total: int
    prev_url: str | None
    next_url: str | None
    hidden: dict[str, str]  # the other query parameters, for the page-size form

    @property
    def first(self) -> int:
        """The 1-based position of the page's first row (0 when the list is empty)."""
        return min((self.page - 1) * self.size + 1, self.total)

    @property
    def last(self) -> int:
        """The 1-based position of the page's last row."""
        return min(self.page * self.size, self.total)


def _pager(request: Request, total: int, page_param: str, size_param: str, default_size: int,
           anchor: str) -> Pager:
    """The page a list is on from the query (a bad or past-the-end page number is the nearest page)."""
    query = dict(request.query_params)
    size = form_int(query.get(size_param))
    size = size if size in PAGE_SIZES else default_size
    pages = max(1, -(-total // size))
    page = min(max(form_int(query.get(page_param)) or 1, 1), pages)

    def url(n: int) -> str:
        return "/admin?" + urlencode({**query, page_param: n, size_param: size}) + anchor

    hidden = {k: v for k, v in query.items() if k not in (page_param, size_param)}
    return Pager(page, size, total, url(page - 1) if page > 1 else None, url(page + 1) if page < pages else None,
                 hidden)


def _admin_page(request: Request, status_code: int = 200, errors: dict | None = None, **extra: Any) -> Response:
    platform = platform_of(request)
    q = request.query_params.get("q", "")
    with platform.sessions() as s:
        user_total, key_total = enterprises.count_users_and_keys(s)
        user_pager = _pager(request, user_total, "upage", "usize", USER_PAGE, "#users")
        users = enterprises.list_users(s, limit=user_pager.size, offset=(user_pager.page - 1) * user_pager.size)
        code = q.strip().upper()  # a searched enterprise code also narrows the mandates to that enterprise's
        mandates = mandate_service.list_mandates(s, code if re.fullmatch(r"[0-9A-Z]{10}|[0-9A-Z]{18}", code) else None,
                                                 limit=100)
        senders = sender_codes_by_enterprise(s)
        certs = list_certificates(s, limit=100)
        key_pager = _pager(request, key_total, "kpage", "ksize", KEY_PAGE, "#keys")
        keys = enterprises.list_api_keys(s, limit=key_pager.size, offset=(key_pager.page - 1) * key_pager.size)
        _, ent_total = enterprises.search_enterprises(s, q, limit=0)
        ent_pager = _pager(request, ent_total, "page", "size", ENTERPRISE_PAGE, "#enterprises")
        ents, _ = enterprises.search_enterprises(s, q, limit=ent_pager.size,
                                                 offset=(ent_pager.page - 1) * ent_pager.size)
        _, line_total = tax_service.tariff_lines(s, limit=0)
        tariff_pager = _pager(request, line_total, "tpage", "tsize", TARIFF_PAGE, "#tariff")
        lines, _ = tax_service.tariff_lines(s, limit=tariff_pager.size,
                                            offset=(tariff_pager.page - 1) * tariff_pager.size)
    return render(request, "admin.html", status_code=status_code, users=users, keys=keys, enterprises=ents,
                  user_pager=user_pager, key_pager=key_pager,
                  enterprise_total=ent_total, enterprise_pager=ent_pager, q=q, tariff=lines,
                  tariff_total=line_total, tariff_pager=tariff_pager, page_sizes=PAGE_SIZES, roles=list(Role),
                  grades=list(CreditGrade), enterprise_roles=list(EnterpriseRole), errors=errors or {},
                  mandates=mandates, sender_codes=senders, certificates=certs, **extra)


def _refused(request: Request, exc: ValidationError | DomainError, form: str, body: dict, field: str) -> Response:
    """The admin page again with a refused form's values and its errors beside their fields.

    A domain error without field errors is shown at ``field``."""
    if isinstance(exc, ValidationError):
        return _admin_page(request, 422, errors=by_field(field_errors(exc)), **{form: body})
    return _admin_page(request, exc.status, errors=by_field(exc.errors or [FieldError(field, exc.detail)]),
                       **{form: body})


def _confirm(request: Request, question: str, action: str, cancel: str, danger: bool = True,
             hidden: dict[str, str] | None = None, **values: object) -> Response:
    """The page that asks before an action: a form posting to ``action`` (works without script)."""
    return render(request, "admin_confirm.html", question=question, values=values, action=action, cancel=cancel,
                  danger=danger, hidden=hidden or {})


@router.get("/admin")
def admin(request: Request) -> Response:
    """The administration page: users and keys, enterprises (searched by ``q``, paged), mandates, the tariff."""
    login(request, Role.ADMIN)
    return _admin_page(request)


# -- users ------------------------------------------------------------------------------------------------
def _user_form_problems(platform: Any, body: dict) -> list[FieldError]:
    """Every problem of the add-user form at once: its fields, then the role's enterprise and a taken name."""
    problems: list[FieldError] = []
    try:
        UserIn.model_validate(body)
    except ValidationError as exc:
        problems += field_errors(exc)
    bad = {e.field for e in problems}
    role, code = body.get("role"), body.get("enterprise_code")
    with platform.sessions() as s:
        if "username" not in bad and s.scalar(select(User.id).where(User.username == body["username"])):
            problems.append(FieldError("username", "already taken"))
        if "role" not in bad and "enterprise_code" not in bad:
            if role == Role.TRADER.value and not code:
                problems.append(FieldError("enterprise_code", "required for role trader"))
            elif role == Role.TRADER.value and not s.scalar(select(Enterprise.id).where(Enterprise.code == code)):
                problems.append(FieldError("enterprise_code", "not a registered enterprise"))
            elif role != Role.TRADER.value and code:
                problems.append(FieldError("enterprise_code", f"not allowed for role {role}"))
    return problems


@router.post("/admin/users")
async def admin_create_user(request: Request) -> Response:
    """Create a user (the password hashed in a worker thread); a wrong form comes back with every error marked."""
    who = login(request, Role.ADMIN)
    form = await checked_form(request)
    body = {k: str(form.get(k, "")).strip() or None for k in ("username", "display_name", "password", "role",
                                                                "enterprise_code")}
    body["display_name"] = body["display_name"] or ""
    body["password"] = str(form.get("password", "")) or None  # as typed: spaces are part of a passphrase
    body["enterprise_code"] = body["enterprise_code"].upper() if body["enterprise_code"] else None
    platform = platform_of(request)
    problems = await run_in_threadpool(_user_form_problems, platform, body)
    if problems:
        return _admin_page(request, 422, errors=by_field(problems), user_form=body)

    def create() -> None:  # scrypt: not on the event loop
        with transaction(platform.sessions) as s:
            enterprises.create_user(s, UserIn.model_validate(body), who)

    try:
        await run_in_threadpool(create)
    except (ValidationError, DomainError) as exc:  # a race: the name was taken meanwhile
        return _refused(request, exc, "user_form", body, "username")
    flash(request, "admin.user_created", username=body["username"])
    return RedirectResponse("/admin", status_code=303)


def _user_page(request: Request, username: str, status_code: int = 200, errors: dict | None = None,
               **extra: Any) -> Response:
    with platform_of(request).sessions() as s:
        user = next((u for u in enterprises.list_users(s) if u.username == username), None)
        if user is None:
            raise NotFound(f"no user {username}")
        keys = [k for k in enterprises.list_api_keys(s, limit=10_000) if k["username"] == username]
    return render(request, "admin_user.html", status_code=status_code, user=user, keys=keys, roles=list(Role),
                  errors=errors or {}, **extra)


@router.get("/admin/users/{username}")
def admin_user(username: str, request: Request) -> Response:
    """One user: change the role, reset the password, deactivate or reactivate, the user's keys and their use."""
    login(request, Role.ADMIN)
    return _user_page(request, username)


@router.post("/admin/users/{username}/role")
async def admin_user_role(username: str, request: Request) -> Response:
    """Change a user's role (and enterprise, for a trader); the user's sessions end (audited)."""
    who = login(request, Role.ADMIN)
    form = await checked_form(request)
    role, code = str(form.get("role", "")), str(form.get("enterprise_code", "")).strip().upper() or None
    if role not in {r.value for r in Role}:
        return _user_page(request, username, 422, errors={"role": ["choose a role"]},
                          role_form={"role": role, "enterprise_code": code})
    try:
        with transaction(platform_of(request).sessions) as s:
            enterprises.set_user_role(s, username, Role(role), code, who)
    except DomainError as exc:
        if isinstance(exc, NotFound) and not exc.errors:
            raise
        return _user_page(request, username, exc.status,
                          errors=by_field(exc.errors or [FieldError("role", exc.detail)]),
                          role_form={"role": role, "enterprise_code": code})
    request.app.state.key_cache.clear()  # cached principals carry the old role
    flash(request, "admin.role_changed", username=username, role=role)
    return RedirectResponse(f"/admin/users/{quote(username)}", status_code=303)


@router.post("/admin/users/{username}/password")
async def admin_user_password(username: str, request: Request) -> Response:
    """Set a new password for a user (policy checked, scrypt in a worker thread); the user's sessions end."""
    who = login(request, Role.ADMIN)
    form = await checked_form(request)
    password = str(form.get("password", ""))
    platform = platform_of(request)

    def reset() -> None:
        with transaction(platform.sessions) as s:
            enterprises.reset_password(s, username, password, who)

    try:
        await run_in_threadpool(reset)
    except DomainError as exc:
        if isinstance(exc, NotFound):
            raise
        return _user_page(request, username, exc.status,
                          errors=by_field(exc.errors or [FieldError("password", exc.detail)]))
    flash(request, "admin.password_reset", username=username)
    return RedirectResponse(f"/admin/users/{quote(username)}", status_code=303)


@router.get("/admin/users/{username}/{change}")
def admin_user_active_confirm(username: str, change: str, request: Request) -> Response:
    """Ask before deactivating (or reactivating) a user."""
    login(request, Role.ADMIN)
    if change not in ("deactivate", "reactivate"):
        raise NotFound(f"no action {change}")
    return _confirm(request, f"admin.confirm_{change}", f"/admin/users/{quote(username)}/{change}",
                    f"/admin/users/{quote(username)}", danger=change == "deactivate", username=username)


@router.post("/admin/users/{username}/{change}")
async def admin_user_active(username: str, change: str, request: Request) -> Response:
    """Deactivate (sessions end, keys stop at once) or reactivate a user; an administrator not themselves."""
    who = login(request, Role.ADMIN)
    await checked_form(request)
    if change not in ("deactivate", "reactivate"):
        raise NotFound(f"no action {change}")
    with transaction(platform_of(request).sessions) as s:
        enterprises.set_user_active(s, username, change == "reactivate", who)
    request.app.state.key_cache.clear()
    flash(request, f"admin.user_{change}d", username=username)
    return RedirectResponse("/admin#users", status_code=303)


# -- API keys ---------------------------------------------------------------------------------------------
def _sealer(request: Request) -> AESGCM:
    """The cipher that keeps a new key's secret in the session cookie until its one showing."""
    secret = session_secret(platform_of(request).settings).encode()
    return AESGCM(hashlib.sha256(b"smartcustoms new API key\0" + secret).digest())


@router.post("/admin/keys")
async def admin_create_key(request: Request) -> Response:
    """A new API key; its secret is shown once, on the page this redirects to (refreshing it makes no new key)."""
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
    nonce = secrets.token_bytes(12)
    sealed = nonce + _sealer(request).encrypt(nonce, key.encode(), username.encode())
    request.session["new_key"] = {"username": username, "sealed": base64.b64encode(sealed).decode()}
    return RedirectResponse("/admin/keys/new", status_code=303)


@router.get("/admin/keys/new")
def admin_new_key(request: Request) -> Response:
    """The new key's secret, exactly once (the session forgets it); afterwards back to the list of keys."""
    login(request, Role.ADMIN)
    pending = request.session.pop("new_key", None)
    try:
        sealed = base64.b64decode(pending["sealed"])
        key = _sealer(request).decrypt(sealed[:12], sealed[12:], pending["username"].encode()).decode()
    except (TypeError, KeyError, ValueError, InvalidTag):
        flash(request, "admin.key_shown_once", "error")
        return RedirectResponse("/admin#keys", status_code=303)
    response = _admin_page(request, new_key={"key": key, "username": pending["username"]})
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/admin/keys/{prefix}/revoke")
def admin_revoke_key_confirm(prefix: str, request: Request) -> Response:
    """Ask before revoking an API key."""
    login(request, Role.ADMIN)
    return _confirm(request, "admin.confirm_revoke_key", f"/admin/keys/{quote(prefix)}/revoke", "/admin#keys",
                    prefix=prefix)


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


# -- enterprises and mandates ----------------------------------------------------------------------------
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


@router.get("/admin/mandates/{mandate_id}/revoke")
def admin_revoke_mandate_confirm(mandate_id: Id, request: Request) -> Response:
    """Ask before ending a mandate."""
    login(request, Role.ADMIN)
    return _confirm(request, "admin.confirm_revoke_mandate", f"/admin/mandates/{mandate_id}/revoke",
                    "/admin#mandates", id=mandate_id)


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


# -- the tariff -------------------------------------------------------------------------------------------
def _pending_tariff(request: Request, token: str) -> Path:
    """Where a checked tariff upload waits for its confirmation (the data directory, one file per upload)."""
    return Path(platform_of(request).settings.data_dir) / "pending" / f"tariff-{token}.csv"


def _drop_pending_tariff(request: Request) -> dict | None:
    pending = request.session.pop("tariff_upload", None)
    if pending and re.fullmatch(r"[A-Za-z0-9_-]{20,64}", str(pending.get("token", ""))):
        _pending_tariff(request, pending["token"]).unlink(missing_ok=True)
        return pending
    return None


@router.post("/admin/tariff")
async def admin_tariff(request: Request) -> Response:
    """Check an uploaded tariff CSV (every error by line and column), then ask before it replaces the table."""
    login(request, Role.ADMIN)
    form = await checked_form(request)
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        flash(request, "upload.nofile", "error")
        return RedirectResponse("/admin#tariff", status_code=303)
    text = (await upload.read()).decode("utf-8-sig", errors="replace")
    try:
        rows = tax_service.parse_tariff_csv(text)
    except tax_service.TableFormatError as exc:
        problems = exc.problems or [(1, "file", str(exc))]
        return _admin_page(request, 422, tariff_problems=problems, tariff_file=upload.filename,
                           tariff_problems_capped=len(problems) >= tax_service.MAX_TABLE_ERRORS)
    _drop_pending_tariff(request)
    token = secrets.token_urlsafe(24)
    path = _pending_tariff(request, token)
    path.parent.mkdir(parents=True, exist_ok=True)
    stale = time.time() - PENDING_TARIFF_SECONDS
    for old in path.parent.glob("tariff-*.csv"):  # uploads never confirmed nor cancelled
        if old.stat().st_mtime < stale:
            old.unlink(missing_ok=True)
    path.write_text(text, encoding="utf-8")
    request.session["tariff_upload"] = {"token": token, "file": upload.filename, "lines": len(rows)}
    with platform_of(request).sessions() as s:
        _, current = tax_service.tariff_lines(s, limit=0)
    return _confirm(request, "admin.confirm_tariff", "/admin/tariff/confirm", "/admin/tariff/cancel",
                    hidden={"token": token}, file=upload.filename, lines=len(rows), current=current)


@router.get("/admin/tariff/cancel")
def admin_tariff_cancel(request: Request) -> Response:
    """Drop a checked tariff upload without replacing the table."""
    login(request, Role.ADMIN)
    _drop_pending_tariff(request)
    return RedirectResponse("/admin#tariff", status_code=303)


@router.post("/admin/tariff/confirm")
async def admin_tariff_confirm(request: Request) -> Response:
    """Replace the tariff table with the checked upload (all or nothing; audited)."""
    who = login(request, Role.ADMIN)
    form = await checked_form(request)
    pending = request.session.get("tariff_upload") or {}
    token = str(form.get("token", ""))
    path = _pending_tariff(request, token) if token and secrets.compare_digest(
        token.encode(), str(pending.get("token", "")).encode()) else None
    if path is None or not path.is_file() or path.stat().st_mtime < time.time() - PENDING_TARIFF_SECONDS:
        flash(request, "admin.tariff_expired", "error")
        return RedirectResponse("/admin#tariff", status_code=303)
    rows = tax_service.parse_tariff_csv(path.read_text(encoding="utf-8"))
    platform = platform_of(request)
    with transaction(platform.sessions) as s:
        tax_service.replace_tariff(s, rows)
        record(s, who, "tariff.replace", "tariff", "all", {"lines": len(rows), "file": pending.get("file", "")})
    platform.tariff.lines = tax_service.TariffTable.from_rows(rows).lines
    _drop_pending_tariff(request)
    flash(request, "admin.tariff_done", lines=len(rows))
    return RedirectResponse("/admin#tariff", status_code=303)
