"""Calibrated probabilities: a strictly increasing map from a model's scores to offence frequencies.

A score of 0.9 should mean that nine in ten such declarations hold an offence, so that thresholds and
"released at 0.94" read as probabilities. :func:`fit_calibration` fits isotonic regression (pool adjacent
violators, weighted) on held-out scores and outcomes, then joins the centres of its blocks with straight
lines and mixes in a thousandth of the raw score, so the map is *strictly* increasing: calibration never
changes a ranking (ties stay ties, every other order is kept). Outside the fitted range it is flat but for
that thousandth.

The scores must be held out from the model's training (the last part of a time-ordered training window,
or out-of-fold): in-sample scores of a boosted model are over-confident and would calibrate nothing.

:func:`reliability` gives the reliability table (10 equal-width bins) and the expected calibration error
(ECE: the bin-weighted mean gap between mean predicted probability and observed frequency).

PAV is about twenty lines of NumPy; the project does not take scikit-learn (a large dependency) for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

CALIBRATION_FORMAT = "smartcustoms.risk.Calibration/1"
#: share of the raw score mixed into the isotonic map: makes it strictly increasing (ranking unchanged)
IDENTITY_SHARE = 1e-3


def _pav(y: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pool adjacent violators over ``y`` (already in score order) with weights ``w``:
    (block values, block weights, block end indices (exclusive)), block values strictly increasing."""
    values: list[float] = []
    weights: list[float] = []
    ends: list[int] = []
    for i, (yi, wi) in enumerate(zip(y.tolist(), w.tolist(), strict=True)):
        values.append(yi)
        weights.append(wi)
        ends.append(i + 1)
        while len(values) > 1 and values[-2] >= values[-1]:
            w2 = weights[-2] + weights[-1]
            v2 = (values[-2] * weights[-2] + values[-1] * weights[-1]) / w2 if w2 > 0 else values[-1]
            values[-2:] = [v2]
            weights[-2:] = [w2]
            ends[-2:] = [ends[-1]]
    return np.array(values), np.array(weights), np.array(ends)


@dataclass(frozen=True)
class Calibration:
    """A strictly increasing piecewise-linear map (``knots_x`` -> ``knots_y``) blended with the identity."""

    knots_x: tuple[float, ...]
    knots_y: tuple[float, ...]
    n: int = 0                     # rows it was fitted on
    scheme: str = ""               # how those rows were held out, in words

    def __call__(self, scores: np.ndarray) -> np.ndarray:
        """Calibrated probabilities of ``scores`` (same shape), in [0, 1]."""
        s = np.asarray(scores, dtype=np.float64)
        mapped = np.interp(s, self.knots_x, self.knots_y)
        return np.clip((1.0 - IDENTITY_SHARE) * mapped + IDENTITY_SHARE * s, 0.0, 1.0)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (for a model blob)."""
        return {"format": CALIBRATION_FORMAT, "knots_x": list(self.knots_x), "knots_y": list(self.knots_y),
                "n": self.n, "scheme": self.scheme}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Calibration:
        """The map :meth:`to_dict` wrote."""
        if d.get("format") != CALIBRATION_FORMAT:
            raise ValueError(f"not a {CALIBRATION_FORMAT} calibration")
        return cls(tuple(map(float, d["knots_x"])), tuple(map(float, d["knots_y"])), int(d.get("n", 0)),
                   str(d.get("scheme", "")))


def fit_calibration(scores: np.ndarray, labels: np.ndarray, weights: np.ndarray | None = None, *,
                    scheme: str = "") -> Calibration:
    """Fit the map on held-out ``scores`` and 0/1 ``labels`` (optionally weighted, e.g. inverse propensity)."""
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    w = np.ones_like(s) if weights is None else np.asarray(weights, dtype=np.float64)
    if not (len(s) == len(y) == len(w)):
        raise ValueError("scores, labels and weights differ in length")
    keep = np.isfinite(s) & np.isfinite(y) & (w > 0)
    s, y, w = s[keep], y[keep], w[keep]
    if not len(s):
        raise ValueError("no scored, labelled rows to calibrate on")
    order = np.argsort(s, kind="stable")
    s, y, w = s[order], y[order], w[order]
    # equal scores form one point first (their order must not matter)
    uniq, first = np.unique(s, return_index=True)
    sw = np.add.reduceat(w, first)
    sy = np.add.reduceat(w * y, first) / sw
    values, bw, ends = _pav(sy, sw)
    starts = np.concatenate([[0], ends[:-1]])
    centres = np.array([np.average(uniq[a:b], weights=sw[a:b]) for a, b in zip(starts, ends, strict=True)])
    return Calibration(tuple(centres.tolist()), tuple(values.tolist()), int(len(s)), scheme)


@dataclass(frozen=True)
class Reliability:
    """A reliability table: per bin of predicted probability, rows, mean prediction, observed frequency."""

    edges: tuple[float, ...]
    rows: tuple[int, ...]
    predicted: tuple[float | None, ...]
    observed: tuple[float | None, ...]
    ece: float

    def table(self) -> list[dict[str, Any]]:
        """The bins as dicts (for JSON)."""
        return [{"bin": f"{self.edges[i]:.1f}-{self.edges[i + 1]:.1f}", "rows": self.rows[i],
                 "predicted": self.predicted[i], "observed": self.observed[i]} for i in range(len(self.rows))]


def reliability(probabilities: np.ndarray, labels: np.ndarray, bins: int = 10) -> Reliability:
    """Reliability table over ``bins`` equal-width bins of [0, 1] and the expected calibration error."""
    p = np.clip(np.asarray(probabilities, dtype=np.float64), 0.0, 1.0)
    y = np.asarray(labels, dtype=np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    idx = np.minimum((p * bins).astype(np.int64), bins - 1)
    rows: list[int] = []
    predicted: list[float | None] = []
    observed: list[float | None] = []
    ece = 0.0
    for b in range(bins):
        m = idx == b
        n = int(m.sum())
        rows.append(n)
        if n:
            mp, my = float(p[m].mean()), float(y[m].mean())
            predicted.append(mp)
            observed.append(my)
            ece += n * abs(mp - my)
        else:
            predicted.append(None)
            observed.append(None)
    return Reliability(tuple(edges.tolist()), tuple(rows), tuple(predicted), tuple(observed),
                       ece / len(p) if len(p) else 0.0)


__all__ = ["Calibration", "Reliability", "fit_calibration", "reliability"]
