"""Risk scoring performance: single-declaration latency, batch throughput, memory of the history.

All on seeded synthetic item frames (``smartcustoms.risk.synthetic.item_frame``):

1. history: ``--history`` declarations (default 1,000,000) folded into a ``HistoryState`` with their
   outcomes (live warm start: ``observe_declarations`` + ``observe_outcomes`` in chunks); process RSS
   is read from /proc afterwards (target <= 1 GiB);
2. model: a ``RiskModel`` (default settings) trained on ``--train-rows`` point-in-time rows;
3. single declaration: ``state.score_rows(row, observe=True)`` + ``model.predict_proba`` (the live
   row-wise path) for every other one of ``--singles`` new declarations, one at a time, p50 / p99
   (target p99 <= 10 ms); the others take the two-pass columnar path (``features_for`` + model, then
   ``observe_declarations``, frames); baseline in the same run: the same history statistics by rescanning a
   Polars history frame; (the full live decision, rules and lane included: ``bench/risk_live.py``)
4. batch: ``build_features`` + ``predict_proba`` over ``--batch`` new rows (target >= 50,000/s),
   the model also timed on 2 threads (``RiskModel.predict_threads``); then ``score_batch`` on the
   same rows from the same history (features of one chunk built while the previous chunk is scored);
   baseline in the same run: a raw-column model (no history features) scoring the same rows.

    .venv/bin/python bench/risk_score.py [--history 1000000] [--json]
"""

from __future__ import annotations

import argparse
import copy
import gc
import json
import time
from datetime import datetime, timedelta

import lightgbm as lgb
import numpy as np
import polars as pl

from smartcustoms.risk.evaluate import hide_labels
from smartcustoms.risk.features import state as features
from smartcustoms.risk.features.state import HistoryState, build_features
from smartcustoms.risk.offence_model import RiskModel, score_batch
from smartcustoms.risk.synthetic import item_frame


def rss_mib() -> tuple[float, float]:
    """(current, peak) resident set size of this process, MiB."""
    fields = {}
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values) * 1000.0, q))


