"""Load times of the image review pages and of the images they show, over HTTP as an officer loads them.

    python bench/image_review.py                 # 40 loads of each, scans at 256x512 and 1024x2048
    python bench/image_review.py --loads 20 --json

Builds a temporary SQLite database with the demo parties (no history), lodges one declaration per scan,
uploads SYNTHETIC dual-energy scans (``simulate.scans``, a concealment in every other one) through the
images service as DICOS DX files, so the shipped model assesses and routes them, then serves the app with
``smartcustoms serve`` and times, signed in as the demo officer: the queue page, a review page, the scan's
PNG at each energy and the heat-map PNG (each PNG is made from the stored DICOS file on every request).
Baseline in the same run, against the same server: ``/healthz``, an HTTP round trip that touches no data.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _support import new_platform, percentiles, served  # noqa: E402

PASSWORD = "demo-password"  # noqa: S105 - the published demo credential
SIZES = ((256, 512), (1024, 2048))


def populate(platform, per_size: int) -> dict[tuple[int, int], list[int]]:
    """Lodge a declaration per scan and upload a synthetic scan of its goods; image ids by scan size."""
    from smartcustoms.core.security import SYSTEM
    from smartcustoms.declarations.schemas import DeclarationIn
    from smartcustoms.inspection.images.dicos import write_dx
    from smartcustoms.simulate import DeclarationSimulator
    from smartcustoms.simulate.demo_scans import SCANNER
    from smartcustoms.simulate.scans import render_scan

    now = datetime.now().replace(microsecond=0)
    sims = DeclarationSimulator(7).generate(per_size * len(SIZES), now - timedelta(hours=2), now - timedelta(minutes=1))
    lodged = platform.declarations.lodge_many(SYSTEM, [DeclarationIn.model_validate(s.payload) for s in sims])
    resolver = platform.images.resolvers["declaration"]
    out: dict[tuple[int, int], list[int]] = {}
    for i, r in enumerate(lodged):
        size = SIZES[i // per_size]
        subject = resolver.resolve(SCANNER, r.declaration_no)
        rendered = render_scan(subject.goods, seed=100 + i, concealment="dense_in_light" if i % 2 else None, size=size)
        data, _ = write_dx(rendered.image, f"bench-{i}")
        out.setdefault(size, []).append(platform.images.upload(SCANNER, data, "declaration", r.declaration_no).id)
    return out


def sign_in(client: httpx.Client, username: str) -> None:
    token = re.search(r'name="csrf-token" content="([^"]+)"', client.get("/login").text).group(1)
    r = client.post("/login", data={"username": username, "password": PASSWORD, "csrf": token, "next": "/"})
    if r.status_code not in (200, 303):
        raise RuntimeError(f"sign-in as {username} failed: {r.status_code}")


def timed(client: httpx.Client, path: str, loads: int) -> dict:
    samples = []
    for _ in range(loads):
        t0 = time.perf_counter()
        r = client.get(path)
        samples.append((time.perf_counter() - t0) * 1000)
        if r.status_code != 200:
            raise RuntimeError(f"{path}: {r.status_code}")
    return {**percentiles(samples), "bytes": len(r.content)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--loads", type=int, default=40)
    parser.add_argument("--per-size", type=int, default=4, help="scans of each size")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        platform, _ = new_platform(data)
        t0 = time.perf_counter()
        ids = populate(platform, args.per_size)
        upload_s = time.perf_counter() - t0
        model = platform.images.model is not None
        platform.close()
        with served(data) as url, httpx.Client(base_url=url, timeout=30) as client:
            sign_in(client, "officer1")
            results = {"healthz (baseline)": timed(client, "/healthz", args.loads),
                       "queue page": timed(client, "/images/queue", args.loads)}
            for (h, w), image_ids in ids.items():
                i = image_ids[1]
                results[f"review page {w}x{h}"] = timed(client, f"/images/{i}", args.loads)
                for energy in ("high", "low"):
                    path = f"/api/v1/images/{i}/pixels.png?energy={energy}"
                    results[f"pixels.png {energy} {w}x{h}"] = timed(client, path, args.loads)
                if model:
                    results[f"heatmap.png {w}x{h}"] = timed(client, f"/api/v1/images/{i}/heatmap.png", args.loads)
    report = {"loads": args.loads, "scans": sum(len(v) for v in ids.values()), "model": model,
              "upload_and_assess_s": round(upload_s, 2), "synthetic": True, "results": results}
    if args.json:
        print(json.dumps(report))
        return
    print(f"{report['scans']} synthetic scans uploaded and assessed in {upload_s:.1f} s (model: {model})")
    for name, r in results.items():
        print(f"{name:32s} p50 {r['p50_ms']:8.1f} ms  p99 {r['p99_ms']:8.1f} ms  {r['bytes']:>9,} bytes")


if __name__ == "__main__":
    main()
