"""The process runner: a writer with parser worker processes (:func:`run_chunks`, :func:`ingest_path`) and
writer shards, one process each (:func:`ingest_sharded`)."""

from __future__ import annotations

import contextlib
import fcntl
import gc
import multiprocessing as mp
import os
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from smartcustoms.cbec.ceb.receipts import Receipt, emit_receipts
from smartcustoms.cbec.ceb.signature import check_encoded
from smartcustoms.cbec.ceb.transport import Envelope, envelope_refusal, open_envelopes, unreadable_receipt
from smartcustoms.cbec.engine import BatchResult, Engine, parse_batch
from smartcustoms.cbec.framing import Chunk, chunks_of_file
from smartcustoms.cbec.store import Store
from smartcustoms.core.config import CbecSettings


@dataclass
class RunStats:
    """Totals of an ingest run (one writer or all shards)."""

    parcels: int = 0
    messages: int = 0
    duplicates: int = 0
    rejected_messages: int = 0
    # messages whose type could not be read (no receipt answers them): (file, byte offset, guid, reason)
    unreadable: list[tuple[str | None, int | None, str | None, str]] = field(default_factory=list)
    status_counts: Counter = field(default_factory=Counter)
    latencies_ms: list[int] = field(default_factory=list)
    elapsed_s: float = 0.0
    lock_wait_s: float = 0.0  # writer shards: queued for the database write lock
    cpu_s: float = 0.0        # writer shards: CPU time of the shard processes

    def add(self, res: BatchResult) -> None:
        """Count one batch's result."""
        self.duplicates += res.duplicates
        self.rejected_messages += res.rejected_messages
        self.parcels += len(res.decisions)
        self.status_counts.update(d.status for d in res.decisions)
        self.latencies_ms.extend(res.latencies_ms)


def run_chunks(engine: Engine, chunks: Iterable[Chunk], workers: int = 2, window: int = 3,
               sink: Callable[[list[Receipt]], None] | None = None, flush: bool = False,
               before_flush: Callable[[], None] | None = None) -> RunStats:
    """Parse chunks in ``workers`` processes (0 = inline) and process them in order on this writer; with
    ``flush``, then decide every waiting parcel (``before_flush`` runs first)."""
    stats = RunStats()
    gc.freeze()  # the warm-started state is long-lived: keep it out of collections
    gc.set_threshold(100_000, 50, 100)
    t0 = time.perf_counter()
    inflight: deque = deque()
    # the parser processes live for this run: closed and joined at its end (a pool left to the garbage
    # collector at exit prints a Pool.__del__ traceback)
    pool = mp.get_context("spawn").Pool(workers) if workers > 0 else None
    try:
        def drain_one() -> None:
            pending, chunk, arrival, envelopes = inflight.popleft()
            parsed = pending.get() if pool is not None else pending
            src = (chunk.source, chunk.end_offset) if chunk.source is not None else None
            res = engine.process(parsed, arrival, src, every=chunk.every, raws=None if pool is not None else chunk.raws)
            stats.messages += len(chunk.raws)
            stats.add(res)
            for u in res.unreadable:
                at = chunk.starts[u.at] if chunk.starts is not None and u.at is not None else None
                stats.unreadable.append((chunk.source, at, u.guid, u.info))
                env = envelopes.get(u.at) if u.at is not None else None
                if env is not None:  # it came in a DXP envelope: the official CEB900 format-check receipt too
                    res.receipts.append(unreadable_receipt(env, u.info, arrival))
            if sink is not None:
                sink(res.receipts)

        for chunk in chunks:
            arrival = engine.clock()
            chunk, envelopes = _open_envelopes(chunk, engine.shard, stats, sink, arrival, engine.store)
            # workers hand back log payloads (cheap to pickle); inline, documents are parsed straight from the XML
            job = (pool.apply_async(check_encoded, (chunk.raws, engine.signatures)) if pool is not None
                   else parse_batch(chunk.raws, engine.signatures))
            inflight.append((job, chunk, arrival, envelopes))
            while len(inflight) >= (window if pool is not None else 1):
                drain_one()
        while inflight:
            drain_one()
        if flush:
            if before_flush is not None:
                before_flush()
            res = engine.process([], None, None, force_deadline=True)
            stats.add(res)
            if sink is not None:
                sink(res.receipts)
        stats.elapsed_s = time.perf_counter() - t0
    except BaseException:
        if pool is not None:
            pool.terminate()
        raise
    finally:
        if pool is not None:
            pool.close()
            pool.join()
    return stats


