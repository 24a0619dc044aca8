"""The declaration lists in the web: filters kept in the URL, sortable columns, pages, and CSV and Excel exports
of what is shown (a trader's export holds only its own rows)."""

from __future__ import annotations

import csv
import io
import re
from html import unescape
from urllib.parse import parse_qs, urlsplit

import openpyxl
import pytest
from fastapi.testclient import TestClient

from smartcustoms.declarations.lifecycle import Lane
from smartcustoms.declarations.schemas import DeclarationIn
from smartcustoms.declarations.service import LaneDecision
from smartcustoms.web.i18n import translator
from tests.support import OTHER_IMPORTER, SYSTEM, declaration_payload
from tests.web.test_parcels import sign_in

#: free text a trader may type that a spreadsheet would run as a formula
FORMULAS = ('=HYPERLINK("http://example.invalid","open")', "+1+2", "-2+3", "@SUM(A1:A2)")


class ByValue:
    """Red above 5,000 (score 0.9), green otherwise (score by value)."""

    def decide(self, session, batch):
        return [LaneDecision(Lane.RED, 0.9, ["value"], "rule") if d.data.total_value > 5000
                else LaneDecision(Lane.GREEN, float(d.data.total_value) / 10_000, [], "model") for d in batch]


def _laptops(value: int) -> DeclarationIn:
    p = declaration_payload(total_value=f"{value}.00", net_mass_kg="100", gross_mass_kg="110", office_code="2201",
                            importer_code=OTHER_IMPORTER, seller_name="Saigon Laptops JSC")
    p["items"] = [{"hs_code": "8471300000", "description": "Laptop computers", "quantity": "1", "unit": "035",
                   "net_mass_kg": "100", "unit_price": f"{value}", "total_value": f"{value}.00",
                   "origin_country": "VN"}]
    return DeclarationIn.model_validate(p)


@pytest.fixture
def web(sqlite_world):
    """Four tiles declarations of the world's importer (held red; sellers named like formulas) and three laptops
    of the other importer at 2201 (released green)."""
    from smartcustoms.web.app import create_app

    platform = sqlite_world.platform
    platform.set_selectivity(ByValue())
    batch = [DeclarationIn.model_validate(declaration_payload(seller_name=f)) for f in FORMULAS]
    batch += [_laptops(1000 * (i + 1)) for i in range(3)]
    nos = [r.declaration_no for r in platform.declarations.lodge_many(SYSTEM, batch)]
    with TestClient(create_app(platform)) as c:
        yield c, sqlite_world, nos


def read_csv(r) -> list[list[str]]:
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert r.content.startswith(b"\xef\xbb\xbf")  # the BOM: Excel reads the file as UTF-8
    return list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))


def read_xlsx(r) -> list[list]:
    assert r.status_code == 200 and "spreadsheetml" in r.headers["content-type"]
    wb = openpyxl.load_workbook(io.BytesIO(r.content), read_only=True)
    return [list(row) for row in wb.worksheets[0].iter_rows(values_only=True)]


def listed(html: str) -> list[str]:
    """The declaration numbers a list page shows, in its order."""
    table = html.split('data-testid="declarations"', 1)[1].split("</table>", 1)[0]
    return re.findall(r'<a href="/declarations/(\d{18})">', table)


def test_a_traders_export_holds_only_its_own_rows(web):
    c, world, nos = web
    sign_in(c, "other")
    rows = read_csv(c.get("/declarations.csv"))
    en = translator("en")
    assert rows[0][:3] == [en("decl.no"), en("decl.status"), en("decl.lane")] and en("decl.score") not in rows[0]
    assert sorted(r[0] for r in rows[1:]) == sorted(nos[4:])
    importer = rows[0].index(en("decl.importer"))
    assert {r[importer] for r in rows[1:]} == {OTHER_IMPORTER}
    sheet = read_xlsx(c.get("/declarations.xlsx"))
    assert sheet[0] == rows[0] and sorted(r[0] for r in sheet[1:]) == sorted(nos[4:])
    # filters cannot reach past the enterprise: another's number, HS code or importer exports nothing
    for query in (f"no={nos[0]}", "hs=6907", f"importer={world.importer}"):
        assert read_csv(c.get(f"/declarations.csv?{query}"))[1:] == []
        assert read_xlsx(c.get(f"/declarations.xlsx?{query}"))[1:] == []
    assert c.get("/queue.csv").status_code == 403  # the hold queue is customs' work


