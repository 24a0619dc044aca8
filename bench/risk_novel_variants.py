"""Variants of the novel-goods booster on KCS, both splits, test outcomes hidden (issue #17, docs/risk.md).

Every variant trains only the novel-goods booster (``RiskModel``'s second part: rows whose exact (HS6,
value, mass) triple had never been declared before, 7 leaves, 300 rounds) and ranks the novel test
declarations (triple in no training row) with it; the figures are what ``bench/risk_novel.py`` reports
as "ours" on the novel subset. Each variant is run with seeds 0, 1, 2 (``--seeds``) and the table gives
the mean AUC / P@5 / P@10 per split: the seed spread (~0.003 AUC) is smaller than the test sampling
error (AUC ~0.02, P@10 ~0.035), which no number of seeds removes, so a gain counts only when it holds on
both splits. Features are built once per split (point-in-time, test outcomes hidden).

Variants: the shipped booster (``NOVEL_FEATURES``, ``NOVEL_PARAMS``) and the one before it (27 inputs, no
randomised splits); parameters (rounds, leaves, min rows per leaf, monotone low unit value); extra inputs
computed here for the experiment only (not in the feature pipeline): a hierarchical empirical-Bayes
offence rate HS2 -> HS4 -> HS6 -> HS6 x origin -> x tariff type in one value; point-in-time offence rates
of HS4 / HS2 x tariff type; the offence rate of the 20 nearest earlier labelled declarations of the same
HS6 / HS4 in (log unit value, log mass); and rank ensembles with the main booster and a regularised
logistic regression on the offence-rate encodings.

B3 (2026-12-04) added, marked "B3:": point-in-time goods-structure inputs (HS6 distinct-triple share, the unit
value's rank among earlier HS6 declarations, round numbers, tax rate against the HS6's mean); the partial-repeat
inputs with the exact triple's own declarations and outcomes taken out, and training on every row with every
offence rate so computed; pair and triple rates (HS4 x origin x tariff type, HS2 x route, HS6 x office); the
item categoricals and HS4 as LightGBM categoricals (``cat_smooth``); offence rates re-smoothed (strength 20);
net mass against the HS references; training-row choices (burn-in, recency weights, the scoring gate);
objective / regularisation settings (stumps, 4 leaves, L2 50, rate 0.015, positive bagging, feature fraction,
DART); and the rank mean of the shipped booster with the inner split's two best.

Splits: the two of ``bench/risk_novel.py`` and, first, an inner selection split Jan-Jun -> Jul-Sep 2020 (in
train.csv, before either target split's test period; ``--no-inner`` drops it): choose there, confirm on the
two others. Per split: AUC +- its standard error (Hanley-McNeil), P@5, P@10 +- its binomial standard error
(sampling error of the test rows, the same for every seed). "pooled" is the plain mean of the two target
splits; "dAUC" is the pooled AUC difference to the shipped booster on the same rows (seed-averaged scores)
+- a paired bootstrap standard error (200 resamples of the test rows), which is much smaller than either
AUC's own error because both rank the same rows.

    nice -n 10 .venv/bin/python bench/risk_novel_variants.py [--seeds 0 1 2] [--only NAME ...] [--no-inner]
"""

from __future__ import annotations

import argparse
import bisect
import math
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import polars as pl

from risk_novel import splits
from smartcustoms.risk.datasets.kcs import default_kcs_dir, read_kcs
from smartcustoms.risk.evaluate import auc, history_features, novel_goods, ranking_metrics
from smartcustoms.risk.offence_model import NOVEL_FEATURES, NOVEL_PARAMS, NOVEL_ROUNDS, NOVEL_TRAIN_GATE, RiskModel

BEFORE_FEATURES = NOVEL_FEATURES[:27]  # the 27 inputs before the reference-price ones (2026-12-04)
BEFORE_PARAMS = {k: v for k, v in NOVEL_PARAMS.items() if k != "extra_trees"}
RATE_CHAIN = ("hs2", "hs4", "hs6", "hs6_origin", "hs6_origin_tax_type")
LR_INPUTS = (
    "hs6_offence_rate", "hs4_offence_rate", "hs2_offence_rate", "hs6_origin_offence_rate",
    "hs6_origin_tax_type_offence_rate", "hs6_departure_offence_rate", "tax_type_offence_rate",
    "origin_offence_rate", "route_offence_rate", "log_value", "log_mass", "log_unit_value",
    "hs6_unit_value_deviation", "hs4_unit_value_deviation", "tax_rate", "log_duty_at_stake", "origin_is_departure",
)  # fmt: skip


