"""FastAPI dependencies: the platform, the caller (API key or web session) and role checks."""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable

from fastapi import Depends, HTTPException, Request
from fastapi.security import APIKeyHeader
from starlette.concurrency import run_in_threadpool

from smartcustoms.core.db import transaction
from smartcustoms.core.security import Principal, Role
from smartcustoms.enterprises.service import resolve_api_key, touch_api_key
from smartcustoms.platform import Platform

api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="an API key made by an administrator")
_CACHE_SECONDS = 5.0
_TOUCH_SECONDS = 60.0  # ``api_keys.last_used_at`` is written at most this often per key
_UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
log = logging.getLogger(__name__)


async def get_platform(request: Request) -> Platform:  # async: FastAPI runs a sync dependency in a thread
    return request.app.state.platform


class KeyCache:
    """Resolved API keys, kept a few seconds so hot paths do not hit the database per call."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[float, Principal | None]] = {}
        self._touched: dict[str, float] = {}  # key prefix -> when ``last_used_at`` was last written

    def cached(self, key: str) -> tuple[Principal | None] | None:
        """``(principal,)`` (None for a key known to be invalid) while cached, else None: no database."""
        hit = self._entries.get(key)
        if hit is not None and time.monotonic() - hit[0] < _CACHE_SECONDS:
            return (hit[1],)
        return None

    def resolve(self, platform: Platform, key: str) -> Principal | None:
        now = time.monotonic()
        hit = self._entries.get(key)
        if hit is not None and now - hit[0] < _CACHE_SECONDS:
            return hit[1]
        with platform.sessions() as session:
            who = resolve_api_key(session, key)
        if len(self._entries) > 10_000:
            self._entries.clear()
        self._entries[key] = (now, who)
        if who is not None:
            self._touch(platform, key.split("_")[1], now)
        return who

    def _touch(self, platform: Platform, prefix: str, now: float) -> None:
        if now - self._touched.get(prefix, -_TOUCH_SECONDS) < _TOUCH_SECONDS:
            return
        if len(self._touched) > 10_000:
            self._touched.clear()
        self._touched[prefix] = now
        try:
            with transaction(platform.sessions) as session:
                touch_api_key(session, prefix)
        except Exception:  # noqa: BLE001 - a busy database must not fail the call; the next touch retries
            log.warning("could not note the use of API key %s", prefix, exc_info=True)

    def clear(self) -> None:
        self._entries.clear()


async def current_principal(request: Request, key: str | None = Depends(api_key_header)) -> Principal:
    """The caller: an API key in ``X-API-Key``, or the signed-in web session.

    Async, so a cached key costs no worker-thread hop on the event loop (lodging latency); a key not
    cached yet is resolved from the database in the thread pool.
    """
    platform: Platform = request.app.state.platform
    if key:
        cache: KeyCache = request.app.state.key_cache
        hit = cache.cached(key)
        who = hit[0] if hit is not None else await run_in_threadpool(cache.resolve, platform, key)
        if who is not None:
            return who
        raise HTTPException(401, "the API key is unknown or revoked", headers={"WWW-Authenticate": "ApiKey"})
    who = request.scope.get("principal")  # the web session's user (web.sessions.WebSessionAuth)
    if who is not None:
        if request.method in _UNSAFE:  # a cookie rides along with forged requests: ask for the page's token
            sent, token = request.headers.get("x-csrf-token", ""), str(request.session.get("csrf", ""))
            if not sent or not token or not secrets.compare_digest(sent.encode(), token.encode()):
                raise HTTPException(403, "a call with the session cookie needs the page's X-CSRF-Token header "
                                         "(or use an X-API-Key)")
        return who
    raise HTTPException(401, "authenticate with an X-API-Key header", headers={"WWW-Authenticate": "ApiKey"})


def require(*roles: Role) -> Callable[..., Principal]:
    """A dependency that admits only callers with one of ``roles``."""

    async def check(who: Principal = Depends(current_principal)) -> Principal:  # no I/O: no thread hop
        if who.role not in roles:
            raise HTTPException(403, f"this needs role {' or '.join(r.value for r in roles)}")
        return who

    return check
