"""Request limits before any body is read: credentials on ``/api/`` calls and body sizes (413).

A pure ASGI middleware, so it sees the request before FastAPI reads and parses the body:

* an ``/api/`` request with neither an ``X-API-Key`` header nor a session cookie gets its 401 problem
  at once, its body unread;
* a body larger than the path's limit gets a 413 problem: at once when ``Content-Length`` says so,
  else as soon as the bytes that arrived pass the limit (chunked or lying clients).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from smartcustoms.core.config import Settings
from smartcustoms.core.problems import problem

SESSION_COOKIE = "smartcustoms_session"
# /api/ paths open without credentials (none today; a login API would be one)
PUBLIC_API_PATHS: frozenset[str] = frozenset()


class BodyTooLarge(HTTPException):
    """The request body passed its limit; an HTTPException so FastAPI's body reading lets it through."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than {limit} bytes", headers={"Connection": "close"})
        self.limit = limit


@dataclass(frozen=True, slots=True)
class BodyLimits:
    """Largest body in bytes by path: CEB messages and file uploads get more than plain JSON calls."""

    default: int
    by_path: tuple[tuple[str, int], ...] = ()

    @classmethod
    def from_settings(cls, settings: Settings) -> BodyLimits:
        """The limits configured in ``settings`` (``SMARTCUSTOMS_MAX_*_BYTES``)."""
        upload = settings.max_upload_bytes
        return cls(settings.max_body_bytes, (
            ("/api/v1/cbec/messages", settings.max_cbec_body_bytes),
            ("/api/v1/manifests/messages", upload),
            ("/api/v1/tariff", upload), ("/upload", upload), ("/admin/tariff", upload),
            # a document and its form's other fields
            ("/api/v1/declarations/*/documents", settings.max_document_bytes + (256 << 10)),
            ("/declarations/*/documents", settings.max_document_bytes + (256 << 10)),
            # a scan (and its separate low-energy file, when sent) and the form's other fields
            ("/api/v1/images", 2 * settings.max_image_bytes + (256 << 10))))

    def for_path(self, path: str) -> int:
        """The limit that applies to ``path`` (exact match, ``*`` matching one path segment; else the default)."""
        for pattern, limit in self.by_path:
            if path == pattern or ("*" in pattern and _segments_match(pattern, path)):
                return limit
        return self.default


def _segments_match(pattern: str, path: str) -> bool:
    want, got = pattern.split("/"), path.split("/")
    return len(want) == len(got) and all(w in ("*", g) for w, g in zip(want, got, strict=True))


def _header(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    for k, v in headers:
        if k.lower() == name:
            return v
    return None


def has_credentials(headers: Iterable[tuple[bytes, bytes]], session_cookie: str = SESSION_COOKIE) -> bool:
    """Whether the request carries an API key or a session cookie (valid or not: checked later)."""
    headers = list(headers)
    if _header(headers, b"x-api-key"):
        return True
    cookie = _header(headers, b"cookie") or b""
    needle = session_cookie.encode("latin-1") + b"="
    return any(part.strip().startswith(needle) for part in cookie.split(b";"))


class RequestLimits:
    """ASGI middleware: early 401 for anonymous ``/api/`` calls, 413 for bodies over their limit."""

    def __init__(self, app: ASGIApp, limits: BodyLimits, session_cookie: str = SESSION_COOKIE) -> None:
        self.app = app
        self.limits = limits
        self.session_cookie = session_cookie

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI entry: refuse anonymous API calls (401) and oversized bodies (413) before passing on."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        headers = scope.get("headers") or []
        if (path.startswith("/api/") and path not in PUBLIC_API_PATHS
                and not has_credentials(headers, self.session_cookie)):
            await _problem(scope, receive, send, 401, "Unauthorized", "authenticate with an X-API-Key header",
                           {"WWW-Authenticate": "ApiKey"})
            return
        limit = self.limits.for_path(path)
        declared = _header(headers, b"content-length")
        if declared is not None and declared.strip().isdigit() and int(declared) > limit:
            await _too_large(scope, receive, send, limit)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted, tracked)
        except BodyTooLarge:
            if started:
                raise
            await _too_large(scope, receive, send, limit)


async def _too_large(scope: Scope, receive: Receive, send: Send, limit: int) -> None:
    await _problem(scope, receive, send, 413, "Content too large", f"the request body is larger than {limit} bytes",
                   {"Connection": "close"})


async def _problem(scope: Scope, receive: Receive, send: Send, status: int, title: str, detail: str,
                   headers: dict[str, str]) -> None:
    await problem(status, title, detail, scope["path"], headers=headers)(scope, receive, send)
