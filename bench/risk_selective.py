"""Selective labels on KCS (issue #17 part 3): learning from 10 % of history labelled by a selection policy.

The training file is replayed under a daily inspection budget of ``--labelled-share`` by each history
policy (every row's exact propensity recorded; only the inspected rows are labelled and only their
outcomes reach the history features):

* ``top``: first weeks at random, then a weekly retrained model's top scores plus 10 % exploration
  drawn at random from the rest;
* ``coverage`` (the default of ``selective_history``): the model's top scores among goods never
  inspected yet (one row per (HS6, value, net mass) group), the exploration drawn mostly (80 %) from
  other never-inspected goods, a group at random then one of its rows;
* ``repeats``: as ``coverage``, goods weighted by how often they were declared so far.

Then models of the same capacity (``RiskModel(calibrate=False)``, seed 0) score the test file with its
outcomes hidden, all in this run: ``full`` (every training label, the upper bound); per policy ``ipw``
(its labels, inverse-propensity weighted, clipped at 20, mean 1) and ``unweighted`` (same labels,
weight 1); ``uniform`` (the same number of labels drawn uniformly at random). Per policy also ``lookup``:
no model, each test row scored by its (HS6, value, net mass) group's IPW offence rate among the labelled
rows (the labelled base rate when the group has none), what exact repeats alone give; and ``ipw_lookup``:
that lookup where the goods have a labelled row, the ``ipw`` model elsewhere.

Printed: P@5 % and P@10 % overall and on novel goods (test rows whose (HS6, value, net mass) triple
is in no training row); per history its hit rate (offences found per inspection: the price of
coverage), its model picks' hit rate, distinct goods labelled, and the share of test offences whose
goods have a labelled training offence ("known repeat", a diagnosis that reads the test outcomes) and
the share of test rows whose goods have a labelled training row;
the base rates, seconds and load average.

``--split 2020`` replaces the files by train.csv cut in two: Jan-Sep 2020 -> Oct-Dec 2020 (a second
period, so the policy is not chosen on valid.csv alone).

    flock /tmp/sc-bench.lock .venv/bin/python bench/risk_selective.py [--split valid|2020] [--json]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl

from smartcustoms.risk.datasets.kcs import default_kcs_dir, read_kcs_files
from smartcustoms.risk.offence_model import RiskModel
from smartcustoms.risk.replay import POLICIES, selective_evaluation


def _p(r: dict[str, Any] | None, k: str) -> float:
    return float("nan") if r is None or r.get(k) is None else float(r[k])


def main() -> None:
    kcs = default_kcs_dir()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--split", choices=("valid", "2020"), default="valid",
                    help="valid: --train -> --test; 2020: train.csv Jan-Sep 2020 -> Oct-Dec 2020")
    ap.add_argument("--train", type=Path, default=kcs / "train.csv")
    ap.add_argument("--test", type=Path, default=kcs / "valid.csv")
    ap.add_argument("--labelled-share", type=float, default=0.10)
    ap.add_argument("--exploration", type=float, default=0.10)
    ap.add_argument("--policy", choices=POLICIES, action="append", help="history policies (default: both)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    load_before = os.getloadavg()
    t0 = time.perf_counter()
    if args.split == "2020":
        frame = read_kcs_files([args.train])
        cut = datetime(2020, 10, 1)
        train, test = frame.filter(pl.col("declared_at") < cut), frame.filter(pl.col("declared_at") >= cut)
        names = (f"{args.train.name} < 2020-10", f"{args.train.name} >= 2020-10")
    else:
        train, test = read_kcs_files([args.train]), read_kcs_files([args.test])
        names = (args.train.name, args.test.name)
    report = selective_evaluation(
        train, test, labelled_share=args.labelled_share, exploration=args.exploration,
        policies=tuple(args.policy or POLICIES), seed=args.seed,
        make_model=lambda: RiskModel(seed=args.seed, calibrate=False),
    )
    report.update(seconds=round(time.perf_counter() - t0, 1), load_before=load_before, load_after=os.getloadavg(),
                  train=names[0], test=names[1], n_train=train.height)
    if args.json:
        print(json.dumps(report))
        return
    print(f"train {names[0]} ({train.height:,} rows) -> test {names[1]}: {report['n_test']:,} rows, "
          f"{report['novel_n']:,} novel goods; outcomes hidden; labelled share {args.labelled_share:.0%}")
    for policy, res in report["policies"].items():
        h = res["history"]
        print(f"history {policy:9s}: {h['labelled']:,} labelled, {h['offences_found']:,} offences found "
              f"(hit rate {_p(h, 'hit_rate'):.3f}, model picks {_p(h, 'model_hit_rate'):.3f}), "
              f"{h['goods_labelled']:,} goods ({h['offending_goods_found']:,} offending), "
              f"known repeat {_p(h, 'known_repeat'):.3f}, test rows with labelled goods {_p(h, 'known_share'):.3f}, "
              f"min propensity {h['min_propensity']:.4f}, "
              f"{h['clipped']:,} clipped")
    u = report["uniform"]
    print(f"uniform         : hit rate {_p(u, 'hit_rate'):.3f}, known repeat {_p(u, 'known_repeat'):.3f}; "
          f"full labels known repeat {_p(report['full'], 'known_repeat'):.3f}")
    print(f"{'training':22s} {'P@5':>6s} {'P@10':>6s} {'novel P@5':>10s} {'novel P@10':>10s}")
    rows = [("full", report["full"])]
    rows += [(f"{pol} {w}", res[w]) for pol, res in report["policies"].items()
             for w in ("ipw", "unweighted", "lookup", "ipw_lookup")]
    rows.append(("uniform", u))
    for name, r in rows:
        nv = r["novel_precision_at"] or {"5": math.nan, "10": math.nan}
        p = r["precision_at"]
        print(f"{name:22s} {p['5']:6.3f} {p['10']:6.3f} {nv['5']:10.3f} {nv['10']:10.3f}")
    print(f"random {report['full']['random']:.3f}, novel random {_p(report['full'], 'novel_random'):.3f}; "
          f"{report['seconds']} s, load {load_before[0]:.1f} -> {report['load_after'][0]:.1f}")


if __name__ == "__main__":
    main()
