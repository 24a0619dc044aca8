"""Live risk scoring per declaration: features + model + rules + lane, on a warmed engine.

    .venv/bin/python bench/risk_live.py                  # 100,000 declarations of history, 1,000 timed
    .venv/bin/python bench/risk_live.py --history 20000 --singles 300 --json

Set-up: a platform on a temporary SQLite file with the demo enterprises; ``--history`` simulated
declarations (``DeclarationSimulator``, validated and tax-assessed as lodging does, 60 days) folded
into the engine's history state with the inspection results of a random 20 % of them; a
``RiskModel`` (default settings) trained on those results; two rule profiles.

Timed, one declaration at a time, on declarations lodged after the history:

* ``RiskEngine.assign([d])``: item frame, point-in-time features, model score, history update, rule
  matching, lane under budget/exploration/credit grade, reasons for held ones; nothing stored;
* storing that decision (``RiskEngine._store``: risk_decisions and rule links, one transaction),
  reported separately;
* baseline in the same run, on a second engine warmed identically: the two-pass composition
  (``features_for`` then model then ``observe_declarations`` then rules and lane) on the columnar
  frame path (``ROWWISE_ROWS = 0``), the live path before ``score_and_observe`` and
  ``risk/features/rowwise.py``. Both engines see the same declarations; their scores are compared.

Then ``assign`` on batches of ``--batch`` declarations (declarations/s).
"""

from __future__ import annotations

import argparse
import copy
import cProfile
import json
import os
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _support import new_platform, percentiles  # noqa: E402


def lodged(platform, sims, first_id: int):
    """LodgedDeclaration objects as lodging builds them (validated, normalised, assessed), no storage."""
    from smartcustoms.declarations.schemas import DeclarationIn
    from smartcustoms.declarations.service import LodgedDeclaration, _naive, normalise
    from smartcustoms.enterprises.service import parties

    svc = platform.declarations
    data = [normalise(DeclarationIn.model_validate(s.payload), platform.codes) for s in sims]
    with platform.sessions() as s:
        known = parties(s, {c for d in data for c in (d.importer_code, d.declarant_code)})
    out = []
    for i, d in enumerate(data):
        out.append(
            LodgedDeclaration(
                first_id + i, f"B{first_id + i:012d}", d, _naive(d.declared_at), svc.assess_declaration(d),
                known[d.importer_code], known[d.declarant_code],
            )
        )
    return out


def outcomes(frame: pl.DataFrame, sims, rng: np.random.Generator, lag: timedelta) -> pl.DataFrame:
    """A random 20 % of the rows inspected, with their simulated findings, known ``lag`` later."""
    inspected = rng.random(len(sims)) < 0.2
    off = np.array([1 if s.offending else 0 for s in sims], dtype=np.int8)
    crit = np.array([2 if s.critical else (1 if s.offending else 0) for s in sims], dtype=np.int8)
    # one row per item: repeat each declaration's label over its items
    counts = frame.group_by("declaration_no", maintain_order=True).len()["len"].to_numpy()
    rep = np.repeat(np.arange(len(sims)), counts)
    return frame.with_columns(
        pl.Series("offence", np.where(inspected[rep], off[rep], -1)).replace(-1, None).cast(pl.Int8),
        pl.Series("critical", crit[rep]).cast(pl.Int8),
        pl.lit(0.0).alias("duty_recovered"),
        (pl.col("declared_at") + lag).alias("outcome_at"),
    )


