import json

from typer.testing import CliRunner

from smartcustoms.cli import app
from smartcustoms.simulate.manifests import Cons, message


def test_ingest_a_folder_prints_one_line_per_message_and_exits_0_when_all_were_processed(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.xml").write_bytes(message([Cons()], message_id="A") + message([Cons(doc="D2")], message_id="B"))
    (folder / "b.xml").write_bytes(message([Cons(containers=["CSQU3054384"])], message_id="C"))
    db = f"sqlite:///{tmp_path / 'm.db'}"
    r = CliRunner().invoke(app, ["manifests", "ingest", str(folder), "--db", db, "--filer", "CARRIER1"])
    assert r.exit_code == 0, r.output
    lines = r.output.strip().splitlines()
    assert len(lines) == 3
    assert "a.xml#0 MT1101 A: accepted, 1 consignment(s): COSU6123456780 v1" in lines[0]
    assert "b.xml#0 MT1101 C: refused: Manifest/Declaration/Consignment[1]/TransportEquipment[1]" in lines[2]
    assert "(line " in lines[2] and "ISO 6346" in lines[2]
    again = CliRunner().invoke(app, ["manifests", "ingest", str(folder / "a.xml"), "--db", db, "--json"])
    objs = [json.loads(x) for x in again.output.strip().splitlines()]
    assert again.exit_code == 0 and [o["message_id"] for o in objs] == ["A", "B"]
    assert objs[0]["accepted"] is True  # another filer (LOCAL): not a duplicate of CARRIER1's


def test_a_duplicate_is_reported_and_still_counts_as_processed(tmp_path):
    f = tmp_path / "a.xml"
    f.write_bytes(message([Cons()]))
    db = f"sqlite:///{tmp_path / 'm.db'}"
    CliRunner().invoke(app, ["manifests", "ingest", str(f), "--db", db])
    r = CliRunner().invoke(app, ["manifests", "ingest", str(f), "--db", db])
    assert r.exit_code == 0 and ": duplicate: " in r.output


def test_ingest_reads_edifact_and_waybill_files_too(tmp_path):
    from smartcustoms.simulate.manifests import cuscar, waybill

    (tmp_path / "c.edi").write_text(cuscar([Cons()]))
    (tmp_path / "w.xml").write_bytes(waybill())
    db = f"sqlite:///{tmp_path / 'm.db'}"
    r = CliRunner().invoke(app, ["manifests", "ingest", str(tmp_path), "--db", db, "--json"])
    assert r.exit_code == 0, r.output
    assert sorted(json.loads(x)["message_type"] for x in r.output.strip().splitlines()) == ["CUSCAR", "XFWB"]


def test_reconcile_opens_new_discrepancies_once(tmp_path):
    from smartcustoms.simulate.manifests import Item

    f = tmp_path / "voyage.xml"
    f.write_bytes(message([Cons(doc="COSU6123456780"), Cons(doc="COSU6123456781")], message_id="M1")
                  + message([Cons(doc="COSU6123456780", items=[Item(gross_kg="1625.65")]),
                             Cons(doc="COSU9999999990")], kind="tally", message_id="T1"))
    db = f"sqlite:///{tmp_path / 'm.db'}"
    assert CliRunner().invoke(app, ["manifests", "ingest", str(f), "--db", db]).exit_code == 0
    env = {"SMARTCUSTOMS_MANIFESTS_UNDECLARED_DAYS": "0"}  # every standing line counts as undeclared
    r = CliRunner().invoke(app, ["manifests", "reconcile", "--db", db, "--json"], env=env)
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["by_kind"] == {"never_declared": 2, "over_landed": 1, "weight_difference": 1}
    assert out["opened"] == 2  # the tally's ingest opened the other two already
    again = CliRunner().invoke(app, ["manifests", "reconcile", "--db", db], env=env)
    assert again.exit_code == 0 and "4 discrepancies found" in again.output and "0 newly opened" in again.output
