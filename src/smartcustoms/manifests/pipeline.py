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
MAX_BATCH = 64


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
                  workers: int = 1, window: int = 8, pool: ProcessPoolExecutor | None = None, batch: int = 1
                  ) -> Iterator[BodyResult]:
    """Ingest ``bodies`` (each a file or request body of one or several messages) for ``filer_code``.

    ``workers`` parser processes (0: parse inline, one core) run up to ``window`` bodies ahead of the store; a
    body's ``seconds`` count from when it was taken in (handed to a parser) to its answers being committed.
    ``pool`` (from :func:`parser_pool`, left running) is used instead of starting ``workers`` processes.
    ``batch``: messages stored in one transaction (:meth:`ManifestService.store_batch`: the same answers, one
    commit for several messages; the bodies of a batch are answered when it commits)."""
    if not 0 <= workers <= MAX_WORKERS:
        raise ValueError(f"workers must be 0 to {MAX_WORKERS}")
    if not 1 <= window <= MAX_WINDOW:
        raise ValueError(f"window must be 1 to {MAX_WINDOW}")
    if not 1 <= batch <= MAX_BATCH:
        raise ValueError(f"batch must be 1 to {MAX_BATCH}")
    if pool is not None:
        yield from _pipelined(service, bodies, filer_code, who, window, batch, pool, own=False)
    elif workers == 0:
        group: list[tuple[int, float, list[tuple[cn.Part, cn.Parsed]]]] = []
        for i, body in enumerate(bodies):
            t0 = time.perf_counter()
            group.append((i, t0, parse_body(body)))
            if sum(len(p) for _, _, p in group) >= batch:
                yield from _store_group(service, group, filer_code, who, batch)
                group = []
        yield from _store_group(service, group, filer_code, who, batch)
    else:
        yield from _pipelined(service, bodies, filer_code, who, window, batch, parser_pool(workers), own=True)


def _store_group(service: ManifestService, group: list[tuple[int, float, list[tuple[cn.Part, cn.Parsed]]]],
                 filer_code: str, who: Principal, batch: int) -> Iterator[BodyResult]:
    """The messages of ``group``'s bodies stored ``batch`` a transaction, in order; each body's answers."""
    messages = [m for _, _, parsed in group for m in parsed]
    answers: list[MessageAnswer] = []
    for k in range(0, len(messages), batch):
        chunk = messages[k:k + batch]
        answers.extend(service.store_batch(chunk, filer_code, who) if batch > 1 else
                       [service.store_parsed(p, pp, filer_code, who) for p, pp in chunk])
    done, at = time.perf_counter(), 0
    for i, t0, parsed in group:
        yield BodyResult(i, answers[at:at + len(parsed)], done - t0)
        at += len(parsed)


def _pipelined(service: ManifestService, bodies: Iterable[bytes], filer_code: str, who: Principal, window: int,
               batch: int, given: ProcessPoolExecutor, own: bool) -> Iterator[BodyResult]:
    pool: ProcessPoolExecutor | None = given
    pending: deque[tuple[int, float, bytes, Future[list[tuple[cn.Part, cn.Parsed]]] | None]] = deque()
    source = enumerate(bodies)

    def take() -> tuple[int, float, list[tuple[cn.Part, cn.Parsed]]]:
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
        return i, t0, parsed

    def fill() -> None:
        nonlocal pool
        while len(pending) < window:
            nxt = next(source, None)
            if nxt is None:
                return
            i, body = nxt
            t0 = time.perf_counter()
            fut = None
            if pool is not None:
                try:
                    fut = pool.submit(parse_body, body)
                except BrokenProcessPool:
                    pool.shutdown(wait=False, cancel_futures=True)
                    pool = None
            pending.append((i, t0, body, fut))

    try:
        fill()
        while pending:
            group = [take()]  # the bodies of one batch (at least one), then the parsers get the next ones
            while pending and sum(len(p) for _, _, p in group) < batch:
                group.append(take())
            fill()
            yield from _store_group(service, group, filer_code, who, batch)
    finally:
        if own and pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
