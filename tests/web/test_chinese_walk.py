"""The whole console in Chinese: each role's main pages show no English sentence once Chinese is chosen.

The walk reads each page's visible text (what a user sees, less the content the page marks ``translate="no"``:
names of enterprises and goods descriptions as their owners typed them) and looks for English words. Codes,
numbers and a short list of terms customs writes in Latin letters in Chinese too (HS, AEO, CSV, ...) are allowed;
so are the names the test's own data gives (users, the rule, the goods).
"""

from __future__ import annotations

import json
import re

import pytest

#: terms written in Latin letters in Chinese customs texts as well (units and currency codes included)
ALLOWED = {"HS", "AEO", "CSV", "JSON", "JSONL", "CEB", "CBEC", "ISO", "PDF", "API", "PSI", "UTC", "CNY", "USD",
           "EUR", "kg", "XML", "ID", "URL", "Excel", "ReDoc", "Swagger", "OpenAPI", "LightGBM", "AUC", "CIF",
           "FOB", "EXW", "FCA", "FAS", "CFR", "CPT", "CIP", "DAP", "DPU", "DDP", "preNo", "smartcustoms",
           "guid", "English",  # CEB's field name; the language switch names its language in that language
           "in", "prefix", "between", "eq", "ne", "gt", "ge", "lt", "le",  # the rule editor's operators
           "ebc", "ebp"}  # CEB's party roles, as its messages name them
#: the test data's own words (user names, the rule's name and description, goods descriptions, notes)
DATA = ["ceramic tiles", "tiles are often undervalued", "Laptop computers", "Glazed ceramic tiles", "invoice split",
        "Cosmetics alert", "counterfeit creams",
        "trader", "officer", "analyst", "admin", "broker", "other"]
WORD = re.compile(r"[A-Za-z][A-Za-z'’-]*[A-Za-z]|[A-Za-z]")

#: the page's visible text, less what is marked translate="no" and identifiers set as code (removed first: the
#: page is thrown away after)
VISIBLE_TEXT = """() => {
  document.querySelectorAll('[translate=no], code, kbd, samp, script, style, datalist').forEach(e => e.remove());
  return document.body.innerText;
}"""


def english_in(text: str) -> list[str]:
    """The lines of ``text`` with English words in them (the allowed terms and the test data's words aside)."""
    found = []
    for line in text.splitlines():
        rest = line
        for words in DATA:
            rest = rest.replace(words, " ")
        rest = re.sub(r"\b[0-9A-Z]*[0-9][0-9A-Z]*\b", " ", rest)  # codes: 91310000MA1FL8XQ3A, 2248, V3
        rest = re.sub(r"\b[A-Z]{2,5}\b", " ", rest)  # country, currency and format codes: ES, USD, POST, JPEG
        rest = re.sub(r"\b\w+_\w+\b|\{\w+\}|\.{3}|\S*/\S*|\.[a-z]{3,4}\b|\b[0-9a-f]{12}\b", " ", rest)  # names
        # of fields and columns, placeholders, paths, file extensions and key prefixes: identifiers, not words
        left = [w for w in WORD.findall(rest) if w not in ALLOWED and len(w) > 1]
        if left:
            found.append(f"{line.strip()!r}: {left}")
    return found


def walk(b, path: str, *, status_ok: bool = True) -> list[str]:
    """The English on page ``path`` (read in Chinese)."""
    b.goto(path)
    b.page.wait_for_load_state("networkidle")
    assert b.page.locator("html").get_attribute("lang") == "zh-CN", path
    return [f"{path}: {x}" for x in english_in(b.page.evaluate(VISIBLE_TEXT))]


def in_chinese(b, user: str) -> None:
    b.login(user)
    b.goto("/lang/zh?next=/")


