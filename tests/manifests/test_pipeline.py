"""The two-core intake: parsed in a worker process, stored here in order, with the same answers as inline; a
parser that dies costs nothing (its bodies are parsed again here)."""

from __future__ import annotations

import os
import signal
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select, text
from typer.testing import CliRunner

from smartcustoms.cli import app
from smartcustoms.core.security import SYSTEM
from smartcustoms.manifests.models import ManifestFiling
from smartcustoms.manifests.pipeline import ingest_bodies, parser_pool
from smartcustoms.manifests.rules import ManifestSettings
from smartcustoms.manifests.service import ManifestService
from smartcustoms.simulate.manifests import Cons, Item, house_list, message, waybill

NOW = datetime(2026, 12, 1)
LOADING = NOW + timedelta(days=2)


def _bodies() -> list[bytes]:
    return [message([Cons(doc=f"D{i}", loading_at=LOADING,
                          items=[Item(description="GENERAL CARGO" if i % 3 == 0 else "COTTON SHIRTS")])],
                    message_id=f"M{i}") for i in range(6)] + [
        message([Cons(containers=["CSQU3054384"])], message_id="BAD"), waybill(), house_list(),
        message([Cons(doc="D1", loading_at=LOADING)], message_id="M1")]  # a duplicate


def _summary(results) -> list[tuple]:
    return [(r.index, a.message_id, a.accepted, a.duplicate, [e.field for e in a.errors],
             [(c.transport_document_no, c.version, c.outcome) for c in a.consignments])
            for r in results for a in r.answers]


@pytest.fixture
def two(sqlite_world, tmp_path):
    """The world's service and a second, empty database's service (the same filings go to each)."""
    from smartcustoms.core.db import make_engine, session_factory, upgrade

    url = f"sqlite:///{tmp_path / 'other.db'}"
    upgrade(url)
    engine = make_engine(url)
    yield (ManifestService(sqlite_world.platform.sessions, ManifestSettings(), clock=lambda: NOW),
           ManifestService(session_factory(engine), ManifestSettings(), clock=lambda: NOW))
    engine.dispose()


def test_the_pipelined_intake_answers_exactly_as_the_inline_one(two):
    inline_svc, piped_svc = two
    inline = _summary(ingest_bodies(inline_svc, _bodies(), "CARRIER1", SYSTEM, workers=0))
    piped = _summary(ingest_bodies(piped_svc, _bodies(), "CARRIER1", SYSTEM, workers=1, window=3))
    assert piped == inline
    assert [x[2] for x in inline] == [True] * 6 + [False, True, True, False] and inline[-1][3]  # duplicate
    with piped_svc.sessions() as s:  # one audit entry per accepted message, nothing of the refused ones
        assert s.scalar(text("SELECT count(*) FROM audit_log WHERE action = 'manifest.assessed'")) == 8
        assert s.scalar(select(func.count()).select_from(ManifestFiling)) == 6 + 1 + 2


def test_a_parser_that_dies_loses_nothing(two):
    _, svc = two
    pool = parser_pool(1)
    try:
        for pid in list(pool._processes):  # the parser this test started
            os.kill(pid, signal.SIGKILL)
        results = list(ingest_bodies(svc, _bodies(), "CARRIER1", SYSTEM, pool=pool, window=2))
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    assert [r.index for r in results] == list(range(10))
    assert [a.accepted for r in results for a in r.answers] == [True] * 6 + [False, True, True, False]


def test_limits_on_workers_and_window(two):
    svc, _ = two
    with pytest.raises(ValueError, match="workers"):
        list(ingest_bodies(svc, [], "C", SYSTEM, workers=99))
    with pytest.raises(ValueError, match="window"):
        list(ingest_bodies(svc, [], "C", SYSTEM, window=0))


def test_cli_ingests_a_folder_with_a_parser_process(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for i, body in enumerate(_bodies()[:8]):
        (folder / f"{i:02d}.xml").write_bytes(body)
    db = f"sqlite:///{tmp_path / 'm.db'}"
    r = CliRunner().invoke(app, ["manifests", "ingest", str(folder), "--db", db, "--workers", "1"])
    assert r.exit_code == 0, r.output
    lines = r.output.strip().splitlines()
    assert len(lines) == 8 and lines[0].split("/")[-1].startswith("00.xml#0 MT1101 M0: accepted")
    assert "06.xml#0 MT1101 BAD: refused" in lines[6] and "08.xml" not in r.output
