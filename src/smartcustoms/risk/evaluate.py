"""Evaluation: precision / recall / duty share caught at k%, and time-based cross-validation.

Protocol (the same as live operation): one :class:`~smartcustoms.risk.features.state.HistoryState` is
carried from the start of the training files through the end of the test file. Every row's features
are point-in-time. By default test-period outcomes become known ``outcome_lag`` after acceptance
(``test_outcomes="lagged"``), exactly as officers' results arrive live; ``"hidden"`` keeps every
test outcome unknown (a stricter, history-frozen variant). The model is trained on training rows only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import numpy as np
import polars as pl

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
    test_outcomes: TestOutcomes = "lagged",
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
