"""Issue 14, declarations: held goods stay held, mandates, idempotency keys, who lodges, what traders see.

Every test runs on SQLite and on PostgreSQL (the ``world`` fixture) through the real HTTP app.
"""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, func, select

from smartcustoms.audit.service import entries
from smartcustoms.declarations.lifecycle import Lane
from smartcustoms.declarations.models import Declaration
from smartcustoms.declarations.schemas import DeclarationIn
from smartcustoms.declarations.service import LANE_RANK, LaneDecision
from smartcustoms.risk.targeting.models import RiskDecision
from smartcustoms.risk.targeting.selectivity import keyed_draw
from smartcustoms.web.app import create_app
from tests import support
from tests.support import DECLARANT, IMPORTER, OTHER_IMPORTER, declaration_payload, lodge
from tests.support import assert_problem as problem
from tests.support import key_header as h


class HoldThenRelease:
    """Holds a declaration the first time it is decided and releases it (green) on every later decision:
    what a re-roll of a random draw, a shifted model threshold or an evaded rule would do."""

    def __init__(self, lane: Lane, mechanism: str) -> None:
        self.lane, self.mechanism, self.seen = lane, mechanism, set()

    def decide(self, session, batch):
        out = []
        for ld in batch:
            first = ld.declaration_no not in self.seen
            self.seen.add(ld.declaration_no)
            out.append(LaneDecision(self.lane, 0.9, [f"held by {self.mechanism}"], self.mechanism,
                                    {"percentile": 0.999}) if first
                       else LaneDecision(Lane.GREEN, 0.01, ["below the threshold"], "model"))
        return out


# -- 1. an amendment never releases held goods ------------------------------------------------------
@pytest.mark.parametrize(("mechanism", "lane"), [("model", Lane.BLUE), ("exploration", Lane.RED),
                                                 ("rule", Lane.YELLOW)])
def test_a_held_declaration_amended_with_its_own_body_stays_held(client, world, mechanism, lane):
    world.platform.set_selectivity(HoldThenRelease(lane, mechanism))
    p = declaration_payload()
    first = client.post("/api/v1/declarations", json=p, headers=h(world, "trader")).json()
    assert first["status"] == "lane_assigned" and first["lane"] == lane
    no = first["declaration_no"]
    for n in (1, 2):  # the held declaration's own body under a new message id, twice
        r = client.put(f"/api/v1/declarations/{no}", json={**p, "client_message_id": f"{p['client_message_id']}-{n}"},
                       headers=h(world, "trader"))
        assert r.status_code == 200, r.text
        d = r.json()
        assert d["status"] == "lane_assigned" and d["lane"] == lane and d["version"] == 1 + n
    events = client.get(f"/api/v1/declarations/{no}/events", headers=h(world, "officer")).json()
    assert "released" not in [e["to_status"] for e in events]
    assert events[-1]["detail"]["kept_lane"] == lane and events[-1]["detail"]["rescored_lane"] == "green"
    assert events[-1]["detail"]["mechanism"] == mechanism  # the hold's own mechanism stays on record
    # only an officer's decision releases it
    for to in ("inspection", "released"):
        assert client.post(f"/api/v1/declarations/{no}/decision", json={"to_status": to, "reason": "checked"},
                           headers=h(world, "officer")).status_code == 200


def test_an_amendment_may_raise_the_lane_but_never_lowers_it(client, world):
    class Escalating:
        lanes = [Lane.YELLOW, Lane.RED, Lane.BLUE]

        def decide(self, session, batch):
            return [LaneDecision(self.lanes.pop(0), 0.5, ["x"], "model") for _ in batch]

    world.platform.set_selectivity(Escalating())
    p = declaration_payload()
    no = client.post("/api/v1/declarations", json=p, headers=h(world, "trader")).json()["declaration_no"]
    lanes = [client.put(f"/api/v1/declarations/{no}", json={**p, "client_message_id": f"a{n}"},
                        headers=h(world, "trader")).json()["lane"] for n in (1, 2)]
    assert lanes == ["red", "red"]  # raised by the re-scoring, then kept above the blue it scored


