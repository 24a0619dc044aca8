"""The inbox pages over plain HTTP: the form's token, another's message, the page bounds, strangers."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from smartcustoms.declarations.lifecycle import Lane, Status
from smartcustoms.declarations.schemas import DeclarationIn
from smartcustoms.declarations.service import LaneDecision
from tests.support import SYSTEM, declaration_payload
from tests.web.test_parcels import flashes, sign_in


class RedLane:
    def decide(self, session, batch):
        return [LaneDecision(Lane.RED, 0.9, ["test rule"], "rule") for _ in batch]


@pytest.fixture
def web(sqlite_world):
    from smartcustoms.web.app import create_app

    platform = sqlite_world.platform
    platform.set_selectivity(RedLane())
    platform.declarations.lodge_many(SYSTEM, [DeclarationIn.model_validate(declaration_payload())])
    notice = platform.notices.page(sqlite_world.principals["trader"]).items[0]
    with TestClient(create_app(platform)) as c:
        yield c, sqlite_world, notice.id


def test_strangers_go_to_the_login_and_forms_need_their_token(web):
    c, world, nid = web
    r = c.get("/inbox", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login?next=/inbox"
    sign_in(c, "trader")
    assert c.post("/inbox/read", data={"id": str(nid)}).status_code == 403
    assert c.post("/inbox/read-all", data={}).status_code == 403
    assert world.platform.notices.unread_count(world.principals["trader"]) == 1


def test_another_enterprises_message_is_not_found_and_not_marked(web):
    c, world, nid = web
    token = sign_in(c, "other")
    page = c.get("/inbox")
    assert page.status_code == 200 and 'data-testid="unread"' not in page.text and "No messages." in page.text
    assert c.post(f"/inbox/{nid}/open", data={"csrf": token}).status_code == 404
    assert c.post("/inbox/read", data={"csrf": token, "id": str(nid)}).status_code == 404
    assert world.platform.notices.unread_count(world.principals["trader"]) == 1


def test_the_owner_marks_it_read_and_bad_page_bounds_are_refused(web):
    c, world, nid = web
    token = sign_in(c, "trader")
    assert 'data-testid="unread">1<' in c.get("/declarations").text
    assert c.get("/inbox?limit=1000").status_code == 422
    assert c.get("/inbox?unread=2").status_code == 422
    r = c.post("/inbox/read", data={"csrf": token, "id": str(nid), "back": "https://evil.example/"},
               follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/inbox"  # only back to the inbox
    page = c.get("/inbox")
    assert flashes(page.text) == ["1 message(s) marked read."] and 'data-testid="unread"' not in page.text


def test_the_officer_who_asked_reads_that_documents_were_provided(web):
    c, world, _ = web
    svc = world.platform.declarations
    no = svc.search(world.principals["officer"])[0].declaration_no
    svc.decide(world.principals["officer"], no, None, "", decision="request_documents", reason_code="invoice")
    with svc.sessions() as s, s.begin():  # the trader's answer, as the documents' service records it
        decl = svc.load_visible(s, world.principals["trader"], no)
        svc.append_event(s, decl, Status.INSPECTION, "trader", "documents provided: 2", {"documents_provided": 2})
    sign_in(c, "officer")
    page = c.get("/inbox").text
    assert 'data-testid="unread">1<' in page
    assert "Messages addressed to you" in page and f"{world.importer} provided 2 document(s) you asked for." in page