def test_the_english_detector_finds_sentences_and_lets_codes_and_terms_through():
    assert english_in("申报口岸 2248 洋山海关 · HS 690722 · 13,000.00 USD · 91310000MA1FL8XQ3A")== []
    assert english_in("规则“ceramic tiles”：tiles are often undervalued") == []
    assert english_in("未知的监管方式代码 9999\nField required") == ["'Field required': ['Field', 'required']"]
    assert english_in("风险分 0.94 is below the threshold") != []


@pytest.mark.browser
def test_a_trader_lodges_with_errors_and_reads_a_held_declaration_in_chinese(browser, site):
    b, page = browser, browser.page
    in_chinese(b, "trader")
    found = walk(b, "/declarations") + walk(b, "/declarations/new") + walk(b, "/upload")
    # a form with a bad HS code and missing fields: every message in Chinese, with the field's label
    b.goto("/declarations/new")
    page.fill("input[name='items[0].hs_code']", "999999")
    page.fill("input[name=gross_mass_kg]", "")
    page.click("#lodge-submit")
    page.wait_for_selector("[data-testid=error-summary]:not([hidden])")
    errors = page.locator("[data-error-for]").all_inner_texts()
    assert any("999999 不是有效的 HS 2022 子目编码" in e for e in errors), errors
    assert any("请填写" in e for e in errors), errors
    found += [f"lodging errors: {x}" for x in english_in(page.evaluate(VISIBLE_TEXT))]
    found += walk(b, f"/declarations/{site.held[0]}") + walk(b, f"/declarations/{site.released[0]}")
    found += walk(b, f"/declarations/{site.held[0]}/amend") + walk(b, f"/declarations/{site.held[0]}/cancel")
    found += walk(b, f"/declarations/{site.released[0]}/release-note")
    found += walk(b, f"/declarations/{site.released[0]}/tax-notice") + walk(b, "/inbox")
    found += walk(b, "/declarations/999999999999999999")  # not found: the error page in Chinese
    found += walk(b, "/queue")  # a trader may not open the queue: the refusal in Chinese
    assert found == [], "\n".join(found)


@pytest.mark.browser
def test_an_upload_report_reads_in_chinese(browser, site):
    from tests.support import declaration_payload
    from tests.web.test_trader import csv_text

    b, page = browser, browser.page
    in_chinese(b, "trader")
    bad = declaration_payload()
    bad["items"][1]["unit_price"] = "abc"
    bad["items"][0]["origin_country"] = "ZZ"
    b.goto("/upload")
    page.set_input_files("input[name=file]", files=[{"name": "batch.csv", "mimeType": "text/csv",
                                                      "buffer": csv_text(declaration_payload(), bad).encode()}])
    page.click("#upload-form button[type=submit]")
    page.locator("[data-testid=upload-state][data-state=done]").wait_for()
    report = page.locator("[data-testid=upload-report] tbody").inner_text()
    assert "未知的国别（地区）代码 ZZ" in report and "单价应为数字" in report, report
    found = [f"upload: {x}" for x in english_in(page.evaluate(VISIBLE_TEXT))]
    page.reload()  # the page as the server renders it (not the script's update)
    found += [f"upload page: {x}" for x in english_in(page.evaluate(VISIBLE_TEXT))]
    assert found == [], "\n".join(found)


