"""Known goods (B3, issue #17): rows whose exact triple has inspections scored by its found-offence rate.

Per split (train.csv Jan-Sep 2020 -> Oct-Dec 2020, and train.csv -> valid.csv, as ``bench/risk_novel.py``):
the training file is replayed once under a 10 % labelled budget (coverage policy, inverse-propensity
weights; ``replay.selective_history``), then, on that one history:

* **offline** (test outcomes hidden): one IPW-weighted ``RiskModel`` scores the test rows point-in-time;
  the same fitted model with the known-goods blend off, with prior 0.1 / 1 / 5 (``(offences + prior * p) /
  (inspections + prior)``), and "rate, then model" (the plain rate, the model only breaking ties);
* **replay** (``replay.simulate`` with ``history=``): week by week, 10 % budget with 10 % exploration, the
  inspected test outcomes fed back a week later, weekly retraining; B3 off vs on (and, with
  ``--coverage``, B3 on with coverage-seeking test inspections).

Printed: P@5 / P@10 overall and on novel goods (test triple in no training row), per week P@5 / P@10 /
novel P@10 / hit rate / known share, seconds. Test outcomes are read only for the figures and, in the
replay, for rows the replay inspected, a week after lodging.

    nice -n 10 .venv/bin/python bench/risk_known_goods.py [--split 2020|valid|both] [--coverage] [--json]

(no bench lock: the figures are precisions, not timings; about 10-15 min a split on the shared machine)
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from smartcustoms.risk.datasets.kcs import default_kcs_dir
from smartcustoms.risk.evaluate import hide_labels, metrics_at, novel_goods
from smartcustoms.risk.features.state import build_features
from smartcustoms.risk.offence_model import RiskModel
from smartcustoms.risk.replay import selective_history, simulate

sys.path.insert(0, str(Path(__file__).parent))
from risk_novel import splits  # noqa: E402

PRIORS = (0.1, 1.0, 5.0)


def _at(scores: np.ndarray, y: np.ndarray, novel: np.ndarray) -> dict[str, Any]:
    allp = metrics_at(scores, y, ks=(5, 10))["precision_at"]
    nov = metrics_at(scores[novel], y[novel], ks=(5, 10))["precision_at"]
    return {"p5": allp["5"], "p10": allp["10"], "novel_p5": nov["5"], "novel_p10": nov["10"]}


def run_split(name: str, train: Any, test: Any, seed: int, coverage: bool, say: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"split": name, "n_test": test.height}
    y = test["offence"].fill_null(0).to_numpy().astype(np.float64)
    novel = novel_goods(train, test)
    out["novel_n"] = int(novel.sum())
    t0 = time.perf_counter()
    say(f"{name}: labelled history (10 %, coverage)")
    hist = selective_history(train, labelled_share=0.10, seed=seed,
                             make_model=lambda: RiskModel(seed=seed, known_goods=False))
    out["history"] = hist.summary()
    out["seconds_history"] = round(time.perf_counter() - t0, 1)

    say(f"{name}: offline, one IPW model")
    model = RiskModel(seed=seed).fit(hist.features.filter(hist.inspected), hist.labels[hist.inspected],
                                     weights=hist.weights(True)[hist.inspected])
    test_f = build_features(hide_labels(test), copy.deepcopy(hist.state))[0]
    offline: dict[str, Any] = {}
    model.known_goods = False
    p = model.predict_proba(test_f)
    offline["b3_off"] = _at(p, y, novel)
    model.known_goods = True
    for prior in PRIORS:
        model.known_goods_prior = prior
        offline[f"b3_prior_{prior:g}"] = _at(model.predict_proba(test_f), y, novel)
    insp = test_f["hs6_value_mass_inspections"].fill_null(0).to_numpy()
    offs = test_f["hs6_value_mass_offences"].fill_null(0).to_numpy()
    rate = np.where(insp > 0, offs / np.maximum(insp, 1), np.nan)
    # the plain rate first (known goods above the novel ones at equal rate), the model breaking ties
    lex = np.where(insp > 0, rate + 1e-3 * p, p)
    offline["rate_then_model"] = _at(lex, y, novel)
    offline["known_share"] = float((insp > 0).mean())
    out["offline"] = offline

    variants = [("b3_off", False, "top"), ("b3_on", True, "top")]
    if coverage:
        variants.append(("b3_on_coverage", True, "coverage"))
    out["replay"] = {}
    for label, b3, test_policy in variants:
        t0 = time.perf_counter()
        say(f"{name}: replay {label}")
        rep = simulate(train, test, labelled_share=0.10, seed=seed, history=hist, test_policy=test_policy,  # type: ignore[arg-type]
                       make_model=lambda b3=b3: RiskModel(seed=seed, known_goods=b3))
        o = rep.overall
        out["replay"][label] = {
            "p5": o["precision_at"]["5"], "p10": o["precision_at"]["10"],
            "novel_p5": (o["novel_precision_at"] or {}).get("5"),
            "novel_p10": (o["novel_precision_at"] or {}).get("10"),
            "hit_rate": o["hit_rate"], "novel_hit_rate": o["novel_hit_rate"], "known_share": o["known_share"],
            "known_from_test_share": o["known_from_test_share"], "duty_recovered": o["duty_recovered"],
            "weeks": [{k: w[k] for k in ("week", "precision_at_5", "precision_at_10", "novel_precision_at_10",
                                        "hit_rate", "known_share")} for w in rep.weeks],
            "seconds": round(time.perf_counter() - t0, 1),
        }
    return out


def _f(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"


def main() -> None:
    kcs = default_kcs_dir()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train", type=Path, default=kcs / "train.csv")
    ap.add_argument("--test", type=Path, default=kcs / "valid.csv")
    ap.add_argument("--split", choices=("2020", "valid", "both"), default="both")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--coverage", action="store_true", help="also replay B3 on with coverage-seeking inspections")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    def say(msg: str) -> None:
        print(f"  [{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)

    results = []
    for name, (train, test) in splits(args.train, args.test).items():
        if args.split != "both" and ("2020 ->" in name) != (args.split == "2020"):
            continue
        results.append(run_split(name, train, test, args.seed, args.coverage, say))
    load = os.getloadavg()[0]
    if args.json:
        print(json.dumps({"seed": args.seed, "load": load, "splits": results}))
        return
    for r in results:
        print(f"\n== {r['split']}: {r['n_test']:,} test rows, {r['novel_n']:,} novel; history "
              f"{r['history']['labelled']:,} labelled ({r['seconds_history']} s)")
        print(f"offline (one IPW model, outcomes hidden; known share {r['offline']['known_share']:.3f}):")
        for k, v in r["offline"].items():
            if isinstance(v, dict):
                print(f"  {k:18} P@5 {_f(v['p5'])} P@10 {_f(v['p10'])} novel P@5 {_f(v['novel_p5'])} "
                      f"P@10 {_f(v['novel_p10'])}")
        for k, v in r["replay"].items():
            print(f"replay {k} ({v['seconds']} s): P@5 {_f(v['p5'])} P@10 {_f(v['p10'])} novel P@5 "
                  f"{_f(v['novel_p5'])} P@10 {_f(v['novel_p10'])} hit rate {_f(v['hit_rate'])} known "
                  f"{v['known_share']:.3f} ({v['known_from_test_share']:.3f} from test)")
            for w in v["weeks"]:
                print(f"   week {w['week']:2}: P@5 {_f(w['precision_at_5'])} P@10 {_f(w['precision_at_10'])} novel "
                      f"P@10 {_f(w['novel_precision_at_10'])} hit {_f(w['hit_rate'])} known {w['known_share']:.3f}")
    print(f"load average {load:.1f}")


if __name__ == "__main__":
    main()
