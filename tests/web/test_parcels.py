"""The officers' page of held CBEC parcels: the queue, a parcel with its history, recording a result."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from smartcustoms.core.db import transaction
from tests.support import SYSTEM

CEB = Path(__file__).resolve().parents[1] / "data" / "ceb"
PLATFORM = "1101980001"
REASON = "mandatory hold, rule 'Cosmetics alert' (physical inspection): counterfeit creams"


def order_no(n: int) -> str:
    return f"ORD2026031500000{n}"


def parcel_messages(n: int, gcode: str | None = None) -> bytes:
    """The four sample documents (order, payment, waybill, inventory) as parcel ``n`` (1-9): its own order
    number, waybill, payment and guids; ``gcode`` replaces the goods' HS code on the inventory."""
    out = []
    for name in ("order_311", "payment_411", "waybill_511", "inventory_621"):
        xml = (CEB / f"{name}.xml").read_bytes()
        xml = (xml.replace(b"ORD20260315000001", order_no(n).encode())
               .replace(b"PAY20260315000001", f"PAY2026031500000{n}".encode())
               .replace(b"SF1234567890", f"SF123456789{n}".encode())
               .replace(b"-0A0000000", f"-0A000000{n}".encode())
               .replace(b"9A1C2B3D-0001-", f"9A1C2B3D-000{n}-".encode()))
        if gcode and name.startswith("inventory"):
            xml = xml.replace(b"<ceb:gcode>3304990099</ceb:gcode>", f"<ceb:gcode>{gcode}</ceb:gcode>".encode())
        out.append(xml)
    return b"".join(out)


def save_cosmetics_rule(platform) -> None:
    """A mandatory rule that holds face creams (HS 3304) for physical inspection."""
    from smartcustoms.risk.targeting import service as risk_service
    from smartcustoms.risk.targeting.schemas import RuleIn

    with transaction(platform.sessions) as s:
        risk_service.save_rule(s, RuleIn(name="Cosmetics alert", description="counterfeit creams", lane="red",
                                         mandatory=True,
                                         criteria=[{"field": "hs_code", "op": "prefix", "value": ["3304"]}]),
                               SYSTEM)
    platform.rules_changed()


# -- in the browser -------------------------------------------------------------------------------------
@pytest.mark.browser
def test_officer_works_a_held_parcel_from_the_queue_to_anti_smuggling(browser, site):
    b, page = browser, browser.page
    save_cosmetics_rule(site.world.platform)
    # parcels 1 and 3 are face cream (held by the rule), parcel 2 shampoo (released)
    statuses = {}
    for n, gcode in ((1, None), (2, "3305100000"), (3, None)):
        r = httpx.post(f"{site.url}/api/v1/cbec/messages", content=parcel_messages(n, gcode), timeout=30,
                       headers={"X-API-Key": site.world.keys["trader"], "Content-Type": "application/xml"})
        assert r.status_code == 200, r.text
        statuses[n] = [int(x["returnStatus"]) for x in r.json()["receipts"] if x["type"] == "CEB622"][-1]
    assert statuses == {1: 500, 2: 800, 3: 500}

    b.login("officer")
    page.click("header nav a[href='/parcels']")
    page.wait_for_url("**/parcels")
    rows = page.locator("[data-testid=parcels] tbody tr")
    assert [rows.nth(i).get_attribute("data-order") for i in range(rows.count())] == [order_no(1), order_no(3)]
    first = rows.first
    assert first.locator("[data-testid=parcel-reasons] li").all_inner_texts() == [REASON]
    assert first.locator("[data-testid=parcel-status]").inner_text() == "500 inspection"
    assert "1101960101" in first.inner_text() and "310.00" in first.inner_text()  # enterprise, dutiable value
    assert page.locator("[data-testid=parcels-total]").inner_text() == "2"
    b.shot("officer-parcels")

    first.locator(f"a:has-text('{order_no(1)}')").click()
    page.wait_for_url(f"**/parcels/{PLATFORM}/{order_no(1)}")
    assert page.locator("[data-testid=reasons]").inner_text() == REASON
    offered = page.locator("#parcel-decision input[name=status]")
    assert [offered.nth(i).get_attribute("value") for i in range(offered.count())] == [
        "800", "501", "502", "503", "599", "700"]  # what 500 inspection may become
    page.check("#parcel-decision input[name=status][value='502']")
    page.fill("#parcel-decision textarea[name=note]", "fake Yuki cream, 2 jars seized")
    b.shot("officer-parcel")
    page.click("#parcel-decision button[type=submit]")
    page.wait_for_url(f"**/parcels/{PLATFORM}/{order_no(1)}#events")
    assert "502 detained, passed to anti-smuggling recorded" in page.locator(".flash.ok").inner_text()
    assert page.locator("[data-testid=parcel-status]").first.inner_text() == "502 detained, passed to anti-smuggling"
    events = page.locator("[data-testid=events] tbody tr")
    assert events.count() == 2
    assert "system" in events.nth(0).inner_text() and REASON in events.nth(0).inner_text()
    second = events.nth(1).inner_text()
    assert "officer" in second and "502" in second and "fake Yuki cream, 2 jars seized" in second
    assert [offered.nth(i).get_attribute("value") for i in range(offered.count())] == ["599", "700"]

    b.goto("/parcels")  # it left the held queue; parcel 3 waits
    assert [rows.nth(i).get_attribute("data-order") for i in range(rows.count())] == [order_no(3)]
    b.goto("/parcels?status=decided")  # latest decision first: the officer's, then the release
    assert [rows.nth(i).get_attribute("data-order") for i in range(rows.count())] == [order_no(1), order_no(2)]
    # why it was held stays; the officer's note is shown apart (issue #18)
    assert rows.first.locator("[data-testid=parcel-reasons]").inner_text() == REASON
    assert "fake Yuki cream, 2 jars seized" in rows.first.locator("[data-testid=parcel-note]").inner_text()
    page.click("header a.lang")  # 中文 (the filter stays: the decided parcels, latest first)
    page.wait_for_load_state()
    assert page.locator("main h1").inner_text().startswith("挂起的跨境电商包裹")
    assert rows.first.locator("[data-testid=parcel-status]").inner_text() == "502 扣留移送缉私"
    assert b.errors == []


