"""The web pages in a real browser: trader portal, officer console, analyst dashboard, admin."""

from __future__ import annotations

import json
import re

import pytest

from tests.support import declaration_payload

pytestmark = pytest.mark.browser


def hits(b, mechanism: str) -> tuple[int, int]:
    """(inspected, hits) of a mechanism in the dashboard's hit-rate table."""
    b.goto("/dashboard")
    page = b.page
    inspected = page.locator(f"[data-testid=inspected-{mechanism}]")
    if not inspected.count():
        return 0, 0
    return int(inspected.inner_text()), int(page.locator(f"[data-testid=hits-{mechanism}]").inner_text())


def test_trader_lodges_through_the_form_sees_the_hs_error_then_the_lane(browser):
    b, page = browser, browser.page
    b.login("trader")
    b.goto("/declarations/new")
    page.fill("input[name=seller_name]", "Cerámica Levante S.L.")
    page.fill("input[name=departure_country]", "ES")
    page.fill("input[name=origin_country]", "ES")
    page.select_option("select[name=office_code]", "2248")
    page.fill("input[name=gross_mass_kg]", "2100")
    page.fill("input[name='items[0].hs_code']", "9999990000")
    page.fill("input[name='items[0].description']", "Glazed ceramic wall tiles")
    page.fill("input[name='items[0].quantity']", "2000")
    page.fill("input[name='items[0].net_mass_kg']", "2000")
    page.fill("input[name='items[0].unit_price']", "2")
    page.fill("input[name='items[0].origin_country']", "ES")
    hs_error = page.locator("[data-error-for='items[0].hs_code']")
    hs_error.filter(has_text="not a valid HS 2022 subheading").wait_for()  # validated as it was typed
    assert page.input_value("input[name=total_value]") == "4000.00"  # quantity × unit price, summed
    b.shot("lodge-form-error")
    page.fill("input[name='items[0].hs_code']", "6907220000")
    page.locator("[data-hint-for='items[0].hs_code']").filter(has_text="Ceramic tiles").wait_for()
    assert hs_error.inner_text() == ""
    page.click("#lodge-submit")
    page.wait_for_url(re.compile(r"/declarations/2248\d{14}$"))
    assert "red" in page.locator("[data-testid=lane]").first.get_attribute("class")
    assert page.locator("[data-testid=status]").first.inner_text() == "held"
    reasons = page.locator("[data-testid=reasons]").inner_text()
    assert "physical inspection" in reasons and "risk profile" not in reasons  # the lane, not how it was chosen
    assert "ceramic tiles" not in reasons  # the rule itself is for customs eyes only
    assert page.locator("[data-testid=score]").count() == 0
    b.shot("trader-declaration")
    b.goto("/declarations")
    assert page.locator("[data-testid=declarations] tbody tr").count() >= 5
    b.shot("trader-declarations")
    assert b.errors == []


def test_a_bad_hs_code_posted_without_javascript_is_marked_on_the_returned_form(browser, site):
    b, page = browser, browser.page
    b.login("trader")
    b.goto("/declarations/new")
    page.evaluate("document.getElementById('lodge').noValidate = true")
    page.fill("input[name='items[0].hs_code']", "123")
    with page.expect_navigation():
        page.evaluate("document.getElementById('lodge').submit()")  # a plain POST, bypassing the script
    assert page.locator("[data-error-for='items[0].hs_code']").inner_text() != ""
    assert page.locator("[data-testid=error-summary]").is_visible()
    assert page.input_value("input[name='items[0].hs_code']") == "123"  # what was typed comes back
    assert b.unexpected_errors(422) == []  # the form comes back as 422 Unprocessable Content


def test_officer_records_an_offence_and_the_dashboard_counts_it(browser, site):
    b, page = browser, browser.page
    no = site.held[0]
    b.login("officer")
    before = hits(b, "rule")
    b.shot("analyst-dashboard")
    b.goto("/queue?order=-risk_score")
    b.shot("officer-queue")
    page.click(f"a[href='/declarations/{no}']")
    page.wait_for_url(f"**/declarations/{no}")
    assert "ceramic tiles" in page.locator("[data-testid=reasons]").inner_text()  # officers see the rule
    assert page.locator("[data-testid=similar] tbody tr").count() >= 2  # the other tiles declarations
    assert "undervaluation" in page.locator("[data-testid=similar]").inner_text()
    page.check("input[name=outcome][value=offence]")
    page.select_option("select[name=offence_type]", "misclassification")
    page.fill("input[name=duty_recovered]", "1234.50")
    page.fill("textarea[name=notes]", "tiles declared under the wrong subheading")
    b.shot("officer-declaration")
    page.click("#inspection-form button[type=submit]")
    page.wait_for_url(f"**/declarations/{no}#events")
    events = page.locator("[data-testid=events]").inner_text()
    assert "offence found: misclassification, duty recovered 1234.50 CNY" in events
    assert page.locator("[data-testid=status]").first.inner_text() == "detained"
    assert "1,234.50" in page.locator("[data-testid=inspection-result]").inner_text()
    after = hits(b, "rule")
    assert after == (before[0] + 1, before[1] + 1)
    assert b.errors == []


