"""Crash safety, quota under concurrency (PostgreSQL, two processes) and the migration."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from smartcustoms.cbec import quota
from smartcustoms.cbec.ceb.parse import parse_message
from smartcustoms.cbec.ceb.spec import CebError
from smartcustoms.cbec.log import stored_guids
from smartcustoms.cbec.simulate import SimConfig, generate
from smartcustoms.cbec.store import Store

from .conftest import drop_pg_schema, pg_url_or_skip

INGEST = "from smartcustoms.cbec.cli import app; app()"


#: imported by every process of the run to be killed (its writer shards too, through PYTHONPATH): the reader
#: stops before the chunk that would take it past 80 % of the stream, so that the run cannot end before the test
#: kills it, however late the test looks at the database (the window between the first commits and the end of
#: the run lasts about 0.5 s: a test process kept off the CPU that long by a loaded machine misses it). The kill
#: still lands wherever the run is when the test sees enough committed.
STOP_BEFORE_THE_END = textwrap.dedent("""
    import os
    import time

    from smartcustoms.cbec import framing

    _chunks_of_file = framing.chunks_of_file


    def chunks_of_file(path, *args, **kwargs):
        size = os.path.getsize(path)
        for chunk in _chunks_of_file(path, *args, **kwargs):
            if chunk.end_offset is not None and chunk.end_offset > 0.8 * size:
                time.sleep(600)  # the test kills the run meanwhile
            yield chunk


    framing.chunks_of_file = chunks_of_file
""")


def _ingest(url: str, path: Path, *extra: str, hooks: Path | None = None) -> subprocess.Popen:
    env = dict(os.environ)
    if hooks is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(hooks), env.get("PYTHONPATH")]))
    return subprocess.Popen([sys.executable, "-c", INGEST, "ingest", str(path), "--db", url, "--batch", "100",
                             "--workers", "0", *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)


# (shards, seconds between the test's looks at the database): 3 s is this process kept off the CPU by a loaded
# machine: without STOP_BEFORE_THE_END the run ends before the kill
@pytest.mark.parametrize(("shards", "poll"), [(1, 0.02), (2, 0.02), (2, 3.0)])
def test_killed_pipeline_restarts_and_processes_every_message_exactly_once(tmp_path: Path, shards: int,
                                                                           poll: float):
    n = 6000
    stream = tmp_path / "in.xml"
    msgs = list(generate(n, seed=7, config=SimConfig(missing=0.0, buyers=300)))
    stream.write_bytes(b"".join(msgs))
    url = f"sqlite:///{tmp_path / 'crash.db'}"
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(STOP_BEFORE_THE_END)
    proc = _ingest(url, stream, "--shards", str(shards), hooks=hooks)
    deadline = time.time() + 120
    while time.time() < deadline:  # wait until some batches are committed, then kill it hard
        time.sleep(poll)
        if (tmp_path / "crash.db").exists():
            try:
                with Store(url) as s:
                    done = s.execute("SELECT count(*) FROM cbec_parcel").fetchone()[0]
            except Exception:
                done = 0
            if done > n // 20:
                break
    os.kill(proc.pid, signal.SIGKILL)  # writer shards die with it (PR_SET_PDEATHSIG)
    proc.wait()
    with Store(url) as s:
        before = s.execute("SELECT count(*) FROM cbec_parcel").fetchone()[0]
    assert 0 < before < n, "the kill must land mid-run"
    again = _ingest(url, stream, "--flush", "--shards", str(shards))
    out, err = again.communicate(timeout=300)
    assert again.returncode == 0, err.decode()[-2000:]

    guids = set()
    for m in msgs:
        with contextlib.suppress(CebError):
            guids.update(d.guid for d in parse_message(m))
    with Store(url) as s:
        stored = stored_guids(s)
        assert len(stored) == len(set(stored)) == len(guids)  # nothing lost, nothing twice
        assert s.execute("SELECT count(*) FROM cbec_parcel").fetchone()[0] == n
        assert s.execute("SELECT count(*) FROM (SELECT order_no FROM cbec_parcel_event WHERE status = 800 "
                         "GROUP BY order_no HAVING count(*) > 1) t").fetchone()[0] == 0
        ledger = dict(((b, y), u) for b, y, u in s.execute("SELECT buyer_id_number, year, used_fen FROM cbec_quota"))
        charged = {(b, y): c for b, y, c in s.execute(
            "SELECT buyer_id_number, quota_year, sum(charged_fen) FROM cbec_parcel GROUP BY 1, 2")}
        assert {k: v for k, v in ledger.items() if v} == {k: v for k, v in charged.items() if v}
        released = s.execute("SELECT count(*) FROM cbec_parcel WHERE status = 800").fetchone()[0]
        assert released > n * 0.8


CHARGER = textwrap.dedent("""
    import sys
    from smartcustoms.cbec import quota
    from smartcustoms.cbec.store import Store
    url, mode = sys.argv[1], sys.argv[2]
    s = Store(url)
    ok = 0
    for i in range(60):
        s.begin()
        if mode == "one":
            ok += quota.charge_one(s, "BUYER-1", 2026, 100_000, 0)
        else:
            ok += sum(quota.charge_batch(s, [("BUYER-1", 2026, 50_000), ("BUYER-1", 2026, 50_000)], 0))
        s.commit()
    print(ok)
