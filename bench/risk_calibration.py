"""Reliability of the offence model's probabilities, KCS train -> valid, before and after calibration.

    flock /tmp/sc-bench.lock .venv/bin/python bench/risk_calibration.py [--train FILE] [--test FILE] [--json]

The model (``RiskModel``, default settings) trains on the training file; its calibration map is fitted out
of time on the last 20 % of the training rows (a twin booster trained on the first 80 % scores them; see
``RiskModel._fit_calibration``). The test file is scored with its outcomes hidden (history frozen at the end
of training, ``evaluate.hide_labels``). Printed for the test file:

* raw: the booster's probabilities; calibrated: the same after the isotonic map (what ``predict_proba`` gives);
* platt: a baseline of equal footing, Platt scaling (logistic regression on the raw score's logit) fitted on
  the very same held-out scores;
* per variant, the expected calibration error (ECE, 10 equal-width bins), the 10-bin reliability table,
  the mean predicted probability against the observed offence rate, and precision at 10 % (unchanged by a
  monotone map: a check that the ranking is untouched).

Calibration is fitted on 2020 rows and judged on later ones: the offence rate drifts between them, and with
test outcomes hidden the history features age, so the calibrated error is not zero. The figures say by how much.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from smartcustoms.risk.calibration import reliability
from smartcustoms.risk.datasets.kcs import default_kcs_dir, read_kcs
from smartcustoms.risk.evaluate import hide_labels, history_features, metrics_at, window
from smartcustoms.risk.offence_model import CALIBRATION_SHARE, RiskModel, score_batch


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def platt(scores: np.ndarray, labels: np.ndarray, iterations: int = 50) -> tuple[float, float]:
    """Logistic regression of the labels on the scores' logit (Newton steps): (slope, intercept)."""
    x = _logit(scores)
    a, b = 1.0, 0.0
    for _ in range(iterations):
        p = 1 / (1 + np.exp(-(a * x + b)))
        g = np.array([np.sum((p - labels) * x), np.sum(p - labels)])
        w = p * (1 - p) + 1e-12
        h = np.array([[np.sum(w * x * x), np.sum(w * x)], [np.sum(w * x), np.sum(w)]])
        step = np.linalg.solve(h + 1e-9 * np.eye(2), g)
        a, b = a - step[0], b - step[1]
        if np.abs(step).max() < 1e-10:
            break
    return float(a), float(b)


def main() -> None:
    kcs = default_kcs_dir()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train", type=Path, default=kcs / "train.csv")
    ap.add_argument("--test", type=Path, default=kcs / "valid.csv")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if not args.train.exists() or not args.test.exists():
        sys.exit(f"KCS data not found at {args.train.parent} (set SMARTCUSTOMS_KCS_DIR)")

    t0 = time.perf_counter()
    train, test = read_kcs(args.train), read_kcs(args.test)
    train_f, _, state = history_features(train)
    labelled = train["offence"].is_not_null().to_numpy()
    y_train = train["offence"].to_numpy()[labelled].astype(np.float64)
    x_train = train_f.filter(labelled)
    model = RiskModel().fit(x_train, y_train, training_window=window(train))
    assert model.calibration is not None, "too few training rows to calibrate"
    test_f, calibrated, _ = score_batch(hide_labels(test), model, state)
    raw = np.asarray(model.booster.predict(model.matrix(test_f)))
    y = test["offence"].fill_null(0).to_numpy().astype(np.float64)

    # the Platt baseline sees the same held-out scores as the isotonic map: the twin's, on the last 20 %
    cut = int(len(y_train) * (1 - CALIBRATION_SHARE))
    twin = RiskModel(calibrate=False).fit(x_train[:cut], y_train[:cut])
    a, b = platt(np.asarray(twin.booster.predict(twin.matrix(x_train[cut:]))), y_train[cut:])
    platt_p = 1 / (1 + np.exp(-(a * _logit(raw) + b)))
    seconds = time.perf_counter() - t0

    duty = test_f["duty_at_stake"].to_numpy()
    variants = {"raw": raw, "calibrated": calibrated, "platt": platt_p}
    report: dict = {
        "train": str(args.train.name), "test": str(args.test.name), "test_outcomes": "hidden",
        "n_train": int(len(y_train)), "n_calibration": model.calibration.n,
        "calibration_scheme": model.calibration.scheme, "n_test": int(len(y)),
        "train_offence_rate": float(y_train.mean()), "calibration_offence_rate": float(y_train[cut:].mean()),
        "test_offence_rate": float(y.mean()), "platt": {"slope": a, "intercept": b}, "seconds": round(seconds, 1),
        "variants": {},
    }
    for name, p in variants.items():
        rel = reliability(p, y)
        report["variants"][name] = {
            "ece": rel.ece, "mean_predicted": float(p.mean()),
            "precision_at_10": metrics_at(p, y, duty)["precision_at"]["10"], "reliability": rel.table(),
        }
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"KCS {report['train']} -> {report['test']} (test outcomes hidden), {seconds:.0f} s")
    print(f"offence rate: train {report['train_offence_rate']:.3f}, calibration hold-out "
          f"{report['calibration_offence_rate']:.3f}, test {report['test_offence_rate']:.3f}")
    for name, v in report["variants"].items():
        print(f"\n{name}: ECE {v['ece']:.4f}  mean predicted {v['mean_predicted']:.3f}  "
              f"P@10 {v['precision_at_10']:.3f}")
        for row in v["reliability"]:
            pred = "-" if row["predicted"] is None else f"{row['predicted']:.3f}"
            obs = "-" if row["observed"] is None else f"{row['observed']:.3f}"
            print(f"  {row['bin']:>8}  rows {row['rows']:>6}  predicted {pred:>6}  observed {obs:>6}")


if __name__ == "__main__":
    main()