class Split:
    """One split's raw rows, point-in-time features (test outcomes hidden) and novel-goods mask."""

    def __init__(self, name: str, train: pl.DataFrame, test: pl.DataFrame) -> None:
        self.name, self.train, self.test = name, train, test
        self.train_f, test_f, _ = history_features(train, test, "hidden")
        assert test_f is not None
        self.test_f = test_f
        self.novel = novel_goods(train, test)
        self.y = train["offence"].to_numpy().astype(np.float64)
        self.y_novel = test["offence"].fill_null(0).to_numpy()[self.novel]
        self.first = self.train_f[NOVEL_TRAIN_GATE].to_numpy() == 0
        self.cache: dict[str, Any] = {}


Extra = Callable[[Split, int], dict[str, np.ndarray]]  # (split, 0 train / 1 test) -> named extra inputs


def _matrix(frame: pl.DataFrame, cols: tuple[str, ...]) -> np.ndarray:
    return frame.select([pl.col(c).cast(pl.Float64) for c in cols]).to_numpy()


def _filled(frame: pl.DataFrame, col: str) -> np.ndarray:
    return frame[col].cast(pl.Float64).fill_null(0.0).to_numpy()


def hierarchical_rate(s: Split, side: int, strength: float = 20.0) -> dict[str, np.ndarray]:
    """Empirical-Bayes offence rate shrunk level by level toward its parent (global -> HS2 -> ... -> x tariff)."""
    f = s.train_f if side == 0 else s.test_f
    rate = f["global_offence_rate"].cast(pl.Float64).fill_null(0.2).to_numpy()
    for level in RATE_CHAIN:
        rate = (_filled(f, f"{level}_offences") + strength * rate) / (_filled(f, f"{level}_inspections") + strength)
    return {"hierarchical_offence_rate": rate}


def _key(parts: tuple[str, ...]) -> pl.Expr:
    source = {"hs6": pl.col("hs_code").str.slice(0, 6), "hs4": pl.col("hs_code").str.slice(0, 4),
              "hs2": pl.col("hs_code").str.slice(0, 2), "tax_type": pl.col("tax_type"),
              "origin": pl.col("origin_country"), "departure": pl.col("departure_country"),
              "office": pl.col("office_code")}  # fmt: skip
    return pl.concat_str([source[p].cast(pl.Utf8).fill_null("?") for p in parts], separator="|").alias("key")


def point_in_time_rate(parts: tuple[str, ...], strength: float = 5.0) -> Extra:
    """Offence rate of a key from training outcomes known at declaration (outcome_at <= declared_at)."""

    def extra(s: Split, side: int) -> dict[str, np.ndarray]:
        name = "_".join(parts)
        if name not in s.cache:
            events = (
                s.train.select(_key(parts), "outcome_at", pl.col("offence").cast(pl.Float64))
                .drop_nulls("offence")
                .sort("outcome_at")
                .with_columns(
                    pl.lit(1.0).cum_sum().over("key").alias("n"), pl.col("offence").cum_sum().over("key").alias("o")
                )
            )
            rows = pl.concat([s.train.select(_key(parts), "declared_at"), s.test.select(_key(parts), "declared_at")])
            joined = (
                rows.with_row_index("r")
                .sort("declared_at")
                .join_asof(events.select("key", "outcome_at", "n", "o"), left_on="declared_at",
                           right_on="outcome_at", by="key", strategy="backward", check_sortedness=False)
                .sort("r")
            )  # fmt: skip
            prior = float(s.y.mean())
            rate = (joined["o"].fill_null(0).to_numpy() + strength * prior) / (
                joined["n"].fill_null(0).to_numpy() + strength
            )
            s.cache[name] = (rate[: s.train.height], rate[s.train.height :])
        return {f"{name}_offence_rate": s.cache[name][side]}

    return extra


def nearest_labelled(level: int, k: int = 20, strength: float = 2.0) -> Extra:
    """Offence rate of the k nearest earlier labelled declarations of the same HS``level`` in (log unit
    value, log mass), outcomes known at declaration (test rows: training outcomes only)."""

    def extra(s: Split, side: int) -> dict[str, np.ndarray]:
        name = f"hs{level}_nearest_{k}"
        if name not in s.cache:
            s.cache[name] = _nearest(s, level, k, strength)
        return {name: s.cache[name][side]}

    return extra


