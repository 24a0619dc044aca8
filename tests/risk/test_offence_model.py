"""The offence model: determinism, persistence, duty ranking and reasons in words."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest

from smartcustoms.risk.features.state import build_features
from smartcustoms.risk.offence_model import NOVEL_FEATURES, NOVEL_GATE, RiskModel, describe
from smartcustoms.risk.synthetic import item_frame


@pytest.fixture(scope="module")
def trained():
    frame = item_frame(6000, seed=11, days=200, importers=150)
    features, _ = build_features(frame)
    cut = 4500
    model = RiskModel(num_boost_round=120, seed=5).fit(features[:cut], frame["offence"][:cut].to_numpy())
    return model, features[cut:], frame[cut:]


def test_model_beats_random_on_held_out_later_declarations(trained):
    model, features, frame = trained
    p = model.predict_proba(features)
    y = frame["offence"].to_numpy()
    top = np.argsort(-p)[: len(p) // 10]
    assert y[top].mean() > 1.5 * y.mean()


def test_same_seed_same_scores_and_bytes_round_trip(trained):
    model, features, _ = trained
    again = RiskModel.from_bytes(model.to_bytes())
    np.testing.assert_array_equal(model.predict_proba(features), again.predict_proba(features))
    assert again.metadata["seed"] == 5 and again.metadata["n_features"] == len(model.features)


def test_duty_ranking_is_probability_times_duty_at_stake(trained):
    model, features, _ = trained
    p = model.predict_proba(features)
    duty = model.rank_scores(features, "duty")
    np.testing.assert_allclose(duty, p * features["duty_at_stake"].to_numpy())


def test_reasons_are_words_that_raise_the_score(trained):
    model, features, _ = trained
    p = model.predict_proba(features)
    riskiest = features[int(np.argmax(p))]
    reasons = model.explain(riskiest, top=3)[0]
    assert 1 <= len(reasons) <= 3
    assert all(r.contribution > 0 and isinstance(r.text, str) and " " in r.text for r in reasons)
    assert [r.contribution for r in reasons] == sorted((r.contribution for r in reasons), reverse=True)


def test_undervalued_goods_are_explained_as_below_the_median():
    row = {"hs6": "690722", "origin_country": "CN", "hs6_origin_unit_value_deviation": np.log(0.29)}
    assert describe("hs6_origin_unit_value_deviation", row) == "unit value 71% below the HS 690722 / CN median"
    row["hs6_origin_unit_value_deviation"] = np.log(1.5)
    assert describe("hs6_origin_unit_value_deviation", row) == "unit value 50% above the HS 690722 / CN median"


def test_party_history_reasons_name_rate_and_inspections():
    row = {
        "importer_offence_rate": 0.42,
        "importer_inspections": 12.0,
        "hs6": "851712",
        "hs4": "8517",
        "importer_hs6_is_new": 1.0,
    }
    assert describe("importer_offence_rate", row) == "importer's past offence rate 42% (12 inspections)"
    assert describe("importer_hs6_is_new", row) == "first declaration of HS 851712 by this importer"


def test_explanation_of_a_constructed_undervaluation_points_at_unit_value():
    frame = item_frame(5000, seed=21, days=150, importers=2000)  # parties rarely repeat: value is the signal
    features, _ = build_features(frame)
    model = RiskModel(num_boost_round=150, seed=1).fit(features, frame["offence"].to_numpy())
    low = features.filter(features["hs6_origin_unit_value_deviation"] < -1.2).head(50)
    texts = [r.text for rs in model.explain(low, top=3) for r in rs]
    assert any("below" in t for t in texts)
    assert not any("above the" in t and "median" in t for t in texts)


def test_every_feature_has_a_worded_description():
    from smartcustoms.risk.features.families import CATEGORICAL_FEATURES, NUMERIC_FEATURES

    row = {name: 0.5 for name in NUMERIC_FEATURES}
    row.update({name: "X" for name in CATEGORICAL_FEATURES}, hs6="851712", hs4="8517", origin_country="CN")
    assert describe("hs6_value_deviation", row) == "value 65% above the usual for HS 851712"
    assert describe("hs6_value_offence_rate", row).startswith("earlier HS 851712 declarations at exactly this value:")
    for name in (*NUMERIC_FEATURES, *CATEGORICAL_FEATURES):
        text = describe(name, row)
        assert text and "_" not in text, (name, text)


def test_batch_scorer_overlapping_chunks_gives_the_one_pass_features_and_scores(trained):
    from smartcustoms.risk.evaluate import hide_labels
    from smartcustoms.risk.offence_model import score_batch

    model, _, _ = trained
    frame = item_frame(3000, seed=12, days=90, importers=150)
    history, incoming = frame[:1800], hide_labels(frame[1800:])
    _, one_state = build_features(history)
    one_pass, _ = build_features(incoming, one_state)
    _, state = build_features(history)
    features, scores, state = score_batch(incoming, model, state, chunk=250)
    assert features.height == incoming.height == len(scores) and state.n_declarations == frame.height
    np.testing.assert_allclose(scores, model.predict_proba(one_pass), rtol=1e-9, atol=1e-12)


def _repeat_dominated(n: int, seed: int) -> pl.DataFrame:
    """A synthetic frame where, as on KCS, most rows repeat an earlier row's HS6, value, mass and outcome."""
    frame = item_frame(n, seed=seed, days=200, importers=150)
    rng = np.random.default_rng(seed)
    src = np.arange(n)
    repeat = (rng.random(n) < 0.6) & (src >= 100)
    src[repeat] = rng.integers(0, src[repeat])  # an earlier row (the frame is time-sorted)
    while (src[src] != src).any():  # a copy of a copy is a copy of the original
        src = src[src]
    cols = ("hs_code", "customs_value", "net_mass_kg", "offence", "critical")
    return frame.with_columns(pl.Series(c, frame[c].to_numpy()[src], dtype=frame[c].dtype) for c in cols)


