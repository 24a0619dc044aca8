"""Evaluation: precision / recall / duty share caught at k%, and time-based cross-validation.

Protocol (the same as live operation): one :class:`~smartcustoms.risk.features.state.HistoryState` is
carried from the start of the training files through the end of the test file. Every row's features
are point-in-time. By default every test outcome stays unknown (``test_outcomes="hidden"``): the test
period is scored on what was known at the end of training. ``"lagged"`` lets test outcomes become known
``outcome_lag`` after acceptance, as officers' results arrive live; on data where goods repeat exactly
(KCS) that lets a row be scored from the outcome of its own earlier twin in the test period, which
inflates the figures. The model is trained on training rows only.

:func:`compare` is the fair report (issue #17): the model beside a plain LightGBM of 400 rounds and 63
leaves, the model without its exact-match families, and random, ranked by probability and by expected
duty, on all test rows and on the *novel goods* (:func:`novel_goods`): rows whose (HS6, item value,
net mass) never appeared in training. On KCS most test rows repeat a training triple with the same
label, so overall figures measure memorisation; the novel subset measures targeting.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal

import lightgbm as lgb
import numpy as np
import polars as pl

from smartcustoms.risk.features.families import FAMILIES, FEATURE_NAMES, NUMERIC_KEYS, family_feature_names
from smartcustoms.risk.features.state import HistoryState, build_features
from smartcustoms.risk.offence_model import Ranking, RiskModel, score_batch

KS: tuple[int, ...] = (1, 2, 5, 10)
TestOutcomes = Literal["lagged", "hidden"]
Progress = Callable[[str], None]


def metrics_at(
    scores: np.ndarray, offence: np.ndarray, duty_at_stake: np.ndarray | None = None, ks: Sequence[int] = KS
) -> dict[str, Any]:
    """precision@k%, recall@k%, duty-at-stake share caught@k%, random rate and lift in points.

    Ties are broken by row order (stable), so results are deterministic.
    """
    y = np.asarray(offence, dtype=np.float64)
    n = len(y)
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    duty = np.zeros(n) if duty_at_stake is None else np.nan_to_num(np.asarray(duty_at_stake, np.float64))
    caught_duty = duty * y
    total_hits, total_duty = y.sum(), caught_duty.sum()
    base = float(y.mean()) if n else float("nan")
    out: dict[str, Any] = {"precision_at": {}, "recall_at": {}, "duty_share_at": {}, "lift_points_at": {}}
    for k in ks:
        m = max(1, int(round(n * k / 100)))
        top = order[:m]
        p = float(y[top].mean())
        out["precision_at"][str(k)] = p
        out["recall_at"][str(k)] = float(y[top].sum() / total_hits) if total_hits else 0.0
        out["duty_share_at"][str(k)] = float(caught_duty[top].sum() / total_duty) if total_duty else 0.0
        out["lift_points_at"][str(k)] = (p - base) * 100.0
    out["random"] = base
    out["n_test"] = int(n)
    return out


def hide_labels(frame: pl.DataFrame) -> pl.DataFrame:
    """The frame with outcomes unknown (labels kept aside by the caller)."""
    return frame.with_columns(
        pl.lit(None, dtype=pl.Int8).alias("offence"),
        pl.lit(None, dtype=pl.Int8).alias("critical"),
        pl.lit(None, dtype=pl.Float64).alias("duty_recovered"),
        pl.lit(None, dtype=pl.Datetime("us")).alias("outcome_at"),
    )


def history_features(
    train: pl.DataFrame, test: pl.DataFrame | None = None, test_outcomes: TestOutcomes = "lagged"
) -> tuple[pl.DataFrame, pl.DataFrame | None, HistoryState]:
    """Point-in-time features of train then test, through one carried history state."""
    train_features, state = build_features(train)
    if test is None:
        return train_features, None, state
    fed = test if test_outcomes == "lagged" else hide_labels(test)
    test_features, state = build_features(fed, state)
    return train_features, test_features, state


def window(frame: pl.DataFrame) -> tuple[str, str]:
    """The first and last ``declared_at`` of a frame, as text."""
    lo, hi = frame["declared_at"].min(), frame["declared_at"].max()
    return (str(lo), str(hi))


@dataclass
class Evaluation:
    """The result of :func:`evaluate`: metrics plus the fitted model and test scores."""

    metrics: dict[str, Any]
    model: RiskModel
    scores: np.ndarray
    test_features: pl.DataFrame


def evaluate(
    train: pl.DataFrame,
    test: pl.DataFrame,
    *,
    model: RiskModel | None = None,
    ranking: Ranking = "probability",
    test_outcomes: TestOutcomes = "hidden",
    progress: Progress | None = None,
) -> Evaluation:
    """Train on ``train`` (labelled item frame), score ``test``, return metrics at k%."""
    say = progress or (lambda _msg: None)
    say("building point-in-time features")
    train_f, _, state = history_features(train)
    say("training the model")
    model = model or RiskModel()
    labelled = train["offence"].is_not_null().to_numpy()
    model.fit(train_f.filter(labelled), train["offence"].to_numpy()[labelled], training_window=window(train))
    say("scoring the test period")  # the batch scorer: test features carried on from train, model overlapped
    fed = test if test_outcomes == "lagged" else hide_labels(test)
    test_f, scores, _ = score_batch(fed, model, state, ranking=ranking)
    y = test["offence"].fill_null(0).to_numpy()
    duty = test_f["duty_at_stake"].to_numpy()
    metrics = metrics_at(scores, y, duty)
    model.metadata["metrics"] = {"test_window": list(window(test)), **metrics}
    return Evaluation(metrics, model, scores, test_f)


def time_cv(
    frame: pl.DataFrame,
    cuts: Sequence[tuple[datetime, datetime]],
    *,
    make_model: Callable[[], RiskModel] = RiskModel,
    features: pl.DataFrame | None = None,
    progress: Progress | None = None,
) -> list[dict[str, Any]]:
    """Rolling time-based CV inside a labelled window.

    Features are built once over ``frame`` (point-in-time, so a fold's validation rows only see
    what was known when they were declared); for each ``(cut, end)`` the model is trained on rows
    declared before ``cut`` and scored on rows in ``[cut, end)``.
    """
    say = progress or (lambda _msg: None)
    feats = features if features is not None else build_features(frame)[0]
    t = frame["declared_at"]
    y = frame["offence"].to_numpy()
    results = []
    for cut, end in cuts:
        tr = (t < cut).to_numpy()
        va = ((t >= cut) & (t < end)).to_numpy()
        say(f"fold {cut:%Y-%m-%d}..{end:%Y-%m-%d}")
        model = make_model().fit(feats.filter(tr), y[tr])
        scores = model.predict_proba(feats.filter(va))
        m = metrics_at(scores, y[va], feats.filter(va)["duty_at_stake"].to_numpy())
        m["fold"] = f"{cut:%Y-%m-%d}..{end:%Y-%m-%d}"
        results.append(m)
    return results


def mean_metrics(folds: Sequence[dict[str, Any]]) -> dict[str, float]:
    """Mean precision@5% and @10% across folds."""
    return {f"precision_at_{k}": float(np.mean([f["precision_at"][k] for f in folds])) for k in ("5", "10")}


# -- fair comparison (issue #17): novel goods, a plain baseline, exact-match families off, random ---------
#: the key parts of the features keyed on an exact declared number (value to the cent, mass to the gram)
EXACT_KEY_PARTS: frozenset[str] = frozenset(NUMERIC_KEYS)
#: the contenders of :func:`compare`, in report order
CONTENDERS: tuple[str, ...] = ("ours", "ours_without_exact_match", "plain_lightgbm", "random")
RANKINGS: tuple[Ranking, ...] = ("probability", "duty")
#: the plain baseline's inputs: the dataset's own columns, no history (categoricals label-encoded)
PLAIN_CATEGORICAL: tuple[str, ...] = (
    "office_code",
    "process_type",
    "import_type",
    "import_use",
    "payment_type",
    "transport_mode",
    "declarant_code",
    "importer_code",
    "seller_code",
    "courier_code",
    "hs_code",
    "departure_country",
    "origin_country",
    "tax_type",
    "origin_indicator",
)
PLAIN_NUMERIC: tuple[str, ...] = ("tax_rate", "net_mass_kg", "customs_value")
PLAIN_ROUNDS = 400
PLAIN_PARAMS: dict[str, Any] = {
    "objective": "binary",
    "num_leaves": 63,
    "verbose": -1,
    "num_threads": 1,
    "deterministic": True,
}
GOODS_TRIPLE: tuple[str, ...] = ("hs6", "customs_value", "net_mass_kg")


def novel_goods(train: pl.DataFrame, test: pl.DataFrame) -> np.ndarray:
    """Per test row: True when its (HS6, item value, net mass) triple appears in no training row.

    Exact equality on the values as read (no rounding); HS6 is the first six digits of ``hs_code``.
    """

    def triples(frame: pl.DataFrame) -> pl.DataFrame:
        return frame.select(
            pl.col("hs_code").str.slice(0, 6).alias("hs6"),
            pl.col("customs_value").cast(pl.Float64),
            pl.col("net_mass_kg").cast(pl.Float64),
        )

    seen = triples(train).unique().with_columns(pl.lit(True).alias("_seen"))
    joined = triples(test).join(seen, on=list(GOODS_TRIPLE), how="left", maintain_order="left", nulls_equal=False)
    return joined["_seen"].is_null().to_numpy()


def exact_match_features(features: Sequence[str] = FEATURE_NAMES) -> tuple[str, ...]:
    """The features (of ``features``) of families keyed on an exact declared value or net mass."""
    families = [fam for fam in FAMILIES if EXACT_KEY_PARTS.intersection(fam.parts)]
    names = {name for fam in families for name in family_feature_names(fam)}
    return tuple(f for f in features if f in names)


def auc(scores: np.ndarray, offence: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney, ties counted half); NaN when one class is absent."""
    y = np.asarray(offence, dtype=np.float64)
    pos = float(y.sum())
    neg = float(len(y) - pos)
    if pos == 0 or neg == 0:
        return float("nan")
    ranks = pl.Series(np.asarray(scores, dtype=np.float64)).rank("average").to_numpy()
    return float((ranks[y == 1].sum() - pos * (pos + 1) / 2) / (pos * neg))