def _nearest(s: Split, level: int, k: int, strength: float) -> tuple[np.ndarray, np.ndarray]:
    def rows(frame: pl.DataFrame, train: bool) -> pl.DataFrame:
        mass = pl.col("net_mass_kg").cast(pl.Float64).log1p()
        return frame.select(
            pl.col("hs_code").str.slice(0, level).alias("g"),
            pl.col("declared_at").dt.epoch("s").cast(pl.Float64).alias("t"),
            (pl.col("outcome_at").dt.epoch("s").cast(pl.Float64) if train else pl.lit(np.inf)).alias("known"),
            (pl.col("customs_value").cast(pl.Float64).log1p() - mass).alias("luv"),
            mass.alias("lm"),
            (pl.col("offence").cast(pl.Float64).fill_null(0.0) if train else pl.lit(0.0)).alias("y"),
        )

    both = pl.concat([rows(s.train, True), rows(s.test, False)]).with_row_index("i")
    out = np.full(both.height, np.nan)
    prior = float(s.y.mean())
    for _, g in both.group_by("g"):
        idx, t, known = g["i"].to_numpy(), g["t"].to_numpy(), g["known"].to_numpy()
        luv, lm, y = g["luv"].to_numpy(), g["lm"].to_numpy(), g["y"].to_numpy()
        pool = np.flatnonzero(np.isfinite(known))
        if len(pool) == 0:
            continue
        for start in range(0, len(idx), 2000):
            q = np.arange(start, min(start + 2000, len(idx)))
            visible = known[None, pool] <= t[q, None]
            d = np.where(visible, (luv[q, None] - luv[None, pool]) ** 2 + (lm[q, None] - lm[None, pool]) ** 2, np.inf)
            take = min(k, len(pool))
            nearest = np.argsort(d, axis=1)[:, :take]
            used = np.arange(take)[None, :] < np.minimum(visible.sum(1), k)[:, None]
            out[idx[q]] = ((y[pool][nearest] * used).sum(1) + strength * prior) / (used.sum(1) + strength)
    return out[: s.train.height], out[s.train.height :]


Rows = Callable[[Split], np.ndarray]  # split -> per training row: a mask or a weight


def novel_booster_scores(
    s: Split, seed: int, cols: tuple[str, ...] = NOVEL_FEATURES, params: dict[str, Any] | None = None,
    rounds: int = NOVEL_ROUNDS, extras: tuple[Extra, ...] = (), *, rows: Rows | None = None,
    weight: Rows | None = None, categorical: tuple[str, ...] = (),
    inputs: Callable[[pl.DataFrame, tuple[str, ...]], np.ndarray] | None = None,
) -> np.ndarray:  # fmt: skip
    """The novel-goods booster's scores of the novel test rows.

    ``rows`` picks the training rows (default: first-seen triples), ``weight`` weights them, ``categorical``
    names inputs LightGBM treats as categories, ``inputs`` replaces the plain feature matrix of ``cols``.
    """
    read = inputs or _matrix
    xs, names = [read(s.train_f, cols), read(s.test_f, cols)], list(cols)
    for extra in extras:
        tr, te = extra(s, 0), extra(s, 1)
        names += list(tr)
        xs = [np.column_stack([xs[0], *tr.values()]), np.column_stack([xs[1], *te.values()])]
    p = {**(params if params is not None else NOVEL_PARAMS), "seed": seed}
    use = s.first if rows is None else rows(s)
    data = lgb.Dataset(xs[0][use], s.y[use], weight=None if weight is None else weight(s)[use], feature_name=names,
                       categorical_feature=list(categorical) or "auto", params={"verbose": -1})  # fmt: skip
    booster = lgb.train(p, data, num_boost_round=rounds)
    return np.asarray(booster.predict(xs[1][s.novel]))