def record_refusals(store: Store, refusals: list[Receipt]) -> None:
    """``cbec_rejection`` rows (in a transaction of their own) for DXP envelopes refused before the Engine saw
    them (their CEB900 receipts: the reason, the CopMsgId in the text)."""
    rows = [(None, None, r.status, f"{r.info} [CopMsgId:{r.keys.get('oriCopMsgId', '')}]"[:4000], r.time_ms)
            for r in refusals]
    store.begin()
    try:
        store.copy_rows("cbec_rejection", ("guid", "msg_type", "status", "info", "at_ms"), rows)
        store.commit()
    except BaseException:
        store.rollback()
        raise


def _open_envelopes(chunk: Chunk, shard: int, stats: RunStats, sink: Callable[[list[Receipt]], None] | None,
                    now: int, engine_store: Store) -> tuple[Chunk, dict[int, Envelope]]:
    """The chunk with its DXP envelopes opened (their CEB messages in their place) and the envelopes by position
    in the new chunk; an envelope that cannot be opened is left out, counted as an unreadable message (the CLI's
    error line), kept in ``cbec_rejection`` and answered with a CEB900 receipt (by shard 0 when every shard saw
    it)."""
    opened = open_envelopes(chunk.raws)
    if opened.raws is chunk.raws:
        return chunk, {}
    pos = opened.positions
    envelopes = {j: opened.envelopes[i] for j, i in enumerate(pos) if i in opened.envelopes}
    refusals = []
    for i, exc in opened.errors.items():
        if chunk.every is not None and chunk.every[i] and shard != 0:
            continue
        at = chunk.starts[i] if chunk.starts is not None else None
        stats.messages += 1
        stats.unreadable.append((chunk.source, at, None, f"DXP envelope {exc}"))
        refusals.append(envelope_refusal(exc, now))
    if refusals:
        record_refusals(engine_store, refusals)
        if sink is not None:
            sink(refusals)
    every = [chunk.every[i] for i in pos] if chunk.every is not None else None
    starts = [chunk.starts[i] for i in pos] if chunk.starts is not None else None
    return chunk._replace(raws=opened.raws, every=every if every and any(every) else None, starts=starts), envelopes


def ingest_path(engine: Engine, path: Path, workers: int = 2, batch_size: int = 1000,
                sink: Callable[[list[Receipt]], None] | None = None, flush: bool = False,
                before_flush: Callable[[], None] | None = None) -> RunStats:
    """Ingest a file of concatenated messages or a directory of ``*.xml`` files, resuming after a crash."""
    files = sorted(p for p in path.rglob("*.xml") if p.is_file()) if path.is_dir() else [path]

    def chunks() -> Iterator[Chunk]:
        for f in files:
            yield from chunks_of_file(f, engine.committed_offset(str(f.resolve())), batch_size,
                                      engine.shard, engine.shards)

    return run_chunks(engine, chunks(), workers=workers, sink=sink, flush=flush, before_flush=before_flush)


# ---------------------------------------------------------------------- writer shards
class ShardJob(NamedTuple):
    """What one writer shard process is asked to ingest."""

    url: str
    path: str
    shard: int
    shards: int
    batch_size: int
    receipts: str | None
    flush: bool