@pytest.fixture(scope="module")
def two_part():
    frame = _repeat_dominated(5000, seed=21)
    features, _ = build_features(frame)
    cut, y = 4000, frame["offence"].to_numpy()
    both = RiskModel(num_boost_round=60, seed=3).fit(features[:cut], y[:cut])
    main_only = RiskModel(num_boost_round=60, seed=3, novel_goods=False).fit(features[:cut], y[:cut])
    return both, main_only, features[cut:]


def test_goods_without_known_outcome_on_their_triple_get_the_novel_goods_model(two_part):
    both, main_only, features = two_part
    assert both.novel_booster is not None and main_only.novel_booster is None
    meta = both.metadata["novel_goods"]
    assert meta["n_train"] < 4000 * 0.6 and meta["features"] == list(NOVEL_FEATURES)
    novel = (features[NOVEL_GATE] == 0).to_numpy()
    assert 0 < novel.sum() < len(novel)
    p, p_main = both.predict_proba(features), main_only.predict_proba(features)
    np.testing.assert_array_equal(p[~novel], p_main[~novel])  # repeats of known triples: the main booster
    assert not np.allclose(p[novel], p_main[novel])
    assert ((p >= 0) & (p <= 1)).all()
    reasons = both.explain(features.filter(pl.Series(novel))[:5], top=2)
    assert all(r.feature in NOVEL_FEATURES for rs in reasons for r in rs)  # from the booster that scored them


def test_two_part_model_round_trips_and_reads_earlier_blobs(two_part):
    both, main_only, features = two_part
    again = RiskModel.from_bytes(both.to_bytes())
    np.testing.assert_array_equal(again.predict_proba(features), both.predict_proba(features))
    old = json.loads(main_only.to_bytes())
    old["format"] = "smartcustoms.risk.RiskModel/1"
    del old["novel_booster"]
    np.testing.assert_array_equal(
        RiskModel.from_bytes(json.dumps(old).encode()).predict_proba(features), main_only.predict_proba(features)
    )
    old["format"] = "smartcustoms.risk.RiskModel/9"
    with pytest.raises(ValueError, match="RiskModel/9"):
        RiskModel.from_bytes(json.dumps(old).encode())


def test_a_novel_goods_booster_keeps_its_own_inputs_when_the_feature_list_changes(two_part, monkeypatch):
    """A blob written with an earlier NOVEL_FEATURES (e.g. the 27 inputs before the reference-price ones)
    scores novel goods with the inputs its booster was trained on, not with today's list."""
    import smartcustoms.risk.offence_model as om

    both, _, features = two_part
    earlier = om.NOVEL_FEATURES[:27]
    monkeypatch.setattr(om, "NOVEL_FEATURES", earlier)
    frame = _repeat_dominated(5000, seed=21)
    train_f, _ = build_features(frame[:4000])
    old = RiskModel(num_boost_round=60, seed=3).fit(train_f, frame["offence"].to_numpy()[:4000])
    assert old.novel_booster is not None and old.novel_booster.feature_name() == list(earlier)
    blob = old.to_bytes()
    monkeypatch.undo()
    assert len(om.NOVEL_FEATURES) > len(earlier)
    loaded = RiskModel.from_bytes(blob)
    np.testing.assert_array_equal(loaded.predict_proba(features), old.predict_proba(features))
    novel = pl.Series((features[NOVEL_GATE] == 0).to_numpy())
    reasons = loaded.explain(features.filter(novel)[:5], top=2)
    assert all(r.feature in earlier for rs in reasons for r in rs)


def test_without_repeat_consignments_the_main_model_scores_every_row(trained):
    model, _, _ = trained  # synthetic rows never repeat a triple: no second model
    assert model.novel_booster is None and model.metadata["novel_goods"] is None