# -- B3: goods structure, the exact triple taken out, categoricals ---------------------------------------------
def goods_structure(s: Split, side: int) -> dict[str, np.ndarray]:
    """Point-in-time goods-structure inputs from declarations only (training and test rows in time order):
    distinct (value, mass) pairs of the HS6 so far / its declarations so far, the unit value's mid-rank among
    earlier HS6 unit values (0-1), the tax rate minus the HS6's mean so far, trailing zeros of the value and
    of the net mass (whole units), net mass a whole number."""
    if "structure" not in s.cache:
        both = pl.concat([s.train.select(ITEM_COLS), s.test.select(ITEM_COLS)])
        assert both["declared_at"].is_sorted()
        hs6, value, mass, rate = (both["hs_code"].str.slice(0, 6).to_list(), both["customs_value"].to_numpy(),
                                  both["net_mass_kg"].to_numpy(), both["tax_rate"].to_numpy())  # fmt: skip
        luv = np.log1p(value) - np.log1p(mass)
        names = ("hs6_distinct_share", "hs6_unit_value_rank", "hs6_tax_rate_dev")
        out = {k: np.full(both.height, np.nan) for k in names}
        n: dict[str, int] = defaultdict(int)
        rate_sum: dict[str, float] = defaultdict(float)
        pairs: dict[str, set[tuple[float, float]]] = defaultdict(set)
        earlier: dict[str, list[float]] = defaultdict(list)
        for i, key in enumerate(hs6):
            if n[key]:
                seen = earlier[key]
                out["hs6_distinct_share"][i] = len(pairs[key]) / n[key]
                below, upto = bisect.bisect_left(seen, luv[i]), bisect.bisect_right(seen, luv[i])
                out["hs6_unit_value_rank"][i] = (below + upto) / (2 * len(seen))
                out["hs6_tax_rate_dev"][i] = rate[i] - rate_sum[key] / n[key]
            n[key] += 1
            rate_sum[key] += rate[i]
            pairs[key].add((value[i], mass[i]))
            bisect.insort(earlier[key], luv[i])

        def zeros(x: np.ndarray) -> np.ndarray:
            whole = np.round(x).astype(np.int64)
            return np.sum([(whole % 10**p == 0) & (whole > 0) for p in range(1, 8)], axis=0).astype(np.float64)

        out |= {"value_round_zeros": zeros(value), "mass_round_zeros": zeros(mass),
                "mass_is_whole": (np.abs(mass - np.round(mass)) < 1e-9).astype(np.float64)}  # fmt: skip
        cut = s.train.height
        s.cache["structure"] = ({k: v[:cut] for k, v in out.items()}, {k: v[cut:] for k, v in out.items()})
    return s.cache["structure"][side]


ITEM_COLS = ("declared_at", "hs_code", "customs_value", "net_mass_kg", "tax_rate")


def structure(*names: str) -> Extra:
    """The named :func:`goods_structure` inputs."""
    return lambda s, side: {k: goods_structure(s, side)[k] for k in names}


EXCLUDED_RATES = ("hs6", "hs4", "hs2", "hs6_origin", "hs6_origin_tax_type", "hs6_departure", "tax_type", "origin",
                  "route", "hs6_value", "hs6_mass", "value")  # fmt: skip
EXCLUDED_COUNTS = ("hs6", "hs4", "hs6_value", "hs6_mass")


def without_triple(frame: pl.DataFrame, cols: tuple[str, ...]) -> np.ndarray:
    """The inputs with the exact triple's own earlier declarations and outcomes taken out: offence rates
    re-smoothed (strength 5) from inspections / offences minus the triple's, counts minus the triple's count,
    the value's age unknown when only the triple declared that value. Identical on first-seen rows; on a repeat
    (within the test period, or any training repeat) it no longer reads the triple's own history."""

    def col(c: str) -> np.ndarray:
        return np.nan_to_num(frame[c].cast(pl.Float64).to_numpy())

    g = frame["global_offence_rate"].cast(pl.Float64).fill_null(0.2).to_numpy()
    t_count, t_insp, t_off = (col(f"hs6_value_mass_{k}") for k in ("count", "inspections", "offences"))
    out = []
    for c in cols:
        x = frame[c].cast(pl.Float64).to_numpy().copy()
        family = c.removesuffix("_offence_rate") if c.endswith("_offence_rate") else None
        if family in EXCLUDED_RATES:
            insp = col(f"{family}_inspections")
            off = col(f"{family}_offences") if f"{family}_offences" in frame.columns else x * (insp + 5) - 5 * g
            x = (np.clip(off - t_off, 0, None) + 5 * g) / (np.clip(insp - t_insp, 0, None) + 5)
        elif c.endswith("_count") and c.removesuffix("_count") in EXCLUDED_COUNTS:
            x = np.clip(x - t_count, 0, None)
        elif c == "value_age_days":
            x = np.where(col("value_count") - t_count > 0, x, np.nan)
        out.append(x)
    return np.column_stack(out)


def resmoothed(strength: float) -> Extra:
    """Goods / pair offence rates re-smoothed toward the global rate with another strength (replace the shipped)."""

    def extra(s: Split, side: int) -> dict[str, np.ndarray]:
        f = s.train_f if side == 0 else s.test_f
        g = f["global_offence_rate"].cast(pl.Float64).fill_null(0.2).to_numpy()
        return {f"{fam}_rate_{strength:g}": (_filled(f, f"{fam}_offences") + strength * g)
                / (_filled(f, f"{fam}_inspections") + strength) for fam in RESMOOTHED}  # fmt: skip

    return extra


