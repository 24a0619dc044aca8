"""The fair comparison of issue #17: novel goods, exact-match features, AUC, the report, the scores file."""

from __future__ import annotations

import json
from datetime import datetime

import numpy as np
import polars as pl
import pytest

from smartcustoms.risk.evaluate import (
    CONTENDERS,
    RANKINGS,
    auc,
    compare,
    declaration_scores,
    exact_match_features,
    mean_of_splits,
    novel_goods,
    random_metrics,
)
from smartcustoms.risk.features.families import FAMILIES, FEATURE_NAMES, NUMERIC_KEYS
from smartcustoms.risk.frame import conform


def _goods(rows: list[tuple[str, float, float]]) -> pl.DataFrame:
    return conform(
        pl.DataFrame(
            {
                "declaration_no": [f"D{i}" for i in range(len(rows))],
                "declared_at": [datetime(2020, 1, 1)] * len(rows),
                "hs_code": [r[0] for r in rows],
                "customs_value": [r[1] for r in rows],
                "net_mass_kg": [r[2] for r in rows],
                "tax_rate": [8.0] * len(rows),
            }
        )
    )


def test_a_test_row_whose_triple_was_in_training_is_not_novel():
    train = _goods([("690722", 375751.2, 11352.0), ("440890", 372254.4, 108.0)])
    test = _goods(
        [
            ("690722", 375751.2, 11352.0),  # exact repeat of a training triple
            ("690722", 375751.3, 11352.0),  # same HS6 and mass, another value
            ("690722", 375751.2, 11352.5),  # same HS6 and value, another mass
            ("440891", 372254.4, 108.0),  # same value and mass, another HS6
            ("440890", 372254.4, 108.0),  # exact repeat
        ]
    )
    assert novel_goods(train, test).tolist() == [False, True, True, True, False]


def test_novel_goods_compares_the_first_six_digits_of_longer_hs_codes():
    train = _goods([("8517120000", 10.0, 1.0)])
    test = _goods([("8517129000", 10.0, 1.0), ("8517130000", 10.0, 1.0)])
    assert novel_goods(train, test).tolist() == [False, True]


def test_exact_match_features_come_from_the_families_keyed_on_exact_numbers():
    excluded = set(exact_match_features())
    exact = [fam for fam in FAMILIES if set(fam.parts) & set(NUMERIC_KEYS)]
    assert {"hs6_value", "hs6_mass", "value"} <= {fam.name for fam in exact}
    assert excluded and excluded <= set(FEATURE_NAMES)
    assert all(any(f.startswith(fam.name + "_") for fam in exact) for f in excluded)
    assert not any(f.startswith(("hs6_origin_", "importer_", "hs6_count")) for f in excluded)
    subset = ("value", "hs6_value_count", "hs6_offence_rate")
    assert exact_match_features(subset) == ("hs6_value_count",)


def test_auc_of_perfect_inverted_and_tied_rankings():
    y = np.array([0, 1, 0, 1])
    assert auc(np.array([0.1, 0.9, 0.2, 0.8]), y) == 1.0
    assert auc(np.array([0.9, 0.1, 0.8, 0.2]), y) == 0.0
    assert auc(np.zeros(4), y) == 0.5
    assert np.isnan(auc(np.ones(3), np.ones(3)))


def test_random_metrics_are_the_expected_values():
    m = random_metrics(np.array([1, 0, 0, 0] * 50))
    assert m["precision_at"]["5"] == 0.25 and m["auc"] == 0.5 and m["n"] == 200
    assert m["recall_at"]["10"] == pytest.approx(0.10)


def test_declaration_scores_take_the_highest_item_score_per_declaration():
    frame = pl.DataFrame({"declaration_no": ["B", "A", "B", "C"]})
    out = declaration_scores(frame, np.array([0.1, 0.5, 0.7, 0.2]))
    assert out.columns == ["declaration_id", "score"]
    assert out.rows() == [("B", 0.7), ("A", 0.5), ("C", 0.2)]


@pytest.fixture(scope="module")
def comparison(items):
    cut = datetime(2024, 2, 10)
    train, test = items.filter(pl.col("declared_at") < cut), items.filter(pl.col("declared_at") >= cut)
    if test.height < 50 or train.height < 100:
        pytest.fail(f"synthetic split too small: {train.height} / {test.height}")
    return compare(train, test, seed=0), train, test


def test_compare_reports_every_contender_ranking_and_subset(comparison):
    result, _train, test = comparison
    report = result.report
    assert set(report) >= {"n_test", "random", "novel_goods", "contenders", "excluded_exact_match_features"}
    assert report["test_outcomes"] == "hidden"
    assert report["n_test"] == test.height
    assert report["plain_lightgbm"]["rounds"] == 400 and report["plain_lightgbm"]["num_leaves"] == 63
    assert set(report["novel_goods"]) >= {"n", "share", "random"}
    assert tuple(report["contenders"]) == CONTENDERS
    for name in CONTENDERS:
        for ranking in RANKINGS:
            for subset in ("overall", "novel"):
                m = report["contenders"][name][ranking][subset]
                assert set(m) == {"precision_at", "recall_at", "duty_share_at", "auc", "random", "n"}
                assert set(m["precision_at"]) == {"1", "2", "5", "10"}
    assert report["contenders"]["ours"]["probability"]["novel"]["n"] == report["novel_goods"]["n"]
    assert {p.shape for p in result.probabilities.values()} == {(test.height,)}


def test_mean_of_splits_averages_each_figure(comparison):
    report = comparison[0].report
    twice = mean_of_splits([report, report])
    ours = report["contenders"]["ours"]["duty"]["overall"]
    assert twice["contenders"]["ours"]["duty"]["overall"]["precision_at"] == pytest.approx(ours["precision_at"])
    assert twice["n_splits"] == 2 and "not pooled" in twice["note"]


def test_no_novel_goods_gives_null_figures_and_strict_json(items):
    report = compare(items, items, seed=0).report  # every test triple is a training triple
    assert report["novel_goods"]["n"] == 0 and report["novel_goods"]["random"] is None
    novel = report["contenders"]["ours"]["probability"]["novel"]
    assert novel["n"] == 0 and novel["auc"] is None and set(novel["precision_at"].values()) == {None}
    json.dumps(report, allow_nan=False)  # no NaN in the JSON report
    assert mean_of_splits([report, report])["contenders"]["ours"]["duty"]["novel"]["auc"] is None
