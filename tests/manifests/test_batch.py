"""Several messages in one transaction (ManifestService.store_batch, ingest_bodies(batch=...)): the same answers,
rows and history as one message a transaction, a refused or duplicate message stores nothing while the others of
its batch commit, and a batch whose transaction fails is stored again one message at a time."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from smartcustoms.audit.verify import verify
from smartcustoms.core.db import make_engine, session_factory, upgrade
from smartcustoms.core.security import SYSTEM
from smartcustoms.manifests import intake
from smartcustoms.manifests.models import ManifestFiling, ManifestHistoryStat, ManifestMessage
from smartcustoms.manifests.pipeline import ingest_bodies
from smartcustoms.manifests.service import ManifestService
from smartcustoms.simulate.manifests import Cons, Item, message, traffic

START = datetime(2026, 11, 1)
LOADING = START + timedelta(days=3)


def _bodies() -> list[bytes]:
    """Traffic with, inside what becomes one batch: an amendment of a document filed earlier in the same batch, an
    amendment of a document never filed (refused), a malformed message, a duplicate MessageID, a withdrawal."""
    sim = list(traffic(6, 5, seed=3, start=START))
    return [sim[0], sim[1],
            message([Cons(doc="SIM0300000000001", loading_at=LOADING,
                          items=[Item(description="MACHINE PARTS", gross_kg="9000.0")])],
                    message_id="AMEND1", function_code="5"),
            message([Cons(doc="NEVERFILED1", loading_at=LOADING)], message_id="AMEND2", function_code="5"),
            message([Cons(containers=["CSQU3054384"])], message_id="BAD"),  # a wrong check digit
            sim[0],  # the same MessageID again
            sim[2], sim[3],
            message([Cons(doc="SIM0300000000002", loading_at=LOADING)], message_id="WD1", function_code="3"),
            sim[4], sim[5]]


def _answers(results) -> list[tuple]:
    return [(a.index, a.message_id, a.accepted, a.duplicate, [e.field for e in a.errors],
             [(c.transport_document_no, c.version, c.amended, c.withdrawn, c.outcome, tuple(c.reasons), c.late)
              for c in a.consignments]) for r in results for a in r.answers]


def _run(url: str, batch: int, workers: int = 0) -> tuple[list[tuple], list[tuple], dict, int]:
    upgrade(url)
    engine = make_engine(url)
    try:
        sessions = session_factory(engine)
        tick = itertools.count()
        svc = ManifestService(sessions, clock=lambda: START + timedelta(minutes=next(tick)))
        answers = _answers(ingest_bodies(svc, _bodies(), "FILER1", SYSTEM, workers=workers, window=3, batch=batch))
        cols = [c for c in ManifestFiling.__table__.columns if c.name not in ("id", "message_row_id")]
        with sessions() as s:
            filings = [tuple(r) for r in s.execute(select(*cols).order_by(ManifestFiling.id))]
            stats = {k: (n, round(mean, 9), round(m2, 9)) for k, n, mean, m2 in s.execute(select(
                ManifestHistoryStat.key, ManifestHistoryStat.n, ManifestHistoryStat.mean, ManifestHistoryStat.m2))}
            audits = s.scalar(text("SELECT count(*) FROM audit_log WHERE action = 'manifest.assessed'"))
            report = verify(s.connection())  # the hash chain holds (a batch appends its entries together)
            assert report.ok, report
        return answers, filings, stats, audits
    finally:
        engine.dispose()


def test_batches_answer_and_store_exactly_as_one_message_a_transaction(db_url, tmp_path):
    one = _run(db_url, batch=1)
    if db_url.startswith("sqlite"):
        other = f"sqlite:///{tmp_path / 'batched.db'}"
    else:  # a second schema on the same server
        other = db_url.replace("search_path%3D", "search_path%3Db")
        admin = make_engine(db_url.split("?")[0])
        with admin.begin() as c:
            c.execute(text(f"CREATE SCHEMA {other.rsplit('%3D', 1)[1]}"))
    try:
        batched = _run(other, batch=8)
    finally:
        if not db_url.startswith("sqlite"):
            with admin.begin() as c:
                c.execute(text(f"DROP SCHEMA {other.rsplit('%3D', 1)[1]} CASCADE"))
            admin.dispose()
    answers = one[0]
    assert [a[2] for a in answers] == [True, True, True, False, False, False, True, True, True, True, True]
    assert answers[2][5][0][1:3] == (2, True)  # the amendment saw the filing made earlier in its batch
    assert answers[5][3] and answers[3][4] and answers[4][4]  # duplicate, refused amendment, malformed
    assert batched == one  # answers, every filing column, the history aggregates, one audit entry per accepted
    assert one[3] == 8


def test_a_batch_whose_transaction_fails_is_stored_one_message_at_a_time(sqlite_world, monkeypatch):
    svc = ManifestService(sqlite_world.platform.sessions, clock=lambda: START)
    real = ManifestService._store_in
    calls = {"n": 0}

    def fails_in_the_batch(self, *args):
        calls["n"] += 1
        if calls["n"] == 3:  # the third message of the batch meets a concurrent filing of its MessageID
            raise IntegrityError("INSERT", {}, Exception("uq_manifest_message_filer_id"))
        return real(self, *args)

    monkeypatch.setattr(ManifestService, "_store_in", fails_in_the_batch)
    body = b"".join(message([Cons(doc=f"B{i}", loading_at=LOADING)], message_id=f"B{i}") for i in range(4))
    answers = svc.store_batch(list(intake.parse_stream(body)), "FILER1", SYSTEM)
    assert [a.accepted for a in answers] == [True] * 4  # the batch rolled back whole, then one a transaction
    with svc.sessions() as s:
        assert s.scalar(select(func.count()).select_from(ManifestMessage)) == 4
        assert s.scalar(select(func.count()).select_from(ManifestFiling)) == 4
        assert s.scalar(text("SELECT count(*) FROM audit_log WHERE action = 'manifest.assessed'")) == 4
        report = verify(s.connection())
    assert report.ok, report


@pytest.mark.parametrize("workers", [0, 1])
def test_ingest_bodies_batches_with_and_without_a_parser_process(tmp_path, workers):
    one = _run(f"sqlite:///{tmp_path / 'one.db'}", batch=1)
    assert _run(f"sqlite:///{tmp_path / 'b.db'}", batch=3, workers=workers) == one


def test_batch_limits(sqlite_world):
    svc = ManifestService(sqlite_world.platform.sessions)
    with pytest.raises(ValueError, match="batch"):
        list(ingest_bodies(svc, [], "C", SYSTEM, batch=0))


def test_a_message_filed_twice_at_once_is_answered_as_a_duplicate(world, monkeypatch):
    """Two intakes read 'not filed yet' for the same MessageID; the second insert meets the unique key (on
    PostgreSQL inside the single intake statement) and is answered as a duplicate, alone or in a batch."""
    from smartcustoms.manifests import store

    svc = ManifestService(world.platform.sessions, clock=lambda: START)
    first = message([Cons(doc="RACE1", loading_at=LOADING)], message_id="RACE")
    assert svc.ingest(first, "FILER1", SYSTEM)[0].accepted
    real = store.reads_before

    def not_seen(s, filer, message_id, kind, docs, keys):
        _, prior, stats = real(s, filer, message_id + "-other", kind, docs, keys)
        return False, prior, stats

    monkeypatch.setattr(store, "reads_before", not_seen)
    [again] = svc.ingest(first, "FILER1", SYSTEM)
    assert again.duplicate and not again.accepted
    other = message([Cons(doc="RACE2", loading_at=LOADING)], message_id="OTHER")
    answers = svc.ingest(other + first, "FILER1", SYSTEM)  # a batch of two: rolled back, then one by one
    assert [(a.accepted, a.duplicate) for a in answers] == [(True, False), (False, True)]
    with svc.sessions() as s:
        assert s.scalar(select(func.count()).select_from(ManifestMessage)) == 2
