"""Documents in the web console, in chromium: a trader answers a document check with a PDF and the officer sees
it beside the declaration, with a download link; a file that is no PDF is refused next to its field."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tests.declarations.test_documents import pdf_bytes

pytestmark = pytest.mark.browser


def decide(page, decision: str, reason_code: str, note: str = "") -> None:
    form = page.locator(f"#decision-{decision}")
    form.locator("select[name=reason_code]").select_option(reason_code)
    if note:
        form.locator("textarea[name=reason]").fill(note)
    form.locator("button[type=submit]").click()


def upload(page, name: str, data: bytes, kind: str, mime: str = "application/pdf") -> None:
    form = page.locator("#document-upload")
    form.locator("select[name=kind]").select_option(kind)
    form.locator("input[name=file]").set_input_files(files=[{"name": name, "mimeType": mime, "buffer": data}])
    form.locator("button[type=submit]").click()
    page.wait_for_url("**#documents")


def logout(page) -> None:
    page.click("form[action='/logout'] button")


def test_a_trader_answers_a_document_check_with_a_pdf_and_the_officer_sees_it(browser, site):
    b, page = browser, browser.page
    no = site.held[0]
    b.login("officer")
    b.goto(f"/declarations/{no}")
    decide(page, "document_check", "valuation_doubt", "unit price far below the market")
    page.wait_for_url(f"**/declarations/{no}#events")
    assert page.locator("[data-testid=documents] tbody").inner_text().strip() == "No documents attached."
    assert page.locator("#document-upload").count() == 0  # customs do not attach
    logout(page)

    b.login("trader")
    b.goto(f"/declarations/{no}")
    asked = page.locator("[data-testid=documents-asked]").inner_text()
    assert "Customs are checking the documents" in asked and "market" not in asked  # not why
    # a text file named .pdf is refused next to its field, the kind chosen stays
    upload(page, "invoice.pdf", b"just some text, not a PDF", "invoice")
    assert "not a PDF, PNG, JPEG or TIFF" in page.locator("[data-error-for=file]").inner_text()
    assert page.locator("#document-upload select[name=kind]").input_value() == "invoice"
    assert page.locator("[data-testid=document-link]").count() == 0
    data = pdf_bytes(2)
    upload(page, "Invoice INV-2026-118.pdf", data, "invoice")
    assert page.locator(".flash").first.inner_text() == "Commercial invoice attached: Invoice INV-2026-118.pdf"
    row = page.locator("[data-testid=documents] tbody tr")
    assert row.count() == 1 and "not yet provided" in row.inner_text()
    form = page.locator("#documents-provided")
    form.locator("textarea[name=note]").fill("invoice signed by the seller")
    form.locator("button[type=submit]").click()
    page.wait_for_url(f"**/declarations/{no}#events")
    told = "Documents provided (1): Commercial invoice — invoice signed by the seller"
    assert page.locator("[data-testid=event-documents]").last.inner_text() == told
    assert "Documents provided" in page.locator("[data-testid=documents-answered]").inner_text()
    assert "provided" in page.locator("[data-testid=documents] tbody tr").inner_text()
    assert page.locator("[data-testid=status]").first.inner_text() == "under inspection"  # still held
    b.shot("trader-documents-provided")
    logout(page)

    b.login("officer")
    b.goto("/queue")  # the queue says the documents arrived, with a link to them
    row = page.locator("[data-testid=queue] tbody tr", has=page.locator(f"a[href='/declarations/{no}']"))
    assert row.locator("[data-testid=queue-documents]").inner_text() == "documents provided (1)"
    row.locator("[data-testid=queue-documents]").click()
    page.wait_for_url(f"**/declarations/{no}#documents")
    assert "Documents asked of the declarant" in page.locator("[data-testid=documents-asked]").inner_text()
    link = page.locator("[data-testid=document-link]")
    assert link.inner_text() == "Invoice INV-2026-118.pdf"
    assert page.locator("[data-testid=event-documents]").last.inner_text() == told
    with page.expect_download() as dl:
        link.click()
    download = dl.value
    assert download.suggested_filename == "Invoice INV-2026-118.pdf"
    assert hashlib.sha256(Path(download.path()).read_bytes()).digest() == hashlib.sha256(data).digest()
    b.shot("officer-documents")
    assert b.unexpected_errors(422) == []


def test_the_documents_card_speaks_chinese(browser, site):
    b, page = browser, browser.page
    b.login("trader")
    b.goto(f"/lang/zh?next=/declarations/{site.held[1]}")
    page.wait_for_url(f"**/declarations/{site.held[1]}")
    card = page.locator("[data-testid=documents-card]").inner_text()
    assert "随附单证" in card and "上传随附单证" in card and "商业发票" in page.content()
    b.shot("trader-documents-zh")
    b.goto("/lang/en?next=/")
