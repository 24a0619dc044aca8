"""CSV and Excel exports of the lists besides the declaration lists (web/pages/exports.py): held parcels, the
manifest referral queue and the admin's users, API keys, enterprises and tariff — the same filter as the page,
every page, worded in the reader's language, formula-safe, for the roles that see the page only."""

from __future__ import annotations

import io

import openpyxl
import pytest
from fastapi.testclient import TestClient

from smartcustoms.web.i18n import translator
from smartcustoms.web.pages import exports
from tests.web.test_lists import read_csv, read_xlsx
from tests.web.test_manifest_referrals import file
from tests.web.test_parcels import PLATFORM, order_no, parcel_messages, save_cosmetics_rule, sign_in


@pytest.fixture
def web(sqlite_world):
    """The app with parcel 1 held (500, by the cosmetics rule) and parcel 2 released (800)."""
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


def test_held_parcels_export_as_the_page_selects_them(web):
    c, _world = web
    sign_in(c, "officer")
    page = c.get("/parcels")
    assert 'href="/parcels.csv?status=held"' in page.text and 'href="/parcels.xlsx?status=held"' in page.text
    en = translator("en")
    header, *rows = read_csv(c.get("/parcels.csv?status=held"))
    assert header[:4] == [en("parcel.ebp"), en("parcel.order_no"), en("parcel.ebc"), en("parcel.status")]
    assert [r[1] for r in rows] == [order_no(1)]
    assert rows[0][3].startswith("500 ") and "Cosmetics alert" in rows[0][5]  # status in words, the hold reason
    header, *rows = read_csv(c.get("/parcels.csv?status=decided"))
    assert [r[1] for r in rows] == [order_no(2)] and rows[0][3].startswith("800 ")
    sheet = read_xlsx(c.get("/parcels.xlsx?status=500"))
    assert [r[1] for r in sheet[1:]] == [order_no(1)] and sheet[1][0] == PLATFORM


def test_the_parcel_export_pages_through_the_whole_list(web, monkeypatch):
    c, world = web
    for n in range(3, 6):  # four held parcels in all, read two at a time
        c.post("/api/v1/cbec/messages", content=parcel_messages(n),
               headers={"X-API-Key": world.keys["trader"], "Content-Type": "application/xml"})
    monkeypatch.setattr(exports, "BATCH", 2)
    sign_in(c, "officer")
    _header, *rows = read_csv(c.get("/parcels.csv"))
    assert [r[1] for r in rows] == [order_no(n) for n in (1, 3, 4, 5)]
    monkeypatch.setattr(exports, "EXPORT_MAX_ROWS", 3)  # the cap: the first rows in the list's order
    _header, *rows = read_csv(c.get("/parcels.csv"))
    assert [r[1] for r in rows] == [order_no(n) for n in (1, 3, 4)]


def test_the_referral_queue_exports_in_chinese_with_its_filter(web):
    c, world = web
    file(world, "COSU6123456780", "LITHIUM BATTERIES", "M1")
    sign_in(c, "officer")
    page = c.get("/manifests/referrals")
    assert 'href="/manifests/referrals.csv"' in page.text
    header, *rows = read_csv(c.get("/manifests/referrals.csv"))
    assert [r[0] for r in rows] == ["COSU6123456780"] and len(header) == 10
    outcome = rows[0][5]
    assert outcome == translator("en")(f"manifest_outcome.{world.platform.manifests.referrals()[0].outcome.value}")
    c.get("/lang/zh")
    zh = translator("zh")
    header, *rows = read_csv(c.get("/manifests/referrals.csv"))
    assert header[0] == zh("manifests.consignment") != translator("en")("manifests.consignment")
    assert rows[0][5] == zh(f"manifest_outcome.{world.platform.manifests.referrals()[0].outcome.value}")
    other = next(o for o in ("request_for_information", "request_for_screening", "do_not_load")
                 if zh(f"manifest_outcome.{o}") != rows[0][5])
    assert read_csv(c.get(f"/manifests/referrals.csv?outcome={other}"))[1:] == []  # the page's filter
    sheet = read_xlsx(c.get("/manifests/referrals.xlsx"))
    assert sheet[1][0] == "COSU6123456780"


