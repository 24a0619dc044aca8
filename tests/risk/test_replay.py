"""Selective labels: inverse-propensity weights, the policy's propensities, the labelled-history replay."""

from __future__ import annotations

import json
from datetime import timedelta

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from smartcustoms.risk.cli import app
from smartcustoms.risk.offence_model import RiskModel
from smartcustoms.risk.propensity import MAX_WEIGHT, ipw_weights, self_normalised
from smartcustoms.risk.replay import (
    POLICIES,
    KnownGoods,
    _inclusion,
    _select,
    _select_coverage,
    goods_keys,
    lookup_scores,
    selective_history,
    simulate,
)
from smartcustoms.risk.synthetic import item_frame


def small_model() -> RiskModel:
    return RiskModel(num_boost_round=20)


# -- the weights ---------------------------------------------------------------------------------
def test_a_declaration_never_inspected_contributes_nothing():
    p = np.array([0.5, 0.5, 1.0, 0.02, np.nan])
    inspected = np.array([True, False, True, False, False])
    w = ipw_weights(p, inspected)
    assert w.tolist() == [2.0, 0.0, 1.0, 0.0, 0.0]  # not inspected -> 0, whatever its probability (or none)


def test_weights_are_inverse_probabilities_clipped_at_the_maximum():
    p = np.array([1.0, 0.25, 0.05, 0.011, 0.001])
    w = ipw_weights(p, np.ones(5, bool))
    assert w[:3] == pytest.approx([1.0, 4.0, 20.0])
    assert (w[3:] == MAX_WEIGHT).all()
    assert ipw_weights(p, np.ones(5, bool), max_weight=200)[3] == pytest.approx(1 / 0.011)


@pytest.mark.parametrize("bad", [0.0, -0.1, 1.5, np.nan])
def test_an_inspected_row_without_a_valid_probability_is_refused(bad):
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        ipw_weights(np.array([0.5, bad]), np.array([True, True]))
    ipw_weights(np.array([0.5, bad]), np.array([True, False]))  # not inspected: its probability is irrelevant


def test_self_normalised_weights_average_one_and_keep_the_zeros():
    w = self_normalised(ipw_weights(np.array([0.5, 0.1, 0.2, 0.3]), np.array([True, True, False, True])))
    assert w[2] == 0 and w[w > 0].mean() == pytest.approx(1.0)
    assert w[1] / w[0] == pytest.approx(5.0)  # ratios kept


# -- the replayed policy's propensities ------------------------------------------------------------
@pytest.mark.parametrize("with_model", [False, True])
def test_recorded_propensities_are_the_frequencies_at_which_rows_are_inspected(with_model):
    rng = np.random.default_rng(0)
    n, draws = 200, 4000
    scores = np.linspace(1, 0, n) if with_model else None
    counts = np.zeros(n)
    for _ in range(draws):
        mask, propensity, top = _select(scores, n, 0.10, 0.10, rng)
        assert mask.sum() == 20 and top.sum() == (18 if with_model else 0)
        counts += mask
    assert np.abs(counts / draws - propensity).max() < 0.03
    if with_model:
        assert (propensity[:18] == 1).all() and propensity[18:] == pytest.approx(2 / 182)
    else:
        assert propensity == pytest.approx(np.full(n, 0.1))


def _goods(n: int, groups: int) -> list[tuple]:
    return [("847130", float(100 + i % groups), 1.0) for i in range(n)]


@pytest.mark.parametrize("repeats", [False, True])
@pytest.mark.parametrize("with_model", [False, True])
def test_coverage_propensities_are_the_frequencies_at_which_rows_are_inspected(with_model, repeats):
    """Groups of unequal size, some goods already inspected, draws weighted by declarations or not:
    the recorded propensity is still exact."""
    rng = np.random.default_rng(1)
    keys = _goods(120, 37)  # groups of 3 or 4 rows
    inspected_goods = set(keys[:10])
    declared = {k: float(1 + int(k[1]) % 9) for k in keys} if repeats else None  # goods declared 1-9 times
    scores = np.linspace(1, 0, len(keys)) if with_model else None
    counts, draws = np.zeros(len(keys)), 6000
    for _ in range(draws):
        mask, propensity, top = _select_coverage(scores, keys, inspected_goods, 0.15, 0.4, rng, declared=declared)
        # 18 a day, unless a rare split sends more draws to the 10 inspected goods than they have groups
        assert mask.sum() <= 18 and top.sum() == (11 if with_model else 0)
        counts += mask
    assert counts.sum() / draws > 17.9
    assert np.abs(counts / draws - propensity).max() < 0.025
    assert (propensity > 0).all() and (propensity <= 1).all()  # every row can be inspected (positivity)
    if with_model:
        assert (propensity[top] == 1).all()