@pytest.mark.browser
def test_an_officer_works_the_queue_and_a_held_declaration_in_chinese(browser, site):
    b = browser
    in_chinese(b, "officer")
    found = walk(b, "/queue") + walk(b, f"/declarations/{site.held[0]}") + walk(b, "/declarations")
    found += walk(b, f"/declarations/{site.released[0]}") + walk(b, "/parcels")
    assert found == [], "\n".join(found)
    page = b.page
    page.goto(f"{site.url}/declarations/{site.held[0]}")
    assert "规则“ceramic tiles”" in page.locator("[data-testid=reasons]").inner_text()
    assert page.locator("[data-testid=trade-mode]").inner_text() == "0110 一般贸易"
    assert page.locator("[data-testid=office]").inner_text() == "2248 洋山海关"
    assert "千克" in page.locator("[data-testid=item-unit]").first.inner_text()
    # an offence recorded without its type: the refusal in Chinese, the form as it was sent
    page.check("#inspection-form input[name=outcome][value=offence]")
    page.click("#inspection-form button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert "查获违规时须选择违规类型" in page.locator("#inspection-form").inner_text()
    assert page.locator("#inspection-form input[value=offence]").is_checked()
    found = [f"inspection errors: {x}" for x in english_in(page.evaluate(VISIBLE_TEXT))]
    assert found == [], "\n".join(found)


@pytest.mark.browser
def test_an_officer_reads_a_held_parcel_in_chinese(browser, site):
    import httpx

    from tests.web.test_parcels import PLATFORM, order_no, parcel_messages, save_cosmetics_rule

    save_cosmetics_rule(site.world.platform)  # a mandatory rule holds face creams: parcel 7 is held
    r = httpx.post(f"{site.url}/api/v1/cbec/messages", content=parcel_messages(7), timeout=30,
                   headers={"X-API-Key": site.world.keys["trader"], "Content-Type": "application/xml"})
    assert r.status_code == 200, r.text
    b = browser
    in_chinese(b, "officer")
    found = walk(b, "/parcels") + walk(b, f"/parcels/{PLATFORM}/{order_no(7)}")
    b.goto(f"/parcels/{PLATFORM}/{order_no(7)}")
    assert b.page.locator("[data-testid=reasons]").inner_text() == (
        "强制布控，规则“Cosmetics alert”（人工查验）：counterfeit creams")
    assert found == [], "\n".join(found)


@pytest.mark.browser
def test_an_analyst_reads_the_dashboard_rules_and_models_in_chinese(browser, site):
    b = browser
    in_chinese(b, "analyst")
    found = walk(b, "/dashboard")
    # the charts draw on a canvas: their titles, legends, axis and series names are read from their options
    b.goto("/dashboard")
    options = [json.loads(o) for o in b.page.locator("[data-chart]").evaluate_all(
        "els => els.map(e => e.dataset.chart)")]
    assert options, "the dashboard shows no chart"
    words = []
    for o in options:
        for part in (o.get("title") or {}, *_as_list(o.get("xAxis")), *_as_list(o.get("yAxis"))):
            words += [part.get("text") or "", part.get("subtext") or "", part.get("name") or ""]
        words += [str(x) for x in (o.get("legend") or {}).get("data", [])]
        words += [x.get("name") or "" for x in _as_list(o.get("series"))]
    found += [f"/dashboard chart: {x}" for x in english_in("\n".join(w for w in words if w))]
    found += walk(b, "/rules") + walk(b, "/models")
    # a rule without a name whose condition compares a number field by prefix: both refused in Chinese
    b.goto("/rules")
    page = b.page
    page.fill("#rule-form input[name=name]", "")
    page.select_option("#rule-form select[name='criteria[0].field']", "tax_rate")
    page.select_option("#rule-form select[name='criteria[0].op']", "prefix")
    page.fill("#rule-form input[name='criteria[0].value']", "1")
    page.click("#rule-form button[type=submit]:not([formaction])")
    page.wait_for_load_state("networkidle")
    errors = " ".join(page.locator("#rule-form [data-error-for]").all_inner_texts())
    assert "运算符 'prefix' 不适用于数值字段 tax_rate" in errors, errors
    found += [f"rule errors: {x}" for x in english_in(page.evaluate(VISIBLE_TEXT))]
    assert found == [], "\n".join(found)


def _as_list(x) -> list:
    return x if isinstance(x, list) else [x] if isinstance(x, dict) else []


@pytest.mark.browser
def test_an_administrator_reads_the_admin_pages_in_chinese(browser, site):
    b = browser
    in_chinese(b, "admin")
    found = walk(b, "/admin") + walk(b, "/admin/users/trader")
    assert found == [], "\n".join(found)
