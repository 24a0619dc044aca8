from datetime import datetime, timedelta

import pytest

from smartcustoms.simulate.manifests import Cons, Item, message
from tests.support import assert_problem, key_header

URL = "/api/v1/manifests/messages"
XML = {"Content-Type": "application/xml"}
LOADING = datetime.now() + timedelta(days=3)


def post(client, world, user, data):
    return client.post(URL, content=data, headers={**key_header(world, user), **XML})


@pytest.fixture
def client(sqlite_world):
    from fastapi.testclient import TestClient

    from smartcustoms.web.app import create_app

    with TestClient(create_app(sqlite_world.platform)) as c:
        yield c


def test_a_carrier_files_and_gets_one_answer_per_message_with_each_outcome(client, sqlite_world):
    data = message([Cons(loading_at=LOADING, items=[Item(description="SAID TO CONTAIN 10 CARTONS")])]) + \
        message([Cons(doc="COSU2", loading_at=LOADING)], message_id="MSG2")
    r = post(client, sqlite_world, "trader", data)
    assert r.status_code == 200, r.text
    answers = r.json()["messages"]
    assert [a["accepted"] for a in answers] == [True, True]
    assert answers[0]["consignments"][0]["outcome"] == "request_for_information"
    assert any("too vague" in why for why in answers[0]["consignments"][0]["reasons"])
    assert any("过于笼统" in why for why in answers[0]["consignments"][0]["reasons_zh"])


def test_a_request_whose_messages_are_all_refused_is_a_problem_naming_each_field(client, sqlite_world):
    r = post(client, sqlite_world, "trader", message([Cons(containers=["CSQU3054384"])]))
    body = assert_problem(r, 422)
    assert body["errors"][0]["field"].startswith(
        "messages[0]/Manifest/Declaration/Consignment[1]/TransportEquipment[1]/EquipmentIdentification/ID (line ")
    assert body["messages"][0]["accepted"] is False


def test_a_mixed_request_answers_200_with_the_refusal_inside(client, sqlite_world):
    r = post(client, sqlite_world, "trader", message([Cons()]) + b"<Manifest><oops>")
    assert r.status_code == 200
    assert [a["accepted"] for a in r.json()["messages"]] == [True, False]


def test_only_traders_file_and_every_call_needs_a_key(client, sqlite_world):
    assert_problem(post(client, sqlite_world, "officer", message([Cons()])), 403)
    assert client.post(URL, content=message([Cons()]), headers=XML).status_code == 401
    assert_problem(post(client, sqlite_world, "trader", b"  "), 422, "body")


def test_a_carrier_reads_only_its_own_shipments_customs_read_all(client, sqlite_world):
    post(client, sqlite_world, "trader", message([Cons(house="HBL1")]))
    url = "/api/v1/manifests/shipments/COSU6123456780"
    mine = client.get(url, headers=key_header(sqlite_world, "trader"))
    assert mine.status_code == 200 and mine.json()["house_documents"] == ["HBL1"]
    assert_problem(client.get(url, headers=key_header(sqlite_world, "other")), 404)
    assert client.get(url, headers=key_header(sqlite_world, "officer")).status_code == 200
    assert client.get("/api/v1/manifests/shipments/bad%20no", headers=key_header(sqlite_world, "officer")
                      ).status_code == 422


def test_referrals_are_for_customs_only(client, sqlite_world):
    post(client, sqlite_world, "trader", message([Cons(loading_at=LOADING, items=[Item(description="FAK")])]))
    r = client.get("/api/v1/manifests/referrals", headers=key_header(sqlite_world, "officer"))
    assert r.status_code == 200 and r.json()[0]["outcome"] == "request_for_information"
    assert r.json()[0]["reasons_zh"] and len(r.json()[0]["reasons_zh"]) == len(r.json()[0]["reasons"])
    assert r.json()[0]["filer_code"] == sqlite_world.importer
    assert_problem(client.get("/api/v1/manifests/referrals", headers=key_header(sqlite_world, "trader")), 403)
    assert_problem(client.get("/api/v1/manifests/referrals?outcome=assessment_complete",
                              headers=key_header(sqlite_world, "officer")), 422, "outcome")


def test_carrier_statistics_show_a_carrier_its_own_line(client, sqlite_world):
    post(client, sqlite_world, "trader", message([Cons()]))
    post(client, sqlite_world, "other", message([Cons()]))
    mine = client.get("/api/v1/manifests/carriers", headers=key_header(sqlite_world, "trader")).json()
    assert [c["filer_code"] for c in mine] == [sqlite_world.importer]
    every = client.get("/api/v1/manifests/carriers", headers=key_header(sqlite_world, "officer")).json()
    assert len(every) == 2


def test_edifact_cuscar_and_iata_waybills_are_filed_through_the_same_endpoint(client, sqlite_world):
    from smartcustoms.simulate.manifests import cuscar, waybill

    r = client.post(URL, content=cuscar([Cons()]).encode(),
                    headers={**key_header(sqlite_world, "trader"), "Content-Type": "application/edifact"})
    assert r.status_code == 200 and r.json()["messages"][0]["message_type"] == "CUSCAR"
    r = post(client, sqlite_world, "trader", waybill() + waybill(house="H1", message_id="Z1"))
    assert [m["message_type"] for m in r.json()["messages"]] == ["XFWB", "XFZB"]
    shipment = client.get("/api/v1/manifests/shipments/176-12345675", headers=key_header(sqlite_world, "trader"))
    assert shipment.json()["house_documents"] == ["H1"]