def two_pass(engine, batch, now):
    """Baseline: the live path before score_and_observe (features_for, then observe_declarations)."""
    from smartcustoms.risk.features import state as features
    from smartcustoms.risk.targeting.rules import match
    from smartcustoms.risk.targeting.selectivity import item_frame

    frame = item_frame(batch, engine.tariff)
    columnar, features.ROWWISE_ROWS = features.ROWWISE_ROWS, 0  # the columnar frame path, as before the row-wise path
    try:
        with engine.lock:
            score, feats, best = engine.score(frame)
            engine.state.observe_declarations(frame)
    finally:
        features.ROWWISE_ROWS = columnar
    with engine.lock:
        rule_frame = pl.concat(
            [frame, feats.select([c for c in feats.columns if c not in frame.columns])], how="horizontal"
        )
        matched = match(engine.rules, rule_frame, now.date())
        decisions = engine._choose(batch, score, matched, feats, best)
    return decisions, matched


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--history", type=int, default=100_000)
    ap.add_argument("--singles", type=int, default=1_000)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--batches", type=int, default=10)
    ap.add_argument("--profile", metavar="FILE", help="cProfile the timed assign calls into FILE (pstats)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    log = (lambda *a: print(*a, file=sys.stderr)) if args.json else print

    from smartcustoms.risk.features.state import build_features
    from smartcustoms.risk.offence_model import RiskModel
    from smartcustoms.risk.targeting.rules import compile_rule
    from smartcustoms.risk.targeting.schemas import RuleIn
    from smartcustoms.risk.targeting.selectivity import RiskEngine, item_frame
    from smartcustoms.simulate import DeclarationSimulator

    now = datetime.now().replace(microsecond=0)
    hist_start, hist_end = now - timedelta(days=61), now - timedelta(days=1)
    rng = np.random.default_rng(0)
    report: dict = {"history": args.history, "load_before": os.getloadavg()}
    with tempfile.TemporaryDirectory() as tmp:
        platform, _ = new_platform(Path(tmp))
        engine = platform.risk
        sim = DeclarationSimulator(7)
        t0 = time.perf_counter()
        history = sim.generate(args.history, hist_start, hist_end)
        chunk, train = 20_000, []
        for k in range(0, len(history), chunk):
            sims = history[k : k + chunk]
            frame = item_frame(lodged(platform, sims, k + 1), engine.tariff)
            labelled = outcomes(frame, sims, rng, timedelta(days=2))
            feats, _ = build_features(labelled, engine.state)
            keep = labelled["offence"].is_not_null()
            train.append((feats.filter(keep), labelled.filter(keep)["offence"].to_numpy()))
        report["warm_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        x = pl.concat([f for f, _ in train])
        y = np.concatenate([lab for _, lab in train])
        engine.model, engine.model_version = RiskModel().fit(x, y), 1
        report["train_s"] = time.perf_counter() - t0
        report["train_rows"] = int(len(y))
        del train, x
        rules = [
            RuleIn(name="cheap footwear", description="low unit value footwear", lane="yellow", target_rate=0.5,
                   criteria=[{"field": "hs_code", "op": "prefix", "value": ["64"]},
                             {"field": "unit_value", "op": "lt", "value": 2.0}]),
            RuleIn(name="false-origin route", description="transhipped via SG", lane="blue", target_rate=0.3,
                   criteria=[{"field": "departure_country", "op": "eq", "value": "SG"}]),
            RuleIn(name="new importer, high value", description="first HS for importer", lane="yellow",
                   target_rate=0.2, criteria=[{"field": "importer_hs6_is_new", "op": "eq", "value": 1.0},
                                              {"field": "customs_value", "op": "gt", "value": 50_000.0}]),
        ]
        engine.rules = [compile_rule(i + 1, r) for i, r in enumerate(rules)]
        twin = RiskEngine(engine.sessions, engine.tariff, engine.config, engine.clock)
        twin.state, twin.draw_key = copy.deepcopy(engine.state), engine.draw_key  # the same keyed draws
        twin.model, twin.model_version, twin.rules = engine.model, engine.model_version, engine.rules

        n_new = args.singles + args.batch * args.batches
        new = lodged(platform, sim.generate(n_new, hist_end, now - timedelta(minutes=1)), 10_000_000)
        singles, new_batches = new[: args.singles], new[args.singles :]
        for ld in singles[:20]:  # warm-up (first-call costs), both engines
            engine.assign([ld], now)
            two_pass(twin, [ld], now)
        live, base, store, same = [], [], [], 0
        with platform.sessions() as s:
            s.connection().exec_driver_sql("PRAGMA foreign_keys=OFF")  # decisions of unstored declarations
            prof = cProfile.Profile() if args.profile else None
            for ld in singles[20:]:
                if prof:
                    prof.enable()
                t = time.perf_counter()
                dec, matched = engine.assign([ld], now)
                live.append((time.perf_counter() - t) * 1000)
                if prof:
                    prof.disable()
                t = time.perf_counter()
                ref, _ = two_pass(twin, [ld], now)
                base.append((time.perf_counter() - t) * 1000)
                same += abs(dec[0].score - ref[0].score) <= 1e-12
                t = time.perf_counter()
                engine._store(s, [ld], dec, matched, now)
                s.flush()
                store.append((time.perf_counter() - t) * 1000)
            s.rollback()
            if prof:
                prof.dump_stats(args.profile)
        report["single_assign_ms"] = percentiles(live)
        report["single_store_ms"] = percentiles(store)
        report["baseline_two_pass_ms"] = percentiles(base)
        report["singles"] = len(live)
        report["same_scores"] = same
        t0 = time.perf_counter()
        for i in range(args.batches):
            engine.assign(new_batches[i * args.batch : (i + 1) * args.batch], now)
        report["batch_assign_per_s"] = args.batch * args.batches / (time.perf_counter() - t0)
        t0 = time.perf_counter()
        for i in range(args.batches):
            two_pass(twin, new_batches[i * args.batch : (i + 1) * args.batch], now)
        report["baseline_batch_two_pass_per_s"] = args.batch * args.batches / (time.perf_counter() - t0)
        report["load_after"] = os.getloadavg()
        platform.engine.dispose()
    if args.json:
        print(json.dumps(report))
        return
    a, b, st = report["single_assign_ms"], report["baseline_two_pass_ms"], report["single_store_ms"]
    log(f"history {args.history:,} declarations warmed in {report['warm_s']:.0f} s; model on "
        f"{report['train_rows']:,} inspected rows in {report['train_s']:.0f} s")
    log(f"one declaration, features + model + rules + lane: p50 {a['p50_ms']} ms, p99 {a['p99_ms']} ms, "
        f"max {a['max_ms']} ms (target p99 <= 10; {report['singles']} timed)")
    log(f"  storing the decision: p50 {st['p50_ms']} ms, p99 {st['p99_ms']} ms")
    log(f"  baseline two-pass path, same declarations: p50 {b['p50_ms']} ms, p99 {b['p99_ms']} ms "
        f"(scores identical for {same}/{report['singles']})")
    log(f"batches of {args.batch}: {report['batch_assign_per_s']:,.0f} declarations/s "
        f"(baseline two-pass {report['baseline_batch_two_pass_per_s']:,.0f}/s)")
    log(f"load average before {report['load_before']}, after {report['load_after']}")


if __name__ == "__main__":
    main()