# -- over plain HTTP ----------------------------------------------------------------------------------
@pytest.fixture
def web(sqlite_world):
    """A test client of the app, with parcel 1 held (500) and parcel 2 released (800)."""
    from smartcustoms.web.app import create_app

    app = create_app(sqlite_world.platform)
    save_cosmetics_rule(sqlite_world.platform)
    with TestClient(app) as c:
        for n, gcode in ((1, None), (2, "3305100000")):
            r = c.post("/api/v1/cbec/messages", content=parcel_messages(n, gcode),
                       headers={"X-API-Key": sqlite_world.keys["trader"], "Content-Type": "application/xml"})
            assert r.status_code == 200
        try:
            yield c, sqlite_world
        finally:
            app.state.platform.close_cbec()


def sign_in(c: TestClient, username: str) -> str:
    """Sign ``username`` in; returns the session's anti-forgery token."""
    page = c.get("/login")
    token = re.search(r'name="csrf-token" content="([^"]+)"', page.text).group(1)
    r = c.post("/login", data={"username": username, "password": "correct horse", "csrf": token},
               follow_redirects=False)
    assert r.status_code == 303
    return re.search(r'name="csrf-token" content="([^"]+)"', c.get("/login").text).group(1)  # a new session


def status_of(c: TestClient, world, n: int) -> tuple[int, int]:
    """(status, number of events) of parcel ``n``, read through the API."""
    p = c.get(f"/api/v1/cbec/parcels/{PLATFORM}/{order_no(n)}", headers={"X-API-Key": world.keys["officer"]}).json()
    return p["status"], len(p["events"])


def flashes(html: str) -> list[str]:
    return re.findall(r'<p class="flash (?:ok|error)" role="status">([^<]*)</p>', html)


