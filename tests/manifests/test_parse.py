from datetime import datetime

import pytest

from smartcustoms.manifests import cn
from smartcustoms.manifests.schemas import FilingFunction, MessageKind, TransportMode
from smartcustoms.simulate.manifests import Cons, Item, message

LOADING = datetime(2026, 12, 5, 6, 0)


def fields(parsed):
    return {p.field: p.message for p in parsed.problems}


def test_mt1101_water_original_manifest_reads_conveyance_consignment_parties_containers_and_goods():
    p = cn.parse_message(message([Cons(loading_at=LOADING, transit=["SGSIN"])]))
    assert p.problems == []
    m = p.manifest
    assert (m.message_type, m.kind, m.function, m.conveyance.mode) == (
        "MT1101", MessageKind.ORIGINAL, FilingFunction.ORIGINAL, TransportMode.WATER)
    assert m.conveyance.conveyance_id == "UN9074729" and m.conveyance.journey_id == "0123E"
    c = m.consignments[0]
    assert c.transport_document_no == "COSU6123456780" and c.master_document_no is None
    assert (c.loading_place, c.discharge_place, c.transit_places) == ("NLRTM", "CNSHA", ["SGSIN"])
    assert c.loading_at == LOADING  # China time 14:00 with zone 086 is 06:00 UTC
    assert c.consignee.id == "USCI+91310000MA1FL8XQ37" and c.shipper.country == "NL"
    assert c.containers[0].number == "CSQU3054383" and c.containers[0].seals == ["M1234567"]
    it = c.items[0]
    assert (it.hs_code, it.packages, str(it.gross_mass_kg), it.containers) == ("610910", 100, "1250.5",
                                                                               ["CSQU3054383"])


def test_house_bill_becomes_the_consignment_under_its_master():
    c = cn.parse_message(message([Cons(house="HBL0001")])).manifest.consignments[0]
    assert c.transport_document_no == "HBL0001" and c.master_document_no == "COSU6123456780"


@pytest.mark.parametrize("kind,mode,mtype", [("pre_allocation", "water", "MT2101"), ("original", "air", "MT1201"),
                                              ("original", "rail", "MT1301"), ("original", "road", "MT1401")])
def test_each_mode_and_filing_kind_is_read_from_its_message_type(kind, mode, mtype):
    doc = "176-12345675" if mode == "air" else "RAIL0001"
    when = {"departure": LOADING} if mode == "air" else {"arrival": LOADING}
    p = cn.parse_message(message([Cons(doc=doc, containers=[])], kind=kind, mode=mode, **when))
    assert p.problems == [] and p.manifest.message_type == mtype
    assert p.manifest.kind == MessageKind(kind) and p.manifest.conveyance.mode == TransportMode(mode)


@pytest.mark.parametrize("kind", ["arrival", "loading", "tally"])
def test_arrival_loading_and_tally_reports_need_no_goods_items(kind):
    p = cn.parse_message(message([Cons(items=[])], kind=kind))
    assert p.problems == [] and p.manifest.kind == MessageKind(kind)


def test_an_original_manifest_without_goods_items_is_refused():
    assert "Manifest/Declaration/Consignment[1]/ConsignmentItem" in fields(cn.parse_message(message([Cons(items=[])])))


def test_amendment_and_withdrawal_are_read_from_the_function_code():
    assert cn.parse_message(message([Cons()], function_code="5")).manifest.function is FilingFunction.AMENDMENT
    assert cn.parse_message(message([Cons()], function_code="3")).manifest.function is FilingFunction.WITHDRAWAL
    assert "Manifest/Head/FunctionCode" in fields(cn.parse_message(message([Cons()], function_code="7")))


def test_every_problem_of_a_refused_message_is_named_with_its_path_and_line():
    bad = Cons(containers=["CSQU3054384"], loading="XXABC",
               items=[Item(), Item(description="", gross_kg="abc", container=None)])
    p = cn.parse_message(message([Cons(), bad]), line0=10)
    f = fields(p)
    assert p.manifest is None
    assert "ISO 6346" in f["Manifest/Declaration/Consignment[2]/TransportEquipment[1]/EquipmentIdentification/ID"]
    assert "ISO 3166" in f["Manifest/Declaration/Consignment[2]/LoadingLocation/ID"]
    assert f["Manifest/Declaration/Consignment[2]/ConsignmentItem[2]/Commodity/CargoDescription"] == \
        "missing mandatory field"
    assert "not a number" in f["Manifest/Declaration/Consignment[2]/ConsignmentItem[2]/GoodsMeasure/GrossMassMeasure"]
    assert all(pr.line and pr.line >= 10 for pr in p.problems)


def test_bad_imo_number_and_air_waybill_check_digit_are_refused():
    assert "IMO" in fields(cn.parse_message(message([Cons()], conveyance="UN9074728")))[
        "Manifest/Declaration/BorderTransportMeans/ID"]
    air = cn.parse_message(message([Cons(doc="176-12345670", containers=[])], mode="air", departure=LOADING))
    assert "check digit" in fields(air)["Manifest/Declaration/Consignment[1]/TransportContractDocument/ID"]


def test_namespace_must_match_the_message_type():
    f = fields(cn.parse_message(message([Cons()], namespace=False)))
    assert "urn:Declaration:datamodel:standard:CN:MT1101:1" in f["Manifest"]


def test_responses_and_unknown_types_are_refused_as_not_a_filing():
    data = message([Cons()]).replace(b">MT1101<", b">MT9999<").replace(b"CN:MT1101:1", b"CN:MT9999:1")
    p = cn.parse_message(data)
    assert p.message_type == "MT9999" and "not a manifest filing" in fields(p)["Manifest/Head/MessageType"]


def test_malformed_xml_is_refused_with_its_line_and_entities_are_not_expanded():
    p = cn.parse_message(b"<Manifest>\n<Head>\n</Manifest>")
    assert p.problems[0].message.startswith("malformed XML") and p.problems[0].line == 3
    bomb = b'<?xml version="1.0"?><!DOCTYPE m [<!ENTITY e SYSTEM "file:///etc/passwd">]><Manifest>&e;</Manifest>'
    assert cn.parse_message(bomb).manifest is None


def test_a_stream_of_messages_is_split_and_a_malformed_one_does_not_stop_the_others():
    good = message([Cons()])
    data = good + b"<Manifest><Head>\n" + message([Cons()], message_id="MSG2")
    parsed = list(cn.parse_stream(data))
    assert [p.manifest is not None for _, p in parsed] == [True, False, True]
    assert parsed[2][0].line > parsed[1][0].line > 1


def test_oversized_lists_and_lengths_are_refused():
    long_desc = Item(description="X" * 600)
    assert "longer than 512" in fields(cn.parse_message(message([Cons(items=[long_desc])])))[
        "Manifest/Declaration/Consignment[1]/ConsignmentItem[1]/Commodity/CargoDescription"]


def test_a_byte_order_mark_before_the_first_message_is_not_a_message():
    parsed = list(cn.parse_stream(b"\xef\xbb\xbf" + message([Cons()])))
    assert len(parsed) == 1 and parsed[0][1].manifest is not None
