"""Manifest intake on two cores: bodies are parsed and checked in a worker process while this process stores and
assesses the ones parsed before (the second core of issue #19's throughput target).

The guarantees of :meth:`ManifestService.ingest` hold unchanged, because storing stays here, in order:
one transaction per message (a refused message stores nothing), the history read point in time, one audit
entry per accepted message. A parse is pure (bytes in, a :class:`cn.Parsed` out), so a worker that dies loses
nothing: the bodies it held are parsed again in this process and the intake goes on.
"""

from __future__ import annotations

import multiprocessing as mp
import time
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

from smartcustoms.core.security import Principal
from smartcustoms.manifests import cn, intake
from smartcustoms.manifests.schemas import MessageAnswer
from smartcustoms.manifests.service import ManifestService

MAX_WORKERS = 8
MAX_WINDOW = 256


def parse_body(body: bytes) -> list[tuple[cn.Part, cn.Parsed]]:
    """Every message of one body with its parse (runs in a worker process)."""
    return list(intake.parse_stream(body))


@dataclass(frozen=True, slots=True)
class BodyResult:
    """One body's answers, in the order of the bodies, and its seconds from receipt to the last answer."""
    index: int
    answers: list[MessageAnswer]
    seconds: float


def parser_pool(workers: int = 1) -> ProcessPoolExecutor:
    """``workers`` parser processes, started and warmed (imports done) before the first body arrives; the caller
    shuts them down (``with parser_pool() as pool:``)."""
    if not 1 <= workers <= MAX_WORKERS:
        raise ValueError(f"workers must be 1 to {MAX_WORKERS}")
    # spawn: a fork would copy this process's database connections into the parsers
    pool = ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"))
    for f in [pool.submit(parse_body, b"") for _ in range(workers)]:
        f.result()
    return pool


def ingest_bodies(service: ManifestService, bodies: Iterable[bytes], filer_code: str, who: Principal, *,
                  workers: int = 1, window: int = 8, pool: ProcessPoolExecutor | None = None
                  ) -> Iterator[BodyResult]:
    """Ingest ``bodies`` (each a file or request body of one or several messages) for ``filer_code``.

    ``workers`` parser processes (0: parse inline, one core) run up to ``window`` bodies ahead of the store; a
    body's ``seconds`` count from when it was taken in (handed to a parser) to its answers being committed.
    ``pool`` (from :func:`parser_pool`, left running) is used instead of starting ``workers`` processes."""
    if not 0 <= workers <= MAX_WORKERS:
        raise ValueError(f"workers must be 0 to {MAX_WORKERS}")
    if not 1 <= window <= MAX_WINDOW:
        raise ValueError(f"window must be 1 to {MAX_WINDOW}")
    if pool is not None:
        yield from _pipelined(service, bodies, filer_code, who, window, pool, own=False)
    elif workers == 0:
        for i, body in enumerate(bodies):
            t0 = time.perf_counter()
            answers = [service.store_parsed(p, parsed, filer_code, who) for p, parsed in parse_body(body)]
            yield BodyResult(i, answers, time.perf_counter() - t0)
    else:
        yield from _pipelined(service, bodies, filer_code, who, window, parser_pool(workers), own=True)


def _pipelined(service: ManifestService, bodies: Iterable[bytes], filer_code: str, who: Principal, window: int,
               given: ProcessPoolExecutor, own: bool) -> Iterator[BodyResult]:
    pool: ProcessPoolExecutor | None = given
    pending: deque[tuple[int, float, bytes, Future[list[tuple[cn.Part, cn.Parsed]]] | None]] = deque()

    def store_next() -> BodyResult:
        nonlocal pool
        i, t0, body, fut = pending.popleft()
        parsed: list[tuple[cn.Part, cn.Parsed]] | None = None
        if fut is not None:
            try:
                parsed = fut.result()
            except BrokenProcessPool:  # a parser died (killed, out of memory): parse here from now on
                if pool is not None:
                    pool.shutdown(wait=False, cancel_futures=True)  # (a given pool is broken for its owner too)
                    pool = None
        if parsed is None:
            parsed = parse_body(body)
        answers = [service.store_parsed(p, pp, filer_code, who) for p, pp in parsed]
        return BodyResult(i, answers, time.perf_counter() - t0)

    try:
        for i, body in enumerate(bodies):
            t0 = time.perf_counter()
            fut = None
            if pool is not None:
                try:
                    fut = pool.submit(parse_body, body)
                except BrokenProcessPool:
                    pool.shutdown(wait=False, cancel_futures=True)
                    pool = None
            pending.append((i, t0, body, fut))
            if len(pending) >= window:
                yield store_next()
        while pending:
            yield store_next()
    finally:
        if own and pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