def test_an_export_is_what_the_list_shows_on_every_page(web):
    c, _, nos = web
    sign_in(c, "officer")
    query = "hs=8471&office=2201&sort=-total_value"
    shown = listed(c.get(f"/declarations?{query}").text)
    assert shown == list(reversed(nos[4:]))
    rows = read_csv(c.get(f"/declarations.csv?{query}"))
    en = translator("en")
    assert en("decl.score") in rows[0]
    assert [r[0] for r in rows[1:]] == shown
    value = rows[0].index(en("decl.total_value"))
    assert [r[value] for r in rows[1:]] == ["3000.0000", "2000.0000", "1000.0000"]
    sheet = read_xlsx(c.get(f"/declarations.xlsx?{query}"))
    assert [r[0] for r in sheet[1:]] == shown and [r[value] for r in sheet[1:]] == [3000, 2000, 1000]
    status = rows[0].index(en("decl.status"))
    assert {r[status] for r in rows[1:]} == {en("status.released")}  # in words, as the page shows them
    queue = read_csv(c.get("/queue.csv?sort=lodged_at"))
    assert [r[0] for r in queue[1:]] == nos[:4]  # held only, oldest first
    assert read_xlsx(c.get("/queue.xlsx?sort=lodged_at"))[1:][0][0] == nos[0]


def test_exported_text_that_looks_like_a_formula_stays_text(web):
    c, _, _ = web
    sign_in(c, "trader")
    en = translator("en")
    rows = read_csv(c.get("/declarations.csv?sort=lodged_at"))
    seller = rows[0].index(en("decl.seller"))
    assert [r[seller] for r in rows[1:]] == ["'" + f for f in FORMULAS]
    wb = openpyxl.load_workbook(io.BytesIO(c.get("/declarations.xlsx?sort=lodged_at").content))
    cells = [wb.worksheets[0].cell(row=i + 2, column=seller + 1) for i in range(len(FORMULAS))]
    assert [x.value for x in cells] == list(FORMULAS) and {x.data_type for x in cells} == {"s"}  # never "f"


def test_an_export_over_the_cap_says_so(web, monkeypatch):
    from smartcustoms.declarations import listing

    c, _, _ = web
    sign_in(c, "officer")
    monkeypatch.setattr(listing, "EXPORT_MAX_ROWS", 5)
    r = c.get("/declarations.csv")
    assert len(read_csv(r)) == 1 + 5
    assert (r.headers["x-export-rows"], r.headers["x-export-total"], r.headers["x-export-truncated"]) == \
        ("5", "7", "true")
    assert "5" in unescape(c.get("/declarations").text).split('data-testid="exports"', 1)[1].split("</p>", 1)[0]


def test_a_wrong_filter_is_named_beside_its_field_and_the_others_still_apply(web):
    c, _, nos = web
    sign_in(c, "officer")
    r = c.get("/declarations?hs=84x&office=2201&size=7&sort=password")
    assert r.status_code == 422
    html = unescape(r.text)
    en = translator("en")
    for field in ("hs", "size", "sort"):
        assert f'data-error-for="{field}">{en("lists.err." + field)}' in html
    assert sorted(listed(r.text)) == sorted(nos[4:])  # the office still narrows the list
    c.get("/lang/zh")
    html = unescape(c.get("/declarations?hs=84x").text)
    zh = translator("zh")
    assert f'data-error-for="hs">{zh("lists.err.hs")}' in html and "digits" not in html
    r = c.get("/declarations?date_from=2026-11-05&date_to=2026-11-01")
    assert r.status_code == 422 and f'data-error-for="date_to">{zh("lists.err.date_to")}' in unescape(r.text)


