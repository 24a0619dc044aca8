"""An officer's day in the web console, in chromium: decisions with reasons on held declarations, the
inspection form after a mistake, a parcel's risk reasons after a decision, a green declaration's history."""

from __future__ import annotations

import httpx
import pytest

from smartcustoms.audit.service import entries
from tests.web.test_parcels import PLATFORM, REASON, order_no, parcel_messages, save_cosmetics_rule

pytestmark = pytest.mark.browser


def decide(page, decision: str, reason_code: str, note: str = "", confirm: bool = False) -> None:
    """Fill and send one of the declaration page's decision forms."""
    form = page.locator(f"#decision-{decision}")
    form.locator("select[name=reason_code]").select_option(reason_code)
    if note:
        form.locator("textarea[name=reason]").fill(note)
    if confirm:
        form.locator("input[name=confirm]").check()
    form.locator("button[type=submit]").click()


def changes(page) -> list[str]:
    """The 'Change' column of the declaration's history, oldest first."""
    return page.locator("[data-testid=event-change]").all_inner_texts()


def audit_actions(site, no: str) -> list[tuple[str, dict]]:
    with site.world.platform.sessions() as s:
        return [(e.action, e.detail or {}) for e in entries(s, "declaration", no)]


def test_officer_detains_a_held_declaration_and_the_trader_reads_why(browser, site):
    b, page = browser, browser.page
    no = site.held[0]
    b.login("officer")
    b.goto(f"/declarations/{no}")
    offered = page.locator("form.decision").evaluate_all("fs => fs.map(f => f.dataset.decision)")
    # held on its lane: goods cannot be detained before an inspection has begun
    assert offered == ["release", "document_check", "scan", "physical", "request_documents"]
    decide(page, "physical", "goods_may_differ", "tiles look like porcelain slabs")
    page.wait_for_url(f"**/declarations/{no}#events")
    assert page.locator("[data-testid=status]").first.inner_text() == "under inspection"
    assert "ceramic tiles" in page.locator("[data-testid=reasons]").inner_text()  # the risk reasons stay
    decide(page, "detain", "ipr", "counterfeit brand marks on 40 boxes", confirm=True)
    page.wait_for_url(f"**/declarations/{no}#events")
    assert page.locator("[data-testid=status]").first.inner_text() == "detained"
    told = "Detained: suspected infringement of intellectual property rights — counterfeit brand marks on 40 boxes"
    assert page.locator("[data-testid=decision]").inner_text() == told
    assert page.locator("[data-testid=events] tbody tr").last.locator("td").last.inner_text() == told
    assert changes(page)[-2:] == ["lane red → under inspection", "under inspection → detained"]
    b.shot("officer-detained")
    assert [a for a, _ in audit_actions(site, no)] == ["declaration.detained", "declaration.inspection"]
    assert audit_actions(site, no)[0][1]["reason_code"] == "ipr"
    assert b.errors == []

    page.click("form[action='/logout'] button")
    b.login("trader")
    b.goto(f"/declarations/{no}")
    assert page.locator("[data-testid=status]").first.inner_text() == "detained"
    assert page.locator("[data-testid=decision]").inner_text() == told
    text = page.locator("main").inner_text()
    assert "Held for a physical inspection" not in text  # no longer "held": it is detained
    assert "porcelain" not in text and "goods may differ" not in text  # why a check was ordered stays inside
    assert "Sent for a physical inspection" in page.locator("[data-testid=events]").inner_text()
    assert page.locator("#decisions").count() == 0
    b.shot("trader-detained")


def test_officer_requests_documents_and_the_trader_reads_which(browser, site):
    b, page = browser, browser.page
    no = site.held[1]
    b.login("officer")
    b.goto(f"/declarations/{no}")
    decide(page, "request_documents", "origin_certificate", "Form E for the tiles, issued in Viet Nam")
    page.wait_for_url(f"**/declarations/{no}#events")
    assert page.locator("[data-testid=status]").first.inner_text() == "under inspection"
    b.goto("/queue")  # still held, and the queue says what is awaited
    row = page.locator("[data-testid=queue] tbody tr", has=page.locator(f"a[href='/declarations/{no}']"))
    assert row.locator("[data-testid=queue-decision]").inner_text() == "Documents requested"
    page.click("form[action='/logout'] button")
    b.login("trader")
    b.goto(f"/declarations/{no}")
    assert page.locator("[data-testid=decision]").inner_text() == (
        "Documents requested: certificate of origin — Form E for the tiles, issued in Viet Nam")
    assert b.errors == []


