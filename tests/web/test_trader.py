"""The trader is never left stuck (issue #18): one round of errors, removable items, a page that follows the
declaration, and an upload report by CSV row and column with the lodged declarations linked."""

from __future__ import annotations

import csv
import io
import re
from decimal import Decimal
from pathlib import Path

import pytest

from smartcustoms.declarations.ingest import CSV_COLUMNS, parse_csv
from smartcustoms.declarations.schemas import DeclarationIn
from tests.cli.test_ingest import csv_text
from tests.support import declaration_payload

pytestmark = pytest.mark.browser
expect = pytest.importorskip("playwright.sync_api").expect


def fill_valid_form(page, row: int = 0) -> None:
    """A valid one-item declaration of ceramic tiles in the lodging form (the item in ``row``)."""
    page.fill("input[name=seller_name]", "Cerámica Levante S.L.")
    page.fill("input[name=departure_country]", "ES")
    page.fill("input[name=origin_country]", "ES")
    page.select_option("select[name=office_code]", "2248")
    page.fill("input[name=gross_mass_kg]", "2100")
    item = f"items[{row}]"
    page.fill(f"input[name='{item}.hs_code']", "6907220000")
    page.fill(f"input[name='{item}.description']", "Glazed ceramic wall tiles")
    page.fill(f"input[name='{item}.quantity']", "2000")
    page.fill(f"input[name='{item}.net_mass_kg']", "2000")
    page.fill(f"input[name='{item}.unit_price']", "2")
    page.fill(f"input[name='{item}.origin_country']", "ES")


def error(page, name: str):
    return page.locator(f"[data-error-for='{name}']")


def test_a_bad_hs_code_is_marked_with_the_missing_fields_in_one_round(browser):
    b, page = browser, browser.page
    b.login("trader")
    b.goto("/declarations/new")
    page.evaluate("document.getElementById('lodge').noValidate = true")
    page.fill("input[name='items[0].hs_code']", "9999990000")
    with page.expect_navigation():
        page.evaluate("document.getElementById('lodge').submit()")  # a plain POST, bypassing the script
    assert "not a valid HS 2022 subheading" in error(page, "items[0].hs_code").inner_text()
    for name in ("departure_country", "gross_mass_kg", "items[0].description", "items[0].quantity"):
        assert error(page, name).inner_text() == "Field required", name
    assert page.input_value("input[name='items[0].hs_code']") == "9999990000"
    assert b.unexpected_errors(422) == []


def test_a_field_is_checked_when_the_trader_leaves_it_and_untouched_fields_stay_quiet(browser):
    b, page = browser, browser.page
    b.login("trader")
    b.goto("/declarations/new")
    page.fill("input[name=departure_country]", "QQ")
    page.keyboard.press("Tab")  # leave the field
    error(page, "departure_country").filter(has_text="unknown country QQ").wait_for()
    assert error(page, "gross_mass_kg").inner_text() == ""  # not visited yet: no error shown
    page.fill("input[name='items[0].hs_code']", "12")
    page.keyboard.press("Tab")
    error(page, "items[0].hs_code").filter(has_text="String should match pattern").wait_for()
    page.fill("input[name=departure_country]", "ES")  # corrected: the error goes as it is typed
    expect(error(page, "departure_country")).to_have_text("")
    assert b.errors == []


