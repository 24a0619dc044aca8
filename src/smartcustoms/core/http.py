"""FastAPI dependencies: the caller (API key or web session), role checks and the database sessions.

This module imports nothing above ``core``: the API keys are looked up through a :class:`KeyResolver`
that the application puts on ``app.state.key_resolver`` (the enterprises service provides it), and each
domain's router reads its own service from ``app.state.platform`` in a small dependency of its own.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

from fastapi import Depends, HTTPException, Request
from fastapi.security import APIKeyHeader
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from smartcustoms.core.security import Principal, Role

api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="an API key made by an administrator")
_CACHE_SECONDS = 5.0
_TOUCH_SECONDS = 60.0  # ``api_keys.last_used_at`` is written at most this often per key
_UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
log = logging.getLogger(__name__)


class KeyResolver(Protocol):
    """What the API-key check needs from the key store (``app.state.key_resolver``)."""

    def resolve(self, key: str) -> Principal | None:
        """The key's holder, or None for a key that is unknown, revoked or of a deactivated user."""
        ...

    def touch(self, prefix: str) -> None:
        """Note that the key with ``prefix`` was used now (``last_used_at``)."""
        ...


async def get_sessions(request: Request) -> sessionmaker[Session]:  # async: a sync dependency costs a thread hop
    """The deployment's database session factory."""
    return request.app.state.platform.sessions


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

    def resolve(self, resolver: KeyResolver, key: str) -> Principal | None:
        """The key's holder (from the cache, else from ``resolver``); notes the key's use at most once a minute."""
        now = time.monotonic()
        hit = self._entries.get(key)
        if hit is not None and now - hit[0] < _CACHE_SECONDS:
            return hit[1]
        who = resolver.resolve(key)
        if len(self._entries) > 10_000:
            self._entries.clear()
        self._entries[key] = (now, who)
        if who is not None:
            self._touch(resolver, key.split("_")[1], now)
        return who

    def _touch(self, resolver: KeyResolver, prefix: str, now: float) -> None:
        if now - self._touched.get(prefix, -_TOUCH_SECONDS) < _TOUCH_SECONDS:
            return
        if len(self._touched) > 10_000:
            self._touched.clear()
        self._touched[prefix] = now
        try:
            resolver.touch(prefix)
        except Exception:  # noqa: BLE001 - a busy database must not fail the call; the next touch retries
            log.warning("could not note the use of API key %s", prefix, exc_info=True)

    def clear(self) -> None:
        """Forget every resolved key (a user or key was deactivated: its keys stop working at once)."""
        self._entries.clear()


async def current_principal(request: Request, key: str | None = Depends(api_key_header)) -> Principal:
    """The caller: an API key in ``X-API-Key``, or the signed-in web session.

    Async, so a cached key costs no worker-thread hop on the event loop (lodging latency); a key not
    cached yet is resolved from the database in the thread pool.
    """
    if key:
        cache: KeyCache = request.app.state.key_cache
        hit = cache.cached(key)
        who = hit[0] if hit is not None else await run_in_threadpool(cache.resolve, request.app.state.key_resolver,
                                                                     key)
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


def require(*roles: Role) -> Callable[..., Awaitable[Principal]]:
    """A dependency that admits only callers with one of ``roles``."""

    async def check(who: Principal = Depends(current_principal)) -> Principal:  # no I/O: no thread hop
        if who.role not in roles:
            raise HTTPException(403, f"this needs role {' or '.join(r.value for r in roles)}")
        return who

    return check
