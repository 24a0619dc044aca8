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
import os
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _support import new_platform, percentiles, served  # noqa: E402

KEEPALIVE_EXPIRY = 2.0  # seconds an idle connection is reused (uvicorn closes idle ones after 5 s)


class _Conn:
    """One keep-alive HTTP/1.1 connection: a request written, its response read (Content-Length)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.idle_since = time.perf_counter()

    async def request(self, head: bytes, body: bytes) -> int:
        self.writer.write(head + body)
        status_line = await self.reader.readuntil(b"\r\n")
        headers = await self.reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in headers.split(b"\r\n"):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        await self.reader.readexactly(length)
        return int(status_line.split()[1])


async def open_loop_raw(url: str, headers: dict, rate: float, bodies: list[dict] | None, n: int) -> tuple[list, dict]:
    """Open loop over a pool of raw keep-alive connections (a new one whenever all are busy).

    A lean client on purpose: at 200 requests/s on 2 shared cores, httpx's pool costs enough CPU that
    even ``/healthz`` queued for seconds, so the bench measured the client rather than the server.
    """
    host, port = url.removeprefix("http://").split(":")
    extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    idle: list[_Conn] = []
    latencies: list[float] = []
    statuses: dict = {}
    start = time.perf_counter()

    async def one(i: int) -> None:
        due = start + i / rate
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        if bodies is None:
            head, body = f"GET /healthz HTTP/1.1\r\nHost: {host}\r\n{extra}\r\n".encode(), b""
        else:
            body = json.dumps(bodies[i]).encode()
            head = (f"POST /api/v1/declarations HTTP/1.1\r\nHost: {host}\r\n{extra}"
                    f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode()
        conn = None
        while idle and conn is None:
            conn = idle.pop()
            if time.perf_counter() - conn.idle_since > KEEPALIVE_EXPIRY:
                conn.writer.close()  # the server may be closing it (uvicorn keeps idle ones 5 s)
                conn = None
        if conn is None:
            conn = _Conn(*await asyncio.open_connection(host, int(port)))
        try:
            status: int | str = await conn.request(head, body)
            conn.idle_since = time.perf_counter()
            idle.append(conn)
        except (OSError, asyncio.IncompleteReadError) as exc:  # counted, not hidden
            status = type(exc).__name__
            conn.writer.close()
        latencies.append((time.perf_counter() - due) * 1000)
        statuses[status] = statuses.get(status, 0) + 1

    await asyncio.gather(*(one(i) for i in range(n)))
    for conn in idle:
        conn.writer.close()
    return latencies, statuses


async def open_loop_httpx(url: str, headers: dict, rate: float, bodies: list[dict] | None, n: int) -> tuple[list, dict]:
    latencies: list[float] = []
    statuses: dict = {}
    # idle connections expire on the client before uvicorn's 5 s keep-alive closes them (no reuse race)
    limits = httpx.Limits(max_connections=256, max_keepalive_connections=256, keepalive_expiry=2.0)
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30, limits=limits) as client:
        start = time.perf_counter()

        async def one(i: int) -> None:
            due = start + i / rate
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            try:
                if bodies is None:
                    r = await client.get("/healthz")
                else:
                    r = await client.post("/api/v1/declarations", json=bodies[i])
                status: int | str = r.status_code
            except httpx.HTTPError as exc:  # counted, not hidden: a failed request is a result too
                status = type(exc).__name__
            latencies.append((time.perf_counter() - due) * 1000)
            statuses[status] = statuses.get(status, 0) + 1

        await asyncio.gather(*(one(i) for i in range(n)))
    return latencies, statuses


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rate", type=float, default=200.0, help="requests per second")
    ap.add_argument("--seconds", type=float, default=15.0)
    ap.add_argument("--history", type=int, default=2000, help="declarations replayed first (with a model)")
    ap.add_argument("--client", choices=("raw", "httpx"), default="raw", help="load generator")
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
        # a trader lodges: trader1's importer with its mandated broker (customs roles do not lodge)
        parties = {k: access.example_payload[k] for k in ("declarant_code", "importer_code")}
        bodies = [{**s.payload, **parties}
                  for s in sim.generate(n, now - timedelta(minutes=20), now - timedelta(minutes=1))]
        platform.engine.dispose()
        with served(Path(tmp)) as url:
            headers = {"X-API-Key": access.keys["trader1"]}  # customs roles do not lodge
            run = open_loop_raw if args.client == "raw" else open_loop_httpx
            load = os.getloadavg()
            base, _ = asyncio.run(run(url, headers, args.rate, None, n))
            lat, statuses = asyncio.run(run(url, headers, args.rate, bodies, n))
    result = {"rate_per_s": args.rate, "requests": n, "client": args.client, **percentiles(lat),
              "statuses": statuses, "baseline_healthz": percentiles(base), "load_before": load,
              "load_after": os.getloadavg()}
    if args.json:
        print(json.dumps(result))
        return
    print(f"lodge-and-score at {args.rate:.0f}/s for {args.seconds:.0f} s ({n} requests): p50 {result['p50_ms']} ms, "
          f"p99 {result['p99_ms']} ms, max {result['max_ms']} ms, statuses {statuses}")
    b = result["baseline_healthz"]
    print(f"baseline GET /healthz at the same rate: p50 {b['p50_ms']} ms, p99 {b['p99_ms']} ms")
    print(f"load average before {result['load_before']}, after {result['load_after']}")


if __name__ == "__main__":
    main()