def _die_with_parent() -> None:
    """Linux: this process gets SIGKILL when the process that started it dies (kill -9 of the ingest)."""
    with contextlib.suppress(Exception):
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def run_shard(job: ShardJob, ready: Any = None, streamed: Any = None) -> RunStats:
    """One writer shard: its own engine, message log and offsets; parses inline (runs in its own process).

    ``ready`` (a barrier) is passed once the shard has warm-started, so that a caller can time the work;
    ``streamed`` (a barrier of the shards) before the final flush of ``job.flush``, so that a parcel whose
    waybill went to another shard (its orderNo disagrees) finds it committed there.
    """
    _die_with_parent()
    store = Store(job.url)
    lock_fd = -1
    # one live process per shard: a restarted shard waits here until its predecessor has gone
    if store.dialect == "postgresql":  # a session lock, released when the connection ends
        store.execute("SELECT pg_advisory_lock(hashtext(current_schema() || ?))",
                      (f"/cbec-shard-{job.shard}of{job.shards}",))
    elif store.path not in (None, ":memory:"):
        lock_fd = os.open(f"{store.path}.shard-{job.shard}of{job.shards}.lock", os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(lock_fd, fcntl.LOCK_EX)
    try:
        settings = CbecSettings()
        settings.max_pending = max(1, settings.max_pending // job.shards)  # the cap is for all shards together
        engine = Engine(store, settings, shard=job.shard, shards=job.shards)
        engine.warm_start()
        if ready is not None:
            ready.wait()
        cpu0 = time.process_time()
        out = open(job.receipts, "ab") if job.receipts else None  # noqa: SIM115 - closed below
        try:
            def sink(rs: list[Receipt]) -> None:
                if out is not None:
                    out.write(emit_receipts(rs))  # one append per batch: shards never interleave inside one
                    out.flush()

            def all_streamed() -> None:
                if streamed is not None:
                    with contextlib.suppress(threading.BrokenBarrierError):  # a shard died: flush anyway
                        streamed.wait(timeout=600)

            stats = ingest_path(engine, Path(job.path), workers=0, batch_size=job.batch_size, sink=sink,
                                flush=job.flush, before_flush=all_streamed)
            stats.lock_wait_s = store.lock_wait_s
            stats.cpu_s = time.process_time() - cpu0
            return stats
        finally:
            if out is not None:
                out.close()
            engine.log.close()
            store.close()
    finally:
        if lock_fd >= 0:
            os.close(lock_fd)


def ingest_sharded(url: str, path: Path, shards: int = 2, batch_size: int = 1000, receipts: Path | None = None,
                   flush: bool = False) -> RunStats:
    """Ingest with ``shards`` writer processes, each owning the parcels whose order number routes to it.

    They share the database (transactions queued on a file lock for SQLite; quota rows locked as
    always) and each has its own message log and file offsets, so each resumes on its own after a crash.
    """
    ctx = mp.get_context("spawn")
    ready, streamed = ctx.Barrier(shards + 1), ctx.Barrier(shards)
    results = ctx.SimpleQueue()
    procs = [ctx.Process(target=_shard_main, name=f"cbec-shard-{i}", args=(
        ShardJob(url, str(path), i, shards, batch_size, str(receipts) if receipts else None, flush), ready,
        results, streamed)) for i in range(shards)]
    for p in procs:
        p.start()
    try:
        ready.wait(timeout=600)  # every shard has warm-started: the clock starts
        t0 = time.perf_counter()
        parts: list[RunStats] = []
        while len(parts) < shards:
            if results.empty() and not any(p.is_alive() for p in procs):
                raise RuntimeError("a CBEC writer shard died: " + ", ".join(
                    f"{p.name} exit {p.exitcode}" for p in procs))
            if results.empty():
                time.sleep(0.01)
                continue
            item = results.get()
            if isinstance(item, BaseException):
                raise item
            parts.append(item)
        elapsed = time.perf_counter() - t0
    finally:
        for p in procs:
            p.join(timeout=60)
            if p.is_alive():
                p.kill()
    total = RunStats()
    for st in parts:
        total.parcels += st.parcels
        total.messages += st.messages
        total.duplicates += st.duplicates
        total.rejected_messages += st.rejected_messages
        total.unreadable.extend(st.unreadable)
        total.status_counts.update(st.status_counts)
        total.latencies_ms.extend(st.latencies_ms)
        total.lock_wait_s += st.lock_wait_s
        total.cpu_s += st.cpu_s
    total.elapsed_s = elapsed
    return total


def _shard_main(job: ShardJob, ready: Any, results: Any, streamed: Any = None) -> None:
    try:
        results.put(run_shard(job, ready, streamed))
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, which raises it
        ready.abort()
        if streamed is not None:
            streamed.abort()
        results.put(RuntimeError(f"shard {job.shard}: {exc!r}"))
        raise
