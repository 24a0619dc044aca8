"""Manifest intake benchmark: simulated sea original manifests (MT1101) parsed, validated, risk-assessed and stored.

    python bench/manifests.py                     # 200 messages x 50 consignments = 10,000 manifest lines
    python bench/manifests.py --messages 400 --consignments 50 --json
    python bench/manifests.py --db postgresql+psycopg://postgres@127.0.0.1:5432/test   # PostgreSQL beside it

One process on a fresh SQLite file (or the given database, whose manifest tables must be empty of these ids),
through ``ManifestService.ingest`` one message at a time, as the API does. A "manifest line" is one consignment
(transport document) with its goods items. ``lines_per_minute`` is lines over the wall time of the whole intake;
``decision_p99_ms`` is the 99th percentile of one message's time from receipt (bytes in hand) to its answer
(every consignment's outcome committed). ``lines_per_cpu_minute`` divides by this
process's CPU time instead (the figure on a machine not shared with other work). ``weekly_hit_ratio_min`` needs
the labelled month of traffic, which is not built yet: it is printed as null.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=200)
    ap.add_argument("--consignments", type=int, default=50, help="consignments (manifest lines) per message")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--db", default=None, help="database URL (default: a fresh SQLite file)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    from smartcustoms.core.db import make_engine, session_factory, upgrade
    from smartcustoms.core.security import SYSTEM
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
        start = datetime(2026, 11, 1)
        now = [start]  # the simulated receipt time: each message is filed 2 days before its loading
        svc = ManifestService(session_factory(engine), clock=lambda: now[0])
        bodies = list(traffic(args.messages, args.consignments, seed=args.seed, start=start))
        filer = f"BENCH{time.time_ns() % 10**9}"
        svc.ingest(bodies[0], filer + "W", SYSTEM)  # warm-up (imports, first statements), another filer
        lat, lines, outcomes = [], 0, {}
        t0, c0 = time.perf_counter(), time.process_time()
        for m, body in enumerate(bodies):
            now[0] = start + timedelta(minutes=m)
            t = time.perf_counter()
            [a] = svc.ingest(body, filer, SYSTEM)
            lat.append((time.perf_counter() - t) * 1000)
            assert a.accepted, a.errors[:3]
            lines += len(a.consignments)
            for c in a.consignments:
                outcomes[str(c.outcome)] = outcomes.get(str(c.outcome), 0) + 1
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        engine.dispose()
    if schema is not None:
        with create_engine(args.db).begin() as c:
            c.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    out = {"lines_per_minute": round(lines / wall * 60), "decision_p99_ms": round(float(np.percentile(lat, 99)), 1),
           "decision_p50_ms": round(float(np.percentile(lat, 50)), 1), "weekly_hit_ratio_min": None,
           "lines_per_cpu_minute": round(lines / cpu * 60), "messages": len(bodies), "lines": lines,
           "seconds": round(wall, 2), "cpu_seconds": round(cpu, 2),
           "database": "postgresql" if url.startswith("postgresql") else "sqlite", "outcomes": outcomes}
    if args.json:
        print(json.dumps(out))
    else:
        for k, v in out.items():
            print(f"{k}: {v}")


if __name__ == "__main__":
    main()
