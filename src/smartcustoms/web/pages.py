"""Server-rendered pages: login, trader portal, officer console, analyst dashboard, admin.

Routes stay thin: they read the form, call the domain services (or the read-only queries in
:mod:`smartcustoms.web.queries`) and render a Jinja2 template with the request's language.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import secrets
import threading
import uuid
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, cast
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from smartcustoms.audit.service import record
from smartcustoms.core.db import transaction
from smartcustoms.core.errors import Conflict, DomainError, FieldError, Forbidden, NotFound, loc_to_path
from smartcustoms.core.security import PASSWORD_MAX_LENGTH, LoginThrottle, Principal, Role
from smartcustoms.core.wire import INT32_MAX, Id, Offset
from smartcustoms.declarations.schemas import DeclarationIn
from smartcustoms.declarations.service import validate
from smartcustoms.enterprises import mandates as mandate_service
from smartcustoms.enterprises import service as enterprises
from smartcustoms.enterprises.schemas import ApiKeyIn, CreditGrade, EnterpriseIn, EnterpriseRole, MandateIn, UserIn
from smartcustoms.enterprises.sender_codes import sender_codes_by_enterprise
from smartcustoms.inspection.schemas import OFFENCE_TYPES, InspectionResultIn
from smartcustoms.platform import Platform
from smartcustoms.web import queries, svg
from smartcustoms.web.i18n import COOKIE, LANGUAGES, language_of, translator
from smartcustoms.web.uploads import UploadJob, UploadStore, run_upload

HERE = Path(__file__).parent
STATIC = (HERE / "static").resolve()
templates = Jinja2Templates(directory=str(HERE / "templates"))
CUSTOMS = (Role.OFFICER, Role.ANALYST, Role.ADMIN)
HOME = {Role.TRADER: "/declarations", Role.OFFICER: "/queue", Role.ANALYST: "/dashboard", Role.ADMIN: "/admin"}
log = logging.getLogger(__name__)


class LoginRequired(Exception):
    """No signed-in user: the page redirects to the login form."""


class PageRoute(APIRoute):
    """Renders domain errors as HTML pages (not problem+json) and sends strangers to the login form."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def run(request: Request) -> Response:
            try:
                return await handler(request)
            except LoginRequired:
                return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)
            except DomainError as exc:
                return error_page(request, exc.status, exc.detail)
            except HTTPException as exc:
                return error_page(request, exc.status_code, str(exc.detail))

        return run


router = APIRouter(route_class=PageRoute, include_in_schema=False)


# -- request helpers ---------------------------------------------------------------------------------
def platform_of(request: Request) -> Platform:
    return request.app.state.platform


def signed_in(request: Request) -> Principal | None:
    """The user of the request's live web session (looked up by ``web.sessions.WebSessionAuth``), or None."""
    return request.scope.get("principal")


def login(request: Request, *roles: Role) -> Principal:
    """The signed-in user, who must have one of ``roles`` (any role when none are given)."""
    who = signed_in(request)
    if who is None:
        raise LoginRequired
    if roles and who.role not in roles:
        raise Forbidden("your role does not open this page")
    return who


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not token:
        token = request.session["csrf"] = secrets.token_urlsafe(24)
    return token


async def checked_form(request: Request):
    """The posted form, after checking its anti-forgery token against the session's."""
    form = await request.form()
    sent, token = form.get("csrf") or request.headers.get("x-csrf-token"), str(request.session.get("csrf", ""))
    if not sent or not token or not secrets.compare_digest(str(sent).encode(), token.encode()):
        raise HTTPException(403, "the form has expired; reload the page and try again")
    return form


def flash(request: Request, key: str, kind: str = "ok", **values: object) -> None:
    request.session.setdefault("flash", []).append({"kind": kind, "key": key, "values": values})


def render(request: Request, name: str, status_code: int = 200, **context: Any) -> Response:
    lang = language_of(request)
    t = translator(lang)
    messages = [{"kind": m["kind"], "text": t(m["key"], **m.get("values", {}))}
                for m in request.session.pop("flash", [])] if "session" in request.scope else []
    ctx = {"t": t, "lang": lang, "languages": LANGUAGES, "who": signed_in(request) if "session" in request.scope
           else None, "csrf": csrf_token(request) if "session" in request.scope else "", "messages": messages,
           "path": request.url.path, "Role": Role, **context}
    return templates.TemplateResponse(request, name, ctx, status_code=status_code)


