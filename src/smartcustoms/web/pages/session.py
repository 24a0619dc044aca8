"""Signing in and out, the home redirect, the language choice and the static files."""

from __future__ import annotations

import logging
import math
import os
import threading
from datetime import timedelta
from typing import cast

from fastapi import Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from smartcustoms.audit.service import record
from smartcustoms.core.db import transaction
from smartcustoms.core.errors import NotFound
from smartcustoms.core.security import PASSWORD_MAX_LENGTH, LoginThrottle, Principal, Role
from smartcustoms.enterprises import service as enterprises
from smartcustoms.platform import Platform
from smartcustoms.web.i18n import COOKIE, LANGUAGES
from smartcustoms.web.pages.base import (
    HOME,
    STATIC,
    checked_form,
    client_address,
    login,
    page_router,
    platform_of,
    render,
    safe_next,
)

router = page_router()
log = logging.getLogger(__name__)

ANONYMOUS = Principal(0, "anonymous", cast(Role, "anonymous"))  # who the audit log names for a failed sign-in
_PASSWORD_SLOTS = threading.BoundedSemaphore(max(2, os.cpu_count() or 2))  # scrypt: 128 MiB and ~0.3 s each


@router.get("/static/{name:path}")
def static(name: str) -> Response:
    """A file of the pages' stylesheets, scripts and images (cached for an hour)."""
    path = (STATIC / name).resolve()
    if not path.is_file() or STATIC not in path.parents:
        raise NotFound(f"no file {name}")
    return FileResponse(path, headers={"Cache-Control": "public, max-age=3600"})


@router.get("/lang/{code}")
def choose_language(code: str, request: Request, next: str = "/") -> Response:
    """Switch the pages' language (kept in the session and a year-long cookie), then go back."""
    if code not in LANGUAGES:
        raise NotFound(f"no language {code}")
    request.session["lang"] = code
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(COOKIE, code, max_age=365 * 24 * 3600, samesite="lax")
    return response


@router.get("/")
def home(request: Request) -> Response:
    """The signed-in user's start page for their role."""
    who = login(request)
    return RedirectResponse(HOME[who.role], status_code=303)


@router.get("/login")
def login_form(request: Request, next: str = "/") -> Response:
    """The sign-in form."""
    return render(request, "login.html", next=safe_next(next), error=None)


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
    next_ = safe_next(str(form.get("next", "/")))
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
