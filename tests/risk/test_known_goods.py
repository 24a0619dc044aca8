"""Known goods (B3, issue #17): the exact triple's found-offence rate in the live score, and the replay's
week-by-week learning from its own inspections."""

from __future__ import annotations

import json
from datetime import timedelta

import numpy as np
import polars as pl
import pytest

from smartcustoms.risk.features.state import build_features
from smartcustoms.risk.offence_model import KNOWN_GOODS_PRIOR, RiskModel
from smartcustoms.risk.replay import goods_keys, selective_history, simulate
from smartcustoms.risk.synthetic import item_frame


@pytest.fixture(scope="module")
def trained():
    frame = item_frame(4000, seed=11, days=150, importers=150)
    features, _ = build_features(frame)
    model = RiskModel(num_boost_round=40, seed=5).fit(features[:3000], frame["offence"][:3000].to_numpy())
    return model, features[3000:3200]


def _with_triple(features: pl.DataFrame, inspections: float, offences: float) -> pl.DataFrame:
    return features.with_columns(pl.lit(inspections).alias("hs6_value_mass_inspections"),
                                 pl.lit(offences).alias("hs6_value_mass_offences"))


def test_known_goods_are_scored_by_their_found_offence_rate_blended_with_the_model(trained):
    model, features = trained
    assert model.known_goods and model.metadata["known_goods"] == {"prior": KNOWN_GOODS_PRIOR}
    bad, clean = _with_triple(features, 4.0, 4.0), _with_triple(features, 4.0, 0.0)
    off = RiskModel.from_bytes(model.to_bytes())
    off.known_goods = False
    k = model.known_goods_prior
    for frame, found in ((bad, 4.0), (clean, 0.0)):
        np.testing.assert_allclose(model.predict_proba(frame), (found + k * off.predict_proba(frame)) / (4.0 + k))
    # rows whose triple was never inspected keep the model's probability
    fresh = _with_triple(features, 0.0, 0.0)
    np.testing.assert_array_equal(model.predict_proba(fresh), off.predict_proba(fresh))


def test_a_known_offending_triple_outranks_the_rest(trained):
    model, features = trained
    rows = pl.concat([_with_triple(features[:50], 0.0, 0.0), _with_triple(features[50:100], 3.0, 0.0),
                      _with_triple(features[100:101], 6.0, 6.0), _with_triple(features[101:102], 1.0, 1.0)])
    p = model.predict_proba(rows)
    assert p[100] == p.max() and p[100] > 6 / 7  # found in offence 6 times in 6: on top
    assert p[101] >= 0.5 and p[100] > p[101]  # 1 of 1 lower: the model counts as one inspection
    assert p[50:100].max() < p[:50].max()  # goods found clean three times sink below unknown goods


def test_the_reason_says_in_how_many_inspections_the_same_goods_were_found_in_offence(trained):
    model, features = trained
    row = _with_triple(features[:1], 5.0, 4.0)
    reasons = model.explain(row, top=3)[0]
    assert reasons[0].text == "same goods found in offence in 4 of 5 inspections"
    assert reasons[0].feature == "hs6_value_mass_offences" and reasons[0].contribution > 0
    assert [r.contribution for r in reasons] == sorted((r.contribution for r in reasons), reverse=True)
    clean = model.explain(_with_triple(features[:1], 5.0, 0.0), top=3)[0]
    assert not any("same goods" in r.text for r in clean)


def test_an_older_blob_without_the_flag_loads_and_scores_as_before(trained):
    model, features = trained
    payload = json.loads(model.to_bytes())
    assert payload["known_goods"] == {"prior": KNOWN_GOODS_PRIOR}
    del payload["known_goods"]
    old = RiskModel.from_bytes(json.dumps(payload).encode())
    assert not old.known_goods
    rows = _with_triple(features, 2.0, 2.0)
    raw = np.asarray(old._require().predict(old.matrix(rows)))
    np.testing.assert_allclose(old.predict_proba(rows)[rows["hs6_value_mass_inspections"] > 0],
                               old.calibration(raw) if old.calibration else raw)
    assert all("same goods" not in r.text for rs in old.explain(rows[:5]) for r in rs)


