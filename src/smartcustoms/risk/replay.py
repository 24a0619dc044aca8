"""Week-by-week replay of a test period under an inspection budget (selective labels).

Live, the model only learns the outcomes of what was inspected. The replay reproduces that: the
history state and model start from the fully labelled training period; then, day by day, the test
declarations are scored point-in-time, ``budget`` of each day's declarations are inspected (the top
scores, plus an ``exploration`` share of that budget drawn at random from the rest), and only the
inspected outcomes are fed back (known ``outcome_lag`` later). The model is retrained weekly on the
training rows plus the inspected test rows.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import numpy as np
import polars as pl

from smartcustoms.risk.evaluate import hide_labels, window
from smartcustoms.risk.features.state import build_features
from smartcustoms.risk.frame import DEFAULT_OUTCOME_LAG
from smartcustoms.risk.offence_model import RiskModel

Progress = Callable[[str], None]


def simulate(
    train: pl.DataFrame,
    test: pl.DataFrame,
    *,
    budget: float = 0.10,
    exploration: float = 0.10,
    seed: int = 0,
    outcome_lag: timedelta = DEFAULT_OUTCOME_LAG,
    make_model: Callable[[], RiskModel] = RiskModel,
    progress: Progress | None = None,
) -> list[dict[str, Any]]:
    """Replay ``test`` week by week; return one dict per week (n, inspected, hits, rates, ratio)."""
    if not 0 < budget <= 1 or not 0 <= exploration <= 1:
        raise ValueError("budget must be in (0, 1] and exploration in [0, 1]")
    say = progress or (lambda _msg: None)
    rng = np.random.default_rng(seed)
    train_f, state = build_features(train)
    labelled = train["offence"].is_not_null().to_numpy()
    pool_f = [train_f.filter(labelled)]
    pool_y = [train["offence"].to_numpy()[labelled].astype(np.float64)]
    model = make_model().fit(pool_f[0], pool_y[0], training_window=window(train))
    start = test["declared_at"].min()
    test = test.with_columns(((pl.col("declared_at") - start).dt.total_days() // 7).alias("_week"))
    weeks: list[dict[str, Any]] = []
    for (week,), week_rows in test.group_by(["_week"], maintain_order=True):
        stats: dict[str, Any] = {
            "week": int(week) + 1,
            "n": 0,
            "inspected": 0,
            "hits": 0,
            "model_inspected": 0,
            "model_hits": 0,
            "offences": 0,
        }
        say(f"week {int(week) + 1}")
        for _, day in week_rows.group_by(pl.col("declared_at").dt.date(), maintain_order=True):
            day = day.drop("_week")
            feats, state = build_features(hide_labels(day), state)
            scores = model.predict_proba(feats)
            n = day.height
            n_inspect = max(1, int(round(budget * n)))
            n_explore = int(round(exploration * n_inspect))
            order = np.argsort(-scores, kind="stable")
            chosen = order[: n_inspect - n_explore]
            rest = order[n_inspect - n_explore :]
            explored: Any = rng.choice(rest, size=min(n_explore, len(rest)), replace=False) if n_explore else []
            inspected = np.concatenate([chosen, np.asarray(explored, dtype=np.int64)])
            y = day["offence"].fill_null(0).to_numpy().astype(np.float64)
            stats["n"] += n
            stats["offences"] += int(y.sum())
            stats["inspected"] += len(inspected)
            stats["hits"] += int(y[inspected].sum())
            stats["model_inspected"] += len(chosen)
            stats["model_hits"] += int(y[chosen].sum())
            mask = np.zeros(n, bool)
            mask[inspected] = True
            results = day.filter(mask).with_columns((pl.col("declared_at") + outcome_lag).alias("outcome_at"))
            state.observe_outcomes(results)
            pool_f.append(feats.filter(mask))
            pool_y.append(y[mask])
        random_rate = stats["offences"] / stats["n"] if stats["n"] else 0.0
        hit_rate = stats["model_hits"] / stats["model_inspected"] if stats["model_inspected"] else 0.0
        stats.update(
            random_rate=random_rate,
            hit_rate=hit_rate,
            inspected_hit_rate=stats["hits"] / stats["inspected"] if stats["inspected"] else 0.0,
            ratio=hit_rate / random_rate if random_rate else float("nan"),
        )
        weeks.append(stats)
        say(f"retraining after week {int(week) + 1}")
        model = make_model().fit(pl.concat(pool_f), np.concatenate(pool_y))
    return weeks
