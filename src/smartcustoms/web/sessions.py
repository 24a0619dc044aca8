"""Server-side web sessions, the session cookie's secret and the security headers of every response.

The signed cookie ``smartcustoms_session`` carries the session id (``sid``), the anti-forgery token,
the language and flashed messages; who is signed in is only in the ``web_sessions`` table, looked up
by the id's digest on each request, so signing out, an idle or absolute timeout, or deactivating the
user ends the session at once, whatever copies of the cookie exist.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from smartcustoms.core.config import Settings
from smartcustoms.core.db import transaction
from smartcustoms.core.security import Principal, load_or_create_secret
from smartcustoms.enterprises.service import web_session_principal
from smartcustoms.platform import Platform

log = logging.getLogger(__name__)
SESSION_COOKIE = "smartcustoms_session"
_NO_LOOKUP = ("/static/", "/healthz")

# Pages: everything from this origin, nothing inline, no framing.
CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; object-src 'none'; "
       "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
# /docs and /redoc: Swagger UI and ReDoc (assets from this origin, web.api_docs) start with an inline script.
DOCS_CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
            "img-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; object-src 'none'; "
            "base-uri 'none'; frame-ancestors 'none'")
HSTS = "max-age=31536000; includeSubDomains"


def session_secret(settings: Settings) -> str:
    """``SESSION_SECRET``, or one made once and kept in the data directory (0600): restarts keep sessions."""
    return settings.session_secret or load_or_create_secret(settings.session_secret_path())


def session_principal(platform: Platform, sid: str) -> Principal | None:
    """The user signed in by session id ``sid``, or None (blocking: run it in a worker thread)."""
    idle = timedelta(minutes=platform.settings.session_idle_minutes)
    with transaction(platform.sessions) as s:
        return web_session_principal(s, sid, idle)


class WebSessionAuth:
    """Puts the signed-in user of the request's web session (or None) in ``scope["principal"]``.

    Sits inside Starlette's ``SessionMiddleware``; a session that ended loses its id.
    """

    def __init__(self, app: ASGIApp, platform: Platform) -> None:
        self.app, self.platform = app, platform

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI entry: put the session's signed-in user in the scope, then pass on."""
        if scope["type"] == "http":
            scope["principal"] = None
            session = scope.get("session")
            sid = session.get("sid") if session else None
            if isinstance(sid, str) and not scope["path"].startswith(_NO_LOOKUP):
                who = await run_in_threadpool(session_principal, self.platform, sid)
                if who is None and session is not None:
                    session.pop("sid", None)
                scope["principal"] = who
        await self.app(scope, receive, send)


class SecurityHeaders:
    """CSP, nosniff, no framing, same-origin referrers, ``no-store`` (unless set) and HSTS when Secure."""

    def __init__(self, app: ASGIApp, hsts: bool = False) -> None:
        self.app, self.hsts = app, hsts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI entry: pass on, adding the security headers to the response start."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        docs = path == "/docs" or path.startswith(("/docs/", "/redoc"))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("Content-Security-Policy", DOCS_CSP if docs else CSP)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("X-Frame-Options", "DENY")
                headers.setdefault("Referrer-Policy", "same-origin")
                headers.setdefault("Cache-Control", "no-store")  # static files set their own
                if self.hsts:
                    headers.setdefault("Strict-Transport-Security", HSTS)
            await send(message)

        await self.app(scope, receive, send_with_headers)