def test_an_added_item_can_be_removed_and_an_empty_one_does_not_block_lodging(browser):
    b, page = browser, browser.page
    b.login("trader")
    b.goto("/declarations/new")
    fill_valid_form(page)
    page.click("#add-item")
    page.fill("input[name='items[1].hs_code']", "8471300000")
    page.fill("input[name='items[1].quantity']", "3")
    page.fill("input[name='items[1].unit_price']", "100")
    assert page.input_value("input[name=total_value]") == "4300.00"
    page.keyboard.press("Tab")
    page.locator("[data-hint-for='items[1].hs_code']").filter(has_text="Automatic data processing").wait_for()
    expect(error(page, "items[1].description")).to_have_text("")  # a new row's fields are not visited yet
    b.shot("lodge-form-two-items")
    page.locator(".item[data-item='1'] [data-testid=remove-item]").click()
    assert page.locator(".item").count() == 1
    assert page.input_value("input[name=total_value]") == "4000.00"  # the sums follow
    page.click("#add-item")  # an empty row, its unit select still on 035: not an item
    assert page.locator(".item").count() == 2
    page.click("#lodge-submit")
    page.wait_for_url(re.compile(r"/declarations/2248\d{14}$"))
    assert b.errors == []


def test_enter_in_a_field_lodges_and_never_removes_an_item(browser):
    b, page = browser, browser.page
    b.login("trader")
    b.goto("/declarations/new")
    fill_valid_form(page)
    page.click("#add-item")
    page.fill("input[name='items[1].description']", "Spare tiles")  # a second, incomplete item
    with page.expect_navigation():
        page.press("input[name='items[0].description']", "Enter")
    assert page.locator(".item").count() == 2  # both rows back, marked: nothing was removed
    assert page.input_value("input[name='items[1].description']") == "Spare tiles"
    assert error(page, "items[1].quantity").inner_text() == "Field required"
    assert b.unexpected_errors(422) == []


def test_removing_an_item_works_without_javascript(browser):
    b, page = browser, browser.page
    b.login("trader")
    b.goto("/declarations/new")
    fill_valid_form(page)
    page.click("#add-item")
    page.fill("input[name='items[1].description']", "Spare tiles")
    with page.expect_navigation():  # the remove button is a submit button when the script does not run
        page.evaluate("""() => { const f = document.getElementById('lodge');
            const b = f.querySelector(".item[data-item='1'] [data-testid=remove-item]"); f.requestSubmit(b); }""")
    assert page.locator(".item").count() == 1
    assert page.input_value("input[name='items[0].description']") == "Glazed ceramic wall tiles"
    assert page.locator("[data-testid=error-summary]").is_hidden()


def test_the_trader_sees_the_duty_recovered_in_the_tax_box(browser, site):
    b, page = browser, browser.page
    platform = site.world.platform
    d = DeclarationIn.model_validate(declaration_payload())  # tiles: held in the red lane by the site's rule
    from smartcustoms.inspection.schemas import InspectionResultIn
    from tests.support import SYSTEM

    [res] = platform.declarations.lodge_many(SYSTEM, [d])
    assert res.lane == "red"
    assessed = platform.declarations.get(SYSTEM, res.declaration_no).tax.tax_total_cny
    platform.inspections.record(site.world.principals["officer"], res.declaration_no, InspectionResultIn(
        outcome="offence", offence_type="undervaluation", duty_recovered=Decimal("1234.50")))
    b.login("trader")
    b.goto(f"/declarations/{res.declaration_no}")
    assert page.locator("[data-testid=tax-recovered]").inner_text() == "1,234.50 CNY"  # every amount has its currency
    total = Decimal(page.locator("[data-testid=tax-total]").inner_text().removesuffix(" CNY").replace(",", ""))
    assert total == assessed + Decimal("1234.50")
    assert "Held for" not in page.locator("main").inner_text()  # detained now, no longer waiting for a check
    b.shot("trader-tax-recovered")
    assert b.errors == []


def test_a_cancelled_declaration_no_longer_reads_as_held(browser, site):
    b, page = browser, browser.page
    platform = site.world.platform
    from tests.support import SYSTEM

    [res] = platform.declarations.lodge_many(SYSTEM, [DeclarationIn.model_validate(declaration_payload())])
    b.login("trader")
    b.goto(f"/declarations/{res.declaration_no}")
    assert "Held for a physical inspection" in page.locator("[data-testid=reasons]").inner_text()
    platform.declarations.cancel(site.world.principals["trader"], res.declaration_no, "ordered by mistake")
    page.reload()
    assert page.locator("[data-testid=status]").first.inner_text() == "cancelled"
    assert "Held for" not in page.locator("main").inner_text()
    assert b.errors == []


