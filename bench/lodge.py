"""Lodging throughput and latency: through the service layer and through HTTP.

    python bench/lodge.py                       # 20,000 via the service, 2,000 via HTTP
    python bench/lodge.py --service 5000 --http 500 --json

Each declaration is validated against the code lists, stored with its goods items and lifecycle
events, tax-assessed and routed to a lane by live selectivity (rules + model + exploration) — the
whole lodging path. The baseline, measured in the same run on the same declarations, is Pydantic
parsing alone: the floor any lodging path pays.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _support import new_platform, percentiles, served  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--service", type=int, default=20_000, help="declarations lodged through the service layer")
    ap.add_argument("--http", type=int, default=2_000, help="declarations lodged through HTTP")
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--single", type=int, default=1_000, help="one-at-a-time lodges for the latency figures")
    ap.add_argument("--clients", type=int, default=8, help="concurrent HTTP clients")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    log = (lambda *a: print(*a, file=sys.stderr)) if args.json else print

    from smartcustoms.core.security import SYSTEM
    from smartcustoms.declarations.schemas import DeclarationIn
    from smartcustoms.simulate import DeclarationSimulator

    now = datetime.now().replace(microsecond=0)
    sim = DeclarationSimulator(7)
    payloads = [s.payload for s in sim.generate(args.service + args.single + args.http,
                                                now - timedelta(days=20), now - timedelta(minutes=1))]
    with tempfile.TemporaryDirectory() as tmp:
        platform, access = new_platform(Path(tmp))
        bulk, single, http_payloads = (payloads[:args.service], payloads[args.service:args.service + args.single],
                                       payloads[args.service + args.single:])
        # over HTTP a trader lodges: trader1's importer with its mandated broker (customs roles do not lodge)
        parties = {k: access.example_payload[k] for k in ("declarant_code", "importer_code")}
        http_payloads = [{**p, **parties} for p in http_payloads]

        t0 = time.perf_counter()
        parsed = [DeclarationIn.model_validate(p) for p in bulk]
        parse_s = time.perf_counter() - t0
        baseline_per_s = len(bulk) / parse_s

        t0 = time.perf_counter()
        for i in range(0, len(bulk), args.batch):
            platform.declarations.lodge_many(SYSTEM, [DeclarationIn.model_validate(p)
                                                      for p in bulk[i:i + args.batch]])
        service_s = time.perf_counter() - t0
        service_per_s = len(bulk) / service_s
        del parsed

        latencies = []
        for p in single:
            t = time.perf_counter()
            platform.declarations.lodge(SYSTEM, DeclarationIn.model_validate(p))
            latencies.append((time.perf_counter() - t) * 1000)
        single_pct = percentiles(latencies)
        platform.engine.dispose()

        with served(Path(tmp)) as url:
            headers = {"X-API-Key": access.keys["trader1"]}  # customs roles do not lodge
            http_lat: list[float] = []
            statuses: dict[int, int] = {}
            with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
                def send(p: dict) -> None:
                    t = time.perf_counter()
                    r = client.post("/api/v1/declarations", json=p)
                    http_lat.append((time.perf_counter() - t) * 1000)
                    statuses[r.status_code] = statuses.get(r.status_code, 0) + 1

                t0 = time.perf_counter()
                with ThreadPoolExecutor(args.clients) as pool:
                    list(pool.map(send, http_payloads))
                http_s = time.perf_counter() - t0
        http_pct = percentiles(http_lat)

    result = {
        "service_per_s": round(service_per_s, 1), "baseline_parse_per_s": round(baseline_per_s, 1),
        "http_per_s": round(len(http_payloads) / http_s, 1), "http_clients": args.clients,
        "p50_ms": single_pct["p50_ms"], "p99_ms": single_pct["p99_ms"],
        "http_p50_ms": http_pct["p50_ms"], "http_p99_ms": http_pct["p99_ms"], "http_statuses": statuses,
        "n_service": len(bulk), "n_single": len(single), "n_http": len(http_payloads),
    }
    if args.json:
        print(json.dumps(result))
        return
    log(f"service layer : {result['service_per_s']:>9,.0f} declarations/s  ({len(bulk):,} in batches of "
        f"{args.batch}; baseline Pydantic parsing alone {baseline_per_s:,.0f}/s)")
    log(f"one at a time : p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms ({len(single):,} lodges)")
    log(f"HTTP          : {result['http_per_s']:>9,.0f} declarations/s with {args.clients} clients, "
        f"p50 {result['http_p50_ms']} ms, p99 {result['http_p99_ms']} ms, statuses {statuses}")


if __name__ == "__main__":
    main()