def test_the_live_engine_draws_the_same_for_a_declaration_decided_again(client, world):
    """With the real risk engine (no model: random control only, a large budget), every held declaration
    amended with its own body is decided again by the same draw: held, the same lane or higher."""
    engine = world.platform.risk
    engine.config.budget = 0.6
    held = []
    for n in range(60):  # twelve, and more only while none is held (0.4 ** 12 per database: 1 run in ~30,000)
        if n >= 12 and held:
            break
        p = declaration_payload()
        d = client.post("/api/v1/declarations", json=p, headers=h(world, "trader")).json()
        if d["status"] == "lane_assigned":
            held.append((d["declaration_no"], d["lane"], p))
    assert held, "a 60 % budget held none of 60"
    for no, lane, p in held:
        r = client.put(f"/api/v1/declarations/{no}", json={**p, "client_message_id": "again"},
                       headers=h(world, "trader"))
        assert r.status_code == 200, r.text
        d = r.json()
        assert d["status"] == "lane_assigned" and LANE_RANK[Lane(d["lane"])] >= LANE_RANK[Lane(lane)]
        with world.platform.sessions() as s:
            did = s.scalar(select(Declaration.id).where(Declaration.declaration_no == no))
            decisions = s.execute(select(RiskDecision.mechanism, RiskDecision.lane)
                                  .where(RiskDecision.declaration_id == did).order_by(RiskDecision.id)).all()
        assert len(decisions) == 2 and decisions[0] == decisions[1]  # the re-decision drew the same


def test_keyed_draws_are_fixed_per_declaration_and_keep_the_share():
    key = b"k" * 32
    draws = [keyed_draw(key, f"22482026{n:010d}", "exploration") for n in range(20_000)]
    assert draws[:50] == [keyed_draw(key, f"22482026{n:010d}", "exploration") for n in range(50)]
    assert 0.09 <= sum(x < 0.1 for x in draws) / len(draws) <= 0.11  # uniform: the exploration share holds
    assert draws[:50] != [keyed_draw(b"j" * 32, f"22482026{n:010d}", "exploration") for n in range(50)]
    assert keyed_draw(key, "x", "exploration") != keyed_draw(key, "x", "rule-1")  # streams are independent


def test_an_officers_amendment_is_audited_and_does_not_release(client, world):
    world.platform.set_selectivity(HoldThenRelease(Lane.RED, "exploration"))
    p = declaration_payload()
    no = client.post("/api/v1/declarations", json=p, headers=h(world, "trader")).json()["declaration_no"]
    r = client.put(f"/api/v1/declarations/{no}", json={**p, "client_message_id": "officer-fix"},
                   headers=h(world, "officer"))
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "lane_assigned" and r.json()["lane"] == "red"
    with world.platform.sessions() as s:
        amended = [e for e in entries(s, "declaration", no) if e.action == "declaration.amend"]
    assert len(amended) == 1 and amended[0].actor == "officer" and amended[0].detail["lane"] == "red"


# -- 5. mandates ------------------------------------------------------------------------------------
def test_a_declarant_lodges_for_an_importer_only_under_a_mandate(client, world):
    admin = h(world, "admin")
    r = lodge(client, world, user="broker", importer_code=OTHER_IMPORTER)
    problem(r, 422, "importer_code")
    r = client.post("/api/v1/mandates", headers=admin,
                    json={"declarant_code": DECLARANT, "importer_code": OTHER_IMPORTER})
    assert r.status_code == 201, r.text
    mandate = r.json()
    assert client.post("/api/v1/mandates", headers=h(world, "broker"),
                       json={"declarant_code": DECLARANT, "importer_code": OTHER_IMPORTER}).status_code == 403
    assert lodge(client, world, user="broker", importer_code=OTHER_IMPORTER).status_code == 201
    # the importer's trader sees its mandates, not others'
    mine = client.get("/api/v1/mandates", headers=h(world, "other")).json()
    assert [m["id"] for m in mine] == [mandate["id"]]
    assert client.post(f"/api/v1/mandates/{mandate['id']}/revoke", headers=admin).status_code == 200
    problem(lodge(client, world, user="broker", importer_code=OTHER_IMPORTER), 422, "importer_code")
    with world.platform.sessions() as s:
        assert [e.action for e in entries(s, "mandate", str(mandate["id"]))] == ["mandate.revoke", "mandate.create"]


