"""The trained parcel model: selective-label weights, and its registry round trip through the live engine."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import pytest

from smartcustoms.cbec.store import Store
from smartcustoms.core.db import make_engine, session_factory, transaction, upgrade
from smartcustoms.core.errors import Conflict, NotFound, ValidationProblem
from smartcustoms.core.security import Principal, Role
from smartcustoms.risk.parcels.model import ParcelModel, ParcelResult, outcome_of, parcel_weights
from smartcustoms.risk.parcels.registry import (
    list_parcel_models,
    promote_parcel_model,
    rollback_parcel_model,
    train_parcel_candidate,
)
from smartcustoms.risk.parcels.scoring import ParcelCase, ParcelFeatures, indicator_scores, indicators
from smartcustoms.risk.parcels.selectivity import ParcelRiskEngine
from smartcustoms.risk.targeting import service
from smartcustoms.risk.targeting.models import RiskModelVersion
from smartcustoms.risk.targeting.policy import SelectivityConfig

ANALYST = Principal(7, "analyst-li", Role.ANALYST)
START = datetime(2026, 1, 5)


def true_offence_probability(f: np.ndarray) -> np.ndarray:
    """The simulated world: split orders, low prices, an offending enterprise raise the odds; so does a value
    of 80-90 % of the limit, which no indicator covers (the model can learn it, the indicators cannot)."""
    z = (-3.5 + 2.5 * (f[:, 1] >= 5) + 1.0 * (f[:, 2] >= 3) + 2.0 * (f[:, 4] < 0.3) + 1.5 * (f[:, 7] > 0.2)
         + 2.0 * ((f[:, 3] >= 0.8) & (f[:, 3] < 0.9)))
    return 1 / (1 + np.exp(-z))


def simulate_results(n: int, seed: int, explore: float = 0.1) -> list[ParcelResult]:
    """Parcels decided in time order: held (probability 1) when the indicator score reaches 0.35, else held
    at random with probability ``explore``; only held parcels get an officer's result."""
    rng = np.random.default_rng(seed)
    f = np.column_stack([
        np.where(rng.random(n) < 0.03, rng.integers(40, 80, n), rng.poisson(5, n)),
        np.where(rng.random(n) < 0.06, rng.integers(5, 9, n), 1),
        np.where(rng.random(n) < 0.06, rng.integers(3, 7, n), 1),
        rng.uniform(0.02, 1.0, n),
        np.where(rng.random(n) < 0.08, rng.uniform(0.05, 0.3, n), 1.0),
        rng.beta(1, 30, n),
        rng.beta(1, 30, n),
        np.where(rng.random(n) < 0.1, 0.35, 0.0),
    ])
    feats = [ParcelFeatures(int(a), int(b), int(c), float(d), float(e), float(g), float(h), float(k))
             for a, b, c, d, e, g, h, k in f.tolist()]
    score = indicator_scores(feats)
    offence = rng.random(n) < true_offence_probability(f)
    prob = np.where(score >= 0.35, 1.0, explore)
    held = rng.random(n) < prob
    return [ParcelResult(feats[i], bool(offence[i]) if held[i] else None, float(prob[i]),
                         START + timedelta(minutes=i)) for i in range(n)]


# -- weights: a parcel never inspected contributes nothing ------------------------------------------------
def test_weights_are_inverse_selection_probability_and_zero_when_never_inspected():
    w = parcel_weights([1.0, 0.25, 0.01, None, 0.5], [True, True, True, True, False])
    np.testing.assert_allclose(w, [1.0, 4.0, 20.0, 1.0, 0.0])  # 1/0.01 clipped at 20; unknown p counts as 1


def test_never_inspected_parcels_change_nothing_in_the_model():
    results = simulate_results(3000, seed=1)
    inspected_only = [r for r in results if r.offence is not None]
    a = ParcelModel().fit(results)
    b = ParcelModel().fit(inspected_only)
    probe = [r.features for r in simulate_results(500, seed=2)]
    np.testing.assert_array_equal(a.predict_features(probe), b.predict_features(probe))
    assert a.metadata["n_uninspected_ignored"] == len(results) - len(inspected_only) > 0


def test_weights_reach_the_booster():
    results = simulate_results(3000, seed=3)
    unweighted = [r._replace(selection_probability=None) for r in results]
    probe = [r.features for r in simulate_results(500, seed=4)]
    weighted, plain = ParcelModel().fit(results), ParcelModel().fit(unweighted)
    assert not np.array_equal(weighted.predict_features(probe), plain.predict_features(probe))
    # explored parcels stand for ten quiet ones each: the weighted offence rate is the traffic's, lower
    assert weighted.metadata["weighted_offence_rate"] < weighted.metadata["train_offence_rate"]


def test_officer_statuses_map_to_results():
    assert outcome_of(501) is True and outcome_of(599) is True
    assert outcome_of(800) is False
    assert outcome_of(500) is None and outcome_of(None) is None