def test_officer_releases_after_a_document_check_and_a_refused_form_keeps_its_values(browser, site):
    b, page = browser, browser.page
    no = site.held[2]
    b.login("officer")
    b.goto(f"/declarations/{no}")
    decide(page, "document_check", "valuation_doubt")
    page.wait_for_url(f"**/declarations/{no}#events")
    # a release sent without a reason (the browser's own check taken away, as an old browser would)
    form = page.locator("#decision-release")
    form.locator("select[name=reason_code]").evaluate("s => s.removeAttribute('required')")
    form.locator("textarea[name=reason]").fill("invoice and contract agree with the declared value")
    form.locator("input[name=confirm]").check()
    form.locator("button[type=submit]").click()
    page.wait_for_url(f"**/declarations/{no}#decision-release")
    form = page.locator("#decision-release")
    assert form.locator("[data-error-for=reason_code]").inner_text() == "choose a reason"
    assert form.locator("textarea[name=reason]").input_value() == "invoice and contract agree with the declared value"
    assert form.locator("input[name=confirm]").is_checked()
    assert page.locator("[data-testid=status]").first.inner_text() == "under inspection"  # nothing recorded
    form.locator("select[name=reason_code]").select_option("documents_in_order")
    form.locator("button[type=submit]").click()
    page.wait_for_url(f"**/declarations/{no}#events")
    assert page.locator("[data-testid=status]").first.inner_text() == "released"
    assert changes(page)[-2:] == ["lane red → under inspection", "under inspection → released"]
    history = page.locator("[data-testid=events]").inner_text()
    assert "Released: documents in order — invoice and contract agree" in history
    assert page.locator("#decisions").count() == 0  # released: nothing more to decide
    assert [a for a, _ in audit_actions(site, no)] == ["declaration.released", "declaration.inspection"]
    assert b.errors == []


def test_the_inspection_form_keeps_what_was_entered_after_a_validation_error(browser, site):
    b, page = browser, browser.page
    no = site.held[3]
    b.login("officer")
    b.goto(f"/declarations/{no}")
    page.check("input[name=outcome][value=offence]")
    page.select_option("select[name=offence_type]", "undervaluation")
    page.check("input[name=critical]")
    page.fill("input[name=duty_recovered]", "12,5O")  # a letter O for a zero
    page.fill("textarea[name=notes]", "second invoice found in the container")
    page.click("#inspection-form button[type=submit]")
    page.wait_for_url(f"**/declarations/{no}#inspection-form")
    assert page.locator("[data-error-for=duty_recovered]").inner_text() != ""
    assert page.locator("input[name=outcome][value=offence]").is_checked()
    assert page.locator("select[name=offence_type]").input_value() == "undervaluation"
    assert page.locator("input[name=critical]").is_checked()
    assert page.locator("input[name=duty_recovered]").input_value() == "12,5O"
    assert page.locator("textarea[name=notes]").input_value() == "second invoice found in the container"
    assert page.locator("[data-testid=status]").first.inner_text() == "held"  # nothing was recorded
    page.fill("input[name=duty_recovered]", "12.50")  # one correction, then the result goes in as meant
    page.click("#inspection-form button[type=submit]")
    page.wait_for_url(f"**/declarations/{no}#events")
    assert page.locator("[data-testid=status]").first.inner_text() == "detained"
    result = page.locator("[data-testid=inspection-result]").inner_text()
    assert "undervaluation" in result and "12.50" in result and "second invoice" in result
    assert b.errors == []


def test_a_green_declaration_reads_released_without_inspection(browser, site):
    b, page = browser, browser.page
    no = site.released[0]
    for user in ("officer", "trader"):
        b.login(user)
        b.goto(f"/declarations/{no}")
        assert changes(page)[-2:] == ["assessed → lane green: released without inspection", "lane green → released"]
        assert "held" not in " ".join(changes(page))
        page.click("form[action='/logout'] button")


def test_a_parcel_keeps_its_risk_reasons_after_an_officers_decision(browser, site):
    b, page = browser, browser.page
    save_cosmetics_rule(site.world.platform)
    n = 4
    r = httpx.post(f"{site.url}/api/v1/cbec/messages", content=parcel_messages(n), timeout=30,
                   headers={"X-API-Key": site.world.keys["trader"], "Content-Type": "application/xml"})
    assert r.status_code == 200, r.text
    b.login("officer")
    url = f"/parcels/{PLATFORM}/{order_no(n)}"
    b.goto(url)
    assert page.locator("[data-testid=reasons] li").all_inner_texts() == [REASON]
    page.check("#parcel-decision input[name=status][value='800']")
    page.fill("#parcel-decision textarea[name=note]", "creams are genuine, invoice from the brand owner")
    page.click("#parcel-decision button[type=submit]")
    page.wait_for_url(f"**{url}#events")
    assert page.locator("[data-testid=reasons] li").all_inner_texts() == [REASON]  # still why it was held
    assert "creams are genuine" in page.locator("[data-testid=parcel-note]").inner_text()
    assert "officer" in page.locator("[data-testid=parcel-decision]").inner_text()
    b.goto("/parcels?status=800")
    row = page.locator(f"[data-testid=parcels] tbody tr[data-order='{order_no(n)}']")
    assert row.locator("[data-testid=parcel-reasons] li").all_inner_texts() == [REASON]  # not '—'
    assert "creams are genuine" in row.locator("[data-testid=parcel-note]").inner_text()
    assert b.errors == []
