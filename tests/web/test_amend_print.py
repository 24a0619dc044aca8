"""A trader amends (and sees what changed) or cancels a declaration in the web; release notes and tax
assessment notices print from the record; the tax payment status follows the payments (issue #18, items 3, 6)."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest

from smartcustoms.audit.service import entries
from smartcustoms.declarations.schemas import DeclarationIn
from tests.support import SYSTEM, declaration_payload

pytestmark = pytest.mark.browser
expect = pytest.importorskip("playwright.sync_api").expect


def _lodge(site, **overrides) -> str:
    """A declaration lodged for the site's trader (tiles are held red by the site's rule; laptops go green)."""
    [res] = site.world.platform.declarations.lodge_many(SYSTEM, [DeclarationIn.model_validate(
        declaration_payload(**overrides))])
    assert res.errors == [], res.errors
    return res.declaration_no


def _released(site) -> str:
    items = [{"hs_code": "8471300000", "description": "Laptop computers", "quantity": "2", "unit": "035",
              "net_mass_kg": "100", "unit_price": "1500", "total_value": "3000.00", "origin_country": "VN"}]
    no = _lodge(site, total_value="3000.00", net_mass_kg="100", gross_mass_kg="110", items=items)
    declarations = site.world.platform.declarations
    if declarations.get(SYSTEM, no).status != "released":  # held by the model or for exploration: an officer releases
        declarations.decide(site.world.principals["officer"], no, None, "", decision="release",
                            reason_code="documents_in_order")
    assert declarations.get(SYSTEM, no).status == "released"
    return no


def _cny(text: str) -> Decimal:
    return Decimal(text.removesuffix(" CNY").replace(",", ""))


def error(page, name: str):
    return page.locator(f"[data-error-for='{name}']")


def test_trader_amends_a_held_declaration_in_one_round_of_errors_and_reads_the_diff(browser, site):
    b, page = browser, browser.page
    no = _lodge(site)
    b.login("trader")
    b.goto(f"/declarations/{no}")
    with page.expect_navigation():
        page.click("[data-testid=amend]")
    assert page.url.endswith(f"/declarations/{no}/amend")
    # the lodging form, filled in with the current version
    assert page.input_value("input[name='items[0].hs_code']") == "6907220000"
    assert page.input_value("input[name='items[0].quantity']") == "18000"
    assert page.input_value("input[name='items[1].description']") == "Glazed ceramic floor tiles"
    assert page.input_value("input[name=seller_name]") == "Cerámica Levante S.L."
    # a bad HS code, a blank description and no reason: every error at once, the entries kept
    page.evaluate("document.getElementById('lodge').noValidate = true")
    page.fill("input[name='items[0].hs_code']", "9999990000")
    page.fill("input[name='items[1].description']", "")
    with page.expect_navigation():
        page.evaluate("document.getElementById('lodge').submit()")  # a plain POST, bypassing the script
    assert "not a valid HS 2022 subheading" in error(page, "items[0].hs_code").inner_text()
    assert error(page, "items[1].description").inner_text() != ""
    assert error(page, "amendment_reason").inner_text() == "give the reason for the amendment"
    assert page.input_value("input[name='items[0].hs_code']") == "9999990000"
    # corrected: the seller renamed, the floor tiles removed, with a reason
    page.fill("input[name='items[0].hs_code']", "6907220000")
    page.fill("input[name=seller_name]", "Levante Export S.L.")
    page.locator("[data-item='1'] [data-remove-item]").click()
    expect(page.locator("input[name=total_value]")).to_have_value("9000.00")
    page.fill("textarea[name=amendment_reason]", "floor tiles were not shipped")
    with page.expect_navigation():
        page.click("#lodge-submit")
    assert page.url.endswith(f"/declarations/{no}#versions"), page.url
    assert f"Declaration {no} amended" in page.locator(".flash").inner_text()
    d = site.world.platform.declarations.get(SYSTEM, no)
    assert (d.version, d.status, d.lane, len(d.items)) == (2, "lane_assigned", "red", 1)  # still held, never released
    version = page.locator("[data-testid=version][data-version='2']")
    assert "floor tiles were not shipped" in version.locator("[data-testid=version-reason]").inner_text()
    seller = version.locator("[data-testid=change][data-field=seller_name]")
    assert seller.locator("td.old").inner_text() == "Cerámica Levante S.L."
    assert seller.locator("td.new").inner_text() == "Levante Export S.L."
    total = version.locator("[data-testid=change][data-field=total_value]")
    assert (total.locator("td.old").inner_text(), total.locator("td.new").inner_text()) == ("13,000.00", "9,000.00")
    assert "Glazed ceramic floor tiles" in version.locator("[data-testid=item-removed]").inner_text()
    assert version.locator("[data-testid=change][data-field=model_spec]").count() == 0  # what was not touched stays
    assert version.locator("[data-testid=change][data-field=tax_total_cny]").count() == 1  # taxes assessed again
    b.shot("trader-amended-diff")
    assert b.unexpected_errors(422) == []


def test_trader_cancels_after_confirming_with_a_reason(browser, site):
    b, page = browser, browser.page
    no = _lodge(site)
    b.login("trader")
    b.goto(f"/declarations/{no}")
    with page.expect_navigation():
        page.click("[data-testid=cancel]")
    assert f"Cancel declaration {no}?" in page.locator("[data-testid=confirm-question]").inner_text()
    page.evaluate("document.getElementById('cancel-form').noValidate = true")
    with page.expect_navigation():
        page.click("[data-testid=confirm-yes]")  # no reason, not confirmed: both said at once, nothing cancelled
    assert error(page, "reason").inner_text() == "give the reason for cancelling"
    assert error(page, "confirm").inner_text() == "tick the box to confirm the cancellation"
    assert site.world.platform.declarations.get(SYSTEM, no).status == "lane_assigned"
    page.fill("textarea[name=reason]", "buyer withdrew the order")
    page.check("input[name=confirm]")
    with page.expect_navigation():
        page.click("[data-testid=confirm-yes]")
    assert page.locator("[data-testid=status]").first.inner_text() == "cancelled"
    assert "buyer withdrew the order" in page.locator("[data-testid=events]").inner_text()
    assert page.locator("[data-testid=amend]").count() == 0 and page.locator("[data-testid=cancel]").count() == 0
    with site.world.platform.sessions() as s:
        [entry] = [e for e in entries(s, "declaration", no) if e.action == "declaration.cancel"]
    assert entry.actor == "trader" and entry.detail["reason"] == "buyer withdrew the order"
    assert b.unexpected_errors(422) == []


def test_amending_a_released_declaration_is_refused_with_a_clear_message(browser, site):
    b, page = browser, browser.page
    no = _released(site)
    b.login("trader")
    b.goto(f"/declarations/{no}")
    assert page.locator("[data-testid=amend]").count() == 0
    assert "can no longer be amended" in page.locator("[data-testid=amend-closed]").inner_text()
    b.goto(f"/declarations/{no}/amend")  # straight to the form: back to the declaration, with the reason
    assert page.url.endswith(f"/declarations/{no}")
    flash = page.locator(".flash.error").inner_text()
    assert f"Declaration {no} is released: it can no longer be amended" in flash
    b.goto(f"/declarations/{no}/cancel")
    assert "can no longer be cancelled" in page.locator(".flash.error").inner_text()
    assert site.world.platform.declarations.get(SYSTEM, no).version == 1
    assert b.errors == []


def test_release_note_prints_the_released_declaration(browser, site):
    b, page = browser, browser.page
    no = _released(site)
    events = site.world.platform.declarations.events(SYSTEM, no)
    released_at = next(e.at for e in events if e.to_status == "released")
    b.login("trader")
    b.goto(f"/declarations/{no}")
    with page.expect_navigation():
        page.click("[data-testid=release-note-link]")
    note = page.locator("[data-testid=release-note]")
    assert note.locator("[data-testid=declaration-no]").inner_text() == no
    assert note.locator("[data-testid=released-at]").inner_text() == released_at.strftime("%Y-%m-%d %H:%M:%S") + " UTC"
    assert note.locator("[data-testid=office]").inner_text().startswith("2248")
    assert "Shanghai Example Trading Co., Ltd." in note.locator("[data-testid=importer]").inner_text()
    lane = site.world.platform.declarations.get(SYSTEM, no).lane
    lane_code = getattr(lane, "value", lane)  # the lane's code, shown with its name ("red · physical")
    assert note.locator("[data-testid=release-lane]").inner_text().split(" · ")[0] == lane_code
    assert "Laptop computers" in note.locator("[data-testid=goods]").inner_text()
    assert note.locator("[data-testid=total-value]").inner_text().startswith("3,000.00 USD")
    # printed: no navigation, the document alone
    page.emulate_media(media="print")
    assert not page.locator("header.top").is_visible() and not page.locator(".print-tools").is_visible()
    assert note.is_visible()
    page.emulate_media(media="screen")
    b.shot("release-note")
    # a held declaration has no release note yet
    b.goto(f"/declarations/{_lodge(site)}/release-note")
    assert "a release note exists only once customs have released the goods" in page.locator("main").inner_text()
    assert b.unexpected_errors(409) == []


def test_tax_notice_shows_the_assessed_figures_and_payments_recorded_by_an_officer(browser, site):
    b, page = browser, browser.page
    platform = site.world.platform
    no = _lodge(site)
    d = platform.declarations.get(SYSTEM, no)
    b.login("trader")
    b.goto(f"/declarations/{no}")
    assert page.locator("[data-testid=payment-status]").inner_text() == "unpaid"
    with page.expect_navigation():
        page.click("[data-testid=tax-notice-link]")
    notice = page.locator("[data-testid=tax-notice]")
    rows = notice.locator("[data-testid=tax-item]")
    assert rows.count() == len(d.items) == 2
    for row, item in zip(rows.all(), d.items, strict=True):
        assert _cny(row.locator("[data-testid=item-duty]").inner_text()) == item.duty_cny
        assert _cny(row.locator("[data-testid=item-vat]").inner_text()) == item.vat_cny
        assert _cny(row.locator("[data-testid=item-consumption]").inner_text()) == item.consumption_tax_cny
        assert _cny(row.locator("[data-testid=item-total]").inner_text()) == (
            item.duty_cny + item.vat_cny + item.consumption_tax_cny)
    assert _cny(notice.locator("[data-testid=total-duty]").inner_text()) == d.tax.duty_cny
    assert _cny(notice.locator("[data-testid=total-vat]").inner_text()) == d.tax.vat_cny
    assert _cny(notice.locator("[data-testid=total-tax]").inner_text()) == d.tax.tax_total_cny
    assert _cny(notice.locator("[data-testid=due]").inner_text()) == d.tax.tax_total_cny
    notice_at = notice.locator("[data-testid=notice-at]").inner_text()
    due_by = notice.locator("[data-testid=due-by]").inner_text()
    assert due_by == (d.lodged_at + timedelta(days=15)).strftime("%Y-%m-%d") and notice_at == f"{d.lodged_at:%Y-%m-%d}"
    assert notice.locator("[data-testid=payment-status]").inner_text() == "unpaid"
    # an officer records the bank's payment of part of it; the trader's pages follow
    b.login("officer")
    b.goto(f"/declarations/{no}")
    page.click("details.record-payment summary")
    page.evaluate("document.getElementById('payment-form').noValidate = true")
    page.fill("input[name=amount_cny]", "abc")
    with page.expect_navigation():
        page.click("#payment-form button[type=submit]")
    assert error(page, "amount_cny").inner_text() != ""
    assert page.input_value("input[name=amount_cny]") == "abc"  # kept as typed
    page.fill("input[name=amount_cny]", "1000")
    page.fill("input[name=reference]", "BOC-20261203-0042")
    with page.expect_navigation():
        page.click("#payment-form button[type=submit]")
    assert page.locator("[data-testid=payment-status]").inner_text() == "partly paid"
    b.shot("officer-tax-payment")
    b.login("trader")
    b.goto(f"/declarations/{no}/tax-notice")
    assert _cny(page.locator("[data-testid=paid]").inner_text()) == Decimal("1000")
    assert _cny(page.locator("[data-testid=outstanding]").inner_text()) == d.tax.tax_total_cny - 1000
    assert "BOC-20261203-0042" in page.locator("[data-testid=payments]").inner_text()
    page.emulate_media(media="print")
    assert not page.locator("header.top").is_visible()
    page.emulate_media(media="screen")
    b.shot("tax-notice")
    with platform.sessions() as s:
        assert any(e.action == "declaration.tax_paid" for e in entries(s, "declaration", no))
    assert b.unexpected_errors() == []


def test_another_enterprise_gets_404_for_every_page_of_a_declaration(browser, site):
    b, page = browser, browser.page
    held, released = _lodge(site), _released(site)
    b.login("other")
    for path in (f"/declarations/{held}/amend", f"/declarations/{held}/cancel", f"/declarations/{held}/tax-notice",
                 f"/declarations/{released}/release-note", f"/declarations/{released}/tax-notice"):
        response = page.goto(f"{site.url}{path}")
        assert response.status == 404, path
    # nor can it post an amendment or a cancellation (the anti-forgery token is its own session's)
    token = page.locator("meta[name=csrf-token]").get_attribute("content")
    r = page.request.post(f"{site.url}/declarations/{held}/cancel",
                          form={"csrf": token, "reason": "x", "confirm": "on"})
    assert r.status == 404
    assert site.world.platform.declarations.get(SYSTEM, held).status == "lane_assigned"
    # customs neither amend nor cancel in the trader's forms; an analyst does not record payments
    b.login("officer")
    assert page.goto(f"{site.url}/declarations/{held}/amend").status == 403
    b.login("analyst")
    token = page.locator("meta[name=csrf-token]").get_attribute("content")
    r = page.request.post(f"{site.url}/declarations/{held}/payments",
                          form={"csrf": token, "amount_cny": "1", "reference": "X-1"})
    assert r.status == 403


def test_the_documents_read_in_chinese(browser, site):
    b, page = browser, browser.page
    no = _lodge(site)
    b.login("trader")
    b.goto(f"/lang/zh?next=/declarations/{no}/tax-notice")
    text = page.locator("[data-testid=tax-notice]").inner_text()
    assert "税款缴纳通知书" in text and "未缴纳" in text and "滞纳金" in text
    b.goto(f"/declarations/{no}/amend")
    assert page.locator("h1").inner_text() == f"修改报关单 {no}"
    assert re.search(r"[A-Za-z]{4,} [a-z]{4,}", page.locator("[data-testid=amend-help]").inner_text()) is None
    b.goto("/lang/en?next=/declarations")