def test_coverage_picks_one_row_per_never_inspected_goods_group():
    keys = _goods(100, 20)
    inspected_goods = set(keys[:5])
    scores = np.linspace(1, 0, 100)  # the first rows score highest, and their goods were inspected
    mask, propensity, top = _select_coverage(scores, keys, inspected_goods, 0.10, 0.0, np.random.default_rng(0))
    picked = [keys[i] for i in np.flatnonzero(top)]
    assert len(picked) == 10 and len(set(picked)) == 10 and not set(picked) & inspected_goods
    assert np.flatnonzero(top).tolist() == list(range(5, 15))  # the top scores among the new goods
    assert (mask == top).all() and (propensity[top] == 1).all()


def test_repeats_rank_new_goods_by_score_times_declarations():
    keys = _goods(40, 40)
    declared = {k: 1.0 for k in keys} | {keys[39]: 100.0}  # the lowest score, but declared 100 times so far
    mask, _, top = _select_coverage(np.linspace(1, 0.01, 40), keys, set(), 0.05, 0.0, np.random.default_rng(0),
                                    declared=declared)
    assert np.flatnonzero(top).tolist() == [0, 39]


@pytest.mark.parametrize(("weight", "k"), [([1, 1, 1, 1], 2), ([8, 1, 1, 2], 2), ([50, 40, 1, 1, 1], 3), ([1, 2], 5)])
def test_inclusion_probabilities_sum_to_the_draws_and_stay_proportional_below_one(weight, k):
    w = np.array(weight, dtype=float)
    pi = _inclusion(w, k)
    assert pi.sum() == pytest.approx(min(k, len(w))) and (pi <= 1).all() and (pi > 0).all()
    free = pi < 1
    if free.sum() > 1:
        assert pi[free] / w[free] == pytest.approx(np.full(free.sum(), (pi[free] / w[free])[0]))


def test_a_row_never_inspected_by_the_coverage_policy_contributes_nothing():
    keys = _goods(200, 50)
    mask, propensity, _ = _select_coverage(np.linspace(1, 0, 200), keys, set(), 0.10, 0.5, np.random.default_rng(3))
    w = ipw_weights(propensity, mask)
    assert (w[~mask] == 0).all() and (w[mask] >= 1).all()
    assert w[mask] == pytest.approx(np.minimum(1 / propensity[mask], MAX_WEIGHT))


@pytest.fixture(scope="module")
def periods() -> tuple[pl.DataFrame, pl.DataFrame]:
    frame = item_frame(3000, seed=5, days=70, importers=150)
    cut = frame["declared_at"].min() + timedelta(days=56)
    return frame.filter(pl.col("declared_at") < cut), frame.filter(pl.col("declared_at") >= cut)


@pytest.mark.parametrize("policy", POLICIES)
def test_labelled_history_labels_only_what_the_policy_inspected(periods, policy):
    train, _ = periods
    hist = selective_history(train, labelled_share=0.10, warmup_weeks=2, policy=policy, make_model=small_model)
    assert 0.08 <= hist.inspected.mean() <= 0.12
    assert hist.frame["offence"].is_not_null().to_numpy().tolist() == hist.inspected.tolist()
    assert hist.state.n_outcomes == hist.inspected.sum()  # the features saw no other outcome
    assert (hist.propensity[hist.inspected] > 0).all() and (hist.propensity <= 1).all()
    assert hist.features.height == train.height
    w = hist.weights()
    assert (w[~hist.inspected] == 0).all() and w[hist.inspected].mean() == pytest.approx(1.0)
    # after the random warm-up a model picks: some inspected rows were certain picks
    assert hist.top is not None and hist.top.any() and (hist.propensity[hist.top] == 1).all()
    summary = hist.summary()
    assert summary["policy"] == policy and summary["model_picks"] == hist.top.sum()
    assert summary["hit_rate"] == pytest.approx(summary["offences_found"] / summary["labelled"])


def test_the_coverage_history_labels_more_distinct_goods_than_the_top_scores(periods):
    """Repeated goods (40 values per HS6): the top policy re-inspects them, coverage spreads out."""
    train, _ = periods
    train = train.with_columns((100 + pl.int_range(pl.len()) % 40).cast(pl.Float64).alias("customs_value"),
                               pl.lit(1.0).alias("net_mass_kg"))
    goods = {}
    for policy in POLICIES:
        hist = selective_history(train, labelled_share=0.10, warmup_weeks=2, policy=policy, make_model=small_model)
        keys = goods_keys(train.filter(pl.Series(hist.inspected)))
        goods[policy] = len(set(keys)) / len(keys)
        assert hist.summary()["goods_labelled"] == len(set(keys))
    assert goods["coverage"] > goods["top"]


