"""KCS train -> test: a plain LightGBM baseline and the smartcustoms risk model, side by side.

Plain baseline: ``smartcustoms.risk.evaluate.plain_lightgbm_scores``, LightGBM of 400 rounds and 63
leaves (seed 0, other settings the library's) over the raw KCS columns, categorical columns
label-encoded with a vocabulary learned on the training file (unseen values -> -1).
Ours: ``smartcustoms.risk.evaluate.evaluate`` (point-in-time history features + RiskModel; test outcomes
hidden). Both figures are inflated by exact repeats of training goods: ``bench/risk_novel.py`` gives
the novel-goods subset as well. ``--cv`` adds rolling time-based cross-validation inside the training
window (how the model's settings were chosen; the test file plays no part in it).

    .venv/bin/python bench/risk_baseline.py [--train FILE] [--test FILE] [--cv] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime
from pathlib import Path

import polars as pl

from smartcustoms.risk.datasets.kcs import default_kcs_dir, read_kcs
from smartcustoms.risk.evaluate import evaluate, mean_metrics, metrics_at, plain_lightgbm_scores, time_cv
from smartcustoms.risk.features.state import build_features
from smartcustoms.risk.offence_model import DEFAULT_PARAMS, DEFAULT_ROUNDS, RiskModel

CV_FOLDS = [
    (datetime(2020, 4, 1), datetime(2020, 7, 1)),
    (datetime(2020, 7, 1), datetime(2020, 10, 1)),
    (datetime(2020, 10, 1), datetime(2021, 1, 1)),
]
CV_CONFIGS = {
    "600 rounds, learning rate 0.03": {"rounds": 600, "params": {"learning_rate": 0.03}},
    "300 rounds, learning rate 0.03": {"rounds": 300, "params": {"learning_rate": 0.03}},
    "150 rounds, learning rate 0.06 (default)": {"rounds": 150},
    "15 leaves": {"params": {"num_leaves": 15}},
    "63 leaves": {"params": {"num_leaves": 63}},
}


def plain_baseline(train: pl.DataFrame, test: pl.DataFrame) -> dict:
    """The issue's plain baseline (400 rounds, 63 leaves over the raw columns) at k%."""
    scores = plain_lightgbm_scores(train, test, seed=0)
    duty = (test["customs_value"] * test["tax_rate"] / 100).to_numpy()
    return metrics_at(scores, test["offence"].cast(pl.Float64).to_numpy(), duty)


def run_cv(train_csv: Path) -> dict:
    frame = read_kcs(train_csv)
    features, _ = build_features(frame)
    out = {}
    for name, cfg in CV_CONFIGS.items():
        params = {**DEFAULT_PARAMS, **cfg.get("params", {})}
        rounds = cfg.get("rounds", DEFAULT_ROUNDS)
        folds = time_cv(
            frame,
            CV_FOLDS,
            features=features,
            make_model=lambda p=params, r=rounds: RiskModel(params=p, num_boost_round=r),
        )
        out[name] = {
            "folds": {f["fold"]: {k: f["precision_at"][k] for k in ("5", "10")} for f in folds},
            **mean_metrics(folds),
        }
        print(f"cv {name}: {out[name]}", file=sys.stderr)
    return out


def main() -> None:
    kcs = default_kcs_dir()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train", type=Path, default=kcs / "train.csv")
    ap.add_argument("--test", type=Path, default=kcs / "valid.csv")
    ap.add_argument("--cv", action="store_true", help="also run time-based CV inside the training window")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if not args.train.exists() or not args.test.exists():
        sys.exit(f"KCS data not found at {args.train.parent} (set SMARTCUSTOMS_KCS_DIR)")

    train, test = read_kcs(args.train), read_kcs(args.test)
    t0 = time.perf_counter()
    base = plain_baseline(train, test)
    t1 = time.perf_counter()
    ours = evaluate(train, test).metrics
    t2 = time.perf_counter()
    report = {
        "train": str(args.train.name),
        "test": str(args.test.name),
        "n_test": ours["n_test"],
        "random": ours["random"],
        "baseline": {k: base[k] for k in ("precision_at", "recall_at", "duty_share_at")},
        "ours": {k: ours[k] for k in ("precision_at", "recall_at", "duty_share_at")},
        "seconds": {"baseline": round(t1 - t0, 1), "ours": round(t2 - t1, 1)},
    }
    if args.cv:
        report["cv"] = run_cv(args.train)
    if args.json:
        print(json.dumps(report))
        return
    print(
        f"KCS {args.train.name} -> {args.test.name}: {ours['n_test']:,} test declarations, random {ours['random']:.3f}"
    )
    print(
        f"{'k%':>4} | {'plain P@k':>9} {'ours P@k':>9} | {'plain R@k':>9} {'ours R@k':>9} | "
        f"{'plain duty':>10} {'ours duty':>10}"
    )
    for k in ("1", "2", "5", "10"):
        print(
            f"{k + '%':>4} | {base['precision_at'][k]:9.3f} {ours['precision_at'][k]:9.3f} | "
            f"{base['recall_at'][k]:9.3f} {ours['recall_at'][k]:9.3f} | "
            f"{base['duty_share_at'][k]:10.3f} {ours['duty_share_at'][k]:10.3f}"
        )
    print(f"time: plain {report['seconds']['baseline']} s, ours {report['seconds']['ours']} s")
    for name, cv in report.get("cv", {}).items():
        print(f"CV {name}: mean P@5% {cv['precision_at_5']:.3f}, P@10% {cv['precision_at_10']:.3f}  {cv['folds']}")


if __name__ == "__main__":
    main()