def test_every_link_of_a_list_keeps_its_filters(web):
    c, _, _ = web
    sign_in(c, "officer")
    html = unescape(c.get("/declarations?hs=8471&office=2201&size=25&sort=total_value").text)
    kept = {"hs": ["8471"], "office": ["2201"], "size": ["25"]}
    links = re.findall(r'href="(/(?:declarations|lang/\w+)[^"]*)"', html)
    sorts = [h for h in links if "data-sort" in html.split(h, 1)[1][:40]]
    assert sorts and all(parse_qs(urlsplit(h).query).items() >= kept.items() for h in sorts)
    exports = [h for h in links if h.startswith(("/declarations.csv", "/declarations.xlsx"))]
    assert len(exports) == 2 and all(parse_qs(urlsplit(h).query) == {**kept, "sort": ["total_value"]}
                                     for h in exports)
    switch = [h for h in links if h.startswith("/lang/")]
    assert switch and all("hs%3D8471" in h and "office%3D2201" in h for h in switch)
    assert 'name="hs" value="8471"' in html and 'value="2201" selected' in html  # the form shows them


# -- in the browser ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def many_laptops(site) -> list[str]:
    """Thirty more laptop declarations of the other importer at office 2201, values 1,001 to 1,030 (two pages of 25
    with the site's six laptops at 2248 left out by the office filter)."""
    results = site.world.platform.declarations.lodge_many(SYSTEM, [_laptops(1001 + i) for i in range(30)])
    assert all(not r.errors for r in results)
    return [r.declaration_no for r in results]


def column(page, testid: str, n: int) -> list[str]:
    return [x.strip() for x in page.locator(f"[data-testid={testid}] tbody tr td:nth-child({n})").all_inner_texts()]


@pytest.mark.browser
def test_a_list_filtered_sorted_paged_and_exported(browser, many_laptops, tmp_path):
    b = browser
    page = b.page
    b.login("officer")
    b.goto("/declarations")
    form = page.locator("[data-testid=list-filters]")
    form.locator("input[name=hs]").fill("84x")  # a wrong HS code is named beside its field
    form.locator("[data-testid=list-search]").click()
    page.wait_for_selector("[data-error-for=hs]")
    assert "2 to 10 digits" in page.locator("[data-error-for=hs]").inner_text()
    form = page.locator("[data-testid=list-filters]")
    form.locator("input[name=hs]").fill("8471")
    form.locator("select[name=office]").select_option("2201")
    form.locator("select[name=size]").select_option("25")
    form.locator("[data-testid=list-search]").click()
    page.wait_for_url(re.compile(r"hs=8471"))
    assert page.locator("[data-error-for=hs]").count() == 0
    assert "of 30" in page.locator("[data-testid=page-position]").inner_text()
    page.locator("th a[data-sort=total_value]").click()  # descending first
    page.wait_for_url(re.compile(r"sort=-total_value"))
    assert page.locator("th[aria-sort=descending] a[data-sort=total_value]").count() == 1
    first = column(page, "declarations", 1)
    assert len(first) == 25 and set(first) <= set(many_laptops)
    page.locator("[data-testid=page-next]").click()
    page.wait_for_url(re.compile(r"page=2"))
    second = column(page, "declarations", 1)
    assert len(second) == 5 and not set(first) & set(second)
    order = [many_laptops[i] for i in range(29, -1, -1)]  # by value, highest first
    assert first + second == order
    b.shot("list-filtered-sorted-paged")
    page.locator("a.lang").first.click()  # 中文: the same list, the same filters and page
    page.wait_for_url(re.compile(r"page=2"))
    assert "共 30 行" in page.locator("[data-testid=page-position]").inner_text()
    assert column(page, "declarations", 1) == second
    with page.expect_download() as dl:
        page.locator("[data-testid=export-csv]").click()
    path = tmp_path / "export.csv"
    dl.value.save_as(path)
    rows = list(csv.reader(io.StringIO(path.read_bytes().decode("utf-8-sig"))))
    assert rows[0][0] == translator("zh")("decl.no") and [r[0] for r in rows[1:]] == order  # every page
    with page.expect_download() as dl:
        page.locator("[data-testid=export-xlsx]").click()
    path = tmp_path / "export.xlsx"
    dl.value.save_as(path)
    sheet = [list(r) for r in openpyxl.load_workbook(path, read_only=True).worksheets[0].iter_rows(values_only=True)]
    assert [r[0] for r in sheet[1:]] == order
    assert b.unexpected_errors(422) == []