def test_mandates_are_checked_with_one_query_per_batch(world):
    svc = world.platform.declarations
    broker = world.principals["broker"]
    statements: list[str] = []

    def seen(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(world.platform.engine, "before_cursor_execute", seen)
    try:
        batch = [DeclarationIn.model_validate(declaration_payload(importer_code=imp))
                 for imp in [IMPORTER, OTHER_IMPORTER] * 5]
        results = svc.lodge_many(broker, batch)
    finally:
        event.remove(world.platform.engine, "before_cursor_execute", seen)
    assert sum("FROM mandates" in s for s in statements) == 1
    assert [bool(r.errors) for r in results] == [False, True] * 5
    assert {e.field for r in results[1::2] for e in r.errors} == {"importer_code"}


def test_the_counter_party_cannot_rewrite_the_parties_and_the_lodger_keeps_access(client, world):
    world.platform.set_selectivity(HoldThenRelease(Lane.YELLOW, "model"))
    p = declaration_payload()
    no = client.post("/api/v1/declarations", json=p, headers=h(world, "broker")).json()["declaration_no"]
    # the importer, a counter-party, cannot name itself declarant and so cut the broker out
    r = client.put(f"/api/v1/declarations/{no}", json={**p, "client_message_id": "take-over",
                                                        "declarant_code": IMPORTER}, headers=h(world, "trader"))
    problem(r, 403, "declarant_code")
    # the lodging broker may change the importer, but only to one whose mandate it holds
    r = client.put(f"/api/v1/declarations/{no}", json={**p, "client_message_id": "other-importer",
                                                        "importer_code": OTHER_IMPORTER}, headers=h(world, "broker"))
    problem(r, 422, "importer_code")
    # an officer may correct the parties: the lodging broker still reads what it lodged
    r = client.put(f"/api/v1/declarations/{no}", json={**p, "client_message_id": "correction",
                                                        "declarant_code": IMPORTER}, headers=h(world, "officer"))
    assert r.status_code == 200 and r.json()["declarant_code"] == IMPORTER
    assert client.get(f"/api/v1/declarations/{no}", headers=h(world, "broker")).status_code == 200
    assert no in [d["declaration_no"] for d in client.get("/api/v1/declarations", headers=h(world, "broker")).json()]


# -- 8. idempotency keys ----------------------------------------------------------------------------
def test_amendments_keep_the_lodging_key_and_have_their_own(client, world):
    world.platform.set_selectivity(HoldThenRelease(Lane.RED, "rule"))
    p = declaration_payload()
    no = client.post("/api/v1/declarations", json=p, headers=h(world, "trader")).json()["declaration_no"]
    a1 = {**p, "client_message_id": "amend-1", "seller_name": "Levante Export S.L."}
    first = client.put(f"/api/v1/declarations/{no}", json=a1, headers=h(world, "trader"))
    assert first.status_code == 200 and first.json()["client_message_id"] == p["client_message_id"]
    again = client.put(f"/api/v1/declarations/{no}", json=a1, headers=h(world, "trader"))
    assert again.status_code == 200 and again.json() == first.json()  # the same amendment: the same result
    problem(client.put(f"/api/v1/declarations/{no}", json={**a1, "seller_name": "Someone else"},
                       headers=h(world, "trader")), 409, "client_message_id")
    # the lodging replayed after the amendment finds the declaration: no duplicate
    replay = client.post("/api/v1/declarations", json=p, headers=h(world, "trader"))
    assert replay.status_code == 200 and replay.json()["declaration_no"] == no
    # the lodging's key with another body is a conflict, as a lodging and as an amendment
    problem(client.post("/api/v1/declarations", json={**p, "packages": 21}, headers=h(world, "trader")),
            409, "client_message_id")
    problem(client.put(f"/api/v1/declarations/{no}", json={**p, "packages": 21}, headers=h(world, "trader")),
            409, "client_message_id")
    # an amendment key that is another declaration's lodging key is no clash (it was a 500)
    other = declaration_payload()
    client.post("/api/v1/declarations", json=other, headers=h(world, "trader"))
    r = client.put(f"/api/v1/declarations/{no}", json={**p, "client_message_id": other["client_message_id"]},
                   headers=h(world, "trader"))
    assert r.status_code == 200, r.text
    with world.platform.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Declaration)) == 2


def test_a_lodging_key_repeated_in_one_batch_with_another_body_is_a_conflict(world):
    p = declaration_payload()
    batch = [DeclarationIn.model_validate(p), DeclarationIn.model_validate({**p, "packages": 21}),
             DeclarationIn.model_validate(p)]
    first, clash, repeat = world.platform.declarations.lodge_many(world.principals["trader"], batch)
    assert first.created and clash.conflict and not repeat.created
    assert repeat.declaration_no == first.declaration_no


