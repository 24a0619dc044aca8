"""Working manifest referrals: officers' decisions, the filer's answer to a request for information, tenancy."""

from datetime import datetime, timedelta

import pytest
from sqlalchemy import text

from smartcustoms.manifests.schemas import DecisionIn, Outcome, ReferralAction
from smartcustoms.simulate.manifests import Cons, Item, message
from tests.support import assert_problem, key_header

LOADING = datetime.now() + timedelta(days=3)
XML = {"Content-Type": "application/xml"}
BASE = "/api/v1/manifests"


@pytest.fixture
def client(sqlite_world):
    from fastapi.testclient import TestClient

    from smartcustoms.web.app import create_app

    with TestClient(create_app(sqlite_world.platform)) as c:
        yield c


def file(client, world, description: str, doc: str = "COSU6123456780", message_id: str = "MSG1",
         function_code: str = "9") -> int:
    """File one consignment; the filing id of its referral."""
    r = client.post(f"{BASE}/messages", headers={**key_header(world, "trader"), **XML},
                    content=message([Cons(doc=doc, loading_at=LOADING, items=[Item(description=description)])],
                                    message_id=message_id, function_code=function_code))
    assert r.status_code == 200, r.text
    queue = client.get(f"{BASE}/referrals", headers=key_header(world, "officer")).json()
    return next(q["id"] for q in queue if q["transport_document_no"] == doc)


def decide(client, world, fid: int, action: str, reason: str = "X-ray image clear", user: str = "officer"):
    return client.post(f"{BASE}/consignments/{fid}/decision", headers=key_header(world, user),
                       json={"action": action, "reason": reason})


def queue_ids(client, world) -> list[int]:
    return [q["id"] for q in client.get(f"{BASE}/referrals", headers=key_header(world, "officer")).json()]


def test_screening_cleared_leaves_the_queue_and_is_audited(client, sqlite_world):
    fid = file(client, sqlite_world, "LITHIUM ION BATTERIES")
    assert fid in queue_ids(client, sqlite_world)
    r = decide(client, sqlite_world, fid, "screening_clear")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["closed"] is True and body["outcome"] == "assessment_complete"
    assert body["assessed_outcome"] == "request_for_screening" and body["events"][0]["actor"] == "officer"
    assert fid not in queue_ids(client, sqlite_world)
    assert_problem(decide(client, sqlite_world, fid, "threat_found"), 409)  # decided once
    with sqlite_world.platform.sessions() as s:
        actions = s.execute(text("SELECT action FROM audit_log WHERE object_id = :i AND object_type = "
                                 "'manifest_filing'"), {"i": str(fid)}).scalars().all()
    assert actions == ["manifest.referral_decided"]


def test_a_decision_must_fit_the_referral_and_give_a_reason(client, sqlite_world):
    fid = file(client, sqlite_world, "DETONATOR")
    assert_problem(decide(client, sqlite_world, fid, "screening_clear"), 422, "action")
    assert_problem(decide(client, sqlite_world, fid, "do_not_load_lifted", reason=""), 422)
    assert_problem(decide(client, sqlite_world, fid, "information_answered"), 422, "action")
    assert_problem(decide(client, sqlite_world, fid, "do_not_load_confirmed", user="analyst"), 403)
    assert_problem(decide(client, sqlite_world, fid, "do_not_load_confirmed", user="trader"), 403)
    assert_problem(decide(client, sqlite_world, 999999, "do_not_load_confirmed"), 404)
    r = decide(client, sqlite_world, fid, "do_not_load_confirmed", reason="prohibited goods confirmed by filer")
    assert r.status_code == 200 and r.json()["outcome"] == "do_not_load" and r.json()["closed"]


def test_the_filer_answers_a_request_for_information_then_the_officer_completes_it(client, sqlite_world):
    fid = file(client, sqlite_world, "FAK")
    assert_problem(decide(client, sqlite_world, fid, "information_complete"), 409)  # nothing answered yet
    url = f"{BASE}/consignments/{fid}/information"
    answer = {"answer": "100 cartons of cotton T-shirts, HS 610910"}
    assert_problem(client.post(url, json=answer, headers=key_header(sqlite_world, "other")), 404)  # not its own
    assert_problem(client.post(url, json=answer, headers=key_header(sqlite_world, "officer")), 403)
    assert_problem(client.post(url, json={"answer": "x" * 4001}, headers=key_header(sqlite_world, "trader")),
                   422, "answer")
    r = client.post(url, json=answer, headers=key_header(sqlite_world, "trader"))
    assert r.status_code == 200, r.text
    assert r.json()["events"][0]["action"] == "information_answered" and not r.json()["closed"]
    queue = client.get(f"{BASE}/referrals", headers=key_header(sqlite_world, "officer")).json()
    assert [q["answered"] for q in queue if q["id"] == fid] == [True]
    mine = client.get(f"{BASE}/consignments/{fid}/referral", headers=key_header(sqlite_world, "trader"))
    assert mine.status_code == 200 and mine.json()["events"][0]["text"] == answer["answer"]
    assert_problem(client.get(f"{BASE}/consignments/{fid}/referral", headers=key_header(sqlite_world, "other")),
                   404)
    r = decide(client, sqlite_world, fid, "information_complete", reason="description now specific")
    assert r.status_code == 200 and r.json()["outcome"] == "assessment_complete"
    assert fid not in queue_ids(client, sqlite_world)
    assert_problem(client.post(url, json=answer, headers=key_header(sqlite_world, "trader")), 409)


