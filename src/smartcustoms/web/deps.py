"""FastAPI dependencies: the platform, the caller (API key or web session) and role checks."""

from __future__ import annotations

import time
from collections.abc import Callable

from fastapi import Depends, HTTPException, Request
from fastapi.security import APIKeyHeader
from starlette.concurrency import run_in_threadpool

from smartcustoms.enterprises.service import resolve_api_key
from smartcustoms.platform import Platform
from smartcustoms.security import Principal, Role

api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="an API key made by an administrator")
_CACHE_SECONDS = 5.0


async def get_platform(request: Request) -> Platform:  # async: FastAPI runs a sync dependency in a thread
    return request.app.state.platform


class KeyCache:
    """Resolved API keys, kept a few seconds so hot paths do not hit the database per call."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[float, Principal | None]] = {}

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
        return who

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
    session_user = request.scope.get("session", {}).get("principal") if "session" in request.scope else None
    if session_user:
        return Principal(session_user["user_id"], session_user["username"], Role(session_user["role"]),
                         session_user.get("enterprise_code"))
    raise HTTPException(401, "authenticate with an X-API-Key header", headers={"WWW-Authenticate": "ApiKey"})


def require(*roles: Role) -> Callable[..., Principal]:
    """A dependency that admits only callers with one of ``roles``."""

    async def check(who: Principal = Depends(current_principal)) -> Principal:  # no I/O: no thread hop
        if who.role not in roles:
            raise HTTPException(403, f"this needs role {' or '.join(r.value for r in roles)}")
        return who

    return check
