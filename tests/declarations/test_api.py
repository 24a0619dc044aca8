"""The single window's declaration API, on SQLite and on PostgreSQL."""

from __future__ import annotations

from smartcustoms.declarations.lifecycle import Lane
from smartcustoms.declarations.service import LaneDecision
from tests.support import UNREGISTERED, assert_problem, declaration_payload, lodge
from tests.support import key_header as h


def test_lodged_declaration_is_accepted_assessed_and_readable(client, world):
    r = lodge(client, world)
    assert r.status_code == 201, r.text
    d = r.json()
    assert len(d["declaration_no"]) == 18 and d["declaration_no"].startswith("2248")
    assert d["lane"] in ("green", "yellow", "blue", "red")
    assert d["status"] == ("released" if d["lane"] == "green" else "lane_assigned")
    # 13 000 USD CIF at 7.18 = 93 340.00; duty 9 % = 8 400.60; VAT per item, rounded to the fen:
    # (64 620 + 5 815.80) × 13 % = 9 156.65 and (28 720 + 2 584.80) × 13 % = 4 069.62
    assert d["tax"]["customs_value_cny"] == "93340.00"
    assert d["tax"]["duty_cny"] == "8400.60"
    assert d["tax"]["vat_cny"] == "13226.27"
    assert d["items"][1]["origin_country"] == "ES"  # alpha-3 on input, ISO alpha-2 stored
    again = client.get(f"/api/v1/declarations/{d['declaration_no']}", headers=h(world, "trader"))
    assert again.status_code == 200 and again.json()["tax"] == d["tax"]
    events = client.get(f"/api/v1/declarations/{d['declaration_no']}/events", headers=h(world, "trader")).json()
    assert [e["to_status"] for e in events][:4] == ["lodged", "accepted", "assessed", "lane_assigned"]
    assert events[0]["actor"] == "trader" and events[1]["from_status"] == "lodged"
    assert events[3]["detail"]["lane"] == d["lane"] and events[3]["detail"]["reasons"] == d["reasons"]


def test_lodge_answer_is_what_a_read_returns(client, world):
    # the answer is read back in the lodging transaction, not by a second request; it must not differ
    # (customs roles do not lodge: the broker and the importer do, each seeing the trader's view)
    for user in ("broker", "trader"):
        r = lodge(client, world, user=user)
        assert r.status_code == 201, r.text
        again = client.get(f"/api/v1/declarations/{r.json()['declaration_no']}", headers=h(world, user))
        assert again.status_code == 200 and again.json() == r.json()


def test_wrong_hs_code_is_rejected_naming_the_item_field(client, world):
    p = declaration_payload()
    p["items"][1]["hs_code"] = "9999990000"
    r = client.post("/api/v1/declarations", json=p, headers=h(world, "trader"))
    assert_problem(r, 422, "items[1].hs_code")


def test_malformed_hs_code_is_rejected_by_format(client, world):
    p = declaration_payload()
    p["items"][0]["hs_code"] = "69072"
    assert_problem(client.post("/api/v1/declarations", json=p, headers=h(world, "trader")), 422, "items[0].hs_code")


def test_unknown_country_is_rejected(client, world):
    assert_problem(lodge(client, world, origin_country="XX"), 422, "origin_country")


def test_unknown_currency_and_office_are_rejected_together(client, world):
    body = assert_problem(lodge(client, world, currency="ABC", office_code="0000"), 422, "currency")
    assert "office_code" in [e["field"] for e in body["errors"]]
    assert body["title"] == "The declaration is not valid"


def test_item_total_must_be_quantity_times_unit_price(client, world):
    p = declaration_payload()
    p["items"][0]["total_value"] = "9100.00"
    p["total_value"] = "13100.00"
    assert_problem(client.post("/api/v1/declarations", json=p, headers=h(world, "trader")), 422,
                   "items[0].total_value")


def test_header_total_must_be_the_sum_of_items(client, world):
    assert_problem(lodge(client, world, total_value="12000.00"), 422, "total_value")


def test_negative_quantity_is_rejected(client, world):
    p = declaration_payload()
    p["items"][0]["quantity"] = "-5"
    assert_problem(client.post("/api/v1/declarations", json=p, headers=h(world, "trader")), 422, "items[0].quantity")