def error_page(request: Request, status: int, detail: str) -> Response:
    return render(request, "error.html", status_code=status, status=status, detail=detail)


def field_errors(exc: ValidationError) -> list[FieldError]:
    return [FieldError(loc_to_path(tuple(e["loc"])), e["msg"].removeprefix("Value error, "))
            for e in exc.errors()]


def _form_int(value: object) -> int | None:
    """A form field's whole number (ASCII digits, at most INT32_MAX), else None."""
    text = str(value or "").strip()
    if not (text.isascii() and text.isdigit() and len(text) <= 10) or int(text) > INT32_MAX:
        return None
    return int(text)


def by_field(errors: list[FieldError]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for e in errors:
        out.setdefault(e.field, []).append(e.message)
    return out


# -- static files, language, login ----------------------------------------------------------------
@router.get("/static/{name:path}")
def static(name: str) -> Response:
    path = (STATIC / name).resolve()
    if not path.is_file() or STATIC not in path.parents:
        raise NotFound(f"no file {name}")
    return FileResponse(path, headers={"Cache-Control": "public, max-age=3600"})


def _safe_next(target: str | None) -> str:
    return target if target and target.startswith("/") and not target.startswith("//") else "/"


@router.get("/lang/{code}")
def choose_language(code: str, request: Request, next: str = "/") -> Response:
    if code not in LANGUAGES:
        raise NotFound(f"no language {code}")
    request.session["lang"] = code
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(COOKIE, code, max_age=365 * 24 * 3600, samesite="lax")
    return response


@router.get("/")
def home(request: Request) -> Response:
    who = login(request)
    return RedirectResponse(HOME[who.role], status_code=303)


@router.get("/login")
def login_form(request: Request, next: str = "/") -> Response:
    return render(request, "login.html", next=_safe_next(next), error=None)


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


ANONYMOUS = Principal(0, "anonymous", cast(Role, "anonymous"))  # who the audit log names for a failed sign-in
_PASSWORD_SLOTS = threading.BoundedSemaphore(max(2, os.cpu_count() or 2))  # scrypt: 128 MiB and ~0.3 s each


def _sign_in(platform: Platform, throttle: LoginThrottle, username: str, password: str,
             address: str) -> tuple[Principal, str] | str | float:
    """In a worker thread: the user and a new session id; or why not (audited); or seconds to wait.

    The throttle is asked again once a password slot is free, so a burst of parallel attempts that all
    passed the first look still meets the back-off of the failures before it.
    """
    if not _PASSWORD_SLOTS.acquire(timeout=5):
        return 1.0  # every slot busy: a flood
    try:
        wait = throttle.retry_after(username, address)
        if wait > 0:
            return wait
        with transaction(platform.sessions) as s:
            who, why = enterprises.check_login(s, username[:200], password[:PASSWORD_MAX_LENGTH])
            if who is None:
                record(s, ANONYMOUS, "login.failed", "user", username[:100], {"address": address, "reason": why})
            else:
                max_age = timedelta(hours=platform.settings.session_max_hours)
                return who, enterprises.start_web_session(s, who, max_age, address)
        throttle.failed(username, address)
        return why
    finally:
        _PASSWORD_SLOTS.release()


def _throttled(request: Request, wait: float, next_: str, username: str) -> Response:
    log.warning("sign-in as %r from %s refused for %.0f s after repeated failures", username,
                client_address(request), wait)
    response = render(request, "login.html", status_code=429, next=next_, error="login.throttled",
                      username=username, wait=math.ceil(wait))
    response.headers["Retry-After"] = str(math.ceil(wait))
    return response


@router.post("/login")
async def login_submit(request: Request) -> Response:
    """Sign in: throttled per account and per address, scrypt in a worker thread, failures audited."""
    form = await checked_form(request)
    username, password = str(form.get("username", "")).strip(), str(form.get("password", ""))
    next_ = _safe_next(str(form.get("next", "/")))
    platform, address = platform_of(request), client_address(request)
    throttle: LoginThrottle = request.app.state.login_throttle
    wait = throttle.retry_after(username, address)  # refused at once: no thread, no scrypt
    if wait > 0:
        return _throttled(request, wait, next_, username)
    outcome = await run_in_threadpool(_sign_in, platform, throttle, username, password, address)
    if isinstance(outcome, float):
        return _throttled(request, outcome, next_, username)
    if isinstance(outcome, str):
        log.warning("failed sign-in as %r from %s: %s", username, address, outcome)
        return render(request, "login.html", status_code=401, next=next_, error="login.failed", username=username)
    who, sid = outcome
    throttle.succeeded(username)
    lang = request.session.get("lang")
    request.session.clear()  # a fresh session on sign-in: new id, new anti-forgery token
    if lang:
        request.session["lang"] = lang
    request.session["sid"] = sid
    return RedirectResponse(HOME[who.role] if next_ == "/" else next_, status_code=303)


@router.post("/logout")
async def logout(request: Request) -> Response:
    """Sign out: the session ends in the database, so a copy of the cookie signs no one in."""
    await checked_form(request)
    sid = request.session.get("sid")
    if isinstance(sid, str):
        platform = platform_of(request)

        def revoke() -> None:
            with transaction(platform.sessions) as s:
                enterprises.revoke_web_session(s, sid)

        await run_in_threadpool(revoke)
    lang = request.session.get("lang")
    request.session.clear()
    if lang:
        request.session["lang"] = lang
    return RedirectResponse("/login", status_code=303)


# -- declarations: list, lodge, validate, read ---------------------------------------------------------
@router.get("/declarations")
def declaration_list(request: Request, status: str | None = None,
                     offset: Annotated[Offset, Query()] = 0) -> Response:
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
    now = datetime.now(UTC).replace(tzinfo=None) - timedelta(minutes=1)
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
    who = login(request, Role.TRADER)  # customs roles do not lodge
    return render(request, "lodge.html", errors={}, **_form_context(platform_of(request), who, {}))


@router.post("/declarations/new")
async def lodge_submit(request: Request) -> Response:
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


def _lane_event(events) -> dict | None:
    for e in reversed(events):
        if e.to_status == "lane_assigned" and e.detail:
            return e.detail
    return None


@router.get("/declarations/{no}")
def declaration_page(no: str, request: Request) -> Response:
    who = login(request)
    platform = platform_of(request)
    d = platform.declarations.get(who, no)  # another enterprise's declaration is a 404
    events = platform.declarations.events(who, no)
    lane = _lane_event(events)
    ctx: dict[str, Any] = {"d": d, "events": events, "lane_detail": lane, "offence_types": OFFENCE_TYPES}
    held = d.lane not in (None, "green")
    if who.role == Role.TRADER:  # the lane's consequence only: no mechanism, rule, score or rank
        ctx["trader_reasons"] = ["reason.held." + (d.lane or "")] if held and d.status in (
            "lane_assigned", "inspection", "detained") else []
        return render(request, "declaration.html", **ctx)
    t = queries.tables(platform.engine)
    with platform.engine.connect() as conn:
        did = queries.declaration_id(conn, t, no)
        ctx["decision"] = queries.risk_decision(conn, t, did)
        ctx["result"] = queries.inspection_result(conn, t, did)
        ctx["history"] = queries.party_history(conn, t, d.importer_code, exclude_id=did)
        ctx["similar"] = queries.similar_cases(conn, t, did, [i.hs_code for i in d.items],
                                               d.items[0].origin_country)
    ctx["can_record"] = (who.role in (Role.OFFICER, Role.ADMIN) and ctx["result"] is None
                         and getattr(platform, "inspections", None) is not None
                         and d.status in ("lane_assigned", "inspection", "released"))
    return render(request, "declaration.html", errors=request.session.pop("inspection_errors", {}), **ctx)


@router.post("/declarations/{no}/inspection")
async def record_inspection(no: str, request: Request) -> Response:
    """An officer records what the inspection found; the event log shows it at once."""
    who = login(request, Role.OFFICER, Role.ADMIN)
    form = await checked_form(request)
    platform = platform_of(request)
    outcome = str(form.get("outcome", ""))
    body = {"outcome": outcome, "notes": str(form.get("notes", "")).strip()}
    if outcome == "offence":
        body |= {"offence_type": form.get("offence_type") or None, "critical": form.get("critical") == "on",
                 "duty_recovered": str(form.get("duty_recovered") or "0").strip()}
    try:
        result = InspectionResultIn.model_validate(body)
        platform.inspections.record(who, no, result)
    except ValidationError as exc:
        request.session["inspection_errors"] = by_field(field_errors(exc))
        flash(request, "inspection.invalid", "error")
    except Conflict as exc:
        flash(request, "inspection.conflict", "error", detail=exc.detail)
    else:
        flash(request, "inspection.done", no=no)
    return RedirectResponse(f"/declarations/{no}#events", status_code=303)


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
    login(request, Role.TRADER)  # customs roles do not lodge
    return render(request, "upload.html", job=None)


@router.post("/upload")
async def upload_submit(request: Request) -> Response:
    who = login(request, Role.TRADER)
    form = await checked_form(request)
    upload = form.get("file")
    if upload is None or not hasattr(upload, "read") or not upload.filename:
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
    return render(request, "upload.html", job=_job(request, job_id).as_dict())


@router.get("/upload/{job_id}/status")
def upload_status(job_id: str, request: Request) -> Response:
    return JSONResponse(_job(request, job_id).as_dict())


# -- officer console -----------------------------------------------------------------------------------
@router.get("/queue")
def hold_queue(request: Request, lane: str = "", office: str = "", order: str = "-risk_score",
               offset: Annotated[Offset, Query()] = 0) -> Response:
    login(request, *CUSTOMS)
    platform = platform_of(request)
    if order not in ("-risk_score", "risk_score", "lodged_at", "-lodged_at"):
        order = "-risk_score"
    with platform.engine.connect() as conn:
        q = queries.hold_queue(conn, queries.tables(platform.engine), lane=lane or None, office=office or None,
                               order=order, limit=100, offset=max(offset, 0))
    offices = sorted({o for o, _ in q.counts})
    now = datetime.now(UTC).replace(tzinfo=None)
    return render(request, "queue.html", q=q, lane=lane, office=office, order=order, offset=offset,
                  offices=offices, lanes=queries.LANES[1:], now=now)


# -- officer console: held CBEC parcels ----------------------------------------------------------------
# the queue's status filter: held parcels (the work), or recent outcomes
PARCEL_FILTERS: dict[str, tuple[int, ...]] = {
    "held": queries.PARCEL_HELD, "300": (300,), "500": (500,), "decided": queries.PARCEL_OUTCOMES,
    **{str(s): (s,) for s in queries.PARCEL_OUTCOMES}}
# what an officer may record on the parcel page, in this order (offered when TRANSITIONS allows it)
PARCEL_DECISIONS = (800, 500, 501, 502, 503, 599, 700)
NOTE_MAX = 2000  # as DecisionIn.info


def _parcel_url(ebp_code: str, order_no: str) -> str:
    return f"/parcels/{quote(ebp_code, safe='')}/{quote(order_no, safe='')}"


def parcel_choices(current: int) -> list[int]:
    """The results an officer can record for a parcel now at ``current`` (the CBEC service's transitions)."""
    from smartcustoms.cbec.service import TRANSITIONS

    allowed = TRANSITIONS.get(current, frozenset())
    return [s for s in PARCEL_DECISIONS if s in allowed]


@router.get("/parcels")
def parcel_queue(request: Request, status: str = "held", after: str = "") -> Response:
    login(request, *CUSTOMS)
    platform = platform_of(request)
    if status not in PARCEL_FILTERS:
        status = "held"
    with platform.engine.connect() as conn:
        q = queries.parcel_queue(conn, queries.tables(platform.engine), PARCEL_FILTERS[status],
                                 after=after or None)
    now = datetime.now(UTC).replace(tzinfo=None)
    return render(request, "parcels.html", q=q, status=status, after=after, filters=list(PARCEL_FILTERS),
                  held=status in ("held", "300", "500"), now=now, parcel_url=_parcel_url)


@router.get("/parcels/{ebp_code}/{order_no}")
def parcel_page(ebp_code: str, order_no: str, request: Request) -> Response:
    who = login(request, *CUSTOMS)
    platform = platform_of(request)
    with platform.engine.connect() as conn:
        p = queries.parcel(conn, queries.tables(platform.engine), ebp_code, order_no)
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
    status = _form_int(raw)
    if status not in PARCEL_DECISIONS:
        flash(request, "parcel.invalid", "error")
        return RedirectResponse(here, status_code=303)
    if len(note) > NOTE_MAX:
        flash(request, "parcel.note_too_long", "error", n=NOTE_MAX)
        return RedirectResponse(here, status_code=303)
    from smartcustoms.cbec.api import get_service
    from smartcustoms.cbec.service import StatusChanged

    def decide() -> int | None:
        """None when recorded; the parcel's status when it is no longer the one the form was shown for."""
        try:
            get_service(request).set_status(ebp_code, order_no, status, note, who.username,
                                            expected=_form_int(seen), role=str(who.role))
        except StatusChanged as exc:
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


# -- analyst dashboard and rule editor -------------------------------------------------------------------
@router.get("/dashboard")
def dashboard(request: Request) -> Response:
    login(request, *CUSTOMS)
    platform = platform_of(request)
    t = translator(language_of(request))
    snap = queries.dashboard(platform.engine)
    rates, lanes, hist, tax = snap.rates, snap.profile.lanes, snap.profile.histogram, snap.profile.tax
    rules = snap.rules[:10]
    cbec = snap.cbec if snap.cbec is not None and snap.cbec.status_counts else None  # no parcel cleared yet
    risk = getattr(platform, "risk", None)
    config = getattr(risk, "config", None)
    budget = {o: config.budget_for(o) for o in lanes} if config is not None else {}
    mech_names = {m: t("mechanism." + m) for m in (*queries.MECHANISMS, "none")}
    plots: dict[str, Any] = {}
    if rates is not None:
        series = {m: rates.by_week.get(m, [None] * len(rates.weeks)) for m in queries.MECHANISMS
                  if m in rates.totals}
        plots["hits"] = svg.line_chart(t("dash.hits"), [w[5:] for w in rates.weeks], series, percent=True,
                                       display=mech_names)
    held = {o: 1 - v.get("green", 0) / max(sum(v.values()), 1) for o, v in lanes.items()}
    plots["lanes"] = svg.bar_chart(t("dash.lanes"), list(held), {"held": list(held.values())}, percent=True,
                                   reference=config.budget if config is not None else None)
    bins = [f"{i / len(hist):.1f}" for i in range(len(hist))]
    plots["scores"] = svg.bar_chart(t("dash.scores"), bins, {"model": hist})
    plots["rules"] = svg.bar_chart(t("dash.rules"), [r["name"][:14] for r in rules],
                                   {"rule": [r["hits"] for r in rules]})
    plots["tax"] = svg.bar_chart(t("dash.tax"), [r["day"][5:] for r in tax], {"model": [r["tax"] for r in tax]})
    if cbec is not None:
        plots["cbec_hours"] = svg.bar_chart(t("dash.cbec_throughput"), cbec.hours, {"model": cbec.per_hour})
        plots["cbec_status"] = svg.bar_chart(t("dash.cbec_status"), [str(s) for s in cbec.status_counts],
                                             {"exploration": list(cbec.status_counts.values())})
    from smartcustoms.cbec.messages import STATUS_NAMES
    return render(request, "dashboard.html", rates=rates, lanes=lanes, held=held, budget=budget, hist=hist,
                  bins=bins, rules=rules, tax=tax, cbec=cbec, plots=plots, mechanisms=queries.MECHANISMS,
                  cbec_names=STATUS_NAMES, as_of=snap.at)


def _rule_fields() -> tuple[list[str], frozenset[str]]:
    try:
        from smartcustoms.risk.rules import NUMBER_FIELDS, RULE_FIELDS, TEXT_FIELDS
    except ImportError:  # risk targeting not installed in this deployment
        return [], frozenset()
    return sorted(RULE_FIELDS), frozenset(NUMBER_FIELDS - TEXT_FIELDS)


def _value(raw: str, op: str, numeric: bool) -> Any:
    """A condition's value from its text box: lists split on commas, numbers for numeric fields."""
    def one(x: str) -> Any:
        x = x.strip()
        if numeric:
            try:
                return float(x) if any(c in x for c in ".eE") else int(x)
            except ValueError:
                return x
        return x
    if op in ("in", "not_in", "prefix", "between"):
        return [one(x) for x in raw.split(",") if x.strip()]
    return one(raw)


def rule_from_form(form) -> dict:
    _, numeric = _rule_fields()
    rows: dict[int, dict[str, str]] = {}
    for key, value in form.multi_items():
        m = re.match(r"^criteria\[(\d{1,2})\]\.(field|op|value)$", key)
        if m:
            rows.setdefault(int(m.group(1)), {})[m.group(2)] = str(value).strip()
    criteria = [{"field": r.get("field", ""), "op": r.get("op", ""),
                 "value": _value(r.get("value", ""), r.get("op", ""), r.get("field") in numeric)}
                for _, r in sorted(rows.items()) if r.get("field") or r.get("value")]
    obj: dict[str, Any] = {"name": str(form.get("name", "")).strip(),
                           "description": str(form.get("description", "")).strip(),
                           "lane": form.get("lane", ""), "mandatory": form.get("mandatory") == "on",
                           "active": form.get("active") == "on", "criteria": criteria,
                           "target_rate": str(form.get("target_rate") or "1").strip()}
    for k in ("valid_from", "valid_to"):
        if form.get(k):
            obj[k] = str(form.get(k))
    return obj


def _rule_page(request: Request, edit: dict | None, errors: dict, status_code: int = 200) -> Response:
    platform = platform_of(request)
    tables = queries.tables(platform.engine)
    rr = tables.get("risk_rules")
    rules: list[dict] = []
    if rr is not None:
        with platform.engine.connect() as conn:
            stats = {r["id"]: r for r in queries.top_rules(conn, tables, limit=10_000)}
            from sqlalchemy import select

            for r in conn.execute(select(rr).order_by(rr.c.id)):
                rules.append({**dict(r._mapping), **{k: stats.get(r.id, {}).get(k, 0)
                                                     for k in ("matches", "selected", "inspected", "hits")}})
    fields, numeric = _rule_fields()
    criteria = list((edit or {}).get("criteria") or [])
    criteria += [{"field": "", "op": "", "value": ""}] * max(0, 3 - len(criteria))
    return render(request, "rules.html", status_code=status_code, rules=rules, edit=edit or {}, errors=errors,
                  criteria=criteria, fields=fields, numeric=numeric, available=rr is not None,
                  ops=("eq", "ne", "in", "not_in", "prefix", "gt", "ge", "lt", "le", "between"))


def _shown(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return "" if value is None else str(value)


@router.get("/rules")
def rules_page(request: Request, edit: Annotated[Id | None, Query()] = None) -> Response:
    login(request, Role.ANALYST, Role.ADMIN)
    current = None
    if edit is not None:
        platform = platform_of(request)
        rr = queries.tables(platform.engine)["risk_rules"]
        from sqlalchemy import select

        with platform.engine.connect() as conn:
            row = conn.execute(select(rr).where(rr.c.id == edit)).first()
        if row is None:
            raise NotFound(f"no rule {edit}")
        current = dict(row._mapping)
        crit = current["criteria"]
        current["criteria"] = [{**c, "value": _shown(c.get("value"))}
                               for c in (json.loads(crit) if isinstance(crit, str) else crit)]
    return _rule_page(request, current, {})


@router.post("/rules")
async def rules_save(request: Request) -> Response:
    """Create or replace a rule; a bad definition comes back with each wrong field marked, nothing saved."""
    who = login(request, Role.ANALYST, Role.ADMIN)
    form = await checked_form(request)
    platform = platform_of(request)
    from smartcustoms.risk import service as risk_service
    from smartcustoms.risk.schemas import RuleIn

    obj = rule_from_form(form)
    rule_id = _form_int(form.get("rule_id"))
    shown = {**obj, "id": rule_id, "criteria": [{**c, "value": _shown(c["value"])} for c in obj["criteria"]]}
    try:
        rule = RuleIn.model_validate(obj)
        with transaction(platform.sessions) as s:
            saved = risk_service.save_rule(s, rule, who, rule_id)
    except ValidationError as exc:
        return _rule_page(request, shown, by_field(field_errors(exc)), 422)
    except DomainError as exc:
        return _rule_page(request, shown, by_field(exc.errors or [FieldError("form", exc.detail)]), exc.status)
    platform.rules_changed()
    flash(request, "rules.saved", name=saved.name)
    return RedirectResponse("/rules", status_code=303)


# -- administration -------------------------------------------------------------------------------------
def _admin_page(request: Request, status_code: int = 200, errors: dict | None = None, **extra: Any) -> Response:
    platform = platform_of(request)
    tables = queries.tables(platform.engine)
    q = request.query_params.get("q", "")
    with platform.sessions() as s:
        users = enterprises.list_users(s)
        code = q.strip().upper()  # a searched enterprise code also narrows the mandates to that enterprise's
        mandates = mandate_service.list_mandates(s, code if re.fullmatch(r"[0-9A-Z]{10}|[0-9A-Z]{18}", code) else None,
                                                 limit=100)
        senders = sender_codes_by_enterprise(s)
    with platform.engine.connect() as conn:
        keys = queries.api_keys(conn, tables)
        ents, ent_total = queries.enterprises(conn, tables, q)
        lines, line_total = queries.tariff_lines(conn, tables, limit=20)
    return render(request, "admin.html", status_code=status_code, users=users, keys=keys, enterprises=ents,
                  enterprise_total=ent_total, q=q, tariff=lines, tariff_total=line_total, roles=list(Role),
                  grades=list(CreditGrade), enterprise_roles=list(EnterpriseRole), errors=errors or {},
                  mandates=mandates, sender_codes=senders, **extra)


@router.get("/admin")
def admin(request: Request) -> Response:
    login(request, Role.ADMIN)
    return _admin_page(request)


@router.post("/admin/users")
async def admin_create_user(request: Request) -> Response:
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
    except ValidationError as exc:
        return _admin_page(request, 422, errors=by_field(field_errors(exc)), user_form=body)
    except DomainError as exc:
        return _admin_page(request, exc.status, errors=by_field(exc.errors or [FieldError("username", exc.detail)]),
                           user_form=body)
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
    who = login(request, Role.ADMIN)
    await checked_form(request)
    with transaction(platform_of(request).sessions) as s:
        enterprises.revoke_api_key(s, prefix, who)
    request.app.state.key_cache.clear()
    flash(request, "admin.key_revoked", prefix=prefix)
    return RedirectResponse("/admin#keys", status_code=303)


@router.post("/admin/enterprises")
async def admin_create_enterprise(request: Request) -> Response:
    who = login(request, Role.ADMIN)
    form = await checked_form(request)
    body = {"code": str(form.get("code", "")).strip().upper(), "name": str(form.get("name", "")).strip(),
            "roles": form.getlist("roles"), "credit_grade": form.get("credit_grade") or "general"}
    try:
        with transaction(platform_of(request).sessions) as s:
            enterprises.create_enterprise(s, EnterpriseIn.model_validate(body), who)
    except ValidationError as exc:
        return _admin_page(request, 422, errors=by_field(field_errors(exc)), enterprise_form=body)
    except DomainError as exc:
        return _admin_page(request, exc.status, errors=by_field(exc.errors or [FieldError("code", exc.detail)]),
                           enterprise_form=body)
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
    except ValidationError as exc:
        return _admin_page(request, 422, errors=by_field(field_errors(exc)), mandate_form=body)
    except DomainError as exc:
        return _admin_page(request, exc.status, mandate_form=body,
                           errors=by_field(exc.errors or [FieldError("declarant_code", exc.detail)]))
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
    from smartcustoms.audit.service import record
    from smartcustoms.tax.service import (
        TableFormatError,
        TariffTable,
        parse_tariff_csv,
        replace_tariff,
        table_field_errors,
    )

    if upload is None or not hasattr(upload, "read") or not upload.filename:
        flash(request, "upload.nofile", "error")
        return RedirectResponse("/admin#tariff", status_code=303)
    text = (await upload.read()).decode("utf-8-sig", errors="replace")
    try:
        rows = parse_tariff_csv(text)
    except TableFormatError as exc:
        return _admin_page(request, 422, errors={"tariff": [f"{e.field}: {e.message}" for e in
                                                            table_field_errors(exc)][:20]})
    platform = platform_of(request)
    with transaction(platform.sessions) as s:
        replace_tariff(s, rows)
        record(s, who, "tariff.replace", "tariff", "all", {"lines": len(rows), "file": upload.filename})
    platform.tariff.lines = TariffTable.from_rows(rows).lines
    flash(request, "admin.tariff_done", lines=len(rows))
    return RedirectResponse("/admin#tariff", status_code=303)