RESMOOTHED = ("hs6", "hs4", "hs2", "hs6_origin", "hs6_origin_tax_type", "hs6_departure", "hs6_value", "hs6_mass",
              "value")  # fmt: skip
NOT_RESMOOTHED = tuple(c for c in NOVEL_FEATURES if c.removesuffix("_offence_rate") not in RESMOOTHED)
ITEM_CATEGORICALS = ("cat_office", "cat_trade_mode", "cat_transport_mode", "cat_process_type", "cat_import_type",
                     "cat_import_use", "cat_payment_type", "cat_origin_indicator")  # fmt: skip


def coded(s: Split) -> Callable[[pl.DataFrame, tuple[str, ...]], np.ndarray]:
    """Inputs with categoricals (``cat_*``) as codes of their sorted values over the split's training and test
    rows (no outcome involved), numeric inputs as floats."""
    if "vocabulary" not in s.cache:
        s.cache["vocabulary"] = {
            c: {v: float(i) for i, v in enumerate(sorted(set(s.train_f[c].drop_nulls().to_list())
                                                         | set(s.test_f[c].drop_nulls().to_list())))}
            for c in ITEM_CATEGORICALS + ("cat_tax_type", "cat_origin", "cat_departure", "cat_hs2")
        }  # fmt: skip
    vocabulary: dict[str, dict[str, float]] = s.cache["vocabulary"]

    def inputs(frame: pl.DataFrame, cols: tuple[str, ...]) -> np.ndarray:
        return np.column_stack([
            [vocabulary[c].get(v, np.nan) for v in frame[c].to_list()] if c in vocabulary
            else frame[c].cast(pl.Float64).to_numpy() for c in cols
        ])  # fmt: skip

    return inputs


def mass_deviation(s: Split, side: int) -> dict[str, np.ndarray]:
    """Net mass against the HS6 / HS4 / HS6 x origin reference (value deviation minus unit-value deviation)."""
    f = s.train_f if side == 0 else s.test_f
    return {
        f"{g}_mass_deviation": _filled_nan(f, f"{g}_value_deviation") - _filled_nan(f, f"{g}_unit_value_deviation")
        for g in ("hs6", "hs4", "hs6_origin")
    }


def _filled_nan(frame: pl.DataFrame, col: str) -> np.ndarray:
    return frame[col].cast(pl.Float64).fill_null(np.nan).to_numpy()


def all_rows(s: Split) -> np.ndarray:
    return np.ones(len(s.y), dtype=bool)


def first_weight_others(w: float) -> Rows:
    return lambda s: np.where(s.first, 1.0, w)


def burn_in(days: int) -> Rows:
    """First-seen rows declared at least ``days`` after the training period's start."""

    def rows(s: Split) -> np.ndarray:
        t = s.train["declared_at"]
        return s.first & ((t - t.min()).dt.total_days().to_numpy() >= days)

    return rows


def recency(half_life_days: float) -> Rows:
    def weight(s: Split) -> np.ndarray:
        t = s.train["declared_at"].dt.epoch("s").to_numpy().astype(np.float64)
        return np.exp2((t - t.max()) / (half_life_days * 86400))

    return weight


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.nan_to_num(p, nan=0.2), 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def logistic_scores(s: Split, l2: float = 1.0) -> np.ndarray:
    """Ridge logistic regression (Newton steps) on the offence-rate encodings (as log-odds) and value inputs."""

    def design(f: pl.DataFrame) -> np.ndarray:
        return np.column_stack([_logit(f[c].cast(pl.Float64).to_numpy()) if c.endswith("offence_rate")
                                else f[c].cast(pl.Float64).to_numpy() for c in LR_INPUTS])  # fmt: skip

    xtr, xte = design(s.train_f)[s.first], design(s.test_f)[s.novel]
    med = np.nanmedian(xtr, axis=0)
    xtr, xte = np.where(np.isnan(xtr), med, xtr), np.where(np.isnan(xte), med, xte)
    mu, sd = xtr.mean(0), xtr.std(0) + 1e-9
    xtr = np.column_stack([np.ones(len(xtr)), (xtr - mu) / sd])
    xte = np.column_stack([np.ones(len(xte)), (xte - mu) / sd])
    y, w = s.y[s.first], np.zeros(xtr.shape[1])
    penalty = l2 * np.diag(np.r_[0.0, np.ones(len(w) - 1)])
    for _ in range(30):
        p = 1 / (1 + np.exp(-xtr @ w))
        w -= np.linalg.solve((xtr * (p * (1 - p))[:, None]).T @ xtr + penalty, xtr.T @ (p - y) + penalty @ w)
    return np.asarray(xte @ w)