def test_future_declaration_date_is_rejected(client, world):
    assert_problem(lodge(client, world, declared_at="2999-01-01T00:00:00"), 422, "declared_at")


def test_malformed_json_is_a_problem_not_a_traceback(client, world):
    r = client.post("/api/v1/declarations", content=b'{"client_message_id": "x", ',
                    headers={**h(world, "trader"), "Content-Type": "application/json"})
    body = assert_problem(r, 422, "body")
    assert "malformed JSON" in body["errors"][0]["message"]


def test_invalid_declaration_stores_nothing(client, world):
    lodge(client, world, total_value="1.00")
    assert client.get("/api/v1/declarations", headers=h(world, "trader")).json() == []


def test_repeated_client_message_id_returns_the_first_result(client, world):
    p = declaration_payload()
    first = client.post("/api/v1/declarations", json=p, headers=h(world, "trader"))
    second = client.post("/api/v1/declarations", json=p, headers=h(world, "trader"))
    assert first.status_code == 201 and second.status_code == 200
    assert first.json()["declaration_no"] == second.json()["declaration_no"]
    listed = client.get("/api/v1/declarations", headers=h(world, "trader")).json()
    assert len(listed) == 1


def test_trader_cannot_read_another_enterprises_declaration(client, world):
    no = lodge(client, world).json()["declaration_no"]
    for path in (f"/api/v1/declarations/{no}", f"/api/v1/declarations/{no}/events"):
        r = client.get(path, headers=h(world, "other"))
        assert r.status_code == 404
        assert r.headers["content-type"].startswith("application/problem+json")
    assert client.get("/api/v1/declarations", headers=h(world, "other")).json() == []
    # the declarant (customs broker) and customs see it
    assert client.get(f"/api/v1/declarations/{no}", headers=h(world, "broker")).status_code == 200
    assert client.get(f"/api/v1/declarations/{no}", headers=h(world, "officer")).status_code == 200


def test_trader_may_lodge_only_for_its_own_enterprise(client, world):
    r = lodge(client, world, user="other")
    assert_problem(r, 422, "declarant_code")


def test_every_call_needs_a_valid_api_key(client, world):
    assert client.get("/api/v1/declarations").status_code == 401
    r = client.get("/api/v1/declarations", headers={"X-API-Key": "sck_000000000000_forged"})
    assert r.status_code == 401 and r.headers["content-type"].startswith("application/problem+json")


def test_unregistered_importer_is_lodged_then_rejected_with_reason(client, world):
    # a trader cannot lodge for an unregistered importer (no mandate can name it): the platform's own
    # lodging paths (bulk ingest, replay) store the declaration and reject it with its reason
    assert_problem(lodge(client, world, user="broker", importer_code=UNREGISTERED), 422, "importer_code")
    from smartcustoms.declarations.schemas import DeclarationIn
    from tests.support import SYSTEM

    res = world.platform.declarations.lodge_many(
        SYSTEM, [DeclarationIn.model_validate(declaration_payload(importer_code=UNREGISTERED))])[0]
    assert res.created and res.status == "rejected"
    d = client.get(f"/api/v1/declarations/{res.declaration_no}", headers=h(world, "broker")).json()
    assert d["status"] == "rejected"
    assert "not a registered enterprise" in d["reasons"][0]


class RedLane:
    """Holds everything on the red lane, so lifecycle tests do not depend on the risk model."""

    def decide(self, session, batch):
        return [LaneDecision(Lane.RED, 0.9, ["test rule"], "rule") for _ in batch]