def ranking_metrics(
    scores: np.ndarray, offence: np.ndarray, duty_at_stake: np.ndarray, ks: Sequence[int] = KS
) -> dict[str, Any]:
    """P@k, recall@k, duty share caught@k, AUC, random rate and n of one ranking of some rows.

    With no rows (e.g. no novel goods) every figure is None.
    """
    if len(offence) == 0:
        return _empty_metrics(ks)
    m = metrics_at(scores, offence, duty_at_stake, ks)
    return {
        "precision_at": m["precision_at"],
        "recall_at": m["recall_at"],
        "duty_share_at": m["duty_share_at"],
        "auc": None if math.isnan(area := auc(scores, offence)) else area,  # one class only: undefined
        "random": m["random"],
        "n": m["n_test"],
    }


def _empty_metrics(ks: Sequence[int]) -> dict[str, Any]:
    none = {str(k): None for k in ks}
    return {
        "precision_at": none,
        "recall_at": dict(none),
        "duty_share_at": dict(none),
        "auc": None,
        "random": None,
        "n": 0,
    }


def random_metrics(offence: np.ndarray, ks: Sequence[int] = KS) -> dict[str, Any]:
    """The expected :func:`ranking_metrics` of a uniformly random ranking (no draw, so no noise)."""
    y = np.asarray(offence, dtype=np.float64)
    n = len(y)
    if n == 0:
        return _empty_metrics(ks)
    share = {str(k): max(1, int(round(n * k / 100))) / n for k in ks}
    base = float(y.mean())
    return {
        "precision_at": {str(k): base for k in ks},
        "recall_at": share,
        "duty_share_at": dict(share),
        "auc": 0.5,
        "random": base,
        "n": int(n),
    }


