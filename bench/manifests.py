"""Manifest intake benchmark: simulated sea original manifests (MT1101) parsed, validated, risk-assessed and stored.

    python bench/manifests.py                     # 200 messages x 50 consignments = 10,000 manifest lines
    python bench/manifests.py --messages 400 --consignments 50 --json
    python bench/manifests.py --db postgresql+psycopg://postgres@127.0.0.1:5432/test   # PostgreSQL beside it
    python bench/manifests.py --parse-only --messages 40     # CPU ms a line of parsing and checking alone

A fresh SQLite file (or the given database, whose manifest tables must be empty of these ids); ``--batch``
messages (default 4, as the API's ``ingest``) stored in one transaction by ``ManifestService.store_batch`` (1: each
in its own by ``store_parsed``), through :func:`smartcustoms.manifests.pipeline.ingest_bodies`: ``--workers 1``
(the default) parses in a second process while this one stores (two cores), ``--workers 0`` parses inline (one
core, the API's path). A "manifest line" is
one consignment (transport document) with its goods items. ``lines_per_minute`` is lines over the wall time of
the whole intake;
``decision_p99_ms`` is the 99th percentile of one message's time from receipt (bytes in hand) to its answer
(every consignment's outcome committed; with parser processes it includes the wait in the ``--window`` queue).
``lines_per_cpu_minute`` divides by this process's CPU time instead (the writer's; the parser processes' CPU is
not in it); ``server_cpu_ms_per_line`` is PostgreSQL's share (its backends' CPU from /proc, a local server only).

``weekly_hit_ratio_min`` comes from :func:`_targeting`: the labelled simulated month
(:mod:`smartcustoms.simulate.manifest_month`) replayed week by week (:mod:`smartcustoms.simulate.manifest_replay`):
the lowest week's referral hit rate of rules + model over random at a 5 % budget; ``weeks`` is the per-week table
(rules only, rules + model, random). ``--replay-per-week 0`` skips it (null).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=200)
    ap.add_argument("--consignments", type=int, default=50, help="consignments (manifest lines) per message")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--db", default=None, help="database URL (default: a fresh SQLite file)")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--workers", type=int, default=1, help="parser processes beside the writer (0: parse inline, "
                    "one core, as the API does)")
    ap.add_argument("--window", type=int, default=4, help="messages parsed ahead of the writer")
    ap.add_argument("--batch", type=int, default=4, help="messages stored in one transaction (1: one a "
                    "transaction, as before 2026-12-04 (3))")
    ap.add_argument("--replay-per-week", type=int, default=2000, help="consignments per week of the labelled "
                    "month replay (0: skip it)")
    ap.add_argument("--replay-seed", type=int, default=11)
    ap.add_argument("--save-model", type=Path, default=None, help="save the replay's last model here (LightGBM "
                    "text + .json thresholds), e.g. var/manifest-model.txt for the ingest to load")
    ap.add_argument("--model", type=Path, default=None, help="ingest with this saved pre-loading model beside the "
                    "rules (default: rules only, as on a fresh install)")
    ap.add_argument("--parse-only", action="store_true", help="only parse and check the messages (CPU ms a line "
                    "of intake.parse_stream, best of five; the model and platform imported, as in the intake)")
    args = ap.parse_args()
    if args.parse_only:
        print(json.dumps(_parse_only(args)))
        return

    from smartcustoms.core.db import make_engine, session_factory, upgrade
    from smartcustoms.core.security import SYSTEM
    from smartcustoms.manifests.pipeline import ingest_bodies, parser_pool
    from smartcustoms.manifests.service import ManifestService
    from smartcustoms.simulate.manifests import traffic

    schema = None
    with tempfile.TemporaryDirectory() as tmp:
        url = args.db or f"sqlite:///{Path(tmp) / 'bench.db'}"
        if url.startswith("postgresql"):  # a schema of its own, dropped afterwards
            from sqlalchemy import create_engine, text

            schema = f"bench_manifests_{time.time_ns() % 10**9}"
            with create_engine(url).begin() as c:
                c.execute(text(f"CREATE SCHEMA {schema}"))
            url = f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"
        upgrade(url)
        engine = make_engine(url)
        backends = _server_pids(engine)
        start = datetime(2026, 11, 1)
        stored = itertools.count()  # the simulated receipt time of the m-th message stored: start + m minutes
        # (each message is filed 2 days before its loading)
        from smartcustoms.manifests.model import ManifestModel

        model = ManifestModel.load(args.model) if args.model else None
        if args.model and model is None:
            raise SystemExit(f"no pre-loading model saved at {args.model}")
        svc = ManifestService(session_factory(engine), clock=lambda: start + timedelta(minutes=next(stored)),
                              model=model)
        bodies = list(traffic(args.messages, args.consignments, seed=args.seed, start=start))
        filer = f"BENCH{time.time_ns() % 10**9}"
        pool = parser_pool(args.workers) if args.workers else None  # started and warmed before the clock
        list(ingest_bodies(svc, bodies[:1], filer + "W", SYSTEM, workers=args.workers, window=1, pool=pool))
        stored = itertools.count()  # (the warm-up above: imports, first statements; another filer)
        lat, lines, outcomes = [], 0, {}
        t0, c0, s0 = time.perf_counter(), time.process_time(), _cpu_of(backends)
        for res in ingest_bodies(svc, bodies, filer, SYSTEM, workers=args.workers, window=args.window, pool=pool,
                                 batch=args.batch):
            [a] = res.answers
            lat.append(res.seconds * 1000)
            assert a.accepted, a.errors[:3]
            lines += len(a.consignments)
            for c in a.consignments:
                outcomes[str(c.outcome)] = outcomes.get(str(c.outcome), 0) + 1
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        server_cpu = _cpu_of(backends, s0) if backends is not None else None
        if pool is not None:
            pool.shutdown()
        engine.dispose()
    if schema is not None:
        with create_engine(args.db).begin() as c:
            c.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    out = {"lines_per_minute": round(lines / wall * 60), "decision_p99_ms": round(float(np.percentile(lat, 99)), 1),
           "decision_p50_ms": round(float(np.percentile(lat, 50)), 1), "weekly_hit_ratio_min": None,
           "lines_per_cpu_minute": round(lines / cpu * 60), "messages": len(bodies), "lines": lines,
           "seconds": round(wall, 2), "cpu_seconds": round(cpu, 2),
           "server_cpu_seconds": None if server_cpu is None else round(server_cpu, 2),
           "server_cpu_ms_per_line": None if server_cpu is None else round(server_cpu / max(lines, 1) * 1000, 4),
           "database": "postgresql" if url.startswith("postgresql") else "sqlite", "outcomes": outcomes,
           "parser_processes": args.workers, "batch": args.batch, "model": model is not None,
           "load_average": [round(x, 2) for x in os.getloadavg()]}
    out.update(_targeting(args))
    if args.json:
        print(json.dumps(out))
    else:
        for k, v in out.items():
            print(f"{k}: {v}")


def _server_pids(engine: Any) -> dict[int, float] | None:
    """PostgreSQL on this machine: its backends' process ids, filled in as the engine connects (their CPU is read
    from /proc: the server's share of a line); None for SQLite or a server elsewhere."""
    if engine.dialect.name != "postgresql" or engine.url.host not in ("127.0.0.1", "localhost"):
        return None
    from sqlalchemy import event

    pids: dict[int, float] = {}

    @event.listens_for(engine, "connect")
    def _pid(dbapi_conn: Any, _record: Any) -> None:
        with dbapi_conn.cursor() as cur:
            cur.execute("SELECT pg_backend_pid()")
            pids[cur.fetchone()[0]] = 0.0
    return pids