def test_an_unknown_policy_is_refused(periods):
    with pytest.raises(ValueError, match="policy"):
        selective_history(periods[0], policy="newest")  # type: ignore[arg-type]


def test_full_labelled_history_is_the_training_file(periods):
    train, _ = periods
    hist = selective_history(train, labelled_share=1.0)
    assert hist.inspected.all() and (hist.propensity == 1).all()
    assert hist.state.n_outcomes == train.height


def test_weekly_replay_reports_hits_novel_goods_and_duty_recovered(periods):
    train, test = periods
    replay = simulate(train, test, labelled_share=0.10, make_model=small_model)
    assert replay.history["labelled"] < 0.15 * train.height
    assert len(replay.weeks) == 2
    for w in replay.weeks:
        assert 0.08 * w["n"] <= w["inspected"] <= 0.12 * w["n"] + 1
        assert w["hits"] <= w["inspected"] and w["novel_inspected"] <= w["inspected"]
        assert w["novel_hits"] <= w["novel_inspected"] <= w["novel_n"] <= w["n"]
        duty = test.filter(pl.col("offence") == 1).select((pl.col("customs_value") * pl.col("tax_rate") / 100).sum())
        assert 0 <= w["duty_recovered"] <= duty.item()
        assert w["random_rate"] == pytest.approx(w["offences"] / w["n"])
    assert sum(w["n"] for w in replay.weeks) == test.height


def test_lookup_scores_are_the_weighted_offence_rate_of_the_labelled_rows_of_the_same_goods():
    keys = [("a",), ("a",), ("a",), ("b",), ("c",)]
    labels = np.array([1.0, 0.0, 1.0, 0.0, 1.0])
    weights = np.array([2.0, 1.0, 0.0, 1.0, 0.0])  # the third and fifth rows were never inspected
    scores = lookup_scores(keys, labels, weights, [("a",), ("b",), ("c",), ("d",)])
    # a: (2*1 + 1*0) / 3; b: 0; c and d: no labelled row -> the labelled base rate 2/4
    assert scores == pytest.approx([2 / 3, 0.0, 0.5, 0.5])


def test_known_goods_are_visible_from_their_outcome_time_on():
    t0 = pl.datetime(2024, 1, 1)
    done = pl.DataFrame({"hs_code": ["8471300000", "8471300000", "6109100000"], "customs_value": [10.0, 10.0, 5.0],
                         "net_mass_kg": [1.0, 1.0, 2.0], "offence": [None, 1, 0]}).with_columns(
        (t0 + pl.duration(days=pl.Series([0, 7, 3]))).alias("outcome_at"))
    known = KnownGoods()
    known.observe(done)  # the first row has no outcome: ignored
    day = pl.DataFrame({"hs_code": ["8471301000", "8471309000", "6109100000", "6109100000"],
                        "customs_value": [10.0, 10.0, 5.0, 5.0], "net_mass_kg": [1.0, 1.0, 2.0, 2.5]}).with_columns(
        (t0 + pl.duration(days=pl.Series([6, 7, 3, 9]))).alias("declared_at"))
    seen, offending = known.visible(day)
    # the offence is known from day 7 on; the clean result from day 3 on; another mass is other goods
    assert seen.tolist() == [False, True, True, False] and offending.tolist() == [False, True, False, False]


def test_known_goods_rates_weigh_the_visible_outcomes_only():
    t0 = pl.datetime(2024, 1, 1)
    done = pl.DataFrame({"hs_code": ["8471300000"] * 3, "customs_value": [10.0] * 3, "net_mass_kg": [1.0] * 3,
                         "offence": [1, 0, 1]}).with_columns((t0 + pl.duration(days=pl.Series([1, 2, 9]))).alias(
                             "outcome_at"))
    known = KnownGoods()
    known.observe(done, np.array([3.0, 1.0, 5.0]))
    day = pl.DataFrame({"hs_code": ["8471300000"] * 4, "customs_value": [10.0, 10.0, 10.0, 11.0],
                        "net_mass_kg": [1.0] * 4}).with_columns(
        (t0 + pl.duration(days=pl.Series([0, 5, 9, 9]))).alias("declared_at"))
    rates = known.rates(day)
    # day 0: nothing visible; day 5: (3*1 + 1*0) / 4; day 9: (3 + 0 + 5) / 9; another value: unknown goods
    assert np.isnan(rates[0]) and rates[1:3] == pytest.approx([0.75, 8 / 9]) and np.isnan(rates[3])


def _repeated_goods(frame: pl.DataFrame, groups: int) -> pl.DataFrame:
    return frame.with_columns((100 + pl.int_range(pl.len()) % groups).cast(pl.Float64).alias("customs_value"),
                              pl.lit(1.0).alias("net_mass_kg"), pl.lit("8471300000").alias("hs_code"))


