"""Shared fixtures: a platform on SQLite and on PostgreSQL, a seeded world of parties and keys."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

# Every CEB receipt the suite emits is validated against the official import XSDs (both editions) when they
# are present (ceb/receipts.py reads this when smartcustoms is first imported: set it before that).
_CEB = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "ceb"
_RECEIPT_XSDS = [_CEB / "2018" / "xsd" / "进口业务节点报文.xsd",
                 _CEB / "202205" / "xsd" / "海关跨境进口业务节点报文定义202205.xsd"]
if all(p.is_file() for p in _RECEIPT_XSDS):
    os.environ.setdefault("SMARTCUSTOMS_CBEC_RECEIPT_XSD", os.pathsep.join(map(str, _RECEIPT_XSDS)))

from smartcustoms.core.config import Settings  # noqa: E402
from smartcustoms.platform import build_platform  # noqa: E402
from smartcustoms.web.app import create_app  # noqa: E402
from tests.support import World, seed_world  # noqa: E402

# CEB621/623/625/711 must be signed in production; the suite's fixtures send unsigned messages unless a test
# (tests/cbec/test_signatures.py) turns this off
os.environ.setdefault("SMARTCUSTOMS_CBEC_ACCEPT_UNSIGNED", "1")
# scrypt at the production cost (N=2^17) takes ~0.3 s a hash: tests hash passwords at a low cost
os.environ.setdefault("SMARTCUSTOMS_PASSWORD_SCRYPT_N", "1024")
REPO = Path(__file__).resolve().parents[1]
KCS_DIR = REPO.parent / "shared" / "data" / "kcs"
PG_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def postgres_available() -> bool:
    try:
        eng = create_engine(PG_SERVER, connect_args={"connect_timeout": 3})
        with eng.connect() as c:
            c.execute(text("select 1"))
        eng.dispose()
        return True
    except Exception:  # noqa: BLE001 - any failure means "no server answers"
        return False


@pytest.fixture(scope="session")
def pg_available() -> bool:
    return postgres_available()


def _pg_schema_url(schema: str) -> str:
    return f"{PG_SERVER}?options=-csearch_path%3D{schema}"


@pytest.fixture
def fresh_pg_url(pg_available) -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a brand-new schema, dropped afterwards."""
    if not pg_available:
        pytest.skip("PostgreSQL is not answering at 127.0.0.1:5432 (start it to run the PostgreSQL tests)")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_SERVER)
    with admin.begin() as c:
        c.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        yield _pg_schema_url(schema)
    finally:
        with admin.begin() as c:
            c.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@pytest.fixture
def fresh_sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'smartcustoms.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request) -> str:
    """Each storage test runs against the embedded SQLite and the PostgreSQL server."""
    return request.getfixturevalue("fresh_sqlite_url" if request.param == "sqlite" else "fresh_pg_url")


@pytest.fixture
def world(db_url, tmp_path) -> Iterator[World]:
    platform = build_platform(Settings(data_dir=tmp_path), database_url=db_url)
    try:
        yield seed_world(platform)
    finally:
        platform.close()


@pytest.fixture
def sqlite_world(fresh_sqlite_url, tmp_path) -> Iterator[World]:
    platform = build_platform(Settings(data_dir=tmp_path), database_url=fresh_sqlite_url)
    try:
        yield seed_world(platform)
    finally:
        platform.close()




@pytest.fixture
def client(world: World) -> Iterator[TestClient]:
    """The HTTP app over the seeded world (its lifespan runs: scheduler started and stopped)."""
    with TestClient(create_app(world.platform)) as c:
        yield c
