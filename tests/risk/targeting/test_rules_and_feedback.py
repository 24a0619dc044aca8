"""Rule profiles through the API, and an officer's result feeding the next declaration's features."""

from __future__ import annotations

import polars as pl
import pytest
from fastapi.testclient import TestClient

from smartcustoms.declarations.schemas import DeclarationIn
from smartcustoms.risk.targeting.rules import compile_rule, match, validate_rule
from smartcustoms.risk.targeting.schemas import RuleIn
from smartcustoms.web.app import create_app
from tests.support import World, declaration_payload
from tests.support import key_header as h

TILES_FROM_SPAIN = {
    "name": "Spanish tiles above 50,000 CNY",
    "description": "anti-dumping watch on ceramic tiles",
    "criteria": [{"field": "hs_code", "op": "prefix", "value": ["6907"]},
                 {"field": "origin_country", "op": "in", "value": ["ES", "IT"]},
                 {"field": "customs_value", "op": "gt", "value": 50000}],
    "lane": "blue",
}


@pytest.fixture
def client(sqlite_world: World):
    with TestClient(create_app(sqlite_world.platform)) as c:
        yield c


def test_rule_conditions_must_all_hold_for_one_item():
    rule = compile_rule(1, RuleIn.model_validate(TILES_FROM_SPAIN))
    frame = pl.DataFrame({
        "declaration_no": ["A", "A", "B", "C"],
        "hs_code": ["6907220000", "8471300000", "6907220000", "6907220000"],
        "origin_country": ["CN", "ES", "ES", "IT"],
        "customs_value": [90000.0, 90000.0, 60000.0, 40000.0],
    })
    from datetime import date

    hits = match([rule], frame, date(2026, 1, 1))[1]
    # A: tiles from CN and a laptop from ES, no single item matches; B matches; C is below the value
    assert hits.tolist() == [False, True, False]


def test_rule_outside_its_validity_does_not_apply():
    from datetime import date

    rule = compile_rule(1, RuleIn.model_validate({**TILES_FROM_SPAIN, "valid_to": "2025-12-31"}))
    frame = pl.DataFrame({"declaration_no": ["B"], "hs_code": ["6907220000"], "origin_country": ["ES"],
                          "customs_value": [60000.0]})
    assert match([rule], frame, date(2026, 1, 1)) == {}


def test_bad_rule_definitions_name_every_wrong_field():
    bad = RuleIn.model_validate({**TILES_FROM_SPAIN, "criteria": [
        {"field": "colour", "op": "eq", "value": "red"},
        {"field": "customs_value", "op": "prefix", "value": ["1"]},
        {"field": "origin_country", "op": "in", "value": "ES"},
        {"field": "customs_value", "op": "between", "value": [10, 1]},
    ], "valid_from": "2026-02-01", "valid_to": "2026-01-01"})
    fields = [e.field for e in validate_rule(bad)]
    assert fields == ["criteria[0].field", "criteria[1].op", "criteria[2].value", "criteria[3].value", "valid_to"]


