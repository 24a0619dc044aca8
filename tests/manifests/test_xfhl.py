"""XFHL house manifests: the houses of a consolidation read under their master, refused with field paths, amended."""

from datetime import datetime

import pytest

from smartcustoms.core.security import SYSTEM
from smartcustoms.manifests import intake
from smartcustoms.manifests.rules import ManifestSettings
from smartcustoms.manifests.schemas import FilingFunction, TransportMode
from smartcustoms.manifests.service import ManifestService
from smartcustoms.simulate.manifests import house_list, waybill


def parse(data):
    [(_part, parsed)] = list(intake.parse_stream(data))
    return parsed


def fields(parsed):
    return {p.field: p.message for p in parsed.problems}


def test_house_list_reads_each_house_as_a_consignment_under_the_master():
    p = parse(house_list(houses=[("HAWB001", 4, "120.5", "MACHINE PARTS"), ("HAWB002", 6, "80", "COTTON T-SHIRTS")]))
    assert p.problems == [] and p.message_type == "XFHL"
    m = p.manifest
    assert m.conveyance.mode is TransportMode.AIR and m.function is FilingFunction.ORIGINAL
    assert [(c.transport_document_no, c.master_document_no, c.packages, str(c.gross_mass_kg))
            for c in m.consignments] == [("HAWB001", "176-12345675", 4, "120.5"), ("HAWB002", "176-12345675", 6, "80")]
    c = m.consignments[1]
    assert (c.loading_place, c.discharge_place, c.items[0].description) == ("FRA", "PVG", "COTTON T-SHIRTS")
    assert c.shipper.name == "SHIPPER OF HAWB002" and c.consignee.id == "USCI+91310000MA1FL8XQ37"


def test_pounds_are_kilograms_and_update_deletion_amend_and_withdraw():
    p = parse(house_list(houses=[("H1", 1, "100", "BOOKS")], unit="LBR"))
    assert str(p.manifest.consignments[0].gross_mass_kg) == "45.359"
    assert parse(house_list(purpose="Update")).manifest.function is FilingFunction.AMENDMENT
    assert parse(house_list(purpose="Deletion")).manifest.function is FilingFunction.WITHDRAWAL


def test_invalid_house_list_names_every_field_with_its_reason():
    p = parse(house_list("176-12345670", houses=[("H1", 4, "10", ""), ("H1", 2, "x", "TOYS"), ("H3", 9, "5", "PENS")],
                         destination="SH1", total_pieces=5, purpose="Maybe"))
    assert p.manifest is None
    f = {k.removeprefix("HouseManifest/"): v for k, v in fields(p).items()}
    assert "check digit should be 5" in f["MasterConsignment/TransportContractDocument/ID"]
    assert "not an IATA airport code" in f["MasterConsignment/FinalDestinationLocation/ID"]
    assert f["MasterConsignment/IncludedHouseConsignment[1]/SummaryDescription"] == "missing mandatory field"
    assert "'x' is not a number" in f["MasterConsignment/IncludedHouseConsignment[2]/GrossWeightMeasure"]
    assert "not Creation, Update or Deletion" in f["MessageHeaderDocument/PurposeCode"]
    assert all(x.line and x.line >= 2 for x in p.problems)


def test_duplicate_houses_and_more_pieces_than_the_master_are_refused():
    p = parse(house_list(houses=[("H1", 4, "10", "TOYS"), ("H1", 2, "5", "PENS")]))
    assert "already IncludedHouseConsignment[1]" in fields(p)[
        "HouseManifest/MasterConsignment/IncludedHouseConsignment[2]/TransportContractDocument/ID"]
    p = parse(house_list(houses=[("H1", 4, "10", "TOYS"), ("H2", 3, "5", "PENS")], total_pieces=5))
    assert "7 pieces, more than the master's 5" in fields(p)["HouseManifest/MasterConsignment/TotalPieceQuantity"]
    assert "list names its houses" in fields(parse(house_list(houses=[])))[
        "HouseManifest/MasterConsignment/IncludedHouseConsignment"]


def test_house_list_beside_waybills_in_one_stream():
    parts = list(intake.parse_stream(waybill() + house_list() + waybill(house="HAWB001", message_id="Z1")))
    assert [p.message_type for _, p in parts] == ["XFWB", "XFHL", "XFZB"]
    assert all(p.manifest is not None for _, p in parts)


@pytest.fixture
def svc(world):
    return ManifestService(world.platform.sessions, ManifestSettings(), clock=lambda: datetime(2026, 12, 1))


def test_consolidation_is_one_shipment_and_an_update_amends_the_houses(svc):
    assert svc.ingest(waybill(), "FWD1", SYSTEM)[0].accepted
    [a] = svc.ingest(house_list(), "FWD1", SYSTEM)
    assert a.accepted and [c.version for c in a.consignments] == [1, 1]
    [b] = svc.ingest(house_list(houses=[("HAWB002", 6, "95", "COTTON T-SHIRTS")], message_id="XFHL2",
                                purpose="Update"), "FWD1", SYSTEM)
    assert b.accepted and b.consignments[0].version == 2 and b.consignments[0].amended
    shipment = svc.shipment("176-12345675", "FWD1")
    assert shipment.house_documents == ["HAWB001", "HAWB002"]
    assert [f.message_type for f in shipment.filings] == ["XFWB", "XFHL", "XFHL", "XFHL"]
    [c] = svc.ingest(house_list(houses=[("HAWB009", 1, "5", "PENS")], message_id="XFHL3", purpose="Update"),
                     "FWD1", SYSTEM)
    assert not c.accepted and "no earlier original filing of 'HAWB009'" in c.errors[0].message