def plain_lightgbm_scores(
    train: pl.DataFrame, test: pl.DataFrame, *, seed: int = 0, rounds: int = PLAIN_ROUNDS
) -> np.ndarray:
    """A plain LightGBM (``rounds`` rounds, 63 leaves) over the item frame's raw columns, no history.

    Categorical columns are label-encoded with the training rows' vocabulary (unseen -> -1); only
    labelled training rows are used. Returns test offence probabilities.
    """
    labelled = train.filter(pl.col("offence").is_not_null())
    vocab = {
        c: {v: float(i) for i, v in enumerate(labelled[c].drop_nulls().unique().sort())} for c in PLAIN_CATEGORICAL
    }

    def encode(frame: pl.DataFrame) -> np.ndarray:
        return frame.select(
            *[pl.col(c).replace_strict(vocab[c], default=-1.0, return_dtype=pl.Float64) for c in PLAIN_CATEGORICAL],
            *[pl.col(c).cast(pl.Float64) for c in PLAIN_NUMERIC],
        ).to_numpy()

    data = lgb.Dataset(
        encode(labelled),
        labelled["offence"].cast(pl.Float64).to_numpy(),
        feature_name=list(PLAIN_CATEGORICAL + PLAIN_NUMERIC),
    )
    booster = lgb.train({**PLAIN_PARAMS, "seed": seed}, data, num_boost_round=rounds)
    return np.asarray(booster.predict(encode(test)))


