"""Reconciliation of manifest lines with arrival, tally and goods declarations, and the discrepancy queue."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from smartcustoms.core.errors import Conflict
from smartcustoms.manifests.reconcile import (
    DeclaredDocument,
    DiscrepancyKind,
    Line,
    ReconcileSettings,
    Report,
    reconcile,
)
from smartcustoms.manifests.schemas import DiscrepancyResolution, DiscrepancyResolutionIn
from smartcustoms.simulate.manifests import Cons, Item, message
from tests.support import assert_problem, key_header, lodge

T0 = datetime(2026, 12, 1, 0, 0)
S = ReconcileSettings(short_landed_hours=24, undeclared_days=14, weight_tolerance_pct=5, packages_tolerance=0)


def line(doc: str, **kw) -> Line:
    base = dict(filer_code="CARRIER", document_no=doc, mode="water", conveyance_id="UN9074729", journey_id="0123E",
                filed_at=T0, packages=100, gross_mass_kg=Decimal("1250.5"))
    return Line(**{**base, **kw})


def report(doc: str, kind: str = "tally", fid: int = 1, at: datetime = T0 + timedelta(days=2), **kw) -> Report:
    base = dict(filing_id=fid, kind=kind, document_no=doc, conveyance_id="UN9074729", journey_id="0123E",
                reported_at=at, packages=100, gross_mass_kg=Decimal("1250.5"))
    return Report(**{**base, **kw})


def kinds(found) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for f in found:
        out.setdefault(f.kind.value, []).append(f.document_no)
    return out


# ---------------------------------------------------------------------------------------------- pure rules
def test_a_manifested_line_missing_from_the_tally_a_day_after_arrival_is_short_landed():
    lines = [line("B1"), line("B2")]
    reports = [report("B1")]
    assert "short_landed" not in kinds(reconcile(lines, reports, [], T0 + timedelta(days=2, hours=23), S))
    found = reconcile(lines, reports, [], T0 + timedelta(days=3), S)
    assert kinds(found)["short_landed"] == ["B2"]


def test_a_house_lands_with_its_master():
    lines = [line("M1"), line("H1", master_document_no="M1"), line("H2", master_document_no="M9")]
    found = reconcile(lines, [report("M1")], [], T0 + timedelta(days=5), S)
    assert kinds(found)["short_landed"] == ["H2"]


def test_a_line_of_a_conveyance_not_yet_arrived_is_not_short_landed():
    found = reconcile([line("B1"), line("B2", journey_id="0999W")], [report("B1")], [], T0 + timedelta(days=9), S)
    assert "short_landed" not in kinds(found)


def test_a_tallied_document_never_manifested_is_over_landed():
    found = reconcile([line("B1")], [report("B1"), report("B9", fid=2)], [], T0 + timedelta(days=2), S)
    assert kinds(found)["over_landed"] == ["B9"]
    withdrawn = reconcile([line("B1", withdrawn=True)], [report("B1")], [], T0 + timedelta(days=2), S)
    assert kinds(withdrawn)["over_landed"] == ["B1"]


def test_weight_beyond_the_tolerance_and_a_packages_difference_are_found_from_the_latest_tally():
    lines = [line("B1", gross_mass_kg=Decimal("1000")), line("B2", gross_mass_kg=Decimal("1000"))]
    reports = [report("B1", fid=1, gross_mass_kg=Decimal("1049")),  # 4.9 %: within 5 %
               report("B2", fid=2, gross_mass_kg=Decimal("1300"), packages=97)]
    found = reconcile(lines, reports, [], T0 + timedelta(days=2), S)
    assert kinds(found)["weight_difference"] == ["B2"] and kinds(found)["packages_difference"] == ["B2"]
    w = next(f for f in found if f.kind is DiscrepancyKind.WEIGHT_DIFFERENCE)
    assert w.detail["difference_pct"] == 30.0 and w.detail["manifested_kg"] == "1000"
    recount = reports + [report("B2", fid=3, gross_mass_kg=Decimal("1000"), packages=100)]  # a later tally agrees
    assert not {"weight_difference", "packages_difference"} & set(kinds(reconcile(lines, recount, [], T0, S)))


def test_declarations_without_a_standing_line_and_unmanifested_goods():
    lines = [line("B1"), line("B2", withdrawn=True)]
    reports = [report("B3", kind="arrival")]
    declared = [DeclaredDocument("D1", "B1", T0), DeclaredDocument("D2", "B2", T0),
                DeclaredDocument("D3", "B3", T0), DeclaredDocument("D4", "NOSUCHDOC", T0)]
    early = reconcile(lines, reports, declared, T0 + timedelta(hours=23), S)  # the manifest may still come
    assert not {"declaration_without_line", "unmanifested_goods"} & set(kinds(early))
    found = reconcile(lines, reports, declared, T0 + timedelta(days=1), S)
    assert sorted(kinds(found)["declaration_without_line"]) == ["B2", "B3"]
    assert kinds(found)["unmanifested_goods"] == ["NOSUCHDOC"]
    assert {f.declaration_no for f in found if f.kind is DiscrepancyKind.UNMANIFESTED_GOODS} == {"D4"}


def test_a_line_undeclared_after_n_days_from_arrival_is_never_declared():
    lines = [line("B1"), line("B2")]
    reports = [report("B1", at=T0 + timedelta(days=2)), report("B2", at=T0 + timedelta(days=2))]
    declared = [DeclaredDocument("D1", "B1", T0 + timedelta(days=3))]
    assert "never_declared" not in kinds(reconcile(lines, reports, declared, T0 + timedelta(days=15), S))
    assert kinds(reconcile(lines, reports, declared, T0 + timedelta(days=16), S))["never_declared"] == ["B2"]


def test_a_declaration_against_the_rail_leg_declares_the_sea_leg():
    lines = [line("SEA1"), line("RAIL1", mode="rail", conveyance_id="X8001", previous_document_no="SEA1")]
    found = reconcile(lines, [], [DeclaredDocument("D1", "RAIL1", T0)], T0 + timedelta(days=30), S)
    assert "never_declared" not in kinds(found)


def test_finding_keys_are_stable_so_runs_can_be_idempotent():
    args = ([line("B1"), line("B2")], [report("B1"), report("B9", fid=2)], [DeclaredDocument("D4", "X", T0)],
            T0 + timedelta(days=20), S)
    assert [f.key for f in reconcile(*args)] == [f.key for f in reconcile(*args)]


# ---------------------------------------------------------------------------------------------- storage
def file(world, consignments, *, kind="original", message_id, mode="water", **kw):
    answers = world.platform.manifests.ingest(message(consignments, kind=kind, message_id=message_id, mode=mode, **kw),
                                              world.importer, world.principals["trader"])
    assert answers[0].accepted, answers[0].errors
    return answers[0]


LOADING = datetime.now() + timedelta(days=3)


def test_runs_open_each_discrepancy_once_and_an_officer_resolves_it_audited(world):
    svc = world.platform.manifests
    file(world, [Cons(doc="COSU6123456780", loading_at=LOADING), Cons(doc="COSU6123456781", loading_at=LOADING)],
         message_id="M1")
    # the tally counts the first bill 30 % heavier and does not name the second; names one never manifested
    file(world, [Cons(doc="COSU6123456780", items=[Item(gross_kg="1625.65")]), Cons(doc="COSU9999999990")],
         kind="tally", message_id="T1")
    opened_on_ingest = svc.discrepancies.listing()
    assert {(d.kind, d.transport_document_no) for d in opened_on_ingest} == {
        ("weight_difference", "COSU6123456780"), ("over_landed", "COSU9999999990")}
    later = svc.clock() + timedelta(hours=25)
    svc.discrepancies.clock = lambda: later
    first = svc.reconcile()
    assert first.opened == 1 and first.by_kind["short_landed"] == 1
    again = svc.reconcile()
    assert again.opened == 0 and again.found == first.found
    queue = svc.discrepancies.listing()
    assert len(queue) == 3 and all(d.events[0].action == "opened" for d in queue)
    short = next(d for d in queue if d.kind == "short_landed")
    assert short.transport_document_no == "COSU6123456781" and short.filer_code == world.importer
    out = svc.discrepancies.resolve(short.id, DiscrepancyResolutionIn(
        resolution=DiscrepancyResolution.SHORT_SHIPPED, reason="left in Rotterdam, carrier letter seen"),
        world.principals["officer"])
    assert out.resolved and out.events[-1].actor == "officer" and out.events[-1].resolution == "short_shipped"
    with pytest.raises(Conflict):
        svc.discrepancies.resolve(short.id, DiscrepancyResolutionIn(resolution="no_action", reason="again"),
                                  world.principals["officer"])
    assert short.id not in [d.id for d in svc.discrepancies.listing()]
    assert short.id in [d.id for d in svc.discrepancies.listing(status="resolved")]
    assert svc.reconcile().opened == 0  # resolved stays resolved: the same finding is not reopened
    with world.platform.sessions() as s:
        actions = s.execute(text("SELECT action FROM audit_log WHERE object_type = 'manifest_discrepancy' "
                                 "ORDER BY id")).scalars().all()
    assert actions == ["manifest.discrepancies_opened", "manifest.discrepancies_opened",
                       "manifest.discrepancy_resolved"]
    for table in ("manifest_discrepancy", "manifest_discrepancy_event"):
        with pytest.raises(DBAPIError), world.platform.sessions() as s, s.begin():
            s.execute(text(f"DELETE FROM {table}"))


def test_declarations_are_reconciled_with_the_manifest_lines(client, world):
    svc = world.platform.manifests
    file(world, [Cons(doc="COSU6123456780", loading_at=LOADING), Cons(doc="COSU6123456781", loading_at=LOADING)],
         message_id="M1")
    declared = lodge(client, world, "broker", transport_document_no="COSU6123456780")
    assert declared.status_code in (200, 201, 202), declared.text
    unmanifested = lodge(client, world, "broker", transport_document_no="MSKU0000000000")
    decl_no = unmanifested.json()["declaration_no"]
    assert lodge(client, world, "broker", transport_document_no="bad doc!").status_code == 422
    svc.discrepancies.clock = lambda: svc.clock() + timedelta(days=15)
    svc.reconcile()
    found = {(d.kind, d.transport_document_no, d.declaration_no) for d in svc.discrepancies.listing()}
    assert ("unmanifested_goods", "MSKU0000000000", decl_no) in found
    assert ("never_declared", "COSU6123456781", None) in found
    assert not any(k == "never_declared" and doc == "COSU6123456780" for k, doc, _ in found)


def test_the_discrepancy_api_is_for_officers_and_wants_a_reason(client, world):
    file(world, [Cons(doc="COSU6123456780")], kind="tally", message_id="T1")  # over-landed at once
    url = "/api/v1/manifests/discrepancies"
    assert client.get(url, headers=key_header(world, "trader")).status_code == 403
    queue = client.get(url, headers=key_header(world, "analyst"), params={"kind": "over_landed"}).json()
    assert [d["transport_document_no"] for d in queue] == ["COSU6123456780"]
    assert_problem(client.get(url, headers=key_header(world, "officer"), params={"kind": "lost"}), 422)
    did = queue[0]["id"]
    res = f"{url}/{did}/resolution"
    assert client.post(res, headers=key_header(world, "analyst"),
                       json={"resolution": "explained", "reason": "seen"}).status_code == 403
    assert_problem(client.post(res, headers=key_header(world, "officer"), json={"resolution": "explained"}), 422)
    ok = client.post(res, headers=key_header(world, "officer"),
                     json={"resolution": "explained", "reason": "late manifest amendment on file"})
    assert ok.status_code == 200 and ok.json()["resolved"] is True
    assert_problem(client.post(res, headers=key_header(world, "officer"),
                               json={"resolution": "explained", "reason": "twice"}), 409)
    assert_problem(client.post(f"{url}/999999/resolution", headers=key_header(world, "officer"),
                               json={"resolution": "explained", "reason": "none"}), 404)
    assert client.get(url, headers=key_header(world, "officer")).json() == []


def test_the_serving_process_reconciles_periodically(world):
    job = next(j for j in world.platform.periodic_jobs() if j.name == "manifests-reconcile")
    file(world, [Cons(doc="COSU6123456780")], kind="tally", message_id="T1")
    assert job.interval == 900.0
    job.run()  # the over-landed bill was opened by the tally's ingest: the periodic run opens nothing new
    assert [d.kind for d in world.platform.manifests.discrepancies.listing()] == ["over_landed"]
