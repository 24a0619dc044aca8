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

    nice -n 10 .venv/bin/python bench/risk_novel_variants.py [--seeds 0 1 2] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import polars as pl

from risk_novel import splits
from smartcustoms.risk.datasets.kcs import default_kcs_dir
from smartcustoms.risk.evaluate import history_features, novel_goods, ranking_metrics
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
    source = {"hs4": pl.col("hs_code").str.slice(0, 4), "hs2": pl.col("hs_code").str.slice(0, 2),
              "tax_type": pl.col("tax_type")}  # fmt: skip
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


def novel_booster_scores(
    s: Split, seed: int, cols: tuple[str, ...] = NOVEL_FEATURES, params: dict[str, Any] | None = None,
    rounds: int = NOVEL_ROUNDS, extras: tuple[Extra, ...] = (),
) -> np.ndarray:  # fmt: skip
    """The novel-goods booster's scores of the novel test rows."""
    xs, names = [_matrix(s.train_f, cols), _matrix(s.test_f, cols)], list(cols)
    for extra in extras:
        tr, te = extra(s, 0), extra(s, 1)
        names += list(tr)
        xs = [np.column_stack([xs[0], *tr.values()]), np.column_stack([xs[1], *te.values()])]
    p = {**(params if params is not None else NOVEL_PARAMS), "seed": seed}
    data = lgb.Dataset(xs[0][s.first], s.y[s.first], feature_name=names, params={"verbose": -1})
    booster = lgb.train(p, data, num_boost_round=rounds)
    return np.asarray(booster.predict(xs[1][s.novel]))


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
}  # fmt: skip


def main() -> None:
    kcs = default_kcs_dir()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train", type=Path, default=kcs / "train.csv")
    ap.add_argument("--test", type=Path, default=kcs / "valid.csv")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--only", nargs="*", help="run only variants whose name contains one of these words")
    args = ap.parse_args()
    if not args.train.exists() or not args.test.exists():
        sys.exit(f"KCS data not found at {args.train.parent} (set SMARTCUSTOMS_KCS_DIR)")
    data = [Split(name, train, test) for name, (train, test) in splits(args.train, args.test).items()]
    print(f"mean of seeds {args.seeds}; novel test declarations: "
          + ", ".join(f"{s.name} {int(s.novel.sum()):,}" for s in data))  # fmt: skip
    print(f"{'variant':40s} " + " | ".join(f"{'AUC':>5s} {'P@5':>5s} {'P@10':>5s}" for _ in data))
    for name, variant in VARIANTS.items():
        if args.only and not any(w in name for w in args.only):
            continue
        t0, cells = time.perf_counter(), []
        for s in data:
            runs = [ranking_metrics(variant(s, seed), s.y_novel, np.zeros(len(s.y_novel))) for seed in args.seeds]
            auc = np.mean([r["auc"] for r in runs])
            p5, p10 = (np.mean([r["precision_at"][k] for r in runs]) for k in ("5", "10"))
            cells.append(f"{auc:.3f} {p5:.3f} {p10:.3f}")
        print(f"{name:40s} " + " | ".join(cells) + f"   ({time.perf_counter() - t0:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
