"""Shared fixtures for the risk tests: small seeded item frames and the KCS data location."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from smartcustoms.risk.datasets.kcs import default_kcs_dir
from smartcustoms.risk.synthetic import item_frame


@pytest.fixture(scope="session")
def items() -> pl.DataFrame:
    """400 labelled, time-sorted synthetic goods items over 60 days."""
    return item_frame(400, seed=3, days=60, importers=25)


@pytest.fixture(scope="session")
def kcs_dir() -> Path:
    path = default_kcs_dir()
    if not (path / "train.csv").exists() or not (path / "valid.csv").exists():
        pytest.skip(f"KCS data not found at {path} (set SMARTCUSTOMS_KCS_DIR to the folder with train.csv)")
    return path