def test_an_escalated_request_for_information_stays_open_as_screening(client, sqlite_world):
    fid = file(client, sqlite_world, "GENERAL CARGO")
    r = decide(client, sqlite_world, fid, "information_escalated", reason="no answer before loading")
    assert r.status_code == 200 and r.json()["outcome"] == "request_for_screening" and not r.json()["closed"]
    screening = client.get(f"{BASE}/referrals?outcome=request_for_screening",
                           headers=key_header(sqlite_world, "officer")).json()
    assert [q["id"] for q in screening] == [fid] and screening[0]["assessed_outcome"] == "request_for_information"
    assert client.get(f"{BASE}/referrals?outcome=request_for_information",
                      headers=key_header(sqlite_world, "officer")).json() == []
    # the filer cannot answer any more: it is under screening now
    assert_problem(client.post(f"{BASE}/consignments/{fid}/information", json={"answer": "cotton shirts"},
                               headers=key_header(sqlite_world, "trader")), 409)
    assert decide(client, sqlite_world, fid, "threat_found", reason="undeclared batteries").json()["closed"]


def test_a_superseded_filing_is_not_decided(client, sqlite_world):
    fid = file(client, sqlite_world, "FAK")
    file(client, sqlite_world, "FAK", message_id="MSG2", function_code="5")
    assert fid not in queue_ids(client, sqlite_world)
    assert_problem(decide(client, sqlite_world, fid, "information_escalated"), 409)


def test_referral_events_are_append_only_on_both_databases(world):
    from smartcustoms.core.security import Principal, Role

    svc = world.platform.manifests
    trader = Principal(user_id=0, username="trader", role=Role.TRADER, enterprise_code=world.importer)
    officer = Principal(user_id=0, username="officer", role=Role.OFFICER)
    data = message([Cons(loading_at=LOADING, items=[Item(description="LITHIUM BATTERIES")])])
    assert svc.ingest(data, world.importer, trader)[0].accepted
    (ref,) = svc.referrals()
    assert ref.outcome is Outcome.REQUEST_FOR_SCREENING
    state = svc.decide(ref.id, DecisionIn(action=ReferralAction.THREAT_FOUND, reason="dense mass on X-ray"),
                       officer)
    assert state.outcome is Outcome.DO_NOT_LOAD and svc.referrals() == []
    with pytest.raises(Exception, match="append-only"), world.platform.sessions() as s, s.begin():
        s.execute(text("UPDATE manifest_referral_event SET closed = false"))


def test_two_officers_deciding_at_once_record_one_decision(world, monkeypatch):
    from smartcustoms.core.errors import Conflict
    from smartcustoms.core.security import Principal, Role
    from smartcustoms.manifests.service import ManifestService

    svc = world.platform.manifests
    trader = Principal(user_id=0, username="trader", role=Role.TRADER, enterprise_code=world.importer)
    officer = Principal(user_id=0, username="officer", role=Role.OFFICER)
    data = message([Cons(loading_at=LOADING, items=[Item(description="DETONATOR")])])
    assert svc.ingest(data, world.importer, trader)[0].accepted
    (ref,) = svc.referrals()
    # the second officer read the referral as open before the first one's decision was committed
    monkeypatch.setattr(ManifestService, "_open", staticmethod(lambda s, f, state: None))
    svc.decide(ref.id, DecisionIn(action=ReferralAction.DO_NOT_LOAD_CONFIRMED, reason="prohibited"), officer)
    with pytest.raises(Conflict, match="already decided"):
        svc.decide(ref.id, DecisionIn(action=ReferralAction.DO_NOT_LOAD_LIFTED, reason="seems fine"), officer)
    assert [e.action for e in svc.referral(ref.id, None).events] == [ReferralAction.DO_NOT_LOAD_CONFIRMED]
