"""Storage on SQLite and PostgreSQL: migrations match the models, events and the audit log are append-only."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from smartcustoms.core.db import make_engine, upgrade
from smartcustoms.declarations.schemas import DeclarationIn
from smartcustoms.platform import all_tables
from tests.support import World, declaration_payload


def test_migrations_create_exactly_the_models_tables(db_url):
    upgrade(db_url)
    engine = make_engine(db_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), all_tables())
    engine.dispose()
    assert diff == [], diff


def test_migrations_are_idempotent(db_url):
    upgrade(db_url)
    upgrade(db_url)  # a second run applies nothing and fails on nothing


@pytest.mark.parametrize("statement", [
    "UPDATE declaration_events SET reason = 'rewritten'",
    "DELETE FROM declaration_events",
    "UPDATE audit_log SET actor = 'someone else'",
    "DELETE FROM audit_log",
])
def test_events_and_audit_log_are_append_only(world: World, statement):
    from smartcustoms.audit.service import record

    with world.platform.sessions() as s, s.begin():
        record(s, world.principals["officer"], "declaration.released", "declaration", "x")
    out, _ = world.platform.declarations.lodge(world.principals["trader"],
                                               DeclarationIn.model_validate(declaration_payload()))
    with pytest.raises(DBAPIError, match="append-only"), world.platform.engine.begin() as conn:
        conn.execute(text(statement))
    assert len(world.platform.declarations.events(world.principals["trader"], out.declaration_no)) >= 3