def main_booster_scores(s: Split, seed: int) -> np.ndarray:
    """The main booster alone (``RiskModel(novel_goods=False)``, raw probabilities) on the novel test rows."""
    model = RiskModel(seed=seed, novel_goods=False, calibrate=False).fit(s.train_f, s.y)
    return np.asarray(model.predict_proba(s.test_f))[s.novel]


def _rank(a: np.ndarray) -> np.ndarray:
    return np.asarray(pl.Series(a).rank("average").to_numpy()) / len(a)


def ensemble(*parts: str) -> Callable[[Split, int], np.ndarray]:
    """Mean rank of the shipped novel booster and the named other models."""

    def scores(s: Split, seed: int) -> np.ndarray:
        ranks = [_rank(novel_booster_scores(s, seed))]
        for part in parts:
            ranks.append(_rank(main_booster_scores(s, seed) if part == "main" else logistic_scores(s)))
        return np.mean(ranks, axis=0)

    return scores


MONOTONE_LOW_UNIT_VALUE = [-1 if c == "log_unit_value" else 0 for c in NOVEL_FEATURES]
NF = NOVEL_FEATURES
CATEGORY_PARAMS = {**NOVEL_PARAMS, "cat_smooth": 50.0, "min_data_per_group": 100, "cat_l2": 10.0}
VARIANTS: dict[str, Callable[[Split, int], np.ndarray]] = {
    "before: 27 inputs, no extra trees": lambda s, sd: novel_booster_scores(s, sd, BEFORE_FEATURES, BEFORE_PARAMS),
    "before + extra trees": lambda s, sd: novel_booster_scores(s, sd, BEFORE_FEATURES),
    "before + 3 reference-price inputs": lambda s, sd: novel_booster_scores(s, sd, params=BEFORE_PARAMS),
    "shipped: 30 inputs, extra trees": lambda s, sd: novel_booster_scores(s, sd),
    "shipped, 600 rounds": lambda s, sd: novel_booster_scores(s, sd, rounds=600),
    "shipped, min 300 rows a leaf": lambda s, sd: novel_booster_scores(
        s, sd, params={**NOVEL_PARAMS, "min_data_in_leaf": 300}),
    "shipped, monotone low unit value": lambda s, sd: novel_booster_scores(
        s, sd, params={**NOVEL_PARAMS, "monotone_constraints": MONOTONE_LOW_UNIT_VALUE}),
    "+ hierarchical EB rate (one value)": lambda s, sd: novel_booster_scores(s, sd, extras=(hierarchical_rate,)),
    "+ HS4 / HS2 x tariff type rates": lambda s, sd: novel_booster_scores(
        s, sd, extras=(point_in_time_rate(("hs4", "tax_type")), point_in_time_rate(("hs2", "tax_type")))),
    "+ 20 nearest labelled, HS6 and HS4": lambda s, sd: novel_booster_scores(
        s, sd, extras=(nearest_labelled(6), nearest_labelled(4))),
    "rank mean: shipped + main booster": ensemble("main"),
    "rank mean: shipped + logistic": ensemble("logistic"),
    "rank mean: shipped + main + logistic": ensemble("main", "logistic"),
    # -- B3 (2026-12-04) ---------------------------------------------------------------------------------------
    "B3: train on scoring gate (no outcome)": lambda s, sd: novel_booster_scores(
        s, sd, rows=lambda s: s.train_f["hs6_value_mass_inspections"].to_numpy() == 0),
    "B3: partial repeats without the triple": lambda s, sd: novel_booster_scores(s, sd, inputs=without_triple),
    "B3: all rows, inputs without the triple": lambda s, sd: novel_booster_scores(
        s, sd, inputs=without_triple, rows=all_rows),
    "B3: same, repeats weighted 0.3": lambda s, sd: novel_booster_scores(
        s, sd, inputs=without_triple, rows=all_rows, weight=first_weight_others(0.3)),
    "B3: + HS6 distinct-triple share": lambda s, sd: novel_booster_scores(
        s, sd, extras=(structure("hs6_distinct_share"),)),
    "B3: + HS6 unit-value rank": lambda s, sd: novel_booster_scores(s, sd, extras=(structure("hs6_unit_value_rank"),)),
    "B3: + mass deviation (HS6, HS4, HS6 x origin)": lambda s, sd: novel_booster_scores(
        s, sd, extras=(mass_deviation,)),
    "B3: + tax rate - HS6 mean": lambda s, sd: novel_booster_scores(s, sd, extras=(structure("hs6_tax_rate_dev"),)),
    "B3: + round value / mass": lambda s, sd: novel_booster_scores(
        s, sd, extras=(structure("value_round_zeros", "mass_round_zeros", "mass_is_whole"),)),
    "B3: + HS4 x origin x tariff type rate": lambda s, sd: novel_booster_scores(
        s, sd, extras=(point_in_time_rate(("hs4", "origin", "tax_type")),)),
    "B3: + HS2 x route rate": lambda s, sd: novel_booster_scores(
        s, sd, extras=(point_in_time_rate(("hs2", "departure", "origin")),)),
    "B3: + HS6 x office rate": lambda s, sd: novel_booster_scores(
        s, sd, extras=(point_in_time_rate(("hs6", "office")),)),
    "B3: + goods ages (HS6, HS4, HS6 x origin...)": lambda s, sd: novel_booster_scores(s, sd, NF + (
        "hs6_age_days", "hs4_age_days", "hs6_origin_age_days", "hs6_departure_age_days",
        "hs6_origin_tax_type_age_days")),
    "B3: + HS6 x origin / x departure counts": lambda s, sd: novel_booster_scores(
        s, sd, NF + ("hs6_origin_count", "hs6_origin_tax_type_count", "hs6_departure_count")),
    "B3: + day of week / month, day of month": lambda s, sd: novel_booster_scores(
        s, sd, NF + ("day_of_week", "day_of_month", "month")),
    "B3: + new importer / declarant": lambda s, sd: novel_booster_scores(
        s, sd, NF + ("importer_count", "declarant_count", "importer_hs6_is_new", "declarant_importer_is_new")),
    "B3: + 8 item categoricals (cat_smooth 50)": lambda s, sd: novel_booster_scores(
        s, sd, NF + ITEM_CATEGORICALS, CATEGORY_PARAMS, categorical=ITEM_CATEGORICALS, inputs=coded(s)),
    "B3: + HS4 as categorical (cat_smooth 50)": lambda s, sd: novel_booster_scores(
        s, sd, NF + ("hs4_number",), CATEGORY_PARAMS, categorical=("hs4_number",)),
    "B3: rates re-smoothed, strength 20": lambda s, sd: novel_booster_scores(
        s, sd, NOT_RESMOOTHED, extras=(resmoothed(20),)),
    "B3: burn-in: rows after day 30": lambda s, sd: novel_booster_scores(s, sd, rows=burn_in(30)),
    "B3: recency weight, half-life 90 d": lambda s, sd: novel_booster_scores(s, sd, weight=recency(90)),
    "B3: stumps, 1,500 rounds": lambda s, sd: novel_booster_scores(
        s, sd, params={**NOVEL_PARAMS, "num_leaves": 2}, rounds=1500),
    "B3: 4 leaves, 600 rounds": lambda s, sd: novel_booster_scores(
        s, sd, params={**NOVEL_PARAMS, "num_leaves": 4}, rounds=600),
    "B3: L2 50": lambda s, sd: novel_booster_scores(s, sd, params={**NOVEL_PARAMS, "lambda_l2": 50.0}),
    "B3: rate 0.015, 600 rounds": lambda s, sd: novel_booster_scores(
        s, sd, params={**NOVEL_PARAMS, "learning_rate": 0.015}, rounds=600),
    "B3: positive bagging (neg 0.5)": lambda s, sd: novel_booster_scores(s, sd, params={
        **NOVEL_PARAMS, "bagging_fraction": 1.0, "pos_bagging_fraction": 1.0, "neg_bagging_fraction": 0.5}),
    "B3: feature fraction 0.5": lambda s, sd: novel_booster_scores(
        s, sd, params={**NOVEL_PARAMS, "feature_fraction": 0.5}),
    "B3: DART, rate 0.1, 200 rounds": lambda s, sd: novel_booster_scores(
        s, sd, params={**NOVEL_PARAMS, "boosting": "dart", "learning_rate": 0.1}, rounds=200),
}  # fmt: skip
SHIPPED = "shipped: 30 inputs, extra trees"
INNER_PICKS = ("B3: all rows, inputs without the triple", "B3: + HS4 as categorical (cat_smooth 50)")
VARIANTS["B3: rank mean: shipped + the 2 inner picks"] = lambda s, sd: np.mean(
    [_rank(VARIANTS[name](s, sd)) for name in (SHIPPED, *INNER_PICKS)], axis=0
)
INNER_CUTS = (datetime(2020, 7, 1), datetime(2020, 10, 1))


