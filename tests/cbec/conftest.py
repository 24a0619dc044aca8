"""Shared fixtures: a migrated SQLite store, an engine with a controllable clock, the sample messages."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from smartcustoms.cbec.engine import Engine
from smartcustoms.cbec.store import Store
from smartcustoms.core.config import CbecSettings
from smartcustoms.core.db import upgrade

DATA = Path(__file__).resolve().parents[1] / "data" / "ceb"
PG_BASE = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@pytest.fixture
def samples() -> dict[str, bytes]:
    return {p.stem.split("_")[0]: p.read_bytes() for p in DATA.glob("*.xml")}


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'cbec.db'}"
    upgrade(url)
    return url


class Clock:
    def __init__(self, t: int = 1_773_000_000_000) -> None:
        self.t = t

    def __call__(self) -> int:
        return self.t


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def engine(db_url: str, clock: Clock) -> Engine:
    eng = Engine(Store(db_url), CbecSettings(deadline_s=60), clock=clock)
    eng.warm_start()
    return eng


def pg_url_or_skip() -> tuple[str, str]:
    """A fresh PostgreSQL schema (URL with search_path) and its name; skip when no server answers."""
    import psycopg

    schema = f"cbec_test_{uuid.uuid4().hex[:10]}"
    try:
        with psycopg.connect("postgresql://postgres@127.0.0.1:5432/test", autocommit=True, connect_timeout=3) as c:
            c.execute(f"CREATE SCHEMA {schema}")
    except psycopg.OperationalError as exc:
        pytest.skip(f"no PostgreSQL server answers at 127.0.0.1:5432: {exc}")
    return f"{PG_BASE}?options=-csearch_path%3D{schema}", schema


def drop_pg_schema(schema: str) -> None:
    import psycopg

    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/test", autocommit=True) as c:
        c.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