def test_model_ranks_better_than_the_indicators_on_what_they_miss():
    model = ParcelModel().fit(simulate_results(6000, seed=5))
    fresh = simulate_results(20_000, seed=6, explore=1.0)  # every parcel inspected: the traffic's truth
    x = [r.features for r in fresh]
    y = np.array([bool(r.offence) for r in fresh])
    top = len(y) // 20
    model_p5 = y[np.argsort(-model.predict_features(x), kind="stable")[:top]].mean()
    jitter = np.random.default_rng(0).random(len(y)) * 1e-6  # indicator ties broken at random
    indicator_p5 = y[np.argsort(-(indicator_scores(x) + jitter), kind="stable")[:top]].mean()
    assert model_p5 > indicator_p5


# -- the registry round trip on SQLite and PostgreSQL ------------------------------------------------------
@dataclass
class _Inventory:
    head: dict[str, str]
    lines: list[dict[str, str]] = field(default_factory=lambda: [{"gcode": "3304990099", "gname": "cream"}])


def _cases(results: list[ParcelResult]) -> list[ParcelCase]:
    return [ParcelCase(("1101980001", f"P{i:06d}"), _Inventory({"customsCode": "2244", "ebcCode": "3120960001"}),
                       r.features, 150.0) for i, r in enumerate(results)]


def _engine() -> ParcelRiskEngine:
    return ParcelRiskEngine(SelectivityConfig(budget=0.05, exploration=0.0))


def test_parcel_model_round_trip_train_promote_score_roll_back(db_url):
    upgrade(db_url)
    eng = make_engine(db_url)
    sessions = session_factory(eng)
    results = simulate_results(4000, seed=7)
    cases = _cases(simulate_results(400, seed=8))
    try:
        with Store(db_url) as store:
            engine = _engine()
            engine.refresh(store, force=True)
            assert engine.model is None  # no parcel model yet: the indicators score
            baseline = engine.select(cases)
            np.testing.assert_allclose([s.score for s in baseline], indicator_scores([c.features for c in cases]))

            with transaction(sessions) as s:
                v1 = train_parcel_candidate(s, ANALYST, results[:3000])
            assert v1.kind == "parcel" and v1.status == "candidate"
            assert {"candidate", "indicators"} <= set(v1.metrics) and "live" not in v1.metrics
            assert v1.metrics["n_uninspected_ignored"] > 0
            with transaction(sessions) as s:
                promote_parcel_model(s, v1.version, ANALYST)
            engine.refresh(store, force=True)
            assert engine.model_version == v1.version
            assert not engine.windows  # the offices' indicator scores are not ranked against probabilities

            selections = engine.select(cases)
            with sessions() as s:
                stored = ParcelModel.from_bytes(s.get(RiskModelVersion, v1.version).blob)
            expected = stored.predict_features([c.features for c in cases])
            np.testing.assert_allclose([sel.score for sel in selections], expected)
            held = [(c, sel) for c, sel in zip(cases, selections, strict=True) if sel.status != 800]
            assert held, "the model holds some parcels within the budget"
            for c, sel in held:
                assert sel.reasons[0].startswith(f"offence probability (parcel model v{v1.version}) ")
                assert list(sel.reasons[1:]) == indicators(c.features)[1]  # the indicators remain the reasons

            with transaction(sessions) as s:
                v2 = train_parcel_candidate(s, ANALYST, results)
            assert v2.metrics["live_version"] == v1.version and "live" in v2.metrics  # compared with the live one
            with transaction(sessions) as s:
                promote_parcel_model(s, v2.version, ANALYST)
            engine.refresh(store, force=True)
            assert engine.model_version == v2.version

            with transaction(sessions) as s:
                back = rollback_parcel_model(s, ANALYST)
            assert back.version == v1.version and back.status == "live"
            engine.refresh(store, force=True)
            assert engine.model_version == v1.version
            np.testing.assert_allclose([sel.score for sel in engine.select(cases)], expected)

        with sessions() as s:
            statuses = {m.version: m.status for m in list_parcel_models(s)}
            assert statuses == {v1.version: "live", v2.version: "rolled_back"}
            assert service.list_models(s) == []  # the declaration registry does not see parcel models
            assert service.live_model(s) is None
        with pytest.raises(NotFound), transaction(sessions) as s:
            service.promote(s, v1.version, ANALYST)  # a parcel model is not a declaration model
        with pytest.raises(Conflict), transaction(sessions) as s:
            rollback_parcel_model(s, ANALYST)  # v1 has no predecessor
    finally:
        eng.dispose()


def test_too_few_results_is_a_clear_problem(db_url):
    upgrade(db_url)
    eng = make_engine(db_url)
    try:
        with pytest.raises(ValidationProblem, match="not enough parcel inspection results"), \
                transaction(session_factory(eng)) as s:
            train_parcel_candidate(s, ANALYST, simulate_results(200, seed=9))
    finally:
        eng.dispose()
