"""The administrator's pages in a real browser: paging, confirmations, keys shown once, user admin, offline docs."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import httpx
import pytest

from smartcustoms.audit.models import AuditEntry
from smartcustoms.core.db import transaction
from smartcustoms.enterprises.models import ApiKey
from smartcustoms.enterprises.schemas import EnterpriseIn, EnterpriseRole, UserIn
from smartcustoms.enterprises.service import create_enterprise, create_user, search_enterprises
from smartcustoms.tax.service import demo_tariff_text
from tests.support import SYSTEM
from tests.web.conftest import PASSWORD


@pytest.fixture(scope="module")
def many_enterprises(site) -> int:
    """228 enterprises in all (the seeded ones and registered importers), as in issue #18."""
    platform = site.world.platform
    with platform.sessions() as s:
        _, have = search_enterprises(s, limit=0)
    with transaction(platform.sessions) as s:
        for i in range(228 - have):
            create_enterprise(s, EnterpriseIn(code=f"9133{i:06d}", name=f"Ningbo Importer No. {i}",
                                              roles=[EnterpriseRole.IMPORTER]), SYSTEM)
    return 228


def audit_actions(site, action: str) -> list[AuditEntry]:
    from sqlalchemy import select

    with site.world.platform.sessions() as s:
        return list(s.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def range_text(page, testid: str) -> str:
    return page.locator(f"[data-testid={testid}-range]").inner_text()


def test_api_docs_render_with_every_outside_request_refused(browser, site):
    page, outside = browser.page, []

    def only_local(route):
        if urlsplit(route.request.url).hostname in ("127.0.0.1", "localhost"):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", only_local)
    browser.goto("/docs")
    page.wait_for_selector(".opblock-summary", timeout=20_000)
    assert page.locator(".opblock").count() > 20  # the operations of every router
    assert page.locator(".opblock-summary-path", has_text="/api/v1/declarations").count() >= 1
    browser.shot("api-docs-offline")
    browser.goto("/redoc")
    page.wait_for_selector("[role=menuitem]", timeout=20_000)
    assert page.locator("[role=menuitem]").count() > 20
    assert outside == []
    # ReDoc's "powered by" logo is an image from its makers' CDN: the CSP blocks it, nothing else is missing
    assert [e for e in browser.errors if "cdn.redoc.ly/redoc/logo-mini.svg" not in e] == []


def test_enterprises_and_tariff_page_with_totals_and_a_page_size(browser, site, many_enterprises):
    b, page = browser, browser.page
    b.login("admin")
    b.goto("/admin")
    assert range_text(page, "enterprise-pager") == f"Showing 1–100 of {many_enterprises}"
    assert page.locator("[data-testid=enterprises] tbody tr").count() == 100
    page.click("[data-testid=enterprise-pager-next]")
    assert range_text(page, "enterprise-pager") == f"Showing 101–200 of {many_enterprises}"
    page.select_option("[data-testid=enterprise-pager-size]", "200")
    page.locator("[data-testid=enterprise-pager] button").click()
    page.wait_for_load_state()
    assert range_text(page, "enterprise-pager") == f"Showing 1–200 of {many_enterprises}"
    page.click("[data-testid=enterprise-pager-next]")
    assert range_text(page, "enterprise-pager") == f"Showing 201–228 of {many_enterprises}"
    assert page.locator("[data-testid=enterprises] tbody tr").count() == 28
    # a search narrows the total; a page past the end shows the last page
    b.goto("/admin?q=Ningbo+Importer+No.+1&page=99&size=20")
    assert re.fullmatch(r"Showing \d+–\d+ of \d+", range_text(page, "enterprise-pager"))
    assert page.locator("[data-testid=enterprises] tbody tr").count() >= 1
    # the tariff: 44 demo lines, 20 a page
    b.goto("/admin")
    total = int(page.locator("[data-testid=tariff-total]").inner_text())
    assert total == 44 and range_text(page, "tariff-pager") == "Showing 1–20 of 44"
    page.click("[data-testid=tariff-pager-next]")
    page.click("[data-testid=tariff-pager-next]")
    assert range_text(page, "tariff-pager") == "Showing 41–44 of 44"
    assert page.locator("[data-testid=tariff] tbody tr").count() == 4
    assert range_text(page, "enterprise-pager").startswith("Showing 1–100")  # each list keeps its own page
    assert b.errors == []


def test_a_tariff_upload_lists_every_error_by_line_and_column_then_asks_before_replacing(browser, site, tmp_path):
    b, page = browser, browser.page
    b.login("admin")
    lines = demo_tariff_text().splitlines()
    bad = list(lines)
    bad[3] = bad[3].replace(",ad_valorem,7,", ",ad_valorem,abc,", 1)  # line 4: duty_rate not a number
    bad[10] = "99x" + bad[10][bad[10].index(","):]      # line 11: hs_prefix not digits
    bad[20] = bad[20].rsplit(",", 1)[0] + ",2000"       # line 21: vat_rate out of range
    path = tmp_path / "tariff-bad.csv"
    path.write_text("\n".join(bad) + "\n")
    b.goto("/admin#tariff")
    page.set_input_files("#tariff input[type=file]", str(path))
    page.click("#tariff button[type=submit]")
    problems = page.locator("[data-testid=tariff-problems] tbody tr")
    assert problems.count() == 3
    rows = [problems.nth(i).locator("td").all_inner_texts() for i in range(3)]
    assert [(r[0], r[1]) for r in rows] == [("4", "duty_rate"), ("11", "hs_prefix"), ("21", "vat_rate")]
    assert int(page.locator("[data-testid=tariff-total]").inner_text()) == 44  # unchanged
    # a good file: the page asks first; cancel leaves the table; confirm replaces it (audited)
    good = tmp_path / "tariff-good.csv"
    good.write_text("\n".join(lines[:31]) + "\n")  # header + 30 lines
    b.goto("/admin#tariff")
    page.set_input_files("#tariff input[type=file]", str(good))
    page.click("#tariff button[type=submit]")
    assert "30 lines of tariff-good.csv" in page.locator("[data-testid=confirm-question]").inner_text()
    page.click("[data-testid=confirm-no]")
    assert int(page.locator("[data-testid=tariff-total]").inner_text()) == 44
    page.set_input_files("#tariff input[type=file]", str(good))
    page.click("#tariff button[type=submit]")
    sent = {name: page.locator(f"[data-testid=confirm] input[name={name}]").input_value() for name in ("csrf", "token")}
    page.click("[data-testid=confirm-yes]")
    assert int(page.locator("[data-testid=tariff-total]").inner_text()) == 30
    assert audit_actions(site, "tariff.replace")[-1].detail["lines"] == 30
    again = page.request.post(f"{site.url}/admin/tariff/confirm", form=sent)  # the same confirmation again
    assert "no longer waiting" in again.text()  # its upload is spent: nothing is replaced twice
    assert len(audit_actions(site, "tariff.replace")) == 1
    with transaction(site.world.platform.sessions) as s:  # put the demo table back for the other tests
        from smartcustoms.tax.service import parse_tariff_csv, replace_tariff
        replace_tariff(s, parse_tariff_csv(demo_tariff_text()))
    assert b.unexpected_errors(422) == []


def test_a_new_key_is_shown_once_and_refreshing_makes_no_second_one(browser, site):
    b, page = browser, browser.page
    b.login("admin")

    def keys_of(username: str) -> int:
        from sqlalchemy import func, select

        from smartcustoms.enterprises.models import User
        with site.world.platform.sessions() as s:
            return s.scalar(select(func.count()).select_from(ApiKey).join(User, User.id == ApiKey.user_id)
                            .where(User.username == username)) or 0

    before = keys_of("officer")
    b.goto("/admin")
    row = page.locator("[data-testid=users] tr", has_text="officer")
    row.locator("input[name=label]").fill("scanner")
    row.locator("[data-testid=make-key]").click()
    key = page.locator("[data-testid=new-key]").inner_text()
    assert key.startswith("sck_") and urlsplit(page.url).path == "/admin/keys/new"
    assert key not in str(b.page.context.cookies())  # sealed in the session cookie, not readable there
    page.reload()
    assert page.locator("[data-testid=new-key]").count() == 0 and key not in page.content()
    assert "shown once only" in page.locator(".flash").inner_text()
    assert keys_of("officer") == before + 1
    # the key works; its use shows as 'last used' (written at most once a minute per key)
    for _ in range(3):
        assert httpx.get(f"{site.url}/api/v1/me", headers={"X-API-Key": key}).status_code == 200
    b.goto("/admin/users/officer")
    prefix = key.split("_")[1]
    row = page.locator("[data-testid=user-keys] tr", has_text=prefix)
    assert row.locator("[data-testid=key-last-used]").inner_text().endswith("UTC")
    seeded = page.locator("[data-testid=user-keys] tbody tr").filter(has_not_text=prefix)
    assert seeded.locator("[data-testid=key-last-used]").all_inner_texts() == ["never"]  # made, never used
    assert b.errors == []


def test_revoking_and_deactivating_ask_first_and_cancel_changes_nothing(browser, site):
    b, page = browser, browser.page
    b.login("admin")
    b.goto("/admin/users/analyst")
    row = page.locator("[data-testid=user-keys] tbody tr").first
    prefix = row.locator("code").inner_text()
    row.locator("[data-testid=key-revoke]").click()
    assert prefix in page.locator("[data-testid=confirm-question]").inner_text()
    page.click("[data-testid=confirm-no]")
    assert httpx.get(f"{site.url}/api/v1/me", headers={"X-API-Key": site.world.keys["analyst"]}).status_code == 200
    b.goto("/admin")
    page.locator("[data-testid=keys] tr", has_text=prefix).locator("[data-testid=key-revoke]").click()
    page.click("[data-testid=confirm-yes]")
    assert f"Key {prefix} revoked" in page.locator(".flash").inner_text()
    assert httpx.get(f"{site.url}/api/v1/me", headers={"X-API-Key": site.world.keys["analyst"]}).status_code == 401
    # deactivating a user asks too; the administrator has no such button for themselves
    row = page.locator("[data-testid=users] tbody tr", has_text="other")
    row.locator("[data-testid=user-deactivate]").click()
    assert "Deactivate user other?" in page.locator("[data-testid=confirm-question]").inner_text()
    page.click("[data-testid=confirm-yes]")
    assert page.locator("[data-testid=users] tbody tr", has_text="other").locator(
        "[data-testid=user-reactivate]").count() == 1
    admin_row = page.locator("[data-testid=users] tbody tr").filter(has=page.locator("td:first-child",
                                                                                     has_text=re.compile("^admin")))
    assert admin_row.locator("[data-testid=user-deactivate]").count() == 0
    b.goto("/admin/users/admin")
    assert page.locator("#role-form").count() == 0 and page.locator("[data-testid=user-deactivate]").count() == 0
    assert [e.object_id for e in audit_actions(site, "user.deactivate")] == ["other"]
    assert b.errors == []


def test_user_admin_changes_the_role_and_resets_the_password_audited(browser, site):
    b, page = browser, browser.page
    with transaction(site.world.platform.sessions) as s:
        create_user(s, UserIn(username="clerk", password=PASSWORD, role="officer"), SYSTEM)
    b.login("admin")
    b.goto("/admin/users/clerk")
    # a trader needs a registered enterprise: said beside the field
    page.select_option("#role-form select[name=role]", "trader")
    page.fill("#role-form input[name=enterprise_code]", "9999999999")
    page.click("#role-form button[type=submit]")
    assert "not a registered enterprise" in page.locator("[data-error-for=enterprise_code]").inner_text()
    page.select_option("#role-form select[name=role]", "analyst")
    page.fill("#role-form input[name=enterprise_code]", "")
    page.click("#role-form button[type=submit]")
    assert page.locator("[data-testid=user-role]").inner_text() == "risk analyst"
    entry = audit_actions(site, "user.change_role")[-1]
    assert entry.object_id == "clerk" and entry.detail["from"] == "officer" and entry.detail["to"] == "analyst"
    # a weak password is refused beside its field; a good one replaces the old
    page.fill("#password-form input[name=password]", "password2024")
    page.click("#password-form button[type=submit]")
    assert "too common" in page.locator("[data-error-for=password]").inner_text()
    page.fill("#password-form input[name=password]", "a brand new passphrase")
    page.click("#password-form button[type=submit]")
    assert "reset" in page.locator(".flash").inner_text()
    assert [e.object_id for e in audit_actions(site, "user.reset_password")] == ["clerk"]
    with httpx.Client(base_url=site.url) as c:
        token = re.search(r'name="csrf" value="([^"]+)"', c.get("/login").text).group(1)
        old = c.post("/login", data={"username": "clerk", "password": PASSWORD, "csrf": token})
        assert old.status_code == 401
        new = c.post("/login", data={"username": "clerk", "password": "a brand new passphrase", "csrf": token})
        assert new.status_code == 303 and new.headers["location"] == "/dashboard"  # the analyst's start page
    assert b.unexpected_errors(401, 409, 422) == []


def test_the_add_user_form_shows_every_error_at_once(browser, site):
    b, page = browser, browser.page
    b.login("admin")
    b.goto("/admin")
    form = page.locator("#user-form")
    form.locator("input[name=username]").fill("x")
    form.locator("input[name=password]").fill("short")
    form.locator("select[name=role]").select_option("trader")
    form.locator("button[type=submit]").click()
    for field in ("username", "password", "enterprise_code"):
        assert page.locator(f"#user-form [data-error-for={field}]").inner_text().strip(), field
    assert page.locator("#user-form input[name=username]").input_value() == "x"  # the values are kept
    form = page.locator("#user-form")
    form.locator("input[name=username]").fill("broker")  # taken, and an officer has no enterprise
    form.locator("input[name=password]").fill("a sensible passphrase")
    form.locator("select[name=role]").select_option("officer")
    form.locator("input[name=enterprise_code]").fill(site.world.importer)
    form.locator("button[type=submit]").click()
    assert "already taken" in page.locator("#user-form [data-error-for=username]").inner_text()
    assert "not allowed" in page.locator("#user-form [data-error-for=enterprise_code]").inner_text()
    assert b.unexpected_errors(422) == []


def test_switching_language_keeps_the_list_filters_and_tables_stay_in_their_cards(browser, site, many_enterprises):
    b, page = browser, browser.page
    b.login("admin")
    b.goto("/admin?q=Ningbo&size=20&page=2#enterprises")
    page.click("header a.lang")
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    query = urlsplit(page.url).query
    assert "q=Ningbo" in query and "size=20" in query and "page=2" in query
    assert page.locator("#enterprises .filters-form input[name=q]").input_value() == "Ningbo"
    assert range_text(page, "enterprise-pager").startswith("第 21–40 条")
    page.click("header a.lang")  # back to English, still filtered
    assert "q=Ningbo" in urlsplit(page.url).query
    # a narrow window: the users' and keys' tables scroll inside their cards, the page does not widen
    page.set_viewport_size({"width": 720, "height": 900})
    b.goto("/admin")
    for card in ("#users", "#keys", "#enterprises", "#tariff"):
        box, wrap = page.locator(card).bounding_box(), page.locator(f"{card} .table-wrap").first.bounding_box()
        assert wrap["x"] + wrap["width"] <= box["x"] + box["width"] + 0.5, card
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.set_viewport_size({"width": 1280, "height": 900})
    assert b.errors == []