""")


@pytest.mark.postgres
def test_two_workers_never_charge_one_buyer_past_the_annual_limit():
    from smartcustoms.core.db import upgrade

    url, schema = pg_url_or_skip()
    try:
        upgrade(url)
        procs = [subprocess.Popen([sys.executable, "-c", CHARGER, url, mode], stdout=subprocess.PIPE)
                 for mode in ("one", "batch")]
        oks = [int(p.communicate(timeout=120)[0]) for p in procs]
        with Store(url) as s:
            used = quota.used_fen(s, "BUYER-1", 2026)
        # each success is 1,000 CNY; 12,000 CNY were asked for, only 26,000 may be charged
        assert used == 2_600_000
        assert oks[0] * 100_000 + oks[1] * 50_000 == used
    finally:
        drop_pg_schema(schema)


@pytest.mark.postgres
def test_pipeline_runs_on_postgresql(samples):
    from smartcustoms.cbec.engine import Engine, parse_batch
    from smartcustoms.core.db import upgrade

    url, schema = pg_url_or_skip()
    try:
        upgrade(url)
        with Store(url) as s:
            eng = Engine(s)
            eng.warm_start()
            res = eng.process(parse_batch([samples[k] for k in ("order", "payment", "waybill", "inventory")]))
            assert [d.status for d in res.decisions] == [800]
            assert s.execute("SELECT used_fen FROM cbec_quota").fetchone() == (31000,)
        # a risk rule stored in PostgreSQL (JSON criteria, dates, booleans) holds the next matching parcel
        from datetime import date

        from smartcustoms.core.db import make_engine, session_factory, transaction
        from smartcustoms.core.security import SYSTEM
        from smartcustoms.risk.targeting.schemas import RuleIn
        from smartcustoms.risk.targeting.service import save_rule
        from tests.cbec.test_pipeline import parcel, xml

        db = make_engine(url)
        with transaction(session_factory(db)) as session:
            save_rule(session, RuleIn(name="Cream alert", criteria=[{"field": "hs_code", "op": "prefix",
                                                                     "value": ["3304"]}],
                                      lane="red", mandatory=True, valid_from=date(2020, 1, 1)), SYSTEM)
        db.dispose()
        with Store(url) as s:
            eng = Engine(s)
            eng.warm_start()
            docs = parcel("PG2")
            [d] = eng.process(parse_batch([xml(docs, k) for k in docs])).decisions
            assert d.status == 500 and "rule 'Cream alert'" in d.info
    finally:
        drop_pg_schema(schema)


def test_migration_matches_the_models(db_url):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy import create_engine

    from smartcustoms.platform import all_tables

    engine = create_engine(db_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), all_tables())
    ours = [d for d in diff if "cbec_" in repr(d)]
    assert ours == []



@pytest.mark.postgres
def test_two_writer_shards_on_postgresql_process_everything_once(tmp_path: Path):
    from smartcustoms.cbec.log import stored_guids
    from smartcustoms.cbec.runner import ingest_sharded
    from smartcustoms.core.db import upgrade

    url, schema = pg_url_or_skip()
    try:
        upgrade(url)
        stream = tmp_path / "in.xml"
        msgs = list(generate(1200, seed=5, config=SimConfig(buyers=40)))
        stream.write_bytes(b"".join(msgs))
        stats = ingest_sharded(url, stream, shards=2, batch_size=200, flush=True)
        again = ingest_sharded(url, stream, shards=2, batch_size=200, flush=True)  # resumes at the end: nothing
        assert stats.parcels == 1200 and again.parcels == 0 and again.messages == 0
        with Store(url) as s:
            guids = stored_guids(s)
            assert len(guids) == len(set(guids)) == stats.messages - stats.duplicates - stats.rejected_messages
            assert s.execute("SELECT count(*) FROM cbec_parcel").fetchone()[0] == 1200
            ledger = {(b, y): u for b, y, u in s.execute("SELECT buyer_id_number, year, used_fen FROM cbec_quota")
                      if u}
            charged = {(b, y): c for b, y, c in s.execute(
                "SELECT buyer_id_number, quota_year, sum(charged_fen) FROM cbec_parcel GROUP BY 1, 2") if c}
            assert ledger == charged and all(u <= quota.ANNUAL_LIMIT_FEN for u in ledger.values())
    finally:
        drop_pg_schema(schema)