def test_bad_rule_is_422_and_nothing_is_saved(client, sqlite_world):
    analyst = h(sqlite_world, "analyst")
    r = client.post("/api/v1/risk/rules", headers=analyst,
                    json={**TILES_FROM_SPAIN, "criteria": [{"field": "colour", "op": "eq", "value": "x"}]})
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["errors"][0]["field"] == "criteria[0].field"
    assert r.json()["title"] == "The risk rule is not valid"  # not "The declaration ..."
    r = client.post("/api/v1/risk/rules", headers=analyst, json={**TILES_FROM_SPAIN, "lane": "purple"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "lane"
    assert client.get("/api/v1/risk/rules", headers=analyst).json() == []
    # traders and officers cannot write rules
    r = client.post("/api/v1/risk/rules", headers=h(sqlite_world, "officer"), json=TILES_FROM_SPAIN)
    assert r.status_code == 403


def test_matching_declaration_goes_to_the_rules_lane_with_its_reason_and_counts_a_hit(client, sqlite_world):
    w = sqlite_world
    r = client.post("/api/v1/risk/rules", headers=h(w, "analyst"), json=TILES_FROM_SPAIN)
    assert r.status_code == 201, r.text
    rule_id = r.json()["id"]
    # 13 000 USD of Spanish tiles: 64 620 CNY on item 1 → matches; a small one does not
    d = client.post("/api/v1/declarations", headers=h(w, "trader"), json=declaration_payload()).json()
    assert d["lane"] == "blue" and d["status"] == "lane_assigned" and d["reasons"] == ["non-intrusive scan"]
    d = client.get(f"/api/v1/declarations/{d['declaration_no']}", headers=h(w, "officer")).json()  # customs see why
    assert d["reasons"] == ["rule 'Spanish tiles above 50,000 CNY': anti-dumping watch on ceramic tiles"]
    r = client.post(f"/api/v1/declarations/{d['declaration_no']}/inspection-result", headers=h(w, "officer"),
                    json={"outcome": "offence", "offence_type": "undervaluation", "duty_recovered": "5321.00"})
    assert r.status_code == 201 and r.json()["status"] == "detained"
    rules = client.get("/api/v1/risk/rules", headers=h(w, "analyst")).json()
    assert (rules[0]["id"], rules[0]["matches"], rules[0]["selected"], rules[0]["hits"]) == (rule_id, 1, 1, 1)


def test_mandatory_rule_holds_prohibited_goods(client, sqlite_world):
    w = sqlite_world
    client.post("/api/v1/risk/rules", headers=h(w, "analyst"), json={
        "name": "Ivory", "description": "CITES: prohibited", "lane": "red", "mandatory": True,
        "criteria": [{"field": "hs_code", "op": "prefix", "value": ["050710"]}]})
    p = declaration_payload()
    p["items"][0].update(hs_code="0507100000", description="Carved items")
    d = client.post("/api/v1/declarations", headers=h(w, "trader"), json=p).json()
    assert d["lane"] == "red" and d["reasons"] == ["physical inspection"]  # the trader reads the consequence
    d = client.get(f"/api/v1/declarations/{d['declaration_no']}", headers=h(w, "officer")).json()
    assert d["reasons"][0].startswith("mandatory hold, rule 'Ivory'")


def test_officer_result_changes_the_importers_history_for_the_next_declaration(client, sqlite_world):
    w = sqlite_world
    engine = w.platform.risk

    def importer_history():
        from smartcustoms.declarations.service import LodgedDeclaration, normalise
        from smartcustoms.enterprises.service import parties
        from smartcustoms.risk.targeting.selectivity import item_frame

        d = normalise(DeclarationIn.model_validate(declaration_payload()), w.platform.codes)
        with w.platform.sessions() as s:
            known = parties(s, {d.importer_code, d.declarant_code})
        a = w.platform.declarations.assess_declaration(d)
        ld = LodgedDeclaration(0, "probe", d, w.platform.declarations.clock(), a, known[d.importer_code],
                               known[d.declarant_code])
        f = engine.state.features_for(item_frame([ld], w.platform.tariff))
        return f["importer_inspections"][0], f["importer_offences"][0]

    client.post("/api/v1/risk/rules", headers=h(w, "analyst"), json=TILES_FROM_SPAIN)
    no = client.post("/api/v1/declarations", headers=h(w, "trader"), json=declaration_payload()).json()
    before = importer_history()
    r = client.post(f"/api/v1/declarations/{no['declaration_no']}/inspection-result", headers=h(w, "officer"),
                    json={"outcome": "offence", "offence_type": "false_origin", "duty_recovered": "100.00"})
    assert r.status_code == 201
    after = importer_history()
    # history counts goods items: both items of the inspected declaration were found offending
    assert after == (before[0] + 2, before[1] + 2)
    events = client.get(f"/api/v1/declarations/{no['declaration_no']}/events", headers=h(w, "trader")).json()
    assert [e["to_status"] for e in events][-2:] == ["inspection", "detained"]
    assert "false_origin" in events[-1]["reason"]


def test_inspection_result_needs_an_officer_and_is_recorded_once(client, sqlite_world):
    w = sqlite_world
    client.post("/api/v1/risk/rules", headers=h(w, "analyst"), json=TILES_FROM_SPAIN)
    no = client.post("/api/v1/declarations", headers=h(w, "trader"), json=declaration_payload()).json()
    url = f"/api/v1/declarations/{no['declaration_no']}/inspection-result"
    assert client.post(url, headers=h(w, "trader"), json={"outcome": "no_offence"}).status_code == 403
    r = client.post(url, headers=h(w, "officer"), json={"outcome": "offence"})
    assert r.status_code == 422  # an offence needs its type
    assert client.post(url, headers=h(w, "officer"), json={"outcome": "no_offence"}).json()["status"] == "released"
    assert client.post(url, headers=h(w, "officer"), json={"outcome": "no_offence"}).status_code == 409
