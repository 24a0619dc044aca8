"""The intake's bulk writes (manifests/store.py): PostgreSQL's psycopg path (one statement a message)
stores the same rows as SQLite's executemany, and the history merge adds up as one upsert per delta would."""

import itertools
import math
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from smartcustoms.core.db import make_engine, session_factory, upgrade
from smartcustoms.core.security import SYSTEM
from smartcustoms.manifests import store
from smartcustoms.manifests.models import ManifestFiling, ManifestHistoryStat, ManifestMessage
from smartcustoms.manifests.service import ManifestService
from smartcustoms.simulate.manifests import Cons, Item, message, traffic

START = datetime(2026, 11, 1)


def _ingest(url: str) -> tuple[list[tuple], dict[str, tuple[int, float, float]], list[bool]]:
    """Simulated traffic, an amendment and a refused duplicate ingested into ``url``: the stored filings (in id
    order, without ids), the history aggregates, and whether each session took the psycopg path."""
    upgrade(url)
    engine = make_engine(url)
    try:
        sessions = session_factory(engine)
        tick = itertools.count()
        svc = ManifestService(sessions, clock=lambda: START + timedelta(minutes=next(tick)))
        bodies = list(traffic(3, 12, seed=5, start=START))
        loading = START + timedelta(days=3)
        bodies.append(message([Cons(doc="SIM0500000000001", loading_at=loading,
                                    items=[Item(description="MACHINE PARTS", gross_kg="9000.0")])],
                              message_id="AMEND1", function_code="5"))
        bodies.append(bodies[0])  # the same MessageID again: refused, nothing stored
        answers = [a for body in bodies for a in svc.ingest(body, "FILER1", SYSTEM)]
        assert [a.accepted for a in answers] == [True] * 4 + [False]
        assert answers[3].consignments[0].amended and answers[3].consignments[0].version == 2
        cols = [c for c in ManifestFiling.__table__.columns if c.name not in ("id", "message_row_id")]
        with sessions() as s:
            copied = [store._psycopg(s) is not None]
            filings = [tuple(r) for r in s.execute(select(*cols).order_by(ManifestFiling.id))]
            stats = {k: (n, mean, m2) for k, n, mean, m2 in s.execute(select(
                ManifestHistoryStat.key, ManifestHistoryStat.n, ManifestHistoryStat.mean, ManifestHistoryStat.m2))}
            assert s.scalar(select(ManifestMessage.consignments).where(ManifestMessage.message_id == "AMEND1")) == 1
        return filings, stats, copied
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_postgresql_bulk_path_stores_the_same_rows_as_sqlite(fresh_sqlite_url, fresh_pg_url):
    lite_filings, lite_stats, lite_copied = _ingest(fresh_sqlite_url)
    pg_filings, pg_stats, pg_copied = _ingest(fresh_pg_url)
    assert lite_copied == [False] and pg_copied == [True]  # PostgreSQL (psycopg) took its own path
    assert len(pg_filings) == len(lite_filings) == 3 * 12 + 1
    assert pg_filings == lite_filings  # every column: documents, outcomes, reasons, the consignment's JSON
    assert pg_stats.keys() == lite_stats.keys() and len(pg_stats) > 50
    for key, (n, mean, m2) in lite_stats.items():
        pn, pmean, pm2 = pg_stats[key]
        assert pn == n and math.isclose(pmean, mean, rel_tol=1e-9, abs_tol=1e-9), key
        assert math.isclose(pm2, m2, rel_tol=1e-9, abs_tol=1e-6), key


def _merged(url: str) -> dict[str, tuple[int, float, float]]:
    upgrade(url)
    engine = make_engine(url)
    try:
        sessions = session_factory(engine)
        with sessions() as s, s.begin():  # two merges in one transaction, the second over the first's keys
            store.merge_history(s, [("w:a", 2, 10.0, 2.0), ("w:b", 1, 3.0, 0.0)])
            store.merge_history(s, [("w:a", 2, 14.0, 2.0)])
        with sessions() as s, s.begin():
            store.merge_history(s, [("w:b", 3, 5.0, 6.0)])
            store.merge_history(s, [])
        with sessions() as s:
            return {k: (n, mean, m2) for k, n, mean, m2 in s.execute(select(
                ManifestHistoryStat.key, ManifestHistoryStat.n, ManifestHistoryStat.mean, ManifestHistoryStat.m2))}
    finally:
        engine.dispose()


def test_history_merge_adds_observations_on_both_databases(db_url):
    got = _merged(db_url)
    # a: {9, 11} then {13, 15} -> n 4, mean 12, M2 = 20; b: {3} then mean 5, M2 6 over 3 -> n 4, mean 4.5, M2 9
    assert got.keys() == {"w:a", "w:b"}
    assert got["w:a"][0] == 4 and math.isclose(got["w:a"][1], 12.0) and math.isclose(got["w:a"][2], 20.0)
    assert got["w:b"][0] == 4 and math.isclose(got["w:b"][1], 4.5) and math.isclose(got["w:b"][2], 9.0)
