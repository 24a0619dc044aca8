"""Inverse-propensity weights: learning from inspected declarations only (selective labels).

The selectivity holds a declaration with a known probability (1 for mandatory rules and the model's
top share; the rule sampling and exploration draws otherwise, see
:mod:`smartcustoms.risk.targeting.selectivity`). Only held declarations are inspected, so the labelled
rows are a biased sample of the traffic: mostly high scores. Weighting each inspected declaration by
``1 / selection_probability`` makes the labelled sample stand for all the traffic it was drawn from
(an explored declaration held with probability 0.01 stands for about 100 released ones like it).

A declaration never inspected contributes nothing: it is not a negative (not "clean"), its outcome
is unknown.

Weights are clipped at :data:`MAX_WEIGHT`: with a 10 % budget and 10 % of it explored, an explored
declaration's probability is about 0.011 (weight ~90); a handful of such rows would dominate a
small training set and make the model's variance explode. The clip (at 20, i.e. probabilities below
0.05 count as 0.05) trades a little bias for much lower variance, the usual truncated-IPW compromise.

For training, :func:`self_normalised` scales the weights to average 1 over the inspected rows
(self-normalised IPW): only their ratios matter for the estimate, while LightGBM's regularisation
(L2 on leaf values, minimum hessian per leaf) is not scale-free. Unscaled weights of ~10 (every
inspection drawn at a 10 % rate) loosened it tenfold and overfitted small training sets in the tests.
"""

from __future__ import annotations

import numpy as np

#: The largest weight an inspected declaration gets (probabilities below 1 / MAX_WEIGHT are clipped).
MAX_WEIGHT = 20.0


def ipw_weights(probabilities: np.ndarray, inspected: np.ndarray, max_weight: float = MAX_WEIGHT) -> np.ndarray:
    """Per row: ``min(1 / p, max_weight)`` when inspected, 0 when not (an unknown outcome contributes nothing).

    ``probabilities`` are the selection probabilities recorded when each row was decided; an inspected
    row must have one in (0, 1] (exploration keeps it above zero), else ValueError. Rows not inspected
    may have any probability (or NaN).
    """
    p = np.asarray(probabilities, dtype=np.float64)
    held = np.asarray(inspected, dtype=bool)
    if p.shape != held.shape:
        raise ValueError("probabilities and inspected differ in shape")
    if max_weight < 1:
        raise ValueError("max_weight must be at least 1")
    q = p[held]
    if np.isnan(q).any() or (q <= 0).any() or (q > 1).any():
        raise ValueError("every inspected row needs a selection probability in (0, 1]")
    weights = np.zeros(p.shape, dtype=np.float64)
    weights[held] = np.minimum(1.0 / q, max_weight)
    return weights


def self_normalised(weights: np.ndarray) -> np.ndarray:
    """:func:`ipw_weights` scaled to average 1 over the rows with a weight (zeros stay zero)."""
    w = np.asarray(weights, dtype=np.float64)
    used = w > 0
    return w / w[used].mean() if used.any() else w.copy()
