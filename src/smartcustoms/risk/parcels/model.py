"""The trained parcel model: LightGBM over the parcel features, learnt from officers' inspection results.

Inputs are the eight :class:`~smartcustoms.risk.parcels.scoring.ParcelFeatures` and the indicator score
(:func:`~smartcustoms.risk.parcels.scoring.indicator_scores`); the output is the probability that an
inspection of the parcel finds an offence, calibrated out of time (:mod:`smartcustoms.risk.calibration`)
when there are enough results. The indicators stay the parcel's reasons in words: the model only ranks.

Selective labels (the rule of declarations, issue #17): only parcels an officer inspected have an outcome,
and the selectivity chose them, so each result is weighted by the inverse of the probability the parcel had
of being held (:func:`parcel_weights`); a parcel never inspected contributes nothing (it is not "clean").

The model lives in the risk model registry (``risk_model_versions``, ``kind = 'parcel'``): trained,
compared, promoted and rolled back like the declaration model (:mod:`smartcustoms.risk.targeting.service`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

import lightgbm as lgb
import numpy as np

from smartcustoms.risk.calibration import Calibration, fit_calibration
from smartcustoms.risk.parcels.scoring import (
    CLEAN_STATUSES,
    HIT_STATUSES,
    RELEASE,
    ParcelFeatures,
    feature_matrix,
    matrix_scores,
)
from smartcustoms.risk.propensity import MAX_WEIGHT, ipw_weights
from smartcustoms.risk.targeting.policy import SelectivityConfig

PARCEL_MODEL_FORMAT = "smartcustoms.risk.ParcelModel/1"
PARCEL_INPUTS: tuple[str, ...] = (*ParcelFeatures._fields, "indicator_score")
PARCEL_PARAMS: dict[str, Any] = {
    "objective": "binary",
    "learning_rate": 0.05,
    "num_leaves": 15,
    "min_data_in_leaf": 20,
    "lambda_l2": 1.0,
    "num_threads": 1,
    "deterministic": True,
    "force_row_wise": True,
    "verbose": -1,
}
PARCEL_ROUNDS = 120
CALIBRATION_SHARE = 0.2
CALIBRATION_MIN_ROWS = 300


class ParcelResult(NamedTuple):
    """A decided parcel as training data: its features then, the officer's result, its selection probability."""

    features: ParcelFeatures
    offence: bool | None                  # offence found; False: nothing found; None: never inspected
    selection_probability: float | None   # P(held for inspection) when it was decided; None: not recorded
    decided_at: datetime | None = None


def outcome_of(status: int | None) -> bool | None:
    """An officer's CEB status as a result: True an offence found, False nothing found, None no result."""
    if status in HIT_STATUSES:
        return True
    if status in CLEAN_STATUSES:
        return False
    return None


def selection_probability_of(status: int, reasons: Sequence[str], config: SelectivityConfig,
                             rule_rates: Mapping[str, float] | None = None) -> float | None:
    """The probability a decided parcel had of being held, from the selection's status and reasons (the
    words :class:`~smartcustoms.risk.parcels.selectivity.ParcelRiskEngine` writes, in its order of mechanisms):
    a mandatory rule or the score's top share: 1; rules sampling it: ``1 - prod(1 - target rate)`` over the
    rules named (``rule_rates``, by rule name); random control: the exploration draw's probability at the
    configured budget (an office's own budget and the credit-grade factor are not in the reasons: an
    approximation). None for a release or reasons it cannot read.
    """
    if status == RELEASE or not reasons:
        return None
    first = reasons[0]
    if first.startswith("mandatory hold"):
        return 1.0
    if first.startswith(("risk score ", "offence probability ")):
        return 1.0
    if first.startswith("chosen at random for control"):
        budget = min(0.9, config.budget)
        explore = budget * config.exploration
        return explore / max(1e-9, 1 - (budget - explore))
    rates = rule_rates or {}
    named = [r.split("'")[1] for r in reasons if r.startswith("rule '") and r.count("'") >= 2]
    if named and all(n in rates for n in named):
        return 1.0 - float(np.prod([1.0 - rates[n] for n in named]))
    return None


def parcel_weights(probabilities: Sequence[float | None] | np.ndarray, inspected: Sequence[bool] | np.ndarray,
                   max_weight: float = MAX_WEIGHT) -> np.ndarray:
    """Training weight per parcel, the declarations' rule (:func:`~smartcustoms.risk.propensity.ipw_weights`):
    ``min(1 / selection probability, max_weight)`` for an inspected parcel, 0 for a parcel never inspected.
    A result whose probability was not recorded counts with probability 1 (weight 1), as every result did
    before probabilities were recorded."""
    p = np.array([np.nan if v is None else v for v in probabilities], dtype=np.float64)
    return ipw_weights(np.where(np.isnan(p), 1.0, p), np.asarray(inspected, dtype=bool), max_weight)


def parcel_matrix(features: Sequence[ParcelFeatures]) -> np.ndarray:
    """The model's inputs: the features (a column each) and the indicator score."""
    m = feature_matrix(features)
    return np.column_stack([m, matrix_scores(m)])


