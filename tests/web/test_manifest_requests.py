"""The carrier's requests for information: the list, the notice that leads there, the answer form; the officer
then reads the answer on the referral page."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from smartcustoms.simulate.manifests import Cons, Item, message
from tests.web.test_parcels import flashes, sign_in

LOADING = datetime.now() + timedelta(days=3)


def request_for_information(world, doc: str, message_id: str) -> int:
    """The world's carrier ("trader") files one vague consignment: customs asks for information; its filing id."""
    answers = world.platform.manifests.ingest(
        message([Cons(doc=doc, loading_at=LOADING, items=[Item(description="FAK")])], message_id=message_id),
        world.importer, world.principals["trader"])
    assert answers[0].consignments[0].outcome.value == "request_for_information", answers
    return next(r.id for r in world.platform.manifests.referrals() if r.transport_document_no == doc)


@pytest.fixture
def web(sqlite_world):
    from smartcustoms.web.app import create_app

    with TestClient(create_app(sqlite_world.platform)) as c:
        yield c, sqlite_world


def test_the_notice_leads_to_the_form_which_keeps_the_answer_on_error(web):
    c, world = web
    fid = request_for_information(world, "COSU6123456780", "M1")
    token = sign_in(c, "trader")
    box = c.get("/inbox")
    notice = re.search(r'data-notice="(\d+)" data-code="manifest.referred"', box.text)
    assert notice and "Consignment COSU6123456780: Request for information" in box.text
    opened = c.post(f"/inbox/{notice.group(1)}/open", data={"csrf": token}, follow_redirects=False)
    assert opened.status_code == 303 and opened.headers["location"] == f"/manifests/requests/{fid}"
    listing = c.get("/manifests/requests")
    assert 'data-testid="nav-information-requests"' in listing.text and f'data-request="{fid}"' in listing.text
    url = f"/manifests/requests/{fid}/answer"
    assert c.post(url, data={"answer": "no token"}).status_code == 403
    r = c.post(url, data={"csrf": token, "answer": "  "})
    assert r.status_code == 422 and 'data-error-for="answer"><' not in r.text
    long = "gearbox housings " * 250  # 4,250 characters
    r = c.post(url, data={"csrf": token, "answer": long})
    assert r.status_code == 422 and 'data-error-for="answer"><' not in r.text and long.strip() in r.text
    r = c.post(url, data={"csrf": token, "answer": "12 pallets of gearbox housings, HS 848340"})
    assert flashes(r.text) == ["Your answer on consignment COSU6123456780 was sent to customs."]
    assert 'data-testid="answered"' in r.text  # still open: the officer decides next
    page = c.get(f"/manifests/requests/{fid}")
    assert "12 pallets of gearbox housings" in page.text and 'id="information-answer"' in page.text
    sign_in(c, "officer")
    assert "12 pallets of gearbox housings, HS 848340" in c.get(f"/manifests/referrals/{fid}").text


def test_only_the_filing_carrier_answers_and_the_page_speaks_chinese(web):
    c, world = web
    fid = request_for_information(world, "COSU6123456780", "M1")
    token = sign_in(c, "other")
    assert c.get(f"/manifests/requests/{fid}").status_code == 404
    assert c.post(f"/manifests/requests/{fid}/answer", data={"csrf": token, "answer": "not mine"}).status_code == 404
    assert f'data-request="{fid}"' not in c.get("/manifests/requests").text
    sign_in(c, "officer")
    assert c.get("/manifests/requests").status_code == 403
    c.post(f"/manifests/referrals/{fid}/decision", data={"csrf": sign_in(c, "officer"), "confirm": "on",
                                                         "action": "information_escalated", "reason": "no answer"})
    sign_in(c, "trader")
    zh = {"Accept-Language": "zh-CN"}
    assert "没有待答复的补充信息要求" in c.get("/manifests/requests", headers=zh).text  # escalated: not open any more
    page = c.get(f"/manifests/requests/{fid}", headers=zh)
    assert page.status_code == 200 and 'id="information-answer"' not in page.text and "无需答复" in page.text
    assert "舱单布控已处置" in c.get("/inbox", headers=zh).text
    assert c.get(f"/manifests/requests/{10**30}").status_code == 422


@pytest.mark.browser
def test_a_request_reaches_the_carrier_who_answers_and_the_officer_reads_it(browser, site):
    b, page = browser, browser.page
    fid = request_for_information(site.world, "MSKU7654322", "BROWSER-RFI")
    b.login("trader")
    page.click("[data-testid=nav-inbox]")
    row = page.locator("tr[data-code='manifest.referred']", has_text="MSKU7654322")
    assert "Request for information" in row.inner_text()
    row.locator("[data-testid=open]").click()
    page.wait_for_url(f"**/manifests/requests/{fid}")
    assert page.inner_text("[data-testid=request-reasons]").strip()
    page.fill("textarea[name=answer]", "Twelve pallets of gearbox housings for Shanghai Huadong Machinery")
    page.click("[data-testid=send-answer]")
    page.wait_for_url("**/manifests/requests")
    assert "Your answer on consignment MSKU7654322 was sent to customs." in page.inner_text("body")
    b.shot("manifest-information-request")
    b.login("officer")
    b.goto(f"/manifests/referrals/{fid}")
    assert "Twelve pallets of gearbox housings" in page.inner_text("[data-testid=referral-events]")
    assert b.unexpected_errors() == []