def test_the_lookup_scores_goods_with_a_known_outcome_by_that_outcome(periods):
    """Offence decided by the goods alone (one group in five): looked-up goods score their known rate, 0 or 1,
    and every top-10 % row whose goods had a known offence is one."""
    train, test = (_repeated_goods(f, 300).with_columns(
        (pl.col("customs_value").cast(pl.Int64) % 5 == 0).cast(pl.Int8).alias("offence")) for f in periods)
    replay = simulate(train, test, labelled_share=0.10, make_model=small_model, known_goods="lookup")
    o = replay.overall
    assert o["top10_known_offending"] > 0 and o["top10_known_offending_precision"] == 1.0
    looked_up = np.isin(replay.scores, [0.0, 1.0])
    assert looked_up.mean() >= o["known_share"] - 1e-9  # every known row scored 0 or 1 by the lookup
    with pytest.raises(ValueError, match="known_goods"):
        simulate(train, test, known_goods="guess")  # type: ignore[arg-type]


def test_inspected_test_outcomes_feed_later_declarations_of_the_same_goods(periods):
    """Goods repeat (300 values, more than the history labels): outcomes of the test weeks' own inspections
    become known a week later, and the replay reports P@10 of the scores as decided, weekly and overall.
    (The model without the known-goods blend: with it, the top picks here are goods already known from the
    history, so the test inspections add no goods the history lacked; tests/risk/test_known_goods.py checks
    the feedback row by row with the blend on.)"""
    train, test = (_repeated_goods(f, 300) for f in periods)
    replay = simulate(train, test, labelled_share=0.10, make_model=lambda: RiskModel(num_boost_round=20,
                                                                                      known_goods=False))
    o = replay.overall
    assert len(replay.scores) == test.height and o["n"] == test.height
    assert 0 < o["known_from_test_share"] <= o["known_share"] <= 1
    assert 0 <= o["precision_at"]["10"] <= 1 and o["random"] == pytest.approx(test["offence"].mean())
    inspected = sum(w["inspected"] for w in replay.weeks)
    assert o["inspected_hit_rate"] == pytest.approx(sum(w["hits"] for w in replay.weeks) / inspected)
    assert o["top10_known_offending"] <= round(0.1 * test.height)
    for w in replay.weeks:
        assert 0 <= w["precision_at_10"] <= 1 and 0 <= w["known_share"] <= 1


def test_bad_shares_are_refused(periods):
    train, test = periods
    with pytest.raises(ValueError, match="labelled_share"):
        simulate(train, test, labelled_share=0)
    with pytest.raises(ValueError, match="budget"):
        simulate(train, test, budget=1.5)


# -- the CLI on slices of the real KCS files ------------------------------------------------------
def _slice(src, dst, rows):
    with src.open(encoding="utf-8") as fh:
        dst.write_text("".join(line for _, line in zip(range(rows + 1), fh, strict=False)), encoding="utf-8")
    return dst


def test_simulate_from_a_tenth_labelled_kcs_history_prints_the_weekly_table(kcs_dir, tmp_path):
    train = _slice(kcs_dir / "train.csv", tmp_path / "train.csv", 6000)
    test = _slice(kcs_dir / "valid.csv", tmp_path / "valid.csv", 1500)
    args = ["simulate", "--train", str(train), "--test", str(test), "--labelled-share", "0.1"]
    result = CliRunner().invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["labelled_share"] == 0.1 and 0.08 <= report["history"]["labelled_share"] <= 0.12
    week = report["weeks"][0]
    assert {"hit_rate", "inspected_hit_rate", "novel_hit_rate", "duty_recovered", "random_rate", "precision_at_10",
            "known_share"} <= set(week)
    assert {"precision_at", "novel_precision_at", "known_share", "top10_known_offending"} <= set(report["overall"])
    assert sum(w["n"] for w in report["weeks"]) == 1500
    table = CliRunner().invoke(app, args)
    assert table.exit_code == 0, table.output
    for words in ("novel", "duty", "random", "labelled history", "P@10", "whole period"):
        assert words in table.stdout


def test_simulate_refuses_a_labelled_share_out_of_range_without_a_traceback(tmp_path):
    good = tmp_path / "f.csv"
    good.write_text("x\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["simulate", "--train", str(good), "--test", str(good), "--labelled-share", "0"])
    assert result.exit_code == 2 and "--labelled-share" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize(("option", "value"), [("--history-policy", "newest"), ("--known-goods", "guess"),
                                               ("--test-policy", "newest")])
def test_simulate_refuses_an_unknown_history_policy_or_known_goods_scoring(tmp_path, option, value):
    good = tmp_path / "f.csv"
    good.write_text("x\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["simulate", "--train", str(good), "--test", str(good), option, value])
    assert result.exit_code == 2 and option in result.output and "Traceback" not in result.output
