"""CEB XML and JSON forms: parsing real-looking messages, validation, rejection naming the field."""

from __future__ import annotations

import pytest

from smartcustoms.cbec.ceb.emit import document_json, emit_document, to_json
from smartcustoms.cbec.ceb.parse import document_from_json, parse_json, parse_message, split_stream
from smartcustoms.cbec.ceb.receipts import Receipt, emit_receipt, parse_receipt
from smartcustoms.cbec.ceb.spec import INVENTORY, ORDER, CebError
from smartcustoms.cbec.ceb.statuses import NOT_PROCESSED


def test_sample_order_is_parsed_with_values_trimmed_and_empty_elements_absent(samples):
    [doc] = parse_message(samples["order"])
    assert doc.kind == ORDER
    assert doc.message_guid == "9A1C2B3D-0001-4E5F-8A9B-000000000311"
    assert doc.guid == "4CDE1E43-21B7-4C5B-9C1A-0A0000000311"
    assert doc.head["orderNo"] == "ORD20260315000001"
    assert "batchNumbers" not in doc.head and "consigneeDistrict" not in doc.head and "note" not in doc.head
    assert doc.lines[0]["totalPrice"] == "300.00"
    assert doc.base["copCode"] == "1101980001"


def test_iso_codes_on_input_are_normalised_to_customs_codes(samples):
    [inv] = parse_message(samples["inventory"])
    assert inv.head["country"] == "116"  # sent as JP
    [pay] = parse_message(samples["payment"])
    assert pay.head["currency"] == "142"  # sent as CNY
    assert pay.head["amountPaid"] == "381.48"


@pytest.mark.parametrize("name", ["order", "payment", "waybill", "inventory"])
def test_every_message_survives_emit_and_json_round_trips(samples, name):
    [doc] = parse_message(samples[name])
    assert parse_message(emit_document(doc)) == [doc]
    assert parse_json(to_json([doc])) == [doc]
    assert document_from_json(document_json(doc)) == doc


def test_malformed_xml_is_not_processed_and_says_why(samples):
    with pytest.raises(CebError) as e:
        parse_message(samples["order"][:-40])
    assert e.value.status == NOT_PROCESSED
    assert e.value.kind == "CEB311" and e.value.message_guid.endswith("0311")
    assert "malformed XML" in e.value.info


def test_wrong_namespace_is_refused_naming_the_root(samples):
    bad = samples["order"].replace(b"http://www.chinaport.gov.cn/ceb", b"http://example.com/ceb")
    with pytest.raises(CebError) as e:
        parse_message(bad)
    assert e.value.problems[0][0] == "CEB311Message" and "wrong namespace" in e.value.info


def test_missing_mandatory_field_is_named(samples):
    bad = samples["inventory"].replace(b"<ceb:buyerIdNumber>110101199003071234</ceb:buyerIdNumber>",
                                       b"<ceb:buyerIdNumber>  </ceb:buyerIdNumber>")
    with pytest.raises(CebError) as e:
        parse_message(bad)
    assert e.value.problems == [("ceb:Inventory/ceb:InventoryHead/ceb:buyerIdNumber", "missing mandatory field")]
    assert e.value.status == 100 and e.value.doc_guid.endswith("0621")


def test_bad_codes_are_all_named(samples):
    bad = (samples["inventory"].replace(b"<ceb:gcode>3304990099</ceb:gcode>", b"<ceb:gcode>9999999999</ceb:gcode>")
           .replace(b"<ceb:unit>011</ceb:unit>", b"<ceb:unit>999</ceb:unit>")
           .replace(b"<ceb:tradeMode>9610</ceb:tradeMode>", b"<ceb:tradeMode>0110</ceb:tradeMode>"))
    with pytest.raises(CebError) as e:
        parse_message(bad)
    fields = [f for f, _ in e.value.problems]
    assert fields == ["ceb:Inventory/ceb:InventoryHead/ceb:tradeMode", "ceb:Inventory/ceb:InventoryList[1]/ceb:gcode",
                      "ceb:Inventory/ceb:InventoryList[1]/ceb:unit"]


def test_receipts_are_emitted_and_read_back():
    guid = "4CDE1CFD-EDED-46B1-946C-B8022E42FC94"
    keys = {"ebpCode": "1101980001", "copNo": "C1", "preNo": "B20260315000000001"}
    r = Receipt("CEB622", guid, 800, "released", 1_773_000_000_123, keys)
    (back,) = parse_receipt(emit_receipt(r))
    assert back == r._replace(info="[Code:2600;Desc:放行]")  # the XML carries the official Chinese text
    assert back.return_time.endswith("123") and len(back.return_time) == 17


def test_a_stream_of_concatenated_messages_is_split(samples):
    stream = samples["order"] + samples["payment"] + b"\n" + samples["inventory"]
    parts = split_stream(stream)
    assert [parse_message(m)[0].kind for _o, m in parts] == [ORDER, "CEB411", INVENTORY]
    assert parts[1][0] == len(samples["order"])
