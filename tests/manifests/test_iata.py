from decimal import Decimal

from smartcustoms.manifests import intake
from smartcustoms.manifests.schemas import FilingFunction, TransportMode
from smartcustoms.simulate.manifests import Cons, message, waybill


def parse(data):
    [(_part, parsed)] = list(intake.parse_stream(data))
    return parsed


def fields(parsed):
    return {p.field: p.message for p in parsed.problems}


def test_xfwb_master_air_waybill_reads_as_one_air_consignment():
    p = parse(waybill())
    assert p.problems == [] and p.message_type == "XFWB"
    m = p.manifest
    assert m.conveyance.mode is TransportMode.AIR and m.conveyance.journey_id == "CA936"
    c = m.consignments[0]
    assert (c.transport_document_no, c.master_document_no, c.loading_place, c.discharge_place) == (
        "176-12345675", None, "FRA", "PVG")
    assert c.items[0].hs_code == "844849" and c.items[0].description.startswith("MACHINE PARTS")


def test_xfzb_house_waybill_is_a_consignment_under_its_master_with_its_transit():
    c = parse(waybill(house="HAWB001", transit="DXB")).manifest.consignments[0]
    assert (c.transport_document_no, c.master_document_no, c.transit_places) == ("HAWB001", "176-12345675", ["DXB"])


def test_update_and_deletion_purposes_amend_and_withdraw():
    assert parse(waybill(purpose="Update")).manifest.function is FilingFunction.AMENDMENT
    assert parse(waybill(purpose="Deletion")).manifest.function is FilingFunction.WITHDRAWAL
    assert "Waybill/MessageHeaderDocument/PurposeCode" in fields(parse(waybill(purpose="Maybe")))


def test_pounds_are_converted_to_kilograms():
    assert parse(waybill(unit="LBR", kg="100")).manifest.consignments[0].gross_mass_kg == Decimal("45.359")


def test_bad_air_waybill_check_digit_and_airport_codes_are_refused_with_paths():
    f = fields(parse(waybill(awb="176-12345670", origin="FRANK")))
    assert "check digit should be 5" in f["Waybill/BusinessHeaderDocument/ID"]
    assert "Waybill/MasterConsignment/OriginLocation/ID" in f
    house = fields(parse(waybill(awb="176-12345670", house="H1")))
    assert "check digit" in house["HouseWaybill/MasterConsignment/TransportContractDocument/ID"]


def test_waybills_and_cn_manifests_in_one_stream_are_each_read_by_their_format():
    parts = list(intake.parse_stream(message([Cons()]) + waybill() + waybill(house="H1", message_id="Z1")))
    assert [p.message_type for _, p in parts] == ["MT1101", "XFWB", "XFZB"]
    assert all(p.manifest is not None for _, p in parts)