def rescan_baseline(history: pl.DataFrame, row: pl.DataFrame) -> dict:
    """Naive scoring helper: party and HS statistics by filtering the whole history frame."""
    r = row.row(0, named=True)
    out = {}
    for col in ("importer_code", "declarant_code", "seller_code", "hs_code"):
        past = history.filter(pl.col(col).eq_missing(r[col]) & (pl.col("outcome_at") <= r["declared_at"]))
        out[col] = past.select(pl.len(), pl.col("offence").mean(), pl.col("customs_value").log1p().mean()).row(0)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--history", type=int, default=1_000_000)
    ap.add_argument("--train-rows", type=int, default=30_000)
    ap.add_argument("--singles", type=int, default=2_000)
    ap.add_argument("--batch", type=int, default=200_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    start = datetime(2023, 1, 1)
    days = 365.0 * args.history / 1_000_000
    report: dict = {"history": args.history}

    rss0 = rss_mib()[0]
    # history generated and folded in 10 chunks (one shared party population), so that the process
    # never holds the whole history frame: RSS then measures the state, not the generator.
    # Warm start as of the end of the history: results recorded so far are known (live, officers'
    # results arrive when they are recorded, so nothing waits in the pending queue).
    parts = 10
    importers = max(10, args.history // 20)

    def history_chunk(k: int) -> pl.DataFrame:
        return item_frame(
            args.history // parts,
            seed=args.seed + k,
            importers=importers,
            start=start + timedelta(days=days * k / parts),
            days=days / parts,
        )

    history_end = start + timedelta(days=days)
    state = HistoryState()
    t0 = time.perf_counter()
    for k in range(parts):
        chunk = history_chunk(k)
        chunk = chunk.with_columns(pl.min_horizontal("outcome_at", pl.lit(history_end)).alias("outcome_at"))
        state.observe_declarations(chunk)
        state.observe_outcomes(chunk)
    t_hist = time.perf_counter() - t0
    del chunk
    gc.collect()
    rss_state = rss_mib()[0]
    report["rss_mib_with_history"] = rss_state
    report["rss_mib_before_history"] = rss0
    report["history_observe_per_s"] = args.history / t_hist
    report["state_table_mib"] = state.nbytes / 2**20
    report["state_keys"] = sum(state.n_keys().values())

    # model trained on point-in-time features of the most recent history chunk
    train_rows = history_chunk(parts - 1).tail(args.train_rows)
    train_f, _ = build_features(train_rows)
    model = RiskModel().fit(train_f, train_rows["offence"].to_numpy())
    del train_f
    gc.collect()

    # new declarations after the history
    new = item_frame(
        args.singles + args.batch, seed=args.seed + 99, importers=importers, start=history_end, days=max(days / 20, 1.0)
    )
    # the rescan baseline needs a history frame; built after the RSS reading
    hist_small = pl.concat([history_chunk(k) for k in range(parts)]).select(
        "importer_code",
        "declarant_code",
        "seller_code",
        "hs_code",
        "declared_at",
        "outcome_at",
        "offence",
        "customs_value",
    )

    # declarations alternate between the live one-pass path and the two-pass path it replaced (same
    # state stream, each row observed once)
    singles, two_pass, observe, rescans = [], [], [], []
    rowwise_rows = features.ROWWISE_ROWS
    for i in range(args.singles):
        row = new.slice(i, 1)
        if i % 2 == 0:
            t = time.perf_counter()
            model.predict_proba(state.score_rows(row.to_dicts(), observe=True))
            singles.append(time.perf_counter() - t)
        else:
            features.ROWWISE_ROWS = 0  # the columnar frame path
            t = time.perf_counter()
            model.predict_proba(state.features_for(row))
            t_mid = time.perf_counter()
            state.observe_declarations(row)
            two_pass.append(time.perf_counter() - t)
            observe.append(time.perf_counter() - t_mid)
            features.ROWWISE_ROWS = rowwise_rows
        if i < 200:
            t = time.perf_counter()
            rescan_baseline(hist_small, row)
            rescans.append(time.perf_counter() - t)
    report["single_ms"] = {"p50": pct(singles, 50), "p99": pct(singles, 99), "max": pct(singles, 100)}
    report["two_pass_ms"] = {"p50": pct(two_pass, 50), "p99": pct(two_pass, 99), "max": pct(two_pass, 100)}
    report["observe_ms"] = {"p50": pct(observe, 50), "p99": pct(observe, 99)}
    report["baseline_rescan_ms"] = {"p50": pct(rescans, 50), "p99": pct(rescans, 99)}
    del hist_small
    gc.collect()

    # batch scoring: incoming declarations, results not yet known
    batch = hide_labels(new.slice(args.singles, args.batch))
    batch_labels = new.slice(args.singles, args.batch)["offence"]
    del new, singles, two_pass, observe, rescans
    gc.collect()
    twin = copy.deepcopy(state)  # the same history for the overlapped run below
    t = time.perf_counter()
    feats, state = build_features(batch, state)
    t_feat = time.perf_counter() - t
    t = time.perf_counter()
    sequential = model.predict_proba(feats)
    t_model = time.perf_counter() - t
    del feats
    gc.collect()
    # the batch scorer: features and model overlapped chunk by chunk (model in a worker thread)
    t = time.perf_counter()
    feats, overlapped, twin = score_batch(batch, model, twin)
    report["batch_score_batch_per_s"] = batch.height / (time.perf_counter() - t)
    report["score_batch_same_scores"] = bool(np.allclose(overlapped, sequential, rtol=1e-9, atol=1e-12))
    del twin
    gc.collect()
    report["batch_model_per_s"] = batch.height / t_model
    model.predict_threads = 2
    t = time.perf_counter()
    model.predict_proba(feats)
    report["batch_model_2_threads_per_s"] = batch.height / (time.perf_counter() - t)
    model.predict_threads = None
    report["batch_rows"] = batch.height
    report["batch_features_per_s"] = batch.height / t_feat
    report["batch_scored_per_s"] = batch.height / (t_feat + t_model)
    # baseline: raw columns only (no history), LightGBM with the same rounds
    raw = batch.select(
        pl.col("customs_value"),
        pl.col("net_mass_kg"),
        pl.col("tax_rate"),
        pl.col("hs_code").cast(pl.Float64),
        pl.col("office_code").cast(pl.Float64),
    ).to_numpy()
    raw_model = lgb.train(
        {"objective": "binary", "verbose": -1, "num_threads": 1, "seed": 0},
        lgb.Dataset(raw[:20_000], batch_labels[:20_000].to_numpy()),
        600,
    )
    t = time.perf_counter()
    raw_model.predict(raw, num_threads=1)
    report["baseline_raw_scored_per_s"] = batch.height / (time.perf_counter() - t)
    report["rss_mib_peak"] = rss_mib()[1]

    if args.json:
        print(json.dumps(report))
        return
    print(
        f"history: {args.history:,} declarations observed at {report['history_observe_per_s']:,.0f}/s; "
        f"{report['state_keys']:,} keys, tables {report['state_table_mib']:.0f} MiB"
    )
    print(
        f"RSS: {rss0:.0f} MiB before, {rss_state:.0f} MiB with the history state (target <= 1024); "
        f"peak {report['rss_mib_peak']:.0f} MiB"
    )
    s, b = report["single_ms"], report["baseline_rescan_ms"]
    print(
        f"single declaration, score_and_observe + model: p50 {s['p50']:.2f} ms, p99 {s['p99']:.2f} ms "
        f"(target p99 <= 10); two-pass (features_for + model + observe) p50 {report['two_pass_ms']['p50']:.2f} ms, "
        f"p99 {report['two_pass_ms']['p99']:.2f} ms"
    )
    print(f"  baseline (rescan history frame for 4 statistics): p50 {b['p50']:.2f} ms, p99 {b['p99']:.2f} ms")
    print(
        f"batch: {report['batch_scored_per_s']:,.0f} declarations/s scored "
        f"(features alone {report['batch_features_per_s']:,.0f}/s, model {report['batch_model_per_s']:,.0f}/s, "
        f"model on 2 threads {report['batch_model_2_threads_per_s']:,.0f}/s; target >= 50,000); "
        f"baseline raw-column model {report['baseline_raw_scored_per_s']:,.0f}/s"
    )
    print(
        f"batch, score_batch (features and model overlapped): {report['batch_score_batch_per_s']:,.0f} "
        f"declarations/s (same scores: {report['score_batch_same_scores']})"
    )


if __name__ == "__main__":
    main()
