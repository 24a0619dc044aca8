"""Point-in-time features: no leakage, batch == incremental, live state behaviour."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import polars as pl
import pytest

from smartcustoms.risk.features.families import CATEGORICAL_FEATURES, FEATURE_NAMES, NUMERIC_FEATURES
from smartcustoms.risk.features.state import HistoryState, build_features
from smartcustoms.risk.frame import conform


def _numeric(frame: pl.DataFrame) -> np.ndarray:
    return frame.select(NUMERIC_FEATURES).to_numpy().astype(np.float64)


def _assert_same(a: pl.DataFrame, b: pl.DataFrame) -> None:
    np.testing.assert_allclose(_numeric(a), _numeric(b), rtol=1e-9, atol=1e-9, equal_nan=True)
    assert a.select(CATEGORICAL_FEATURES).equals(b.select(CATEGORICAL_FEATURES))


def _flip(frame: pl.DataFrame, i: int) -> pl.DataFrame:
    flipped = 1 - frame["offence"][i]
    return frame.with_columns(
        pl.when(pl.int_range(pl.len()) == i)
        .then(pl.lit(flipped, pl.Int8))
        .otherwise(pl.col("offence"))
        .alias("offence")
    )


def _declaration(no: str, at: datetime, offence: int | None, importer: str = "IM1", **kw) -> dict:
    row = dict(
        declaration_no=no,
        declared_at=at,
        office_code="2200",
        trade_mode="0110",
        transport_mode="2",
        importer_code=importer,
        declarant_code="DC1",
        hs_code="851712",
        origin_country="CN",
        departure_country="CN",
        tax_rate=8.0,
        net_mass_kg=10.0,
        customs_value=1000.0,
        offence=offence,
        critical=offence,
        outcome_at=at + timedelta(days=7) if offence is not None else None,
    )
    row.update(kw)
    return row


def test_pipeline_has_at_least_one_hundred_named_features(items):
    features, _ = build_features(items)
    assert len(FEATURE_NAMES) >= 100
    assert len(set(FEATURE_NAMES)) == len(FEATURE_NAMES)
    assert features.height == items.height
    assert features["declaration_no"].to_list() == items["declaration_no"].to_list()


def test_declaration_never_sees_its_own_outcome(items):
    base, _ = build_features(items)
    for i in (0, 57, 201, items.height - 1):
        changed, _ = build_features(_flip(items, i))
        _assert_same(base[: i + 1], changed[: i + 1])


def test_declaration_never_sees_its_own_outcome_even_with_zero_lag(items):
    instant = items.with_columns(pl.col("declared_at").alias("outcome_at"))
    base, _ = build_features(instant)
    i = 150
    changed, _ = build_features(_flip(instant, i))
    _assert_same(base[: i + 1], changed[: i + 1])
    assert not np.allclose(_numeric(base[i + 1 :]), _numeric(changed[i + 1 :]), equal_nan=True)


def test_flipping_a_later_outcome_leaves_earlier_declarations_unchanged(items):
    base, _ = build_features(items)
    i = 250
    changed, _ = build_features(_flip(items, i))
    known = (items["declared_at"] >= items["outcome_at"][i]).to_numpy()
    _assert_same(base.filter(~known), changed.filter(~known))
    assert not np.allclose(_numeric(base.filter(known)), _numeric(changed.filter(known)), equal_nan=True)


def test_outcome_counts_only_once_its_outcome_time_has_passed():
    t0 = datetime(2024, 3, 1, 9)
    frame = conform(
        pl.DataFrame(
            [
                _declaration("A", t0, 1),
                _declaration("B", t0 + timedelta(days=6, hours=23), None),
                _declaration("C", t0 + timedelta(days=7), None),
            ]
        )
    )
    features, _ = build_features(frame)
    assert features["importer_inspections"].to_list() == [0, 0, 1]
    assert features["importer_offences"].to_list() == [0, 0, 1]
    assert features["importer_count"].to_list() == [0, 1, 2]


def test_officer_result_changes_importer_history_for_the_next_declaration():
    t0 = datetime(2024, 3, 1, 9)
    state = HistoryState()
    first = conform(pl.DataFrame([_declaration("A", t0, None)]))
    state.observe_declarations(first)
    nxt = conform(pl.DataFrame([_declaration("B", t0 + timedelta(hours=2), None)]))
    before = state.features_for(nxt)
    result = first.with_columns(
        pl.lit(1, pl.Int8).alias("offence"), pl.lit(t0 + timedelta(hours=1)).alias("outcome_at")
    )
    state.observe_outcomes(result)
    after = state.features_for(nxt)
    assert before["importer_offences"][0] == 0 and after["importer_offences"][0] == 1
    assert after["importer_offence_rate"][0] > before["importer_offence_rate"][0]


def test_batch_and_incremental_give_identical_features(items):
    batch, batch_state = build_features(items)
    state = HistoryState()
    rows = []
    for i in range(items.height):
        row = items.slice(i, 1)
        rows.append(state.features_for(row))
        state.observe_declarations(row)
        state.observe_outcomes(row)
    _assert_same(batch, pl.concat(rows))
    assert state.n_keys() == batch_state.n_keys()


def test_score_and_observe_equals_features_for_then_observe_declarations(items):
    _, two_pass = build_features(items[:300])
    _, one_pass = build_features(items[:300])
    for start, size in ((300, 1), (301, 7), (308, 1), (309, 40), (349, 51)):
        chunk = items.slice(start, size)
        expected = two_pass.features_for(chunk)
        two_pass.observe_declarations(chunk)
        _assert_same(one_pass.score_and_observe(chunk), expected)
        two_pass.observe_outcomes(chunk)
        one_pass.observe_outcomes(chunk)
    assert one_pass.n_keys() == two_pass.n_keys()
    assert one_pass.n_declarations == two_pass.n_declarations and one_pass.clock == two_pass.clock
    for name, table in one_pass.tables.items():
        other = two_pass.tables[name]
        for mine, theirs in ((table.keys, other.keys), (table.okeys, other.okeys)):
            np.testing.assert_array_equal(mine, theirs)
        for mine, theirs in ((table.vals, other.vals), (table.ovals, other.ovals)):
            np.testing.assert_array_equal(mine, theirs)


def test_chunked_batches_match_one_batch(items):
    whole, _ = build_features(items)
    state, parts = None, []
    for start in range(0, items.height, 130):
        part, state = build_features(items.slice(start, 130), state)
        parts.append(part)
    _assert_same(whole, pl.concat(parts))


def test_features_for_does_not_change_the_state(items):
    _, state = build_features(items[:300])
    once = state.features_for(items[300:320])
    twice = state.features_for(items[300:320])
    _assert_same(once, twice)
    assert state.n_declarations == 300


def test_unit_value_deviation_measures_undervaluation_against_the_hs_origin_median():
    t0 = datetime(2024, 3, 1)
    rows = [_declaration(f"A{i}", t0 + timedelta(hours=i), 0) for i in range(5)]
    rows.append(_declaration("LOW", t0 + timedelta(hours=6), None, customs_value=290.0))
    features, _ = build_features(conform(pl.DataFrame(rows)))
    deviation = features["hs6_origin_unit_value_deviation"][-1]
    assert np.exp(deviation) - 1 == pytest.approx(-0.71, abs=0.01)
    assert features["importer_hs6_is_new"].to_list() == [1, 0, 0, 0, 0, 0]


def test_unsorted_frames_are_rejected(items):
    with pytest.raises(ValueError, match="sorted"):
        build_features(items.reverse())


def test_columnar_and_pairwise_paths_agree(items, monkeypatch):
    from smartcustoms.risk.features import columnar as path

    default, _ = build_features(items)
    monkeypatch.setattr(path, "SMALL_BATCH", 0)
    monkeypatch.setattr(path, "PAIRWISE_LIMIT", 0)
    columnar, _ = build_features(items)
    monkeypatch.setattr(path, "SMALL_BATCH", 10_000)
    monkeypatch.setattr(path, "PAIRWISE_LIMIT", 10**12)
    pairwise, _ = build_features(items)
    _assert_same(default, columnar)
    _assert_same(default, pairwise)


def test_rowwise_live_path_gives_the_columnar_features_nulls_and_state(items, monkeypatch):
    from smartcustoms.risk.features import state as pipeline

    texts = [None, "", "Used phone parts", "GIFT for personal use", "replica  brand", "Ünïcode sample", "copy-cat"]
    items = items.with_columns(
        pl.Series("description", [texts[i % len(texts)] for i in range(items.height)]),
        pl.when(pl.int_range(pl.len()) % 5 == 0).then(None).otherwise(pl.col("quantity")).alias("quantity"),
        pl.when(pl.int_range(pl.len()) == 333).then(pl.lit("8517AB")).otherwise(pl.col("hs_code")).alias("hs_code"),
    )
    _, rowwise = build_features(items[:300])
    _, columnar = build_features(items[:300])
    got, expected = [], []
    for start, size in ((300, 1), (301, 3), (304, 16), (320, 1), (321, 9), (330, 1), (331, 5), (336, 1)):
        chunk = items.slice(start, size)
        assert chunk.height <= pipeline.ROWWISE_ROWS
        got.append(rowwise.score_and_observe(chunk))
        monkeypatch.setattr(pipeline, "ROWWISE_ROWS", 0)
        expected.append(columnar.score_and_observe(chunk))
        monkeypatch.undo()
        rowwise.observe_outcomes(chunk)  # results arrive between batches: pending, then folded in
        columnar.observe_outcomes(chunk)
    a, b = pl.concat(got), pl.concat(expected)
    assert a.schema == b.schema
    _assert_same(a, b)
    assert a.null_count().equals(b.null_count())  # null (item fields) and NaN (history) where the frame path has them
    assert a.select("declaration_no", "item_no", "hs6", "hs4", "origin_country").equals(
        b.select("declaration_no", "item_no", "hs6", "hs4", "origin_country")
    )
    assert rowwise.n_keys() == columnar.n_keys() and rowwise.clock == columnar.clock
    for name, table in rowwise.tables.items():
        np.testing.assert_array_equal(
            np.sort(np.r_[table.keys, table.okeys]),
            np.sort(np.r_[columnar.tables[name].keys, columnar.tables[name].okeys]),
        )
        mine = table.get(np.r_[table.keys, table.okeys])
        theirs = columnar.tables[name].get(np.r_[table.keys, table.okeys])
        np.testing.assert_allclose(mine, theirs, rtol=1e-9, atol=1e-9, equal_nan=True)


def test_rowwise_live_path_agrees_with_the_columnar_path_on_full_micro_batches(items, monkeypatch):
    """Bursts: a lodging micro-batch of up to 64 declarations (~90 rows) stays on the row-wise path."""
    from smartcustoms.risk.features import state as pipeline

    _, rowwise = build_features(items[:150])
    _, columnar = build_features(items[:150])
    got, expected = [], []
    for start, size in ((150, pipeline.ROWWISE_ROWS), (150 + pipeline.ROWWISE_ROWS, 90)):
        chunk = items.slice(start, size)
        assert chunk.height == size <= pipeline.ROWWISE_ROWS
        got.append(rowwise.score_and_observe(chunk))
        monkeypatch.setattr(pipeline, "ROWWISE_ROWS", 0)
        expected.append(columnar.score_and_observe(chunk))
        monkeypatch.undo()
        rowwise.observe_outcomes(chunk)
        columnar.observe_outcomes(chunk)
    a, b = pl.concat(got), pl.concat(expected)
    _assert_same(a, b)
    assert a.null_count().equals(b.null_count())
    assert rowwise.n_keys() == columnar.n_keys() and rowwise.clock == columnar.clock
    for name, table in rowwise.tables.items():
        keys = np.r_[table.keys, table.okeys]
        np.testing.assert_allclose(
            table.get(keys), columnar.tables[name].get(keys), rtol=1e-9, atol=1e-9, equal_nan=True
        )


def test_rowwise_features_feed_the_model_as_the_frame_does(items):
    from smartcustoms.risk.offence_model import RiskModel

    features, state = build_features(items[:350])
    model = RiskModel(num_boost_round=20).fit(features, items[:350]["offence"].to_numpy())
    rows = items[350:354].to_dicts()
    live = state.score_rows(rows, observe=False)
    frame = live.to_frame()
    np.testing.assert_array_equal(model.matrix(live), model.matrix(frame))
    assert [r.text for r in model.explain(live)[0]] == [r.text for r in model.explain(frame)[0]]
    assert state.n_declarations == 350


def test_exact_triple_family_counts_earlier_declarations_of_the_same_goods_value_and_mass():
    t0 = datetime(2024, 3, 1)
    rows = [
        _declaration("A", t0, 1),
        _declaration("B", t0 + timedelta(hours=1), None, net_mass_kg=11.0),  # same HS6 and value, other mass
        _declaration("C", t0 + timedelta(hours=2), None),  # the exact repeat of A, A's outcome not yet known
        _declaration("D", t0 + timedelta(days=8), None),  # A's outcome (day 7) now known
    ]
    features, _ = build_features(conform(pl.DataFrame(rows)))
    assert features["hs6_value_mass_count"].to_list() == [0, 0, 1, 2]
    assert features["hs6_value_mass_is_new"].to_list() == [1, 1, 0, 0]
    assert features["hs6_value_mass_inspections"].to_list() == [0, 0, 0, 1]
    assert features["hs6_value_mass_offences"].to_list() == [0, 0, 0, 1]
    assert features["hs6_value_count"].to_list() == [0, 1, 2, 3]
