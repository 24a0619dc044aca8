"""Web page load times with 100,000 declarations in the database.

    python bench/pages.py                        # 100,000 declarations, 40 loads of each page
    python bench/pages.py --declarations 20000 --loads 20 --json

Builds a temporary SQLite database through the real lodging path (simulated declarations lodged
with ``lodge_many`` in batches, so every one is validated, assessed and laned by live selectivity
with two risk rules), records inspection results for a share of the held ones, then serves the app
with ``smartcustoms serve`` and times each main page over HTTP as its user would load it (signed
in, server-rendered HTML). The baseline, measured in the same run against the same server, is
``/healthz``: the cost of an HTTP round trip that touches no data. Target: p95 ≤ 300 ms per page.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _support import new_platform, served  # noqa: E402

TARGET_P95_MS = 300.0
PASSWORD = "demo-password"  # noqa: S105 - the published demo credential


def populate(platform, n: int, batch: int, log) -> dict:
    """Lodge ``n`` simulated declarations and record inspection results for a share of the held ones."""
    from sqlalchemy import insert, select

    from smartcustoms.core.db import transaction
    from smartcustoms.core.security import SYSTEM
    from smartcustoms.declarations.models import Declaration
    from smartcustoms.declarations.schemas import DeclarationIn
    from smartcustoms.inspection.models import InspectionResult
    from smartcustoms.risk.targeting import service as risk_service
    from smartcustoms.risk.targeting.schemas import RuleIn
    from smartcustoms.simulate import DeclarationSimulator

    with transaction(platform.sessions) as s:
        risk_service.save_rule(s, RuleIn(name="cheap footwear", description="low unit value footwear",
                                         criteria=[{"field": "hs_code", "op": "prefix", "value": ["64"]},
                                                   {"field": "unit_value", "op": "lt", "value": 2.0}],
                                         lane="yellow", target_rate=0.5), SYSTEM)
        risk_service.save_rule(s, RuleIn(name="false-origin route", description="transhipped via SG",
                                         criteria=[{"field": "departure_country", "op": "eq", "value": "SG"}],
                                         lane="blue", target_rate=0.3), SYSTEM)
    with platform.sessions() as s:
        platform.risk.reload_rules(s)
    now = datetime.now().replace(microsecond=0)
    sims = DeclarationSimulator(7).generate(n, now - timedelta(days=60), now - timedelta(minutes=1))
    truth: dict[str, str | None] = {}
    t0 = time.perf_counter()
    for i in range(0, n, batch):
        chunk = sims[i:i + batch]
        results = platform.declarations.lodge_many(SYSTEM, [DeclarationIn.model_validate(x.payload) for x in chunk])
        for sim, res in zip(chunk, results, strict=True):
            if res.lane not in (None, "green"):
                truth[res.declaration_no] = sim.offence
        if (i // batch) % 20 == 0:
            log(f"  lodged {i + len(chunk):,} / {n:,}")
    lodge_s = time.perf_counter() - t0
    held = sorted(truth)
    inspected = held[: int(len(held) * 0.6)]  # officers have worked through most of the queue
    with platform.sessions() as s:
        ids = dict(s.execute(select(Declaration.declaration_no, Declaration.id)
                             .where(Declaration.declaration_no.in_(inspected))).all())
    rows = [{"declaration_id": ids[no], "recorded_at": now, "officer": "officer1",
             "outcome": "offence" if truth[no] else "no_offence", "offence_type": "other" if truth[no] else None,
             "critical": False, "duty_recovered": Decimal("500.00") if truth[no] else Decimal(0), "notes": ""}
            for no in inspected]
    with transaction(platform.sessions) as s:
        s.execute(insert(InspectionResult), rows)
    return {"lodged": n, "lodge_seconds": round(lodge_s, 1), "held": len(held), "inspected": len(rows),
            "held_open": held[len(inspected):len(inspected) + 40]}


def sign_in(url: str, username: str) -> httpx.Client:
    client = httpx.Client(base_url=url, timeout=30, follow_redirects=False)
    token = re.search(r'name="csrf-token" content="([^"]+)"', client.get("/login").text).group(1)
    r = client.post("/login", data={"username": username, "password": PASSWORD, "csrf": token, "next": "/"})
    if r.status_code != 303:
        raise RuntimeError(f"{username} could not sign in: {r.status_code}")
    return client


def timed(client: httpx.Client, path: str, loads: int) -> list[float]:
    samples = []
    for _ in range(loads):
        t0 = time.perf_counter()
        r = client.get(path)
        samples.append((time.perf_counter() - t0) * 1000)
        if r.status_code != 200:
            raise RuntimeError(f"GET {path}: {r.status_code} {r.text[:300]}")
    return samples


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--declarations", type=int, default=100_000)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--loads", type=int, default=40, help="timed loads of each page (after 3 warm-up loads)")
    ap.add_argument("--data-dir", type=Path, help="keep the database here and reuse it when it is already filled")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--exports", action="store_true",
                    help="also time one full export of every declaration (CSV and .xlsx) as the officer")
    args = ap.parse_args()
    log = (lambda *a: print(*a, file=sys.stderr)) if args.json else print

    with tempfile.TemporaryDirectory() as tmp:
        data = args.data_dir or Path(tmp)
        data.mkdir(parents=True, exist_ok=True)
        facts_file = data / "bench-pages.json"
        if facts_file.exists():
            facts = json.loads(facts_file.read_text())
            log(f"reusing {data} ({facts['lodged']:,} declarations)")
        else:
            platform, _ = new_platform(data)
            log(f"populating a SQLite database with {args.declarations:,} declarations …")
            facts = populate(platform, args.declarations, args.batch, log)
            platform.engine.dispose()
            facts_file.write_text(json.dumps(facts))
            log(f"  {facts['lodged']:,} lodged in {facts['lodge_seconds']} s; {facts['held']:,} held, "
                f"{facts['inspected']:,} with inspection results")
        held_no = facts["held_open"][0]
        with served(data) as url:
            users = {name: sign_in(url, name) for name in ("trader1", "officer1", "analyst1", "admin")}
            trader_no = users["trader1"].get("/declarations").text
            trader_no = re.search(r'href="/declarations/(\d{18})"', trader_no).group(1)
            released_no = users["trader1"].get("/declarations?status=released").text
            released_no = re.search(r'href="/declarations/(\d{18})"', released_no).group(1)
            anon = httpx.Client(base_url=url, timeout=30)
            pages = [
                ("baseline /healthz", anon, "/healthz"),
                ("login form", anon, "/login"),
                ("trader: own declarations", users["trader1"], "/declarations"),
                ("trader: lodge form", users["trader1"], "/declarations/new"),
                ("trader: a declaration", users["trader1"], f"/declarations/{trader_no}"),
                ("trader: inbox", users["trader1"], "/inbox"),
                ("trader: release note", users["trader1"], f"/declarations/{released_no}/release-note"),
                ("trader: tax notice", users["trader1"], f"/declarations/{released_no}/tax-notice"),
                ("officer: hold queue by score", users["officer1"], "/queue"),
                ("officer: hold queue by age", users["officer1"], "/queue?order=lodged_at&lane=red"),
                ("officer: held declaration", users["officer1"], f"/declarations/{held_no}"),
                ("officer: all declarations", users["officer1"], "/declarations"),
                ("officer: declarations searched", users["officer1"],
                 "/declarations?hs=64&office=2248&date_from=2000-01-01&sort=-total_value&size=200"),
                ("officer: declarations, page 400", users["officer1"], "/declarations?sort=importer_code&page=400"),
                ("officer: queue searched, by value", users["officer1"], "/queue?hs=61&sort=-total_value&size=100"),
                ("trader: own, searched", users["trader1"], "/declarations?hs=84&sort=-total_value&size=100"),
                ("analyst: dashboard", users["analyst1"], "/dashboard"),
                ("officer: held parcels", users["officer1"], "/parcels"),
                ("officer: manifest referrals", users["officer1"], "/manifests/referrals"),
                ("analyst: rule editor", users["analyst1"], "/rules"),
                ("analyst: model registry", users["analyst1"], "/models"),
                ("admin: administration", users["admin"], "/admin"),
            ]
            results = []
            officer = users["officer1"]
            token = re.search(r'name="csrf-token" content="([^"]+)"', officer.get("/queue").text).group(1)
            t0 = time.perf_counter()
            users["analyst1"].get("/dashboard")
            cold_ms = (time.perf_counter() - t0) * 1000
            after_result = []
            for no in facts["held_open"][1:1 + min(args.loads, 20)]:
                r = officer.post(f"/declarations/{no}/inspection", data={"csrf": token, "outcome": "no_offence"})
                if r.status_code != 303:
                    raise RuntimeError(f"inspection result for {no}: {r.status_code}")
                after_result += timed(users["analyst1"], "/dashboard", 1)
            for label, client, path in pages:
                timed(client, path, 3)
                a = np.asarray(timed(client, path, args.loads))
                results.append({"page": label, "path": path, "p50_ms": round(float(np.percentile(a, 50)), 1),
                                "p95_ms": round(float(np.percentile(a, 95)), 1),
                                "max_ms": round(float(a.max()), 1)})
            exports = []
            for fmt in ("csv", "xlsx") if args.exports else ():
                t0 = time.perf_counter()
                r = officer.get(f"/declarations.{fmt}", timeout=600)
                if r.status_code != 200:
                    raise RuntimeError(f"export {fmt}: {r.status_code}")
                exports.append({"export": fmt, "rows": int(r.headers["x-export-rows"]),
                                "seconds": round(time.perf_counter() - t0, 2), "mb": round(len(r.content) / 1e6, 1)})
    a = np.asarray(after_result)
    results.append({"page": "analyst: dashboard after a result", "path": "/dashboard",
                    "p50_ms": round(float(np.percentile(a, 50)), 1), "p95_ms": round(float(np.percentile(a, 95)), 1),
                    "max_ms": round(float(a.max()), 1)})
    worst = max(r["p95_ms"] for r in results[1:])  # the first dashboard load after start is reported apart
    summary = {"declarations": facts["lodged"], "loads": args.loads, "pages": results,
               "worst_p95_ms": worst,
               "dashboard_first_load_ms": round(cold_ms, 1), "target_p95_ms": TARGET_P95_MS, "exports": exports,
               "target_met": worst <= TARGET_P95_MS,
               **{k: v for k, v in facts.items() if k != "held_open"}}
    if args.json:
        print(json.dumps(summary, indent=2))
        return
    print(f"\n{'page':34} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    for r in results:
        print(f"{r['page']:34} {r['p50_ms']:8.1f} {r['p95_ms']:8.1f} {r['max_ms']:8.1f}")
    print(f"{'analyst: dashboard, first load':34} {cold_ms:8.1f}   (once after the server starts)")
    for e in exports:
        print(f"export of every declaration as {e['export']}: {e['rows']:,} rows, {e['mb']} MB in {e['seconds']} s")
    print(f"\nworst page p95 {worst:.1f} ms (target ≤ {TARGET_P95_MS:.0f} ms): "
          f"{'met' if summary['target_met'] else 'MISSED'}")


if __name__ == "__main__":
    main()