def declaration_scores(test: pl.DataFrame, scores: np.ndarray) -> pl.DataFrame:
    """One row per test declaration: ``declaration_id`` and ``score``, the maximum over its items.

    Declarations keep the order of their first item in ``test``.
    """
    return (
        pl.DataFrame({"declaration_id": test["declaration_no"], "score": np.asarray(scores, dtype=np.float64)})
        .group_by("declaration_id", maintain_order=True)
        .agg(pl.col("score").max())
    )


@dataclass
class Comparison:
    """The result of :func:`compare`: the JSON-ready report plus each contender's test probabilities."""

    report: dict[str, Any]
    probabilities: dict[str, np.ndarray]
    duty_at_stake: np.ndarray


def compare(
    train: pl.DataFrame,
    test: pl.DataFrame,
    *,
    seed: int = 0,
    test_outcomes: TestOutcomes = "hidden",
    model: RiskModel | None = None,
    progress: Progress | None = None,
) -> Comparison:
    """Every contender on one train -> test split, on all test rows and on the novel-goods rows.

    Contenders: ``ours`` (``model`` or ``RiskModel(seed=seed)``), ``ours_without_exact_match`` (the
    same model without :func:`exact_match_features`), ``plain_lightgbm`` (:func:`plain_lightgbm_scores`)
    and ``random`` (expected values). Each is ranked by probability and by expected duty
    (probability x duty at stake). Metrics are per test row (KCS: one row per declaration).
    """
    say = progress or (lambda _msg: None)
    ours = model or RiskModel(seed=seed)
    excluded = exact_match_features(ours.features)
    # the same settings (params, rounds, seed, calibration...) on fewer features; refitted below
    without = replace(
        ours,
        params=dict(ours.params),
        features=tuple(f for f in ours.features if f not in excluded),
        metadata={},
        vocabulary={},
        booster=None,
    )
    say("building point-in-time features")
    train_f, test_f, _ = history_features(train, test, test_outcomes)
    assert test_f is not None
    labelled = train["offence"].is_not_null().to_numpy()
    y_train = train["offence"].to_numpy()[labelled]
    fit_rows = train_f.filter(labelled)
    probabilities: dict[str, np.ndarray] = {}
    for name, m in (("ours", ours), ("ours_without_exact_match", without)):
        say(f"training {name.replace('_', ' ')}")
        m.fit(fit_rows, y_train, training_window=window(train))
        probabilities[name] = m.predict_proba(test_f)
    say("training the plain LightGBM")
    probabilities["plain_lightgbm"] = plain_lightgbm_scores(train, test, seed=seed)
    say("measuring")
    y = test["offence"].fill_null(0).to_numpy()
    duty = test_f["duty_at_stake"].fill_null(0.0).to_numpy()
    novel = novel_goods(train, test)
    contenders: dict[str, Any] = {}
    for name, p in probabilities.items():
        contenders[name] = {}
        for ranking in RANKINGS:
            s = p if ranking == "probability" else p * duty
            contenders[name][ranking] = {
                "overall": ranking_metrics(s, y, duty),
                "novel": ranking_metrics(s[novel], y[novel], duty[novel]),
            }
    chance = {"overall": random_metrics(y), "novel": random_metrics(y[novel])}
    contenders["random"] = {ranking: chance for ranking in RANKINGS}
    report = {
        "train_window": list(window(train)),
        "test_window": list(window(test)),
        "test_outcomes": test_outcomes,
        "seed": seed,
        "n_train": int(labelled.sum()),
        "n_test": int(len(y)),
        "random": float(y.mean()) if len(y) else float("nan"),
        "novel_goods": {
            "definition": "test rows whose (HS6, item value, net mass) appears in no training row",
            "n": int(novel.sum()),
            "share": float(novel.mean()) if len(novel) else float("nan"),
            "random": float(y[novel].mean()) if novel.any() else None,
        },
        "excluded_exact_match_features": list(excluded),
        "plain_lightgbm": {"rounds": PLAIN_ROUNDS, **PLAIN_PARAMS},
        "contenders": contenders,
    }
    return Comparison(report, probabilities, duty)


