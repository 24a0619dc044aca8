"""The officers' manifest referral pages: queue, decision form (reason and confirmation), shipment page."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from smartcustoms.simulate.manifests import Cons, Item, message
from tests.web.test_parcels import flashes, sign_in

LOADING = datetime.now() + timedelta(days=3)


def file(world, doc: str, description: str, message_id: str) -> int:
    """File one consignment as the world's carrier ("trader"); its filing id."""
    answers = world.platform.manifests.ingest(
        message([Cons(doc=doc, loading_at=LOADING, items=[Item(description=description)])], message_id=message_id),
        world.importer, world.principals["trader"])
    assert answers[0].accepted, answers
    return next(r.id for r in world.platform.manifests.referrals() if r.transport_document_no == doc)


@pytest.fixture
def web(sqlite_world):
    from smartcustoms.web.app import create_app

    with TestClient(create_app(sqlite_world.platform)) as c:
        yield c, sqlite_world


def test_the_decision_form_wants_a_reason_and_a_confirmation(web):
    c, world = web
    fid = file(world, "COSU6123456780", "LITHIUM BATTERIES", "M1")
    token = sign_in(c, "officer")
    page = c.get("/manifests/referrals")
    assert page.status_code == 200 and f'data-referral="{fid}"' in page.text
    assert 'href="/manifests/referrals"' in page.text  # the nav link
    url = f"/manifests/referrals/{fid}/decision"
    r = c.post(url, data={"csrf": token, "action": "screening_clear", "reason": ""})
    assert r.status_code == 422
    assert 'data-error-for="reason"><' not in r.text and "Tick the box to confirm the decision." in r.text
    r = c.post(url, data={"csrf": token, "action": "do_not_load_lifted", "reason": "fine", "confirm": "on"})
    assert r.status_code == 422 and 'data-error-for="action"><' not in r.text  # not a screening decision
    r = c.post(url, data={"csrf": token, "action": "screening_clear", "reason": "X-ray clear", "confirm": "on"})
    assert flashes(r.text) == ["Decision on consignment COSU6123456780 recorded."]
    assert f'data-referral="{fid}"' not in r.text
    assert "X-ray clear" in c.get(f"/manifests/referrals/{fid}").text


def test_pages_speak_chinese_and_keep_carriers_apart(web):
    c, world = web
    fid = file(world, "COSU6123456780", "FAK", "M1")
    token = sign_in(c, "trader")
    assert c.get("/manifests/referrals").status_code == 403
    assert c.post(f"/manifests/referrals/{fid}/decision",
                  data={"csrf": token, "action": "information_escalated", "reason": "x", "confirm": "on"}
                  ).status_code == 403
    mine = c.get("/manifests/shipments/COSU6123456780")
    assert mine.status_code == 200 and 'data-filing="' in mine.text
    sign_in(c, "other")
    assert c.get("/manifests/shipments/COSU6123456780").status_code == 404
    sign_in(c, "analyst")  # analysts read the queue but do not decide
    page = c.get("/manifests/referrals", headers={"Accept-Language": "zh-CN"})
    assert "舱单风险布控处置" in page.text and "要求补充信息" in page.text
    referral = c.get(f"/manifests/referrals/{fid}", headers={"Accept-Language": "zh-CN"})
    assert referral.status_code == 200 and 'id="referral-decision"' not in referral.text


@pytest.mark.browser
def test_an_officer_decides_a_referral_and_it_leaves_the_queue(browser, site):
    b, page = browser, browser.page
    fid = file(site.world, "MSKU7654321", "DETONATOR CAPS", "BROWSER1")
    b.login("officer")
    page.click("[data-testid=nav-manifest-referrals]")
    row = page.locator(f"tr[data-referral='{fid}']")
    assert "Do not load" in row.inner_text()
    row.locator("a", has_text="MSKU7654321").click()
    page.check("input[name=action][value=do_not_load_confirmed]")
    page.fill("textarea[name=reason]", "Detonators are prohibited on this route")
    page.check("input[name=confirm]")
    page.click("[data-testid=decide]")
    page.wait_for_url("**/manifests/referrals")
    assert "Decision on consignment MSKU7654321 recorded." in page.inner_text("body")
    assert page.locator(f"tr[data-referral='{fid}']").count() == 0
    b.goto(f"/manifests/referrals/{fid}")
    assert "Do-not-load confirmed" in page.inner_text("[data-testid=referral-events]")
    b.shot("manifest-referral-decided")
    assert b.unexpected_errors() == []


def test_odd_ids_and_cursors_are_answered_not_crashed(web):
    c, world = web
    sign_in(c, "officer")
    assert c.get(f"/manifests/referrals/{10**30}").status_code == 422
    assert c.get("/manifests/referrals/12345").status_code == 404
    assert c.get(f"/manifests/referrals?after={10**30}&outcome=nonsense").status_code == 200
    assert c.get("/manifests/shipments/NOPE").status_code == 404