# -- 14a. customs roles do not lodge -----------------------------------------------------------------
@pytest.mark.parametrize("user", ["officer", "analyst", "admin"])
def test_customs_roles_do_not_lodge(client, world, user):
    problem(lodge(client, world, user=user), 403)
    with world.platform.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Declaration)) == 0


def sign_in(c: TestClient, username: str) -> str:
    """Sign ``username`` in on the web; returns the session's anti-forgery token."""
    password = getattr(support, "PASSWORD", "correct horse")
    token = re.search(r'name="csrf-token" content="([^"]+)"', c.get("/login").text).group(1)
    r = c.post("/login", data={"username": username, "password": password, "csrf": token}, follow_redirects=False)
    assert r.status_code == 303, r.text
    return re.search(r'name="csrf-token" content="([^"]+)"', c.get("/login").text).group(1)


def test_customs_roles_have_no_web_lodging_form(client, world):
    sign_in(client, "admin")
    assert client.get("/declarations/new").status_code == 403
    assert client.get("/upload").status_code == 403
    assert 'href="/declarations/new"' not in client.get("/declarations").text


def test_the_admin_page_registers_and_revokes_mandates(client, world):
    csrf = sign_in(client, "admin")
    r = client.post("/admin/mandates", data={"csrf": csrf, "declarant_code": DECLARANT,
                                             "importer_code": OTHER_IMPORTER, "valid_to": "2099-12-31"},
                    follow_redirects=False)
    assert r.status_code == 303, r.text
    page = client.get("/admin").text
    assert 'id="mandates"' in page and OTHER_IMPORTER in page
    assert lodge(client, world, user="broker", importer_code=OTHER_IMPORTER).status_code == 201
    mandate_id = client.get("/api/v1/mandates", headers=h(world, "admin")).json()[0]["id"]
    assert client.post(f"/admin/mandates/{mandate_id}/revoke", data={"csrf": csrf}).status_code == 200
    problem(lodge(client, world, user="broker", importer_code=OTHER_IMPORTER), 422, "importer_code")


# -- 9. what traders see -----------------------------------------------------------------------------
def test_traders_see_the_lane_and_a_plain_reason_officers_everything(client, world):
    world.platform.set_selectivity(HoldThenRelease(Lane.RED, "exploration"))
    r = lodge(client, world)
    lodged = r.json()
    no = lodged["declaration_no"]
    assert lodged["risk_score"] is None and lodged["reasons"] == ["physical inspection"]
    read = client.get(f"/api/v1/declarations/{no}", headers=h(world, "broker")).json()
    assert read["risk_score"] is None and read["reasons"] == ["physical inspection"]
    listed = client.get("/api/v1/declarations", params={"order": "-risk_score"}, headers=h(world, "trader")).json()
    assert [x["risk_score"] for x in listed] == [None]
    events = client.get(f"/api/v1/declarations/{no}/events", headers=h(world, "trader")).json()
    text = str(events)
    assert "exploration" not in text and "random" not in text and "percentile" not in text
    assert not re.search(r"\b0\.9\b", text)  # the score (a timestamp such as 40.947 is no score)
    assert events[3]["detail"] == {"lane": "red", "reasons": ["physical inspection"]}
    officer = client.get(f"/api/v1/declarations/{no}", headers=h(world, "officer")).json()
    assert officer["risk_score"] == 0.9 and officer["reasons"] == ["held by exploration"]
    officer_events = client.get(f"/api/v1/declarations/{no}/events", headers=h(world, "officer")).json()
    assert officer_events[3]["detail"]["mechanism"] == "exploration"
    # the trader's web page: the lane's consequence, no mechanism or score
    sign_in(client, "trader")
    page = client.get(f"/declarations/{no}").text
    assert "physical inspection" in page and "random" not in page.lower() and "exploration" not in page


def test_the_demo_registers_its_brokers_mandates_so_its_example_lodges(db_url, tmp_path):
    from smartcustoms.core.config import Settings
    from smartcustoms.platform import build_platform
    from smartcustoms.simulate.demo import load_demo

    platform = build_platform(Settings(data_dir=tmp_path), database_url=db_url)
    try:
        access = load_demo(platform, declarations=0)
        with TestClient(create_app(platform)) as c:
            r = c.post("/api/v1/declarations", json=access.example_payload,
                       headers={"X-API-Key": access.keys["trader1"]})
            assert r.status_code == 201, r.text
            assert access.example_payload["declarant_code"] != access.example_payload["importer_code"]
    finally:
        platform.close()