def test_csv_upload_reports_by_row_and_column_in_line_order_and_links_what_it_lodged(browser, tmp_path):
    b, page = browser, browser.page
    b.login("trader")
    b.goto("/upload")
    good, bad, good2 = declaration_payload(), declaration_payload(), declaration_payload()
    bad["items"][1]["unit_price"] = "abc"  # the declaration's second row: line 5
    bad["items"][0]["origin_country"] = "ZZ"  # its first row: line 4, found in the same round
    text = csv_text(good, bad, good2)
    page.set_input_files("input[name=file]", files=[{"name": "batch.csv", "mimeType": "text/csv",
                                                      "buffer": text.encode()}])
    page.click("#upload-form button[type=submit]")
    page.locator("[data-testid=upload-state][data-state=done]").wait_for()
    assert page.locator("[data-testid=upload-created]").inner_text() == "2"
    assert page.locator("[data-testid=upload-rejected]").inner_text() == "1"
    rows = [r.split("\t") for r in page.locator("[data-testid=upload-report] tbody tr").all_inner_texts()]
    assert rows == [["4", "item_origin_country", "unknown country ZZ"],
                    ["5", "item_unit_price", "Input should be a valid decimal"]]
    lodged = page.locator("[data-testid=upload-lodged] tbody tr")
    assert lodged.count() == 2
    assert [r.split("\t")[0] for r in lodged.all_inner_texts()] == ["2", "6"]
    with page.expect_download() as dl:
        page.click("[data-testid=upload-report-csv]")
    report = list(csv.reader(io.StringIO(Path(dl.value.path()).read_text("utf-8-sig"))))
    assert report == [["line", "column", "problem"], *rows]
    b.shot("trader-upload-csv")
    page.reload()  # the report is the same from the job's stored state
    assert page.locator("[data-testid=upload-lodged] tbody tr").count() == 2
    first = page.locator("[data-testid=upload-lodged] tbody a").first
    no = first.inner_text()
    first.click()
    page.wait_for_url(f"**/declarations/{no}")
    assert b.errors == []


def test_upload_page_offers_a_template_that_parses_and_a_column_reference(browser):
    b, page = browser, browser.page
    b.login("trader")
    b.goto("/upload")
    with page.expect_download() as dl:
        page.click("[data-testid=upload-template]")
    text = Path(dl.value.path()).read_text("utf-8-sig")
    records = list(parse_csv(text))
    assert len(records) == 1 and records[0].errors == []
    assert records[0].declaration.importer_code == b.site.world.importer  # the trader's own enterprise
    page.click("#columns summary")
    names = page.locator("[data-testid=upload-columns] tbody tr td:first-child").all_inner_texts()
    assert names == CSV_COLUMNS
    b.goto("/lang/zh?next=/upload")
    page.click("#columns summary")
    assert "商品编码" in page.locator("[data-testid=upload-columns]").inner_text()
    b.shot("trader-upload-columns-zh")
    assert b.errors == []


def test_rule_editor_shows_a_missing_name_and_a_bad_criterion_in_one_round(browser):
    b, page = browser, browser.page
    b.login("analyst")
    b.goto("/rules")
    page.fill("input[name=name]", "")
    page.select_option("select[name='criteria[0].field']", "hs_code")
    page.select_option("select[name='criteria[0].op']", "gt")
    page.fill("input[name='criteria[0].value']", "5")
    page.click("#rule-form button[type=submit]")
    assert page.locator("[data-error-for=name]").inner_text() != ""
    assert "does not apply to text field" in page.locator("[data-error-for='criteria[0].op']").inner_text()
    assert b.unexpected_errors(422) == []
