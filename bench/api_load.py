"""Open-loop load on the lodging API: lodge-and-score latency at a fixed request rate.

    python bench/api_load.py                    # 200 requests/s for 15 s against `smartcustoms serve`
    python bench/api_load.py --rate 100 --seconds 10 --json

Requests are sent on a fixed schedule whatever the server's pace (an open loop, so a slow server
shows as queueing, not as a politely slower client). Latency is measured from each request's
scheduled time to its response. The baseline, measured in the same run at the same rate, is
``GET /healthz``: what the HTTP stack alone costs on this machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _support import new_platform, percentiles, served  # noqa: E402


async def open_loop(url: str, headers: dict, rate: float, bodies: list[dict] | None, n: int) -> tuple[list, dict]:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    limits = httpx.Limits(max_connections=256, max_keepalive_connections=256)
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30, limits=limits) as client:
        start = time.perf_counter()

        async def one(i: int) -> None:
            due = start + i / rate
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            if bodies is None:
                r = await client.get("/healthz")
            else:
                r = await client.post("/api/v1/declarations", json=bodies[i])
            latencies.append((time.perf_counter() - due) * 1000)
            statuses[r.status_code] = statuses.get(r.status_code, 0) + 1

        await asyncio.gather(*(one(i) for i in range(n)))
    return latencies, statuses


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rate", type=float, default=200.0, help="requests per second")
    ap.add_argument("--seconds", type=float, default=15.0)
    ap.add_argument("--history", type=int, default=2000, help="declarations replayed first (with a model)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    n = int(args.rate * args.seconds)

    from smartcustoms.simulate import DeclarationSimulator
    from smartcustoms.simulate.demo import replay_demo_history

    now = datetime.now().replace(microsecond=0)
    with tempfile.TemporaryDirectory() as tmp:
        platform, access = new_platform(Path(tmp))
        sim = DeclarationSimulator(7)
        if args.history:
            replay_demo_history(platform, sim, args.history, now - timedelta(minutes=30))
        bodies = [s.payload for s in sim.generate(n, now - timedelta(minutes=20), now - timedelta(minutes=1))]
        platform.engine.dispose()
        with served(Path(tmp)) as url:
            headers = {"X-API-Key": access.keys["admin"]}
            base, _ = asyncio.run(open_loop(url, headers, args.rate, None, n))
            lat, statuses = asyncio.run(open_loop(url, headers, args.rate, bodies, n))
    result = {"rate_per_s": args.rate, "requests": n, **percentiles(lat), "statuses": statuses,
              "baseline_healthz": percentiles(base)}
    if args.json:
        print(json.dumps(result))
        return
    print(f"lodge-and-score at {args.rate:.0f}/s for {args.seconds:.0f} s ({n} requests): p50 {result['p50_ms']} ms, "
          f"p99 {result['p99_ms']} ms, max {result['max_ms']} ms, statuses {statuses}")
    b = result["baseline_healthz"]
    print(f"baseline GET /healthz at the same rate: p50 {b['p50_ms']} ms, p99 {b['p99_ms']} ms")


if __name__ == "__main__":
    main()