@dataclass
class ParcelModel:
    """Seeded LightGBM over :data:`PARCEL_INPUTS`; ``predict`` scores a batch at once."""

    params: dict[str, Any] = field(default_factory=lambda: dict(PARCEL_PARAMS))
    num_boost_round: int = PARCEL_ROUNDS
    seed: int = 0
    booster: lgb.Booster | None = None
    calibration: Calibration | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def fit(self, results: Sequence[ParcelResult]) -> ParcelModel:
        """Train on the inspected parcels of ``results`` (time-ordered), weighted by :func:`parcel_weights`."""
        inspected = np.array([r.offence is not None for r in results], dtype=bool)
        w_all = parcel_weights([r.selection_probability for r in results], inspected)
        rows = [r for r, seen in zip(results, inspected, strict=True) if seen]
        if not rows:
            raise ValueError("no inspected parcels to train on")
        x = parcel_matrix([r.features for r in rows])
        y = np.array([float(bool(r.offence)) for r in rows])
        w = w_all[inspected]
        params = {**self.params, "seed": self.seed}
        self.booster = self._train(params, x, y, w)
        self.calibration = None
        cut = int(len(y) * (1 - CALIBRATION_SHARE))
        if len(y) - cut >= CALIBRATION_MIN_ROWS and y[cut:].sum() >= 10 and y[:cut].sum() >= 10:
            twin = self._train(params, x[:cut], y[:cut], w[:cut])
            self.calibration = fit_calibration(np.asarray(twin.predict(x[cut:])), y[cut:], w[cut:],
                                               scheme=f"out of time: last {CALIBRATION_SHARE:.0%} of the results")
        times = [r.decided_at for r in rows if r.decided_at is not None]
        self.metadata = {
            "format": PARCEL_MODEL_FORMAT,
            "inputs": list(PARCEL_INPUTS),
            "n_results": len(results),
            "n_train": int(len(y)),
            "n_uninspected_ignored": int((~inspected).sum()),
            "train_offence_rate": float(y.mean()),
            "weighted_offence_rate": float(np.average(y, weights=w)),
            "max_weight": MAX_WEIGHT,
            "training_window": [str(min(times)), str(max(times))] if times else None,
            "calibrated": self.calibration is not None,
            "seed": self.seed,
            "num_boost_round": self.num_boost_round,
            "lightgbm_version": lgb.__version__,
        }
        return self

    def _train(self, params: dict[str, Any], x: np.ndarray, y: np.ndarray, w: np.ndarray) -> lgb.Booster:
        data = lgb.Dataset(x, y, weight=w, feature_name=list(PARCEL_INPUTS), free_raw_data=True,
                           params={"verbose": -1})
        return lgb.train(params, data, num_boost_round=self.num_boost_round)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Offence probability per row of :func:`parcel_matrix` (one booster call for the batch)."""
        if self.booster is None:
            raise RuntimeError("ParcelModel is not fitted")
        p = np.asarray(self.booster.predict(x, num_threads=1))
        return p if self.calibration is None else self.calibration(p)

    def predict_features(self, features: Sequence[ParcelFeatures]) -> np.ndarray:
        """:meth:`predict` of parcels' features."""
        return self.predict(parcel_matrix(features))

    def to_bytes(self) -> bytes:
        """Booster, calibration and metadata as a JSON envelope (UTF-8)."""
        if self.booster is None:
            raise RuntimeError("ParcelModel is not fitted")
        return json.dumps({
            "format": PARCEL_MODEL_FORMAT, "params": self.params, "num_boost_round": self.num_boost_round,
            "seed": self.seed, "metadata": self.metadata, "booster": self.booster.model_to_string(),
            "calibration": self.calibration.to_dict() if self.calibration is not None else None,
        }, default=str).encode()

    @classmethod
    def from_bytes(cls, blob: bytes) -> ParcelModel:
        """A model from :meth:`to_bytes`' blob."""
        payload = json.loads(bytes(blob).decode())
        if payload.get("format") != PARCEL_MODEL_FORMAT:
            raise ValueError(f"not a {PARCEL_MODEL_FORMAT} blob")
        cal = payload.get("calibration")
        return cls(params=payload["params"], num_boost_round=payload["num_boost_round"], seed=payload["seed"],
                   booster=lgb.Booster(model_str=payload["booster"]),
                   calibration=Calibration.from_dict(cal) if cal else None, metadata=payload["metadata"])


def parcel_metrics(scores: np.ndarray, offence: np.ndarray, ks: Sequence[int] = (5, 10, 20)) -> dict[str, Any]:
    """Precision at the top k % and the offence rate of inspected parcels (the random baseline)."""
    y = np.asarray(offence, dtype=np.float64)
    order = np.argsort(-np.asarray(scores), kind="stable")
    n = len(y)
    return {
        "n": n,
        "offence_rate": float(y.mean()) if n else None,
        "precision_at": {str(k): float(y[order[: max(1, round(n * k / 100))]].mean()) if n else None for k in ks},
    }


__all__ = ["ParcelModel", "ParcelResult", "outcome_of", "parcel_matrix", "parcel_metrics", "parcel_weights",
           "selection_probability_of"]