def inner_split(train_csv: Path) -> Split:
    """Jan-Jun 2020 -> Jul-Sep 2020: the selection split, before both target splits' test periods."""
    year = read_kcs(train_csv)
    cut, end = INNER_CUTS
    return Split("inner Jan-Jun -> Jul-Sep 2020", year.filter(pl.col("declared_at") < cut),
                 year.filter((pl.col("declared_at") >= cut) & (pl.col("declared_at") < end)))  # fmt: skip


def auc_se(area: float, y: np.ndarray) -> float:
    """Hanley-McNeil standard error of an AUC on these labels."""
    pos, neg = float(y.sum()), float(len(y) - y.sum())
    q1, q2 = area / (2 - area), 2 * area * area / (1 + area)
    return math.sqrt((area * (1 - area) + (pos - 1) * (q1 - area**2) + (neg - 1) * (q2 - area**2)) / (pos * neg))


def paired_auc_delta(a: np.ndarray, b: np.ndarray, y: np.ndarray, draws: int = 200) -> tuple[float, float]:
    """AUC(a) - AUC(b) on the same rows and its bootstrap standard error (rows resampled, seed 0)."""
    rng = np.random.default_rng(0)
    deltas = []
    for _ in range(draws):
        i = rng.integers(0, len(y), len(y))
        deltas.append(auc(a[i], y[i]) - auc(b[i], y[i]))
    return auc(a, y) - auc(b, y), float(np.nanstd(deltas))


