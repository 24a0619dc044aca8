"""MT9999 general responses: one per filed message, with the pre-loading outcome and reasons, parsed back."""

from datetime import datetime, timedelta

import pytest
from lxml import etree

from smartcustoms.manifests import responses
from smartcustoms.manifests.api import _wants_xml
from smartcustoms.manifests.schemas import ConsignmentAnswer, FieldProblem, MessageAnswer, Outcome
from smartcustoms.simulate.manifests import Cons, Item, message
from tests.support import key_header

URL = "/api/v1/manifests/messages"
LOADING = datetime.now() + timedelta(days=3)
NOW = datetime(2026, 12, 1, 2, 30, 15, 123000)


def test_an_accepted_message_answers_each_consignment_with_its_outcome_code_and_chinese_reasons():
    a = MessageAnswer(index=0, message_id="MSG1", message_type="MT1101", accepted=True, consignments=[
        ConsignmentAnswer(transport_document_no="COSU1", version=1, amended=False,
                          outcome=Outcome.ASSESSMENT_COMPLETE),
        ConsignmentAnswer(transport_document_no="COSU2", version=2, amended=True, outcome=Outcome.DO_NOT_LOAD,
                          reasons=["x"], reasons_zh=["第1项：货物描述含有禁止装载词语“detonator”"])])
    el = responses.build(a, sender="CNCUSTOMS", receiver="CARRIER1", now=NOW, journey_id="V001",
                         conveyance_id="UN9334519")
    ns = {"m": responses.NAMESPACE}
    assert el.findtext("m:Head/m:MessageType", namespaces=ns) == "MT9999"
    assert el.findtext("m:Head/m:SendTime", namespaces=ns) == "20261201103015123"  # China time, milliseconds
    assert el.findtext("m:Head/m:ReceiverID", namespaces=ns) == "CARRIER1"
    [r] = responses.parse(responses.to_bytes([el]))
    assert (r.answered_message_id, r.code, r.journey_id, r.conveyance_id) == ("MSG1", "01", "V001", "UN9334519")
    assert [(c.transport_document_no, c.code) for c in r.consignments] == [("COSU1", "0"), ("COSU2", "13")]
    assert "不准装载" in r.consignments[1].text and "detonator" in r.consignments[1].text
    assert "第2版（变更）" in r.consignments[1].text
    assert r.text == "舱单申报已接受：装载前风险评估完成1票，不准装载1票"
    # the element order of the schema's classes: ID, AdditionalInformation, BorderTransportMeans, Consignment,
    # ResponseType
    assert [etree.QName(c).localname for c in el.find("m:Response", ns)] == [
        "ID", "AdditionalInformation", "BorderTransportMeans", "Consignment", "Consignment", "ResponseType"]


def test_a_refused_message_answers_02_with_every_field_and_reason():
    a = MessageAnswer(index=1, message_id="BAD", message_type="MT1101", accepted=False, errors=[
        FieldProblem(field="Manifest/Head/SenderID", line=4, message="missing mandatory field")])
    [r] = responses.parse(responses.to_bytes([responses.build(a, sender="C", receiver="F", now=NOW)]))
    assert r.code == "02" and r.consignments == [] and r.journey_id is None
    assert r.text == "舱单申报不予接受（退单）：Manifest/Head/SenderID（第4行）：missing mandatory field"


def test_accept_header_chooses_xml_only_when_asked_before_json():
    assert _wants_xml("application/xml") and _wants_xml("text/xml;q=0.9, application/json;q=0.5")
    assert not _wants_xml("") and not _wants_xml("*/*") and not _wants_xml("application/json, application/xml")
    assert not _wants_xml("application/xml;q=0")


def test_parse_refuses_what_is_not_an_mt9999():
    with pytest.raises(ValueError, match="not an MT9999"):
        responses.parse(message([Cons()]))


@pytest.fixture
def client(sqlite_world):
    from fastapi.testclient import TestClient

    from smartcustoms.web.app import create_app

    with TestClient(create_app(sqlite_world.platform)) as c:
        yield c


def test_the_api_answers_mt9999_when_the_filer_accepts_xml(client, sqlite_world):
    data = message([Cons(loading_at=LOADING, items=[Item(description="SAID TO CONTAIN 10 CARTONS")])]) + \
        message([Cons(doc="COSU2", loading_at=LOADING)], message_id="MSG2") + b"<Manifest><oops>"
    headers = {**key_header(sqlite_world, "trader"), "Content-Type": "application/xml", "Accept": "application/xml"}
    r = client.post(URL, content=data, headers=headers)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/xml")
    first, second, bad = responses.parse(r.content)
    assert (first.answered_message_id, first.code, second.code, bad.code) == ("MSG1", "01", "01", "02")
    assert first.consignments[0].code == "11" and "过于笼统" in first.consignments[0].text
    assert "malformed XML" in bad.text
    # the same message again: a duplicate (03); all refused: 422, still MT9999
    again = responses.parse(client.post(URL, content=message([Cons(doc="COSU2", loading_at=LOADING)],
                                                                     message_id="MSG2"), headers=headers).content)
    assert again[0].code == "03"
    r = client.post(URL, content=b"<Manifest><oops>", headers=headers)
    assert r.status_code == 422 and responses.parse(r.content)[0].code == "02"
    # JSON stays the default
    r = client.post(URL, content=message([Cons(doc="COSU3", loading_at=LOADING)], message_id="MSG3"),
                    headers={**key_header(sqlite_world, "trader"), "Content-Type": "application/xml"})
    assert r.json()["messages"][0]["accepted"] is True and "sender_id" not in r.json()["messages"][0]