def test_a_trader_cannot_open_another_enterprises_declaration(browser, site):
    b, page = browser, browser.page
    b.login("other")
    response = page.goto(f"{site.url}/declarations/{site.held[1]}")
    assert response.status == 404
    assert page.locator("[data-testid=error-status]").inner_text().startswith("404")
    assert page.locator("[data-testid=declarations]").count() == 0
    b.goto("/declarations")
    assert site.held[1] not in page.locator("[data-testid=declarations]").inner_text()
    response = page.goto(f"{site.url}/queue")
    assert response.status == 403  # and officer pages are closed to traders
    assert b.unexpected_errors(403, 404) == []


def test_pages_need_a_login(browser, site):
    b, page = browser, browser.page
    b.goto("/dashboard")
    page.wait_for_url("**/login?next=/dashboard")
    page.fill("input[name=username]", "analyst")
    page.fill("input[name=password]", "wrong password")
    page.click("form[action='/login'] button[type=submit]")
    assert page.locator("[data-testid=login-error]").is_visible()
    page.fill("input[name=password]", "correct horse")
    page.click("form[action='/login'] button[type=submit]")
    page.wait_for_url("**/dashboard")
    page.click("header button.link")  # sign out
    page.wait_for_url("**/login")
    b.goto("/queue")
    page.wait_for_url("**/login?next=/queue")
    assert b.unexpected_errors(401) == []


def test_bulk_upload_shows_progress_and_a_report_by_line(browser, site):
    b, page = browser, browser.page
    b.login("trader")
    b.goto("/upload")
    good = [json.dumps(declaration_payload()) for _ in range(30)]
    bad_hs = declaration_payload()
    bad_hs["items"][0]["hs_code"] = "9999990000"
    lines = [*good[:10], "{not json", *good[10:], json.dumps(bad_hs)]
    page.set_input_files("input[name=file]", files=[{"name": "batch.jsonl", "mimeType": "application/json",
                                                      "buffer": "\n".join(lines).encode()}])
    page.click("#upload-form button[type=submit]")
    page.locator("[data-testid=upload-state][data-state=done]").wait_for()
    assert page.locator("[data-testid=upload-progress]").evaluate("p => p.value === p.max")
    assert page.locator("[data-testid=upload-created]").inner_text() == "30"
    assert page.locator("[data-testid=upload-rejected]").inner_text() == "2"
    report = page.locator("[data-testid=upload-report] tbody").inner_text()
    assert re.search(r"11\s+line\s+malformed JSON", report)
    assert re.search(r"32\s+items\[0\]\.hs_code\s+9999990000 is not a valid HS", report)
    b.shot("trader-upload")
    assert b.errors == []


def test_analyst_rule_editor_marks_a_bad_rule_and_saves_a_good_one(browser, site):
    b, page = browser, browser.page
    b.login("analyst")
    b.goto("/rules")
    page.fill("input[name=name]", "heavy laptops")
    page.select_option("select[name='criteria[0].field']", "hs_code")
    page.select_option("select[name='criteria[0].op']", "gt")
    page.fill("input[name='criteria[0].value']", "5")
    page.click("#rule-form button[type=submit]")
    assert "does not apply to text field" in page.locator("[data-error-for='criteria[0].op']").inner_text()
    page.select_option("select[name='criteria[0].field']", "net_mass_kg")
    page.fill("input[name='criteria[0].value']", "50")
    page.select_option("select[name='criteria[1].field']", "hs_code")
    page.select_option("select[name='criteria[1].op']", "prefix")
    page.fill("input[name='criteria[1].value']", "8471")
    page.select_option("select[name=lane]", "yellow")
    page.click("#rule-form button[type=submit]")
    page.wait_for_url("**/rules")
    rules = page.locator("[data-testid=rules]").inner_text()
    assert "heavy laptops" in rules and "net_mass_kg > 50" in rules
    b.shot("analyst-rules")
    assert b.unexpected_errors(422) == []


def test_admin_makes_a_key_shown_once_and_the_pages_render_in_both_languages(browser, site):
    b, page = browser, browser.page
    b.login("admin")
    b.goto("/admin")
    row = page.locator("[data-testid=users] tr", has_text="broker")
    row.locator("input[name=label]").fill("erp")
    row.locator("[data-testid=make-key]").click()
    key = page.locator("[data-testid=new-key]").inner_text()
    assert key.startswith("sck_")
    b.shot("admin")
    b.goto("/admin")
    assert page.locator("[data-testid=new-key]").count() == 0 and key not in page.content()
    # (customs roles do not lodge: no lodging form or upload for the administrator)
    for path in ("/declarations", "/queue", "/dashboard", f"/declarations/{site.released[0]}", "/rules"):
        b.goto(path)
        assert page.locator("main h1").count() == 1, path
    page.click("header a.lang")  # 中文
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    assert "风险规则" in page.locator("main h1").inner_text()
    b.goto("/dashboard")
    assert "风险分析看板" in page.locator("main h1").inner_text()
    b.shot("analyst-dashboard-zh")
    assert b.errors == []