def main() -> None:
    kcs = default_kcs_dir()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train", type=Path, default=kcs / "train.csv")
    ap.add_argument("--test", type=Path, default=kcs / "valid.csv")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--only", nargs="*", help="run only variants whose name contains one of these words")
    ap.add_argument("--no-inner", action="store_true", help="skip the inner selection split (Jan-Jun -> Jul-Sep)")
    args = ap.parse_args()
    if not args.train.exists() or not args.test.exists():
        sys.exit(f"KCS data not found at {args.train.parent} (set SMARTCUSTOMS_KCS_DIR)")
    data = [] if args.no_inner else [inner_split(args.train)]
    data += [Split(name, train, test) for name, (train, test) in splits(args.train, args.test).items()]
    targets = data[-2:]
    print(f"mean of seeds {args.seeds}; novel test declarations: "
          + ", ".join(f"{s.name} {int(s.novel.sum()):,}" for s in data))  # fmt: skip
    print("per split: AUC+-se P@5 P@10+-se; pooled = mean of the last two splits; dAUC = pooled AUC minus the shipped "
          "booster's on the same rows (seed-averaged scores) +- paired bootstrap se")  # fmt: skip
    print(f"{'variant':44s} " + " | ".join(f"{s.name[:26]:>26s}" for s in data) + " | pooled AUC P@10 | dAUC")
    shipped: dict[str, np.ndarray] = {}
    for name, variant in {SHIPPED: VARIANTS[SHIPPED], **VARIANTS}.items():  # the shipped booster first: dAUC's base
        if args.only and name != SHIPPED and not any(w in name for w in args.only):
            continue
        t0, cells, pooled, deltas = time.perf_counter(), [], [], []
        for s in data:
            scores = [variant(s, seed) for seed in args.seeds]
            runs = [ranking_metrics(sc, s.y_novel, np.zeros(len(s.y_novel))) for sc in scores]
            area = float(np.mean([r["auc"] for r in runs]))
            p5, p10 = (float(np.mean([r["precision_at"][k] for r in runs])) for k in ("5", "10"))
            top = max(1, round(len(s.y_novel) / 10))
            cells.append(f"{area:.3f}+-{auc_se(area, s.y_novel):.3f} {p5:.3f} {p10:.3f}+-"
                         f"{math.sqrt(p10 * (1 - p10) / top):.3f}")  # fmt: skip
            mean_rank = np.mean([_rank(sc) for sc in scores], axis=0)
            if name == SHIPPED:
                shipped[s.name] = mean_rank
            elif s in targets:
                deltas.append(paired_auc_delta(mean_rank, shipped[s.name], s.y_novel.astype(np.float64)))
            if s in targets:
                pooled.append((area, p10))
        pa, pp = np.mean(pooled, axis=0)
        delta = (f"{np.mean([d for d, _ in deltas]):+.4f}+-{math.sqrt(sum(e * e for _, e in deltas)) / 2:.4f}"
                 if deltas else "")  # fmt: skip
        took = time.perf_counter() - t0
        print(f"{name:44s} " + " | ".join(cells) + f" | {pa:.3f} {pp:.3f} | {delta}   ({took:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
