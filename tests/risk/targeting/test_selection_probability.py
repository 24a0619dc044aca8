"""Selection probabilities on decisions (migration 0202), the release wording (#18), the training weights."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from alembic import command
from sqlalchemy import inspect

from smartcustoms.core.db import alembic_config, make_engine, upgrade
from smartcustoms.risk.targeting.selectivity import _release_words
from smartcustoms.risk.targeting.service import training_weights


def _columns(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return {c["name"] for c in inspect(engine).get_columns("risk_decisions")}
    finally:
        engine.dispose()


def test_migration_0202_adds_and_removes_the_selection_probability(db_url):
    upgrade(db_url)
    assert "selection_probability" in _columns(db_url)
    command.downgrade(alembic_config(db_url), "0201_risk")
    assert "selection_probability" not in _columns(db_url)
    assert {"score", "lane", "mechanism"} <= _columns(db_url)  # the rest of the table is untouched
    upgrade(db_url)
    assert "selection_probability" in _columns(db_url)


def test_release_reason_names_the_office_threshold_and_its_budget():
    words = _release_words(0.94, 0.97, "0101", 0.05, 0.05, "probability")
    assert words == ("risk score 0.94 is below office 0101's current selection threshold 0.97 "
                     "(the office holds its top 5% of scores; recent scores are high)")
    assert _release_words(0.12, 0.31, "2244", 0.09, 0.045, "probability") == (
        "risk score 0.12 is below office 2244's current selection threshold 0.31 (the office holds its top 9% "
        "of scores, 4.5% at this importer's credit grade)")
    # equal to two decimals: more decimals, so the officer sees the difference
    assert "0.943 is below" in _release_words(0.9431, 0.9447, "0101", 0.09, 0.09, "probability")
    assert "0.50 is not above" in _release_words(0.5, 0.5, "0101", 0.09, 0.09, "probability")


def test_training_weights_count_only_held_declarations_by_inverse_probability():
    frame = pl.DataFrame(
        {"declaration_id": [1, 1, 2, 3, 4, 5, 6], "offence": [1, 0, 1, None, 0, 1, 0]},
        schema={"declaration_id": pl.Int64, "offence": pl.Int8},
    )
    selection = {
        1: (True, 0.25),  # explored: two items, each 1 / 0.25
        2: (True, 1.0),  # the model's top share
        3: (True, 0.5),  # held, no result yet: contributes nothing
        4: (False, 0.01),  # released, audited after clearance: excluded
        5: (True, None),  # held before probabilities were recorded: weight 1
    }  # 6: no decision at all: excluded
    assert training_weights(frame, selection).tolist() == [4.0, 4.0, 1.0, 0.0, 0.0, 1.0, 0.0]


def test_very_unlikely_selections_are_clipped():
    frame = pl.DataFrame({"declaration_id": [1], "offence": [1]}, schema={"declaration_id": pl.Int64,
                                                                         "offence": pl.Int8})
    assert training_weights(frame, {1: (True, 0.001)}) == pytest.approx(np.array([20.0]))