def test_traders_and_strangers_do_not_open_the_parcel_pages(web):
    c, _ = web
    r = c.get("/parcels", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login?next=/parcels"
    sign_in(c, "trader")
    assert c.get("/parcels").status_code == 403  # like /queue
    assert c.get(f"/parcels/{PLATFORM}/{order_no(1)}").status_code == 403
    assert 'href="/parcels"' not in c.get("/declarations").text  # and no link to them


def test_a_decision_needs_the_forms_token_and_an_officer(web):
    c, world = web
    token = sign_in(c, "officer")
    url = f"/parcels/{PLATFORM}/{order_no(1)}/decision"
    r = c.post(url, data={"status": "800", "note": "forged"}, follow_redirects=False)
    assert r.status_code == 403 and "the form has expired" in r.text
    r = c.post(url, data={"status": "800", "csrf": "not-the-token"}, follow_redirects=False)
    assert r.status_code == 403
    assert status_of(c, world, 1) == (500, 1)  # nothing recorded
    c.post("/logout", data={"csrf": token})
    analyst = sign_in(c, "analyst")  # analysts read the queue and the parcel, without the form
    page = c.get(f"/parcels/{PLATFORM}/{order_no(1)}")
    assert page.status_code == 200 and "counterfeit creams" in page.text and 'id="parcel-decision"' not in page.text
    assert c.post(url, data={"status": "800", "csrf": analyst}).status_code == 403
    assert status_of(c, world, 1) == (500, 1)


def test_refused_results_come_back_as_messages_not_errors(web):
    c, world = web
    token = sign_in(c, "officer")
    # 503 is not allowed for a released parcel: the CBEC writer refuses it (Conflict)
    r = c.post(f"/parcels/{PLATFORM}/{order_no(2)}/decision", data={"status": "503", "csrf": token})
    assert r.status_code == 200 and r.url.path == f"/parcels/{PLATFORM}/{order_no(2)}"
    assert flashes(r.text) == ["The result was not recorded: parcel status 800 cannot become 503"]
    assert status_of(c, world, 2) == (800, 1)
    # a form shown while the parcel was at 300 does not decide it now that it is at 500
    r = c.post(f"/parcels/{PLATFORM}/{order_no(1)}/decision",
               data={"status": "800", "from_status": "300", "csrf": token})
    assert "meanwhile become 500 inspection" in flashes(r.text)[0]
    # no such parcel (NotFound), and a status that is not an officer's result
    r = c.post(f"/parcels/{PLATFORM}/NOSUCHORDER/decision", data={"status": "800", "csrf": token})
    assert r.url.path == "/parcels" and flashes(r.text) == [
        f"The result was not recorded: no CBEC parcel for platform {PLATFORM} order NOSUCHORDER"]
    r = c.post(f"/parcels/{PLATFORM}/{order_no(1)}/decision", data={"status": "899", "csrf": token})
    assert flashes(r.text) == ["Choose one of the results offered for this parcel."]
    assert status_of(c, world, 1) == (500, 1)
    # and a result that is allowed is recorded, with the officer as its actor
    r = c.post(f"/parcels/{PLATFORM}/{order_no(1)}/decision",
               data={"status": "800", "from_status": "500", "note": "nothing found", "csrf": token})
    assert flashes(r.text) == [f"Parcel {order_no(1)}: 800 released recorded."]
    assert status_of(c, world, 1) == (800, 2)
    assert c.get(f"/parcels/{PLATFORM}/NOSUCHORDER").status_code == 404


def test_the_queue_pages_with_a_cursor(web):
    c, world = web
    sign_in(c, "officer")
    from smartcustoms.cbec import service as cbec

    platform = world.platform
    for n in range(3, 6):  # three more held parcels: 4 in all
        c.post("/api/v1/cbec/messages", content=parcel_messages(n),
               headers={"X-API-Key": world.keys["trader"], "Content-Type": "application/xml"})
    seen, after = [], None
    with platform.sessions() as s:
        while True:
            q = cbec.parcel_queue(s, after=after, limit=3)
            seen += [r["order_no"] for r in q.rows]
            if q.next_after is None:
                break
            after = q.next_after
        assert q.counts == {300: 0, 500: 4}
        decided = cbec.parcel_queue(s, cbec.PARCEL_OUTCOMES, after="mangled")
    assert seen == [order_no(n) for n in (1, 3, 4, 5)]
    assert [r["order_no"] for r in decided.rows] == [order_no(2)]
    page = c.get("/parcels?status=500")
    assert page.text.count('data-testid="parcel-status"') == 4 and "parcels-next" not in page.text


def test_the_queue_pages_at_the_chosen_size_and_keeps_it(web, monkeypatch):
    from smartcustoms.declarations import listing

    c, world = web
    sign_in(c, "officer")
    for n in range(3, 6):  # 4 held parcels in all
        c.post("/api/v1/cbec/messages", content=parcel_messages(n),
               headers={"X-API-Key": world.keys["trader"], "Content-Type": "application/xml"})
    monkeypatch.setattr(listing, "PAGE_SIZES", (3, 25, 50, 100, 200))  # a size below the four held
    page = c.get("/parcels?status=500&size=3").text
    assert page.count('data-testid="parcel-status"') == 3 and '<option value="3" selected>' in page
    nxt = re.search(r'href="([^"]+)" data-testid="parcels-next"', page).group(1).replace("&amp;", "&")
    assert "size=3" in nxt and "status=500" in nxt
    assert c.get("/parcels" + nxt).text.count('data-testid="parcel-status"') == 1
    assert c.get("/parcels?status=500&size=7").text.count('data-testid="parcel-status"') == 4  # not offered: 100
