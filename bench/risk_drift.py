"""Drift alerts on real KCS offices: how often they fire with no change, whether they catch a shift, and on 2021.

    flock /tmp/sc-bench.lock .venv/bin/python bench/risk_drift.py [--train FILE] [--test FILE] [--json] [--timing]

The offence model (``RiskModel``, no calibration twin) trains on KCS Jan-Jun 2020 and scores Jul 2020 - Mar 2021
(2020 rows with their outcomes known after the dataset's lag, as live; the 2021 file with outcomes hidden). Every
KCS row was inspected, so each row is also an inspection for the hit rates. Per office and week
(``risk.drift.weekly_drift``, reference: the office's previous 4 weeks), three questions:

* **null**: the rows' weeks shuffled within each office (the week sizes kept), so nothing drifts by
  construction; every alert is false. Rates per tested office-week, for the shipped rule (PSI > 0.25 and
  chi-square p < 0.01; hit-rate z-test p < 0.01) and for the naive reading of PSI alone (> 0.25), same data;
* **power**: in the shuffled data, 10 %, 25 % or 50 % of one office-week's scores replaced by scores drawn from
  that office's upper half (a population that turned riskier), detection rate by office size, both rules;
* **real**: the actual weeks, Aug 2020 - Mar 2021: alerts of each rule, by office.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from smartcustoms.risk.datasets.kcs import default_kcs_dir, read_kcs
from smartcustoms.risk.drift import SIGNIFICANT, ResultRow, ScoreRow, monday, weekly_drift
from smartcustoms.risk.evaluate import hide_labels, history_features, window
from smartcustoms.risk.offence_model import RiskModel, score_batch

SPLIT = datetime(2020, 7, 1)
#: the injected shifts: this share of a week's scores replaced by draws from the office's upper half of scores
SHIFTS = {"10 % riskier": 0.1, "25 % riskier": 0.25, "50 % riskier": 0.5}


def _rows(offices: np.ndarray, at: list[datetime], scores: np.ndarray, hits: np.ndarray):
    s = [ScoreRow(o, t, float(x), 1) for o, t, x in zip(offices, at, scores, strict=True)]
    r = [ResultRow(o, t, bool(h)) for o, t, h in zip(offices, at, hits, strict=True)]
    return s, r


def _weeks(at: list[datetime], first: date) -> list[date]:
    last = max(monday(t) for t in at)
    return [first + timedelta(weeks=k) for k in range((last - first).days // 7 + 1)]


def _tally(rows) -> dict:
    tested = [r for r in rows if r.psi is not None]
    tested_rate = [r for r in rows if r.hit_rate_p is not None]
    return {
        "office_weeks_with_psi": len(tested),
        "naive_psi_alerts": sum(r.psi > SIGNIFICANT for r in tested),
        "score_alerts": sum("scores" in r.reasons for r in rows),
        "office_weeks_with_rate_test": len(tested_rate),
        "hit_rate_alerts": sum("hit_rate" in r.reasons for r in rows),
        "psi_median": float(np.median([r.psi for r in tested])) if tested else None,
        "psi_p90": float(np.quantile([r.psi for r in tested], 0.9)) if tested else None,
    }


def _size(n: int) -> str:
    return "< 50" if n < 50 else "50-150" if n <= 150 else "> 150"


def _shuffled(offices: np.ndarray, at: list[datetime], rng: np.random.Generator) -> list[datetime]:
    """Each office's timestamps permuted among its own rows: week sizes kept, scores exchangeable."""
    out = list(at)
    for o in np.unique(offices):
        idx = np.flatnonzero(offices == o)
        for i, j in zip(idx, rng.permutation(idx), strict=True):
            out[i] = at[j]
    return out


def timing(n: int = 200_000, offices: int = 10, seed: int = 0) -> str:
    """Seconds to build ``n`` decision rows over 12 weeks at ``offices`` offices and run ``weekly_drift`` on them."""
    rng = np.random.default_rng(seed)
    start = datetime(2026, 9, 7)
    names = [f"{k:04d}" for k in range(offices)]
    t0 = time.perf_counter()
    s = [ScoreRow(names[o], start + timedelta(seconds=int(x)), float(v), 1) for o, x, v in
         zip(rng.integers(0, offices, n), rng.integers(0, 12 * 7 * 86400, n), rng.beta(2, 8, n), strict=True)]
    t1 = time.perf_counter()
    weeks = [start.date() + timedelta(weeks=k) for k in range(4, 12)]
    out = weekly_drift(s, [], weeks)
    t2 = time.perf_counter()
    return (f"{n} decisions, {offices} offices, {len(out)} office-weeks: rows {t1 - t0:.2f} s, "
            f"weekly_drift {t2 - t1:.2f} s")