def test_admin_lists_export_for_the_admin_only(web):
    c, world = web
    sign_in(c, "officer")
    for path in ("/admin/users.csv", "/admin/keys.csv", "/admin/enterprises.csv", "/admin/tariff.xlsx"):
        assert c.get(path).status_code == 403, path
    sign_in(c, "trader")
    assert c.get("/parcels.csv").status_code == 403 and c.get("/manifests/referrals.csv").status_code == 403
    sign_in(c, "admin")
    page = c.get("/admin")
    for link in ("/admin/users.csv", "/admin/keys.xlsx", "/admin/enterprises.csv", "/admin/tariff.xlsx"):
        assert f'href="{link}"' in page.text, link
    header, *users = read_csv(c.get("/admin/users.csv"))
    assert {"trader", "officer", "admin"} <= {u[0] for u in users} and "password" not in ",".join(header).lower()
    en = translator("en")
    assert ["officer", "", en("role.officer"), "", en("yes")] in users
    r = c.get("/admin/keys.csv")
    header, *keys = read_csv(r)
    assert len(keys) == len(world.keys) and r.headers["X-Export-Rows"] == str(len(keys))
    assert not any(k in r.text for k in world.keys.values())  # never a key itself
    r = c.get("/admin/enterprises.csv?q=Shenzhen")
    _header, *ents = read_csv(r)
    assert [e[1] for e in ents] == ["Shenzhen Other Imports Ltd."] and r.headers["X-Export-Total"] == "1"
    sheet = read_xlsx(c.get("/admin/tariff.xlsx"))
    with world.platform.sessions() as s:
        from smartcustoms.tax.service import tariff_lines

        first, total = tariff_lines(s, limit=1)
    assert len(sheet) - 1 == total and sheet[0] == list(first[0].keys())
    assert c.get("/admin/users.pdf").status_code == 404


def test_exported_text_never_runs_as_a_formula(web):
    c, world = web
    from smartcustoms.core.db import transaction
    from smartcustoms.enterprises.schemas import EnterpriseIn, EnterpriseRole
    from smartcustoms.enterprises.service import create_enterprise
    from tests.support import SYSTEM

    with transaction(world.platform.sessions) as s:
        create_enterprise(s, EnterpriseIn(code="9131000000000000XA", name='=HYPERLINK("http://x.invalid")',
                                          roles=[EnterpriseRole.IMPORTER]), SYSTEM)
    sign_in(c, "admin")
    _header, *ents = read_csv(c.get("/admin/enterprises.csv?q=9131000000000000XA"))
    assert ents[0][1] == "'=HYPERLINK(\"http://x.invalid\")"
    wb = openpyxl.load_workbook(io.BytesIO(c.get("/admin/enterprises.xlsx?q=9131000000000000XA").content))
    name = wb.worksheets[0].cell(row=2, column=2)
    assert name.value == '=HYPERLINK("http://x.invalid")' and name.data_type == "s"  # text, never a formula


def test_the_users_and_keys_lists_page_and_keep_the_other_lists_place(web):
    c, world = web
    from smartcustoms.core.db import transaction
    from smartcustoms.enterprises.schemas import UserIn
    from smartcustoms.enterprises.service import create_api_key, create_user
    from tests.support import SYSTEM

    with transaction(world.platform.sessions) as s:
        for n in range(24):  # 30 users in all (no password: API keys only, no scrypt work)
            create_user(s, UserIn(username=f"gateway{n:02d}", role="trader", enterprise_code=world.importer), SYSTEM)
            create_api_key(s, f"gateway{n:02d}", f"erp {n}")
    sign_in(c, "admin")
    page = c.get("/admin?usize=20&upage=2&ksize=20&kpage=2&tpage=2").text
    users = page.split('data-testid="users"', 1)[1].split("</table>", 1)[0]
    assert users.count("<tr>") - 1 == 10 and "gateway23" in users and "gateway00" not in users
    assert 'data-testid="user-pager-range">Showing 21–30 of 30' in page
    keys = page.split('data-testid="keys"', 1)[1].split("</table>", 1)[0]
    n_keys = 24 + len(world.keys)
    assert keys.count("<tr>") - 1 == n_keys - 20 and f"Showing 21–{n_keys} of {n_keys}" in page
    assert "tpage=2" in page.split('data-testid="user-pager"', 1)[1].split("</div>", 1)[0]  # the tariff keeps its page
    r = c.get("/admin/users.csv")
    assert len(read_csv(r)) - 1 == 30 and r.headers["X-Export-Total"] == "30"  # the export holds every page
