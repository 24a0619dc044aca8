"""The CBEC HTTP API: messages in (XML or JSON), receipts out, problem+json for refused messages."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from smartcustoms.cbec.ceb.emit import to_json
from smartcustoms.cbec.ceb.parse import parse_message
from smartcustoms.cbec.ceb.receipts import parse_receipt
from smartcustoms.web.app import create_app


@pytest.fixture
def client(sqlite_world):
    with TestClient(create_app(sqlite_world.platform)) as c:
        yield c, sqlite_world.keys


def test_messages_are_accepted_and_the_parcel_is_released(client, samples):
    c, keys = client
    h = {"X-API-Key": keys["trader"], "Content-Type": "application/xml"}
    r = c.post("/api/v1/cbec/messages", content=samples["order"] + samples["payment"], headers=h)
    assert r.status_code == 200
    assert [x["returnStatus"] for x in r.json()["receipts"]] == ["120", "120"]
    as_json = to_json(parse_message(samples["waybill"]))
    r = c.post("/api/v1/cbec/messages", json=as_json, headers={"X-API-Key": keys["trader"]})
    assert r.json()["receipts"][0]["type"] == "CEB512"
    r = c.post("/api/v1/cbec/messages", content=samples["inventory"],
               headers={**h, "Accept": "application/xml"})
    receipts = [parse_receipt(b"<?xml" + part)[0] for part in r.content.split(b"<?xml")[1:]]
    assert [(x.kind, x.status) for x in receipts] == [("CEB622", 120), ("CEB622", 800)]
    parcel = c.get("/api/v1/cbec/parcels/1101980001/ORD20260315000001", headers={"X-API-Key": keys["officer"]})
    assert parcel.json()["status"] == 800 and parcel.json()["tax_fen"] == 7148
    q = c.get("/api/v1/cbec/quota/110101199003071234/2026", headers={"X-API-Key": keys["officer"]}).json()
    assert q["used"] == "310.00" and q["remaining"] == "25690.00"


def test_a_refused_message_is_a_problem_naming_the_field(client, samples):
    c, keys = client
    bad = samples["order"].replace(b"<ceb:currency>142</ceb:currency>", b"<ceb:currency>XYZ</ceb:currency>", 1)
    r = c.post("/api/v1/cbec/messages", content=bad,
               headers={"X-API-Key": keys["trader"], "Content-Type": "application/xml"})
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["errors"][0]["field"] == "ceb:Order/ceb:OrderHead/ceb:currency"


def test_messages_need_an_api_key_and_decisions_need_an_officer(client, samples):
    c, keys = client
    assert c.post("/api/v1/cbec/messages", content=samples["order"]).status_code == 401
    r = c.post("/api/v1/cbec/parcels/1101980001/ORD1/decision", json={"status": 800},
               headers={"X-API-Key": keys["trader"]})
    assert r.status_code == 403


def test_a_returned_parcel_gives_its_quota_back(client, samples):
    c, keys = client
    body = b"".join(samples[k] for k in ("order", "payment", "waybill", "inventory"))
    c.post("/api/v1/cbec/messages", content=body, headers={"X-API-Key": keys["trader"],
                                                           "Content-Type": "application/xml"})
    officer = {"X-API-Key": keys["officer"]}
    r = c.post("/api/v1/cbec/parcels/1101980001/ORD20260315000001/decision",
               json={"status": 700, "info": "refused by buyer"}, headers=officer)
    assert r.status_code == 200 and r.json()["status"] == 700 and r.json()["charged_fen"] == 0
    q = c.get("/api/v1/cbec/quota/110101199003071234/2026", headers=officer).json()
    assert q["used"] == "0.00"
    again = c.post("/api/v1/cbec/parcels/1101980001/ORD20260315000001/decision", json={"status": 800},
                   headers=officer)
    assert again.status_code == 409


def test_officers_list_held_parcels_with_reasons_and_traders_only_their_own(client, samples):
    c, keys = client
    officer, analyst, trader = ({"X-API-Key": keys[k]} for k in ("officer", "analyst", "trader"))
    rule = {"name": "Cosmetics alert", "description": "counterfeit creams", "lane": "red", "mandatory": True,
            "criteria": [{"field": "hs_code", "op": "prefix", "value": ["3304"]}]}
    body = b"".join(samples[k] for k in ("order", "payment", "waybill"))
    c.post("/api/v1/cbec/messages", content=body, headers={**trader, "Content-Type": "application/xml"})
    # the rule is saved while the CBEC writer runs: it applies to the next parcel at once
    assert c.post("/api/v1/risk/rules", json=rule, headers=analyst).status_code == 201
    c.post("/api/v1/cbec/messages", content=samples["inventory"], headers={**trader, "Content-Type": "application/xml"})
    queue = c.get("/api/v1/cbec/parcels", headers=officer).json()
    [held] = queue["parcels"]
    assert held["order_no"] == "ORD20260315000001" and held["status"] == 500 and queue["next_after_id"] is None
    assert "mandatory hold, rule 'Cosmetics alert' (physical inspection): counterfeit creams" in held["info"]
    assert c.get("/api/v1/cbec/parcels", headers={"X-API-Key": keys["other"]}).json()["parcels"] == []  # not its own
    [own] = c.get("/api/v1/cbec/parcels", headers=trader).json()["parcels"]  # the sender sees it, in plain words
    assert own["info"] == "held for inspection" and own["risk_score"] is None
    assert c.get("/api/v1/cbec/parcels?limit=0", headers=officer).status_code == 422
    c.post("/api/v1/cbec/parcels/1101980001/ORD20260315000001/decision", json={"status": 502, "info": "fakes"},
           headers=officer)
    assert c.get("/api/v1/cbec/parcels", headers=officer).json()["parcels"] == []
    [done] = c.get("/api/v1/cbec/parcels?status=502", headers=officer).json()["parcels"]
    assert done["info"] == "fakes"


def test_a_decision_for_a_status_the_parcel_no_longer_has_is_refused(client, samples):
    c, keys = client
    officer = {"X-API-Key": keys["officer"]}
    body = b"".join(samples[k] for k in ("order", "payment", "waybill", "inventory"))
    c.post("/api/v1/cbec/messages", content=body, headers={"X-API-Key": keys["trader"],
                                                           "Content-Type": "application/xml"})
    url = "/api/v1/cbec/parcels/1101980001/ORD20260315000001/decision"
    stale = c.post(url, json={"status": 700, "expected_status": 500}, headers=officer)  # it was released (800)
    assert stale.status_code == 409 and "now 800" in stale.json()["detail"]
    assert c.post(url, json={"status": 700, "expected_status": 800}, headers=officer).json()["status"] == 700


def test_an_overdue_inventory_is_reported_while_serving_without_another_batch(sqlite_world, samples):
    """The serving process's scheduler reports an inventory still missing a document after the deadline."""
    import time

    from smartcustoms.core.config import CbecSettings

    platform = sqlite_world.platform
    platform.cbec_settings = CbecSettings(deadline_s=0.3, expire_every_s=0.1)
    app = create_app(platform)
    h = {"X-API-Key": sqlite_world.keys["trader"], "Content-Type": "application/xml"}
    officer = {"X-API-Key": sqlite_world.keys["officer"]}
    with TestClient(app) as c:
        r = c.post("/api/v1/cbec/messages", content=samples["order"] + samples["inventory"], headers=h)
        assert [x["returnStatus"] for x in r.json()["receipts"]] == ["120", "120"]  # no payment, no waybill yet
        end, parcel = time.monotonic() + 10, None
        while time.monotonic() < end:  # only reads from here on: no message arrives
            got = c.get("/api/v1/cbec/parcels/1101980001/ORD20260315000001", headers=officer)
            if got.status_code == 200:
                parcel = got.json()
                break
            time.sleep(0.05)
        assert parcel is not None, "the overdue inventory was not reported"
        assert parcel["status"] == 100 and "incomplete after deadline" in parcel["info"]
        assert "CEB411 payment" in parcel["info"]
        receipts = c.get("/api/v1/cbec/receipts", headers={"X-API-Key": sqlite_world.keys["trader"]}).json()
        assert [x["returnStatus"] for x in receipts["receipts"]] == ["100"]
    assert not app.state.scheduler.running  # stopped at shutdown
    platform.close_cbec()