def main() -> None:
    kcs = default_kcs_dir()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train", type=Path, default=kcs / "train.csv")
    ap.add_argument("--test", type=Path, default=kcs / "valid.csv")
    ap.add_argument("--null-runs", type=int, default=20)
    ap.add_argument("--power-cases", type=int, default=120)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--timing", action="store_true", help="only time weekly_drift on 200,000 synthetic decisions")
    args = ap.parse_args()
    if args.timing:
        print(timing())
        return
    if not args.train.exists() or not args.test.exists():
        sys.exit(f"KCS data not found at {args.train.parent} (set SMARTCUSTOMS_KCS_DIR)")
    t0 = time.perf_counter()
    train, test = read_kcs(args.train), read_kcs(args.test)
    feats, _, state = history_features(train)
    before = (train["declared_at"] < SPLIT).to_numpy()
    model = RiskModel(calibrate=False).fit(feats.filter(pl.Series(before)),
                                           train["offence"].to_numpy()[before].astype(np.float64),
                                           training_window=window(train.filter(pl.Series(before))))
    later = feats.filter(pl.Series(~before))
    p_2020 = model.predict_proba(later)
    _, p_2021, _ = score_batch(hide_labels(test), model, state)
    frame = pl.concat([train.filter(pl.Series(~before)), test], how="vertical_relaxed")
    offices = frame["office_code"].cast(pl.String).to_numpy()
    at = frame["declared_at"].to_list()
    scores = np.concatenate([p_2020, np.asarray(p_2021)])
    hits = frame["offence"].fill_null(0).to_numpy().astype(bool)
    fit_s = time.perf_counter() - t0
    first = monday(SPLIT.date()) + timedelta(weeks=5)  # four full weeks of reference before it
    weeks = _weeks(at, first)
    rng = np.random.default_rng(args.seed)
    report: dict = {"train": args.train.name, "test": args.test.name, "rows_scored": len(scores),
                    "model_trained_on": f"{window(train.filter(pl.Series(before)))}",
                    "office_sizes_per_week": {}, "seconds_fit_and_score": round(fit_s, 1)}
    per_week = Counter(offices)
    n_weeks = (max(at) - min(at)).days / 7
    report["office_sizes_per_week"] = {o: round(n / n_weeks, 1) for o, n in per_week.most_common(6)}

    # real weeks
    s, r = _rows(offices, at, scores, hits)
    real = weekly_drift(s, r, weeks)
    report["real"] = _tally(real) | {
        "score_alerts_by_office": dict(Counter(x.office_code for x in real if "scores" in x.reasons)),
        "naive_alerts_by_office": dict(Counter(x.office_code for x in real if x.psi and x.psi > SIGNIFICANT)),
        "hit_rate_alerts_by_office": dict(Counter(x.office_code for x in real if "hit_rate" in x.reasons)),
    }
    # null: shuffled weeks
    t1 = time.perf_counter()
    null = Counter()
    null_by_size: dict[str, Counter] = {}
    shuffled_runs = []
    for _ in range(args.null_runs):
        shuffled = _shuffled(offices, at, rng)
        shuffled_runs.append(shuffled)
        s, r = _rows(offices, shuffled, scores, hits)
        rows = weekly_drift(s, r, weeks)
        null.update(_tally(rows) | {"psi_median": 0, "psi_p90": 0})
        for x in rows:
            if x.psi is not None:
                c = null_by_size.setdefault(_size(x.n), Counter())
                c["n"] += 1
                c["naive"] += x.psi > SIGNIFICANT
                c["shipped"] += "scores" in x.reasons
    report["null"] = {
        "runs": args.null_runs,
        "office_weeks_with_psi": null["office_weeks_with_psi"],
        "naive_false_alert_rate": null["naive_psi_alerts"] / max(1, null["office_weeks_with_psi"]),
        "score_false_alert_rate": null["score_alerts"] / max(1, null["office_weeks_with_psi"]),
        "office_weeks_with_rate_test": null["office_weeks_with_rate_test"],
        "hit_rate_false_alert_rate": null["hit_rate_alerts"] / max(1, null["office_weeks_with_rate_test"]),
        "by_size": {k: {"office_weeks": v["n"], "naive_false_alert_rate": v["naive"] / v["n"],
                        "shipped_false_alert_rate": v["shipped"] / v["n"]} for k, v in sorted(null_by_size.items())},
    }
    # power: one office-week turned riskier, in a shuffled history
    shuffled = shuffled_runs[0]
    wk = np.array([monday(t) for t in shuffled])
    s0, r0 = _rows(offices, shuffled, scores, hits)
    base = {(x.office_code, x.week): x for x in weekly_drift(s0, r0, weeks)}
    cases = [k for k, x in base.items() if x.psi is not None]
    picked = [cases[i] for i in rng.choice(len(cases), min(args.power_cases, len(cases)), replace=False)]
    caught: dict[tuple[str, str], Counter] = {}
    for office, week in picked:
        here = (offices == office) & (wk == week)
        idx = np.flatnonzero(here)
        rest = [s0[i] for i in np.flatnonzero(~here & (offices == office))]
        pool = scores[offices == office]
        upper = pool[pool >= np.median(pool)]
        for shift, share in SHIFTS.items():
            shifted = scores[idx].copy()
            swap = rng.random(len(idx)) < share
            shifted[swap] = rng.choice(upper, int(swap.sum()))
            row = next(x for x in weekly_drift(
                [ScoreRow(office, shuffled[i], float(v), 1) for i, v in zip(idx, shifted, strict=True)] + rest,
                [], [week]) if x.office_code == office)
            size = _size(len(idx))
            c = caught.setdefault((shift, size), Counter())
            c["cases"] += 1
            c["naive"] += bool(row.psi is not None and row.psi > SIGNIFICANT)
            c["shipped"] += "scores" in row.reasons
    report["power"] = {f"{shift}, {size} rows": {"cases": v["cases"], "naive_detected": v["naive"] / v["cases"],
                                                  "shipped_detected": v["shipped"] / v["cases"]}
                       for (shift, size), v in sorted(caught.items())}
    report["seconds_alerts"] = round(time.perf_counter() - t1, 1)
    if args.json:
        print(json.dumps(report, indent=2, default=str))
        return
    print(f"KCS: model trained {report['model_trained_on']}, scored {len(scores)} rows Jul 2020 - Mar 2021 "
          f"({fit_s:.0f} s); weekly rows of the largest offices: {report['office_sizes_per_week']}")
    n = report["null"]
    print(f"\nnull ({n['runs']} shuffles, {n['office_weeks_with_psi']} office-weeks with a PSI): false alerts "
          f"naive PSI>0.25 {n['naive_false_alert_rate']:.1%}, shipped {n['score_false_alert_rate']:.1%}; "
          f"hit-rate z-test {n['hit_rate_false_alert_rate']:.1%} of {n['office_weeks_with_rate_test']}")
    for size, v in n["by_size"].items():
        print(f"  {size:>7} rows that week: {v['office_weeks']:>5} office-weeks, false alerts naive "
              f"{v['naive_false_alert_rate']:.1%}, shipped {v['shipped_false_alert_rate']:.1%}")
    print("\npower (a share of one office-week's scores replaced by draws from the office's upper half):")
    for case, v in report["power"].items():
        print(f"  {case:>28}: {v['cases']:>3} cases, detected naive {v['naive_detected']:.0%}, "
              f"shipped {v['shipped_detected']:.0%}")
    real = report["real"]
    print(f"\nreal weeks: {real['office_weeks_with_psi']} office-weeks with a PSI (median {real['psi_median']:.3f}, "
          f"p90 {real['psi_p90']:.3f}); naive alerts {real['naive_psi_alerts']} {real['naive_alerts_by_office']}, "
          f"shipped score alerts {real['score_alerts']} {real['score_alerts_by_office']}, hit-rate alerts "
          f"{real['hit_rate_alerts']} {real['hit_rate_alerts_by_office']}")


if __name__ == "__main__":
    main()
