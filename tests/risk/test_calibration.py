"""Calibrated probabilities: the map keeps every ranking, fixes known miscalibration, survives a blob."""

from __future__ import annotations

import json

import numpy as np
import pytest

from smartcustoms.risk.calibration import Calibration, fit_calibration, reliability
from smartcustoms.risk.features.state import build_features
from smartcustoms.risk.offence_model import RiskModel
from smartcustoms.risk.synthetic import item_frame


def _overconfident(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows with a known offence probability ``p``, a score that distorts it (``p ** 0.4``: too high),
    and outcomes drawn with probability ``p``."""
    rng = np.random.default_rng(seed)
    p = rng.beta(1.0, 5.0, n)
    return p ** 0.4, (rng.random(n) < p).astype(float), p


def test_map_is_strictly_increasing_so_no_ranking_changes():
    scores, labels, _ = _overconfident(5000, 1)
    cal = fit_calibration(scores, labels)
    grid = np.sort(np.random.default_rng(2).uniform(0.0, 1.0, 20_000))  # probabilities
    grid = np.unique(grid)
    out = cal(grid)
    assert np.all(np.diff(out) > 0)
    x = np.random.default_rng(3).random(3000)
    np.testing.assert_array_equal(np.argsort(x, kind="stable"), np.argsort(cal(x), kind="stable"))
    assert out.min() >= 0 and out.max() <= 1


def test_known_probabilities_are_recovered_on_fresh_rows():
    scores, labels, _ = _overconfident(30_000, 4)
    cal = fit_calibration(scores, labels)
    test_scores, test_labels, p = _overconfident(30_000, 5)
    before = reliability(test_scores, test_labels)
    after = reliability(cal(test_scores), test_labels)
    assert before.ece > 0.15            # p ** 0.4 over-states a beta(1, 5) probability badly
    assert after.ece < 0.02
    assert np.mean(np.abs(cal(test_scores) - p)) < 0.03  # close to the true probability row by row
    assert sum(after.rows) == 30_000 and len(after.table()) == 10


def test_weights_count_as_repeated_rows():
    scores = np.array([0.1, 0.2, 0.3, 0.4])
    labels = np.array([0.0, 1.0, 0.0, 1.0])
    weighted = fit_calibration(scores, labels, np.array([1.0, 3.0, 1.0, 1.0]))
    repeated = fit_calibration(np.array([0.1, 0.2, 0.2, 0.2, 0.3, 0.4]), np.array([0, 1, 1, 1, 0, 1.0]))
    np.testing.assert_allclose(weighted(scores), repeated(scores))


def test_calibration_round_trips_through_json():
    scores, labels, _ = _overconfident(2000, 6)
    cal = fit_calibration(scores, labels, scheme="out of time")
    again = Calibration.from_dict(json.loads(json.dumps(cal.to_dict())))
    np.testing.assert_array_equal(cal(scores), again(scores))
    assert again.scheme == "out of time" and again.n == 2000
    with pytest.raises(ValueError):
        Calibration.from_dict({"format": "something else"})


@pytest.fixture(scope="module")
def calibrated():
    frame = item_frame(4000, seed=21, days=200, importers=120)
    features, _ = build_features(frame)
    model = RiskModel(num_boost_round=60, seed=1).fit(features[:3500], frame["offence"][:3500].to_numpy())
    return model, features[3500:]


def test_risk_model_fits_a_map_out_of_time_and_keeps_its_ranking(calibrated):
    model, features = calibrated
    assert model.calibration is not None and model.calibration.n == 700  # the last 20 % of 3,500 rows
    raw = np.asarray(model.booster.predict(model.matrix(features)))
    p = model.predict_proba(features)
    np.testing.assert_array_equal(np.argsort(raw, kind="stable"), np.argsort(p, kind="stable"))


def test_risk_model_blob_keeps_the_map_and_old_blobs_still_read(calibrated):
    model, features = calibrated
    again = RiskModel.from_bytes(model.to_bytes())
    np.testing.assert_array_equal(model.predict_proba(features), again.predict_proba(features))
    old = json.loads(model.to_bytes())
    del old["calibration"]  # a blob written before calibration existed
    legacy = RiskModel.from_bytes(json.dumps(old).encode())
    assert legacy.calibration is None
    np.testing.assert_array_equal(legacy.predict_proba(features), model.booster.predict(model.matrix(features)))


def test_too_few_rows_leave_scores_raw():
    frame = item_frame(600, seed=22, days=60, importers=30)
    features, _ = build_features(frame)
    model = RiskModel(num_boost_round=20).fit(features, frame["offence"].to_numpy())
    assert model.calibration is None