def test_the_blend_is_a_training_option_kept_in_the_blob(trained):
    _, features = trained
    frame = item_frame(1500, seed=3, days=60, importers=80)
    feats, _ = build_features(frame)
    off = RiskModel(num_boost_round=10, known_goods=False).fit(feats, frame["offence"].to_numpy())
    assert off.metadata["known_goods"] is None
    again = RiskModel.from_bytes(off.to_bytes())
    assert not again.known_goods
    on = RiskModel(num_boost_round=10, known_goods_prior=2.5).fit(feats, frame["offence"].to_numpy())
    assert RiskModel.from_bytes(on.to_bytes()).known_goods_prior == 2.5


# -- the replay learns from its own inspections ---------------------------------------------------
class _Recording(RiskModel):
    """A RiskModel that keeps every feature frame it scores (the test days', in order)."""

    seen: list[pl.DataFrame] = []

    def predict_proba(self, features):  # type: ignore[override]
        _Recording.seen.append(features.select("hs6", "value", "net_mass", "hs6_value_mass_inspections",
                                               "hs6_value_mass_offences"))
        return super().predict_proba(features)


def _small() -> RiskModel:
    return RiskModel(num_boost_round=20)


def _repeating_goods():
    """Ten weeks of one HS code whose 300 values repeat and decide the offence (every fifth value): the first
    eight weeks, the last two, and a 10 %-labelled history of the eight."""
    frame = item_frame(3000, seed=5, days=70, importers=150).with_columns(
        (100 + pl.int_range(pl.len()) % 300).cast(pl.Float64).alias("customs_value"),
        pl.lit(1.0).alias("net_mass_kg"), pl.lit("8471300000").alias("hs_code"))
    frame = frame.with_columns((pl.col("customs_value").cast(pl.Int64) % 5 == 0).cast(pl.Int8).alias("offence"))
    cut = frame["declared_at"].min() + timedelta(days=56)
    train, test = frame.filter(pl.col("declared_at") < cut), frame.filter(pl.col("declared_at") >= cut)
    return train, test, selective_history(train, labelled_share=0.10, make_model=_small)


def test_the_replay_feeds_each_inspection_to_later_declarations_of_the_same_goods_once_known():
    """Goods repeat and decide the offence: every test row's triple inspections and offences are exactly the
    labelled history's plus the replay's own inspections whose outcome (a week after lodging) was known when it
    was scored, never a later one, and the own inspections do reach later weeks."""
    train, test, hist = _repeating_goods()
    before = hist.state.n_keys()
    _Recording.seen = []
    replay = simulate(train, test, labelled_share=0.10, history=hist, make_model=lambda: _Recording(num_boost_round=20))
    assert hist.state.n_keys() == before  # a given history is not changed
    scored = pl.concat(_Recording.seen)  # the test days in order: the test rows' features as decided
    assert scored.height == test.height and scored["value"].to_list() == test["customs_value"].to_list()
    lag = timedelta(days=7)
    done = hist.frame.filter(pl.col("offence").is_not_null())
    events = [(k, at, y) for k, at, y in zip(goods_keys(done), done["outcome_at"], done["offence"], strict=True)]
    own = test.filter(pl.Series(replay.inspected))
    events += [(k, t + lag, y) for k, t, y in zip(goods_keys(own), own["declared_at"], own["offence"], strict=True)]
    from_test = 0
    for key, t, n, o in zip(goods_keys(test), test["declared_at"], scored["hs6_value_mass_inspections"],
                            scored["hs6_value_mass_offences"], strict=True):
        visible = [y for k, at, y in events if k == key and at <= t]
        assert (n or 0) == len(visible) and (o or 0) == sum(visible)
        from_test += sum(1 for k, at, _ in events[len(done):] if k == key and at <= t)
    assert from_test > 0
    assert 0.08 * test.height <= replay.inspected.sum() <= 0.12 * test.height + 3


def test_coverage_seeking_test_inspections_learn_goods_the_top_scores_leave_unknown():
    """With the blend, the top scores are goods already known to offend: re-inspecting them teaches nothing;
    coverage-seeking inspections (top scores among goods never inspected) label goods the history lacked."""
    train, test, hist = _repeating_goods()
    top = simulate(train, test, history=hist, make_model=_small)
    coverage = simulate(train, test, history=hist, make_model=_small, test_policy="coverage")
    assert coverage.overall["known_from_test_share"] > top.overall["known_from_test_share"]
    with pytest.raises(ValueError, match="test_policy"):
        simulate(train, test, history=hist, test_policy="newest")  # type: ignore[arg-type]
