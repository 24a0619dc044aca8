"""Linked legs: one shipment filed again when the goods change mode, read as one timeline."""

from __future__ import annotations

from datetime import datetime, timedelta

from smartcustoms.manifests import cuscar, iata
from smartcustoms.simulate.manifests import Cons, message, waybill
from smartcustoms.simulate.manifests import cuscar as cuscar_message
from tests.support import key_header

LOADING = datetime.now() + timedelta(days=3)
ARRIVAL = datetime.now() + timedelta(days=20)


def file(world, body: bytes, user: str = "trader") -> None:
    who = world.principals[user]
    answers = world.platform.manifests.ingest(body, who.enterprise_code, who)
    assert all(a.accepted for a in answers), answers


def sea_then_rail(world) -> None:
    file(world, message([Cons(doc="COSU6123456780", loading_at=LOADING, discharge="CNTAO")], message_id="SEA1"))
    file(world, message([Cons(doc="RW2026120001", previous="COSU6123456780", loading="CNTAO", discharge="CNXIA",
                              containers=[])], mode="rail", message_id="RAIL1", arrival=ARRIVAL))


def test_the_rail_leg_names_the_sea_leg_and_either_document_finds_the_whole_shipment(client, world):
    sea_then_rail(world)
    for doc in ("COSU6123456780", "RW2026120001"):
        r = client.get(f"/api/v1/manifests/shipments/{doc}", headers=key_header(world, "officer"))
        assert r.status_code == 200, r.text
        legs = r.json()["legs"]
        assert [(leg["transport_document_no"], leg["mode"]) for leg in legs] == [
            ("COSU6123456780", "water"), ("RW2026120001", "rail")]
        assert legs[1]["previous_document_no"] == "COSU6123456780" and legs[0]["outcome"]
    mine = client.get("/api/v1/manifests/shipments/RW2026120001", headers=key_header(world, "trader")).json()
    assert len(mine["legs"]) == 2  # the carrier filed both legs
    assert client.get("/api/v1/manifests/shipments/RW2026120001",
                      headers=key_header(world, "other")).status_code == 404


def test_another_carriers_leg_stays_out_of_a_carriers_view(world):
    file(world, message([Cons(doc="COSU6123456780", loading_at=LOADING)], message_id="SEA1"))
    file(world, message([Cons(doc="RW2026120001", previous="COSU6123456780", containers=[])], mode="rail",
                        message_id="RAIL1", arrival=ARRIVAL), user="other")
    svc = world.platform.manifests
    assert [leg.transport_document_no for leg in svc.shipment("COSU6123456780", None).legs] == [
        "COSU6123456780", "RW2026120001"]
    assert [leg.transport_document_no for leg in svc.shipment("COSU6123456780", world.importer).legs] == [
        "COSU6123456780"]


def test_the_declaration_against_the_rail_leg_finds_its_manifest_line_and_the_shipment(world):
    sea_then_rail(world)
    line = world.platform.manifests.discrepancies.line_for("RW2026120001")
    assert line is not None and line.mode == "rail" and line.conveyance_id == "X8001"
    assert [leg.mode for leg in line.legs] == ["water", "rail"]
    assert world.platform.manifests.discrepancies.line_for("NOSUCHDOC") is None


def test_waybills_and_cuscar_name_the_earlier_leg():
    ref = (b"<ram:AssociatedReferenceDocument><ram:ID>COSU6123456780</ram:ID><ram:TypeCode>705</ram:TypeCode>"
           b"</ram:AssociatedReferenceDocument><ram:AssociatedReferenceDocument><ram:ID>INV-1</ram:ID>"
           b"<ram:TypeCode>380</ram:TypeCode></ram:AssociatedReferenceDocument>")
    body = waybill().replace(b"<ram:OriginLocation>", ref + b"<ram:OriginLocation>", 1)
    parsed = iata.parse_message(body)
    assert parsed.manifest is not None, parsed.problems
    assert parsed.manifest.consignments[0].previous_document_no == "COSU6123456780"  # not the invoice (380)
    edi = cuscar_message([Cons()]).replace("CNI+1+COSU6123456780'", "CNI+1+COSU6123456780'DOC+740+176-12345675'")
    edi = edi.replace("UNT+15+", "UNT+16+")
    (msg, problems), = cuscar.split(edi.encode())
    assert not problems and msg is not None
    out = cuscar.parse_message(msg)
    assert out.manifest is not None, out.problems
    assert out.manifest.consignments[0].previous_document_no == "176-12345675"
