"""Paired comparison of two image model files on the same held-out SYNTHETIC scans (issue #20).

    python bench/images_compare.py --seed 2 --new /tmp/m.onnx            # against the shipped model
    python bench/images_compare.py --seed 4 --old a.onnx --new b.onnx --n 1000

Both models score the generator's arrays (no DICOS file, nothing timed) of ``simulate.scans.dataset(n, seed)`` as
the images service routes them (flagged when the score is at or above the threshold **or** the physics check finds
the scan inconsistent). Prints one JSON object: each model's recall at 5 % false alarms (threshold swept on these
scans) with its bootstrap SE, recall by concealment kind at that point, and the paired bootstrap of the difference
(the same resampled scans for both models, the threshold swept again in each resample). Seeds 1 and 3 are the
training and validation seeds and are refused.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.images import TRAINING_SEEDS, recall_at  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=2)
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--old", type=Path, default=None, help="model file (default: the shipped one)")
    ap.add_argument("--new", type=Path, required=True)
    ap.add_argument("--rounds", type=int, default=1000)
    args = ap.parse_args()
    if args.seed in TRAINING_SEEDS:
        ap.error(f"--seed: {args.seed} is a training seed ({TRAINING_SEEDS})")

    from smartcustoms.inspection.images.model import OnnxImageModel
    from smartcustoms.simulate.scans import CONCEALMENTS, dataset

    models = {"old": OnnxImageModel.load(args.old), "new": OnnxImageModel.load(args.new)}
    routed: dict[str, list[float]] = {k: [] for k in models}
    labels, kinds = [], []
    for scan in dataset(args.n, seed=args.seed, concealed_share=0.5):
        labels.append(scan.label)
        kinds.append(scan.concealment or "clean")
        for key, model in models.items():
            a = model.assess(scan.image, scan.goods)
            routed[key].append(a.anomaly_score if a.consistent else 1.0)
    y, k = np.array(labels), np.array(kinds)
    scores = {key: np.array(v) for key, v in routed.items()}
    out: dict = {"data": f"SYNTHETIC dataset(n={args.n}, seed={args.seed}), generator arrays",
                 "n_clean": int((y == 0).sum()), "n_concealed": int(y.sum())}
    for key, model in models.items():
        recall, thr = recall_at(scores[key], y)
        out[key] = {"model_version": model.model_version, "recall_at_5pct": round(recall, 4),
                    "recall_by_concealment": {c: round(float((scores[key][k == c] >= thr).mean()), 4)
                                              for c in CONCEALMENTS if (k == c).any()}}
    rng = np.random.default_rng(0)
    neg, pos = np.flatnonzero(y == 0), np.flatnonzero(y == 1)
    draws = {"old": [], "new": [], "diff": []}
    for _ in range(args.rounds):
        idx = np.concatenate([rng.choice(neg, neg.size), rng.choice(pos, pos.size)])
        old, new = recall_at(scores["old"][idx], y[idx])[0], recall_at(scores["new"][idx], y[idx])[0]
        draws["old"].append(old)
        draws["new"].append(new)
        draws["diff"].append(new - old)
    out["old"]["se"] = round(float(np.std(draws["old"])), 4)
    out["new"]["se"] = round(float(np.std(draws["new"])), 4)
    out["difference"] = {"new_minus_old": round(out["new"]["recall_at_5pct"] - out["old"]["recall_at_5pct"], 4),
                         "paired_se": round(float(np.std(draws["diff"])), 4)}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
