"""An officer's decisions on held declarations with a coded reason, through the API (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest

from smartcustoms.audit.service import entries
from smartcustoms.declarations import holds
from smartcustoms.declarations.lifecycle import Lane
from smartcustoms.declarations.service import DeclarationInvalid, LaneDecision
from tests.support import assert_problem, lodge
from tests.support import key_header as h


class RedLane:
    """Holds everything on the red lane, so the tests do not depend on the risk model."""

    def decide(self, session, batch):
        return [LaneDecision(Lane.RED, 0.9, ["test rule"], "rule") for _ in batch]


def held(client, world) -> str:
    world.platform.set_selectivity(RedLane())
    r = lodge(client, world)
    assert r.status_code == 201, r.text
    return r.json()["declaration_no"]


def decide(client, world, no: str, user: str = "officer", **body):
    return client.post(f"/api/v1/declarations/{no}/decision", json=body, headers=h(world, user))


def test_a_scan_then_a_request_for_documents_then_detention_each_audited_with_its_reason(client, world):
    no = held(client, world)
    r = decide(client, world, no, decision="scan", reason_code="concealment", reason="pallets heavier than declared")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "inspection"
    # a second check during the inspection: documents requested from the declarant
    r = decide(client, world, no, decision="request_documents", reason_code="packing_list")
    assert r.status_code == 200, r.text
    with world.platform.sessions() as s:  # what the hold queue shows beside the declaration
        assert holds.latest_decisions(s, [no, "224800000000000000"]) == {
            no: {"decision": "request_documents", "reason_code": "packing_list", "note": ""}}
    r = decide(client, world, no, decision="detain", reason_code="goods_differ", reason="200 kg undeclared")
    assert r.status_code == 200 and r.json()["status"] == "detained"
    events = client.get(f"/api/v1/declarations/{no}/events", headers=h(world, "officer")).json()
    assert [e["to_status"] for e in events][-3:] == ["inspection", "inspection", "detained"]
    assert events[-1]["reason"] == "detain: goods differ from the declaration; 200 kg undeclared"
    assert events[-1]["detail"] == {"decision": "detain", "reason_code": "goods_differ", "note": "200 kg undeclared"}
    with world.platform.sessions() as s:
        audited = [(e.action, (e.detail or {}).get("reason_code")) for e in entries(s, "declaration", no)]
    assert audited == [("declaration.detained", "goods_differ"), ("declaration.inspection", "packing_list"),
                       ("declaration.inspection", "concealment")]
    # the trader reads which check was ordered, and the request and the detention with their reasons
    seen = client.get(f"/api/v1/declarations/{no}/events", headers=h(world, "trader")).json()[-3:]
    assert seen[0]["reason"] == "scan" and seen[0]["detail"] == {"decision": "scan"}  # not why
    assert seen[1]["detail"] == {"decision": "request_documents", "reason_code": "packing_list", "note": ""}
    assert seen[2]["reason"] == "detain: goods differ from the declaration; 200 kg undeclared"


def test_a_decision_needs_a_reason_from_its_own_list(client, world):
    no = held(client, world)
    r = decide(client, world, no, decision="release", reason_code="concealment")
    assert_problem(r, 422)
    assert [e["field"] for e in r.json()["errors"]] == ["reason_code"]
    r = decide(client, world, no, decision="release", reason_code="other")  # "other" needs words
    assert [e["field"] for e in r.json()["errors"]] == ["reason"]
    r = decide(client, world, no, decision="release")
    assert [e["field"] for e in r.json()["errors"]] == ["reason_code"]
    assert decide(client, world, no, decision="detain", to_status="released",
                  reason_code="ipr").status_code == 422  # disagreeing status
    assert decide(client, world, no, decision="detain", reason_code="ipr").status_code == 409  # not inspected yet
    assert decide(client, world, no, user="trader", decision="release",
                  reason_code="documents_in_order").status_code == 403
    with pytest.raises(DeclarationInvalid) as refused:  # the service checks on its own, whoever calls it
        world.platform.declarations.decide(world.principals["officer"], no, None, "", decision="waive")
    assert [e.field for e in refused.value.errors] == ["decision"]
    d = client.get(f"/api/v1/declarations/{no}", headers=h(world, "officer")).json()
    assert d["status"] == "lane_assigned"  # none of these changed it
    with world.platform.sessions() as s:
        assert entries(s, "declaration", no) == []