def test_full_lifecycle_to_release_with_officer_audit(client, world):
    world.platform.set_selectivity(RedLane())
    officer = h(world, "officer")
    no = lodge(client, world).json()["declaration_no"]
    # a trader cannot decide; an officer cannot skip the inspection's start... but may release a held one
    assert client.post(f"/api/v1/declarations/{no}/decision", json={"to_status": "released", "reason": "x"},
                       headers=h(world, "trader")).status_code == 403
    assert client.post(f"/api/v1/declarations/{no}/decision", json={"to_status": "detained", "reason": "x"},
                       headers=officer).status_code == 409
    d = client.get(f"/api/v1/declarations/{no}", headers=h(world, "trader")).json()
    # the trader reads the lane's consequence; the officer the rule that held it
    assert d["status"] == "lane_assigned" and d["lane"] == "red" and d["reasons"] == ["physical inspection"]
    assert client.get(f"/api/v1/declarations/{no}", headers=officer).json()["reasons"] == ["test rule"]
    for to in ("inspection", "released"):
        r = client.post(f"/api/v1/declarations/{no}/decision", json={"to_status": to, "reason": f"officer: {to}"},
                        headers=officer)
        assert r.status_code == 200, r.text
    events = client.get(f"/api/v1/declarations/{no}/events", headers=officer).json()
    assert [e["to_status"] for e in events] == ["lodged", "accepted", "assessed", "lane_assigned", "inspection",
                                               "released"]
    assert events[-1]["actor"] == "officer"
    # released is final: no cancellation, no amendment
    assert client.post(f"/api/v1/declarations/{no}/cancel", json={"reason": "late"},
                       headers=h(world, "trader")).status_code == 409
    from smartcustoms.audit.service import entries

    with world.platform.sessions() as s:
        actions = [e.action for e in entries(s, "declaration", no)]
    assert actions == ["declaration.released", "declaration.inspection"]


def test_green_lane_releases_at_once(client, world):
    class Green:
        def decide(self, session, batch):
            return [LaneDecision(Lane.GREEN, 0.01, [], "model") for _ in batch]

    world.platform.set_selectivity(Green())
    d = lodge(client, world).json()
    assert d["status"] == "released" and d["lane"] == "green"


def test_trader_amends_then_cancels(client, world):
    world.platform.set_selectivity(RedLane())
    p = declaration_payload()
    no = client.post("/api/v1/declarations", json=p, headers=h(world, "trader")).json()["declaration_no"]
    p2 = declaration_payload(client_message_id=p["client_message_id"] + "-a1", total_value="9000.00",
                             net_mass_kg="18000")
    p2["items"] = p2["items"][:1]
    r = client.put(f"/api/v1/declarations/{no}", json=p2, headers=h(world, "trader"))
    assert r.status_code == 200, r.text
    d = r.json()
    assert d["version"] == 2 and len(d["items"]) == 1 and d["status"] == "lane_assigned"
    assert d["tax"]["customs_value_cny"] == "64620.00"
    r = client.post(f"/api/v1/declarations/{no}/cancel", json={"reason": "order cancelled by buyer"},
                    headers=h(world, "trader"))
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    events = client.get(f"/api/v1/declarations/{no}/events", headers=h(world, "trader")).json()
    assert [e["to_status"] for e in events] == ["lodged", "accepted", "assessed", "lane_assigned", "accepted",
                                               "assessed", "lane_assigned", "cancelled"]
    assert events[4]["reason"] == "amended to version 2"
    # another enterprise cannot cancel it (it does not exist for them)
    assert client.post(f"/api/v1/declarations/{no}/cancel", json={"reason": "x"},
                       headers=h(world, "other")).status_code == 404


def test_warm_up_rehearses_lodging_and_stores_nothing(client, world):
    from sqlalchemy import func, select

    from smartcustoms.declarations.models import Declaration, DeclarationEvent, GoodsItem, NumberSequence
    from smartcustoms.risk.targeting.models import RiskDecision

    assert lodge(client, world).status_code == 201

    def stored():
        with world.platform.sessions() as s:
            counts = [s.scalar(select(func.count()).select_from(t))
                      for t in (Declaration, GoodsItem, DeclarationEvent, RiskDecision)]
            return counts, s.execute(select(NumberSequence.name, NumberSequence.value).order_by("name")).all()

    before = stored()
    assert world.platform.warm_up()
    assert stored() == before
    assert lodge(client, world).status_code == 201


def test_the_rehearsal_declaration_is_valid_and_assessable_with_this_deployments_lists(world):
    """The warm-up rehearses the whole lodging path: its sample passes every check and has a tariff line."""
    from datetime import timedelta

    from smartcustoms.declarations.service import rehearsal_sample, validate

    platform = world.platform
    now = platform.declarations.clock()
    sample = rehearsal_sample(platform.codes, platform.tariff, now - timedelta(minutes=1))
    assert validate(sample, platform.codes, now) == []
    assert platform.declarations.assess_declaration(sample).vat > 0
