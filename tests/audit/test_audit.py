"""The audit trail: customs decisions audited, event tables append-only, a hash-chained audit log, and
``smartcustoms audit verify`` naming a broken entry or a status changed behind the services' back."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner

from smartcustoms.audit.models import AuditEntry
from smartcustoms.audit.service import record
from smartcustoms.cbec.service import CbecService
from smartcustoms.cli import app as cli
from smartcustoms.core.db import make_engine, session_factory, upgrade
from smartcustoms.core.security import Principal, Role
from smartcustoms.declarations.schemas import DeclarationIn
from smartcustoms.inspection.schemas import InspectionResultIn
from smartcustoms.web.app import create_app
from tests.support import World, declaration_payload

CEB = Path(__file__).resolve().parents[1] / "data" / "ceb"
PLATFORM, ORDER = "1101980001", "ORD20260315000001"
runner = CliRunner()


@dataclass
class Scene:
    """A world where every event table has rows: a lodged and inspected declaration, a decided parcel."""

    world: World
    url: str
    client: TestClient
    cbec: CbecService
    declaration_no: str


@pytest.fixture
def scene(world: World) -> Iterator[Scene]:
    platform = world.platform
    url = platform.engine.url.render_as_string(hide_password=False)
    application = create_app(platform)
    svc = platform.cbec  # the process's CBEC writer, as the API uses it
    samples = {p.stem.split("_")[0]: p.read_bytes() for p in CEB.glob("*.xml")}
    svc.submit([samples[k] for k in ("order", "payment", "waybill", "inventory")])
    svc.submit([b"<not a CEB message/>"])  # a rejection
    out, _ = platform.declarations.lodge(world.principals["trader"],
                                         DeclarationIn.model_validate(declaration_payload()))
    platform.inspections.record(world.principals["officer"], out.declaration_no,
                                InspectionResultIn(outcome="no_offence"))
    try:
        with TestClient(application) as client:
            yield Scene(world, url, client, svc, out.declaration_no)
    finally:
        platform.close_cbec()


def _verify(url: str) -> tuple[int, dict]:
    result = runner.invoke(cli, ["audit", "verify", "--db", url, "--json"])
    return result.exit_code, json.loads(result.stdout)


def _decide(scene: Scene, status: int, **extra) -> int:
    return scene.client.post(f"/api/v1/cbec/parcels/{PLATFORM}/{ORDER}/decision", json={"status": status, **extra},
                             headers={"X-API-Key": scene.world.keys["officer"]}).status_code


def test_an_officer_s_parcel_decision_is_audited_in_its_transaction(scene: Scene):
    assert _decide(scene, 700, info="refused by the buyer") == 200
    assert _decide(scene, 800) == 409  # returned parcels stay returned: refused, and nothing audited
    with scene.world.platform.sessions() as s:
        [entry] = s.scalars(select(AuditEntry).where(AuditEntry.object_type == "cbec_parcel")).all()
    assert (entry.actor, entry.role, entry.action, entry.object_id) == \
        ("officer", "officer", "cbec.parcel.decision", f"{PLATFORM}/{ORDER}")
    assert entry.detail == {"from": 800, "to": 700, "info": "refused by the buyer", "refund_fen": 31000}
    code, report = _verify(scene.url)
    assert code == 0 and report["ok"] and report["status_changes"] >= 2  # the lane update and the return


EVENT_TABLES = ("audit_log", "declaration_events", "declaration_status_changes", "inspection_results",
                "credit_grade_changes", "cbec_parcel_event", "cbec_parcel_status_changes", "cbec_message",
                "cbec_rejection")


def test_every_event_table_refuses_update_and_delete(scene: Scene):
    _decide(scene, 700)
    engine = scene.world.platform.engine
    with scene.world.platform.sessions() as s:
        record(s, scene.world.principals["admin"], "enterprise.credit_grade", "enterprise", "x")
        s.execute(text("INSERT INTO credit_grade_changes (enterprise_id, grade_from, grade_to, at, actor, reason) "
                       "SELECT id, credit_grade, credit_grade, CURRENT_TIMESTAMP, 'admin', 'test' FROM enterprises"))
        # the message log is a table on PostgreSQL only (segment files beside an SQLite file): one row for SQLite
        s.execute(text("INSERT INTO cbec_message (guid, message_guid, msg_type, app_type, received_ms, payload) "
                       "VALUES ('g-test', 'm-test', 'CEB311', 1, 0, :p)"), {"p": b"<x/>"})
        s.commit()
    for table in EVENT_TABLES:
        with engine.connect() as conn:
            assert conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one() > 0, table
        for statement in (f"UPDATE {table} SET id = id", f"DELETE FROM {table}"):
            with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
                conn.execute(text(statement))


def test_the_chain_verifies_and_an_entry_with_a_wrong_hash_is_named(scene: Scene):
    _decide(scene, 700)
    code, report = _verify(scene.url)
    assert code == 0 and report["ok"] and report["entries"] >= 2 and report["missing_triggers"] == []
    with scene.world.platform.engine.begin() as conn:
        last = conn.execute(text("SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1")).scalar_one()
        forged = conn.execute(text(
            "INSERT INTO audit_log (at, actor, role, action, object_type, object_id, detail, prev_hash, hash) "
            "VALUES (CURRENT_TIMESTAMP, 'officer', 'officer', 'declaration.released', 'declaration', 'x', '{}', "
            ":prev, :hash) RETURNING id"), {"prev": last, "hash": "f" * 64}).scalar_one()
    code, report = _verify(scene.url)
    assert code == 1 and not report["ok"]
    assert report["chain_break"] == {"entry_id": forged, "reason": "hash does not match the entry's content"}
    human = runner.invoke(cli, ["audit", "verify", "--db", scene.url])
    assert human.exit_code == 1 and f"broken at entry {forged}" in human.stdout


def _drop_audit_triggers(conn, dialect: str) -> None:
    if dialect == "postgresql":
        conn.execute(text("DROP TRIGGER audit_log_append_only ON audit_log"))
    else:
        conn.execute(text("DROP TRIGGER audit_log_no_update"))
        conn.execute(text("DROP TRIGGER audit_log_no_delete"))


def test_an_entry_edited_with_the_triggers_dropped_is_named(scene: Scene):
    engine = scene.world.platform.engine
    with engine.connect() as conn:
        first = conn.execute(text("SELECT min(id) FROM audit_log")).scalar_one()
    with engine.begin() as conn:
        _drop_audit_triggers(conn, engine.dialect.name)
        conn.execute(text("UPDATE audit_log SET actor = 'someone else' WHERE id = :id"), {"id": first})
    code, report = _verify(scene.url)
    assert code == 1
    assert report["chain_break"]["entry_id"] == first
    assert "audit_log_no_update" in report["missing_triggers"] or "audit_log_append_only" in report["missing_triggers"]


def test_the_last_entries_removed_are_detected(scene: Scene):
    engine = scene.world.platform.engine
    with engine.begin() as conn:
        _drop_audit_triggers(conn, engine.dialect.name)
        conn.execute(text("DELETE FROM audit_log WHERE id = (SELECT max(id) FROM audit_log)"))
    code, report = _verify(scene.url)
    assert code == 1 and "removed at the end" in report["chain_break"]["reason"]


def test_a_status_changed_behind_the_services_back_is_reported(scene: Scene):
    engine = scene.world.platform.engine
    admin, trader = ({"X-API-Key": scene.world.keys[u]} for u in ("admin", "trader"))
    assert _verify(scene.url)[0] == 0
    assert scene.client.get("/api/v1/audit/verify", headers=admin).json()["ok"] is True
    assert scene.client.get("/api/v1/audit/verify", headers=trader).status_code == 403
    with engine.begin() as conn:
        conn.execute(text("UPDATE declarations SET status = 'lane_assigned' WHERE declaration_no = :no"),
                     {"no": scene.declaration_no})
        conn.execute(text("UPDATE cbec_parcel SET status = 300 WHERE order_no = :o"), {"o": ORDER})
        traced = conn.execute(text("SELECT from_status, to_status FROM declaration_status_changes "
                                   "ORDER BY id DESC LIMIT 1")).one()
    assert tuple(traced) == ("released", "lane_assigned")
    code, report = _verify(scene.url)
    assert code == 1 and report["chain_break"] is None
    found = {(u["object_type"], u["object_id"], u["from_status"], u["to_status"], u["reason"])
             for u in report["untraced"]}
    assert ("declaration", scene.declaration_no, "released", "lane_assigned",
            "status changed without a lifecycle event") in found
    assert ("parcel", f"{PLATFORM}/{ORDER}", 800, 300, "status changed without a parcel event") in found
    human = runner.invoke(cli, ["audit", "verify", "--db", scene.url])
    assert human.exit_code == 1 and scene.declaration_no in human.stdout and "FAILED" in human.stdout
    api = scene.client.get("/api/v1/audit/verify", headers=admin).json()
    assert api["ok"] is False and api["untraced_count"] == report["untraced_count"]


def test_entries_written_before_the_chain_are_chained_by_the_migration(db_url):
    upgrade(db_url, "0001_core")
    engine = make_engine(db_url)
    with engine.begin() as conn:
        for i in range(3):
            conn.execute(text("INSERT INTO audit_log (at, actor, role, action, object_type, object_id, detail) "
                              "VALUES ('2026-01-01 10:00:00.123456', 'admin', 'admin', 'tariff.replace', 'tariff', "
                              ":i, :d)"), {"i": str(i), "d": json.dumps({"lines": i, "file": "税则.csv"})})
    upgrade(db_url)
    with session_factory(engine)() as s, s.begin():
        record(s, Principal(1, "admin", Role.ADMIN), "tariff.replace", "tariff", "all")
    engine.dispose()
    code, report = _verify(db_url)
    assert code == 0 and report["entries"] == 4


@pytest.mark.postgres
def test_concurrent_appends_on_postgresql_keep_one_unforked_chain(fresh_pg_url):
    upgrade(fresh_pg_url)
    engine = make_engine(fresh_pg_url)
    sessions = session_factory(engine)
    n, start = 40, threading.Barrier(2)
    errors: list[BaseException] = []

    def append(who: str) -> None:
        try:
            start.wait()
            for i in range(n):
                with sessions() as s, s.begin():
                    record(s, Principal(1, who, Role.OFFICER), "declaration.released", "declaration", str(i))
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=append, args=(w,)) for w in ("officer1", "officer2")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with engine.connect() as conn:
        prevs = conn.execute(text("SELECT prev_hash FROM audit_log")).scalars().all()
    engine.dispose()
    assert errors == []
    assert len(prevs) == len(set(prevs)) == 2 * n  # no two entries follow the same one: no fork
    code, report = _verify(fresh_pg_url)
    assert code == 0 and report["entries"] == 2 * n
