"""The inbox in chromium: an officer detains with a reason and the trader reads it in the inbox; the unread
count in the nav drops as messages are read; another enterprise sees none of it; Chinese on switching."""

from __future__ import annotations

import pytest

from tests.web.test_officer import decide

pytestmark = pytest.mark.browser


def unread(page) -> int:
    """The nav's unread count (0 when it shows none)."""
    badge = page.locator("[data-testid=nav-inbox] [data-testid=unread]")
    return int(badge.inner_text()) if badge.count() else 0


def row(page, no: str, code: str):
    return page.locator(f"[data-testid=inbox] tbody tr[data-code='{code}']",
                        has=page.locator(f"button[data-testid=open]:text-is('{no}')"))


def test_an_officer_detains_with_a_reason_and_the_trader_reads_it_in_the_inbox(browser, site):
    b, page = browser, browser.page
    no = site.held[0]
    b.login("trader")
    before = unread(page)
    assert before > 0  # the seeded holds and results were told already
    page.click("form[action='/logout'] button")

    b.login("officer")
    b.goto(f"/declarations/{no}")
    decide(page, "physical", "goods_may_differ", "tiles look like porcelain slabs")
    page.wait_for_url(f"**/declarations/{no}#events")
    decide(page, "detain", "ipr", "counterfeit brand marks on 40 boxes", confirm=True)
    page.wait_for_url(f"**/declarations/{no}#events")
    assert unread(page) == 0  # the officer is told nothing of their own decisions
    page.click("form[action='/logout'] button")

    b.login("trader")
    assert unread(page) == before + 2  # the check ordered and the detention
    page.click("[data-testid=nav-inbox]")
    page.wait_for_url("**/inbox")
    first = page.locator("[data-testid=inbox] tbody tr").first
    assert first.get_attribute("data-code") == "declaration.detained"
    assert first.locator("[data-testid=notice-title]").inner_text() == "Detention notice"
    assert first.locator("[data-testid=notice-text]").inner_text() == (
        "Detained: suspected infringement of intellectual property rights — counterfeit brand marks on 40 boxes.")
    check = row(page, no, "declaration.check_ordered")
    words = check.locator("[data-testid=notice-text]").inner_text()
    assert words == "Customs sent the goods for a physical inspection."
    assert "porcelain" not in page.locator("main").inner_text()  # why a check was ordered stays with customs
    b.shot("trader-inbox")

    first.locator("[data-testid=mark-read]").click()
    page.wait_for_url("**/inbox?**")
    assert unread(page) == before + 1
    first = page.locator("[data-testid=inbox] tbody tr").first
    assert first.get_attribute("class") == "read" and first.locator("[data-testid=mark-read]").count() == 0
    # opening a message marks it read and shows its declaration
    row(page, no, "declaration.check_ordered").locator("[data-testid=open]").click()
    page.wait_for_url(f"**/declarations/{no}")
    assert page.locator("[data-testid=status]").first.inner_text() == "detained"
    assert unread(page) == before

    b.goto("/inbox?unread=1")
    assert row(page, no, "declaration.detained").count() == 0  # read: not among the unread
    assert page.locator("[data-testid=inbox] tbody tr.unread").count() == before
    page.click("[data-testid=mark-all]")
    page.wait_for_url("**/inbox?**")
    assert unread(page) == 0
    assert page.locator("[data-testid=inbox] tbody").inner_text().strip() == "No unread messages."
    b.goto("/inbox")
    assert page.locator("[data-testid=inbox] tbody tr.unread").count() == 0

    b.goto("/lang/zh?next=/inbox")  # the same messages, worded in the reader's language
    first = page.locator("[data-testid=inbox] tbody tr").first
    assert first.locator("[data-testid=notice-title]").inner_text() == "扣留通知"
    told = "已扣留：涉嫌侵犯知识产权——counterfeit brand marks on 40 boxes。"  # the officer's note as written
    assert first.locator("[data-testid=notice-text]").inner_text() == told
    b.goto("/lang/en?next=/inbox")
    assert b.errors == []


def test_another_enterprise_reads_none_of_it(browser, site):
    b, page = browser, browser.page
    b.login("other")
    assert unread(page) == 0
    b.goto("/inbox")
    assert page.locator("[data-testid=inbox] tbody").inner_text().strip() == "No messages."
    assert b.errors == []
