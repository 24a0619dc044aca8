"""KCS, two time splits, every contender, on all test declarations and on the novel goods (issue #17).

Splits: train.csv Jan-Sep 2020 -> Oct-Dec 2020 (train.csv alone), and train.csv -> valid.csv (2021 Q1).
Contenders (``smartcustoms.risk.evaluate.compare``): our model; our model without the exact-match
families (HS6 x value, HS6 x mass, value); a plain LightGBM of 400 rounds and 63 leaves over the raw
columns; random. Each ranked by offence probability and by expected duty at stake. Test outcomes
stay hidden (the default). "Novel goods": test declarations whose (HS6, item price, net mass) appears
in no training row; on KCS most test rows repeat a training triple with the same label, so the overall
figures are inflated by memorised repeats and the novel subset is the figure that matters.
The "mean of splits" table is the plain mean of the two splits' figures (P@k is not pooled: the
splits' models differ).

    flock /tmp/sc-bench.lock .venv/bin/python bench/risk_novel.py [--train FILE] [--test FILE] [--seed 0] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl

from smartcustoms.risk.datasets.kcs import default_kcs_dir, read_kcs
from smartcustoms.risk.evaluate import compare, comparison_rows, figure_text, format_table, mean_of_splits

INSIDE_2020_CUT = datetime(2020, 10, 1)


def splits(train_csv: Path, test_csv: Path) -> dict[str, tuple[pl.DataFrame, pl.DataFrame]]:
    """The two train -> test splits, by name."""
    year = read_kcs(train_csv)
    early = year.filter(pl.col("declared_at") < INSIDE_2020_CUT)
    late = year.filter(pl.col("declared_at") >= INSIDE_2020_CUT)
    return {
        f"{train_csv.name} Jan-Sep 2020 -> Oct-Dec 2020": (early, late),
        f"{train_csv.name} -> {test_csv.name}": (year, read_kcs(test_csv)),
    }


def print_report(name: str, report: dict[str, Any], seconds: float | None = None) -> None:
    if "novel_goods" in report:
        nov = report["novel_goods"]
        print(
            f"\n== {name}: {report['n_test']:,} test declarations, random {report['random']:.3f}; novel goods "
            f"{nov['n']:,} ({nov['share']:.1%}), random {figure_text(nov['random'])}"
            + (f"; {seconds:.0f} s" if seconds is not None else "")
        )
    else:
        print(f"\n== {name}: {report['note']}; novel share {report['novel_share']:.1%}")
    print(format_table(*comparison_rows(report["contenders"])))


def main() -> None:
    kcs = default_kcs_dir()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train", type=Path, default=kcs / "train.csv", help="KCS training file (2020)")
    ap.add_argument("--test", type=Path, default=kcs / "valid.csv", help="KCS test file (2021 Q1)")
    ap.add_argument("--seed", type=int, default=0, help="seed of both models and the plain LightGBM")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of the tables")
    args = ap.parse_args()
    if not args.train.exists() or not args.test.exists():
        sys.exit(f"KCS data not found at {args.train.parent} (set SMARTCUSTOMS_KCS_DIR)")

    reports: dict[str, dict[str, Any]] = {}
    seconds: dict[str, float] = {}
    for name, (train, test) in splits(args.train, args.test).items():
        t0 = time.perf_counter()
        reports[name] = compare(train, test, seed=args.seed, progress=lambda m: print(f"  {m}", file=sys.stderr)).report
        seconds[name] = round(time.perf_counter() - t0, 1)
        print(f"{name}: {seconds[name]} s", file=sys.stderr)
    mean = mean_of_splits(list(reports.values()))
    if args.json:
        print(json.dumps({"splits": reports, "mean_of_splits": mean, "seconds": seconds, "seed": args.seed}))
        return
    print(
        "rank by: prob = offence probability, duty = expected duty at stake; duty = share of the duty at stake "
        "on offences caught in the top k%; AUC and novel AUC on each group's first row"
    )
    for name, report in reports.items():
        print_report(name, report, seconds[name])
    print_report("mean of the two splits", mean)


if __name__ == "__main__":
    main()
