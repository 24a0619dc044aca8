"""Issue #18 walked once more in chromium: the items the other browser tests leave to plain HTTP.

- A declaration scoring 0.94 and released green reads why in words an officer understands, with the office's
  threshold above its score, in English and in Chinese (the sentence is the selectivity's own, ``_release_words``).
- "CSV and Excel export of what is shown" on every list: an officer downloads the held parcels and the manifest
  referral queue by their links, an administrator the users, keys, enterprises and tariff; each file is read back.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import httpx
import openpyxl
import pytest

from smartcustoms.declarations.lifecycle import Lane
from smartcustoms.declarations.schemas import DeclarationIn
from smartcustoms.declarations.service import LaneDecision
from smartcustoms.risk.targeting.selectivity import _release_words
from smartcustoms.web.i18n import translator
from tests.support import SYSTEM, declaration_payload
from tests.web.test_manifest_referrals import file
from tests.web.test_parcels import order_no, parcel_messages, save_cosmetics_rule

pytestmark = pytest.mark.browser

THRESHOLD_WORDS = _release_words(0.94, 0.97, "2248", 0.05, 0.02, "rank")


class ReleasedBelowThreshold:
    """The model's release of a high score below the office's threshold, as the live selectivity words it."""

    def decide(self, session, batch):
        return [LaneDecision(Lane.GREEN, 0.94, [THRESHOLD_WORDS], "model") for _ in batch]


def _download(page, selector: str) -> Path:
    with page.expect_download() as info:
        page.click(selector)
    return Path(info.value.path())


def _csv(path: Path) -> list[list[str]]:
    data = path.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))


def test_a_high_score_released_green_names_the_offices_threshold(browser, site):
    b, page = browser, browser.page
    platform = site.world.platform
    before = platform.declarations.selectivity
    platform.set_selectivity(ReleasedBelowThreshold())
    try:
        (r,) = platform.declarations.lodge_many(SYSTEM, [DeclarationIn.model_validate(declaration_payload())])
    finally:
        platform.set_selectivity(before)
    assert r.lane == "green"
    b.login("officer")
    b.goto(f"/declarations/{r.declaration_no}")
    reasons = page.locator("[data-testid=reasons] li").all_inner_texts()
    assert reasons == [THRESHOLD_WORDS]
    assert "0.94" in reasons[0] and "threshold 0.97" in reasons[0] and "top 5%" in reasons[0]
    b.goto("/lang/zh")
    b.goto(f"/declarations/{r.declaration_no}")
    (zh,) = page.locator("[data-testid=reasons] li").all_inner_texts()
    assert zh == "风险分 0.94 低于关区 2248 当前的布控阈值 0.97（该关区布控风险分最高的 5%，该收货人信用等级下为 2%）"
    b.goto("/lang/en")
    assert b.unexpected_errors() == []


def test_an_officer_exports_the_parcel_and_referral_queues_by_their_links(browser, site):
    b, page = browser, browser.page
    world = site.world
    save_cosmetics_rule(world.platform)
    r = httpx.post(f"{site.url}/api/v1/cbec/messages", content=parcel_messages(7), timeout=30,
                   headers={"X-API-Key": world.keys["trader"], "Content-Type": "application/xml"})
    assert r.status_code == 200, r.text
    file(world, "COSU6123456781", "LITHIUM BATTERIES", "WALK1")
    b.login("officer")
    b.goto("/parcels")
    header, *rows = _csv(_download(page, "[data-testid=parcel-exports-csv]"))
    assert header[1] == translator("en")("parcel.order_no") and order_no(7) in [row[1] for row in rows]
    b.goto("/manifests/referrals")
    sheet = openpyxl.load_workbook(io.BytesIO(_download(page, "[data-testid=referral-exports-xlsx]").read_bytes()))
    docs = [row[0] for row in sheet.worksheets[0].iter_rows(min_row=2, values_only=True)]
    assert "COSU6123456781" in docs
    assert b.unexpected_errors() == []


def test_an_administrator_exports_each_admin_list(browser, site):
    b, page = browser, browser.page
    b.login("admin")
    b.goto("/admin")
    _header, *users = _csv(_download(page, "[data-testid=user-exports-csv]"))
    assert {"trader", "officer", "admin"} <= {u[0] for u in users}
    keys = openpyxl.load_workbook(io.BytesIO(_download(page, "[data-testid=key-exports-xlsx]").read_bytes()))
    assert keys.worksheets[0].max_row - 1 == len(site.world.keys)
    _header, *ents = _csv(_download(page, "[data-testid=enterprise-exports-csv]"))
    assert "Shenzhen Other Imports Ltd." in [e[1] for e in ents]
    header, *lines = _csv(_download(page, "[data-testid=tariff-exports-csv]"))
    assert "hs_prefix" in header and lines
    assert b.unexpected_errors() == []


def test_an_administrator_deactivates_a_user_who_then_cannot_sign_in_and_reactivates_them(browser, site):
    b, page = browser, browser.page
    b.login("admin")
    b.goto("/admin/users/broker")
    page.click("[data-testid=user-deactivate]")
    assert "broker" in page.locator("[data-testid=confirm-question]").inner_text()
    page.click("[data-testid=confirm-yes]")
    page.click("form[action='/logout'] button")
    page.goto(f"{site.url}/login")
    page.fill("input[name=username]", "broker")
    page.fill("input[name=password]", "correct horse")
    page.click("form[action='/login'] button[type=submit]")
    assert page.locator("[data-testid=user]").count() == 0  # refused, with the same words as a wrong password
    assert translator("en")("login.failed") in page.inner_text("main")
    b.login("admin")
    b.goto("/admin/users/broker")
    page.click("[data-testid=user-reactivate]")
    page.click("[data-testid=confirm-yes]")
    page.click("form[action='/logout'] button")
    b.login("broker")  # signs in again
    assert "broker" in page.locator("[data-testid=user]").inner_text()
    assert b.unexpected_errors(401) == []