def mean_of_splits(reports: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The plain mean of several :func:`compare` reports' figures (not a pooled P@k: models differ)."""

    def mean(values: list[Any]) -> Any:
        if isinstance(values[0], dict):
            return {k: mean([v[k] for v in values]) for k in values[0]}
        present = [v for v in values if v is not None and not math.isnan(v)]
        return float(np.mean(present)) if present else None

    return {
        "note": "mean of the splits' figures; P@k is not pooled across splits (different models)",
        "n_splits": len(reports),
        "novel_share": float(np.mean([r["novel_goods"]["share"] for r in reports])),
        "contenders": mean([r["contenders"] for r in reports]),
    }


LABELS = {
    "ours": "ours",
    "ours_without_exact_match": "ours, no exact",
    "plain_lightgbm": "plain LightGBM",
    "random": "random",
}


RANKING_LABELS = {"probability": "prob", "duty": "duty"}


def figure_text(value: float | None) -> str:
    """A figure with three decimals; "-" when undefined (None or NaN)."""
    return "-" if value is None or math.isnan(value) else f"{value:.3f}"


def comparison_rows(contenders: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Header and text rows of the contenders table, one row per contender, ranking and k (for printing).

    Overall P@k, recall@k, duty share caught@k and AUC, then the novel goods' P@k and AUC; AUCs are
    on each group's first row. "prob" ranks by offence probability, "duty" by expected duty at stake.
    """
    header = ["contender", "rank by", "k%", "P@k", "recall", "duty", "AUC", "novel P@k", "novel AUC"]
    rows = []
    for name in CONTENDERS:
        for ranking in RANKINGS:
            if name == "random" and ranking == "duty":
                continue
            m, nov = contenders[name][ranking]["overall"], contenders[name][ranking]["novel"]
            for i, k in enumerate(m["precision_at"]):
                first = i == 0
                rows.append(
                    [
                        LABELS[name] if first else "",
                        ("-" if name == "random" else RANKING_LABELS[ranking]) if first else "",
                        k,
                        figure_text(m["precision_at"][k]),
                        figure_text(m["recall_at"][k]),
                        figure_text(m["duty_share_at"][k]),
                        figure_text(m["auc"]) if first else "",
                        figure_text(nov["precision_at"][k]),
                        figure_text(nov["auc"]) if first else "",
                    ]
                )
    return header, rows


def format_table(header: list[str], rows: list[list[str]]) -> str:
    """Rows as plain aligned text (first two columns left-aligned, the rest right-aligned)."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    return "\n".join([line(header), *(line(r) for r in rows)])