def _cpu_of(pids: dict[int, float] | None, since: float = 0.0) -> float:
    """The CPU seconds (user + system) of the server processes ``pids`` so far, less ``since``."""
    if not pids:
        return 0.0
    tick, total = os.sysconf("SC_CLK_TCK"), 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return total - since


def _parse_only(args: argparse.Namespace) -> dict[str, object]:
    """CPU milliseconds a manifest line of :func:`intake.parse_stream` alone, the best of five passes."""
    import smartcustoms.platform  # noqa: F401 - the intake process's heap (the garbage collector walks it)
    from smartcustoms.manifests import intake
    from smartcustoms.manifests.model import ManifestModel
    from smartcustoms.simulate.manifests import traffic

    model = ManifestModel.load(args.model) if args.model else None
    bodies = list(traffic(args.messages, args.consignments, seed=args.seed, start=datetime(2026, 11, 1)))
    best, lines = float("inf"), 0
    for _ in range(5):
        c0 = time.process_time()
        lines = sum(len(p.manifest.consignments) for b in bodies for _, p in intake.parse_stream(b) if p.manifest)
        best = min(best, time.process_time() - c0)
    return {"parse_ms_per_line": round(best / lines * 1000, 4), "lines": lines, "model": model is not None,
            "load_average": [round(x, 2) for x in os.getloadavg()]}


def _targeting(args: argparse.Namespace) -> dict[str, object]:
    """The labelled month replayed: ``weekly_hit_ratio_min`` and the per-week table (only adds keys)."""
    if args.replay_per_week <= 0:
        return {"weekly_hit_ratio_min": None}
    from smartcustoms.simulate.manifest_month import labelled_month
    from smartcustoms.simulate.manifest_replay import replay

    t0 = time.perf_counter()
    r = replay(labelled_month(seed=args.replay_seed, per_week=args.replay_per_week), save_model=args.save_model)
    return {"weekly_hit_ratio_min": r["weekly_hit_ratio_min"],
            "rules_weekly_hit_ratio_min": r["rules_weekly_hit_ratio_min"], "referral_budget": r["budget"],
            "replay_seconds": round(time.perf_counter() - t0, 1), "weeks": r["weeks"]}


if __name__ == "__main__":
    main()
