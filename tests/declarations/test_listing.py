"""Declaration lists that scale: filters, sorts, pages and exports, each within what the caller may see."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import update

from smartcustoms.core.db import transaction
from smartcustoms.declarations.lifecycle import Lane
from smartcustoms.declarations.listing import DeclarationQuery, ListQueryInvalid
from smartcustoms.declarations.models import Declaration
from smartcustoms.declarations.schemas import DeclarationIn
from smartcustoms.declarations.service import LaneDecision
from tests.support import OTHER_IMPORTER, SYSTEM, declaration_payload

DAY0 = datetime(2026, 11, 1, 9, 30)


class ByValue:
    """Selectivity for the tests: red above 5,000 (score 0.9), green otherwise (score by value)."""

    def decide(self, session, batch):
        return [LaneDecision(Lane.RED, 0.9, ["value"], "rule") if d.data.total_value > 5000
                else LaneDecision(Lane.GREEN, float(d.data.total_value) / 10_000, [], "model") for d in batch]


def _laptops(value: int, importer: str, office: str) -> DeclarationIn:
    p = declaration_payload(total_value=f"{value}.00", net_mass_kg="100", gross_mass_kg="110", office_code=office,
                            importer_code=importer)
    p["items"] = [{"hs_code": "8471300000", "description": "Laptop computers", "quantity": "1", "unit": "035",
                   "net_mass_kg": "100", "unit_price": f"{value}", "total_value": f"{value}.00",
                   "origin_country": "VN"}]
    return DeclarationIn.model_validate(p)


@pytest.fixture
def lodged(world):
    """Five tiles declarations of the world's importer at 2248 (13,000: red), four laptops of the other importer
    at 2201 (1,000 to 4,000: green), lodged on nine consecutive days (the tiles first)."""
    platform = world.platform
    platform.set_selectivity(ByValue())
    batch = [DeclarationIn.model_validate(declaration_payload()) for _ in range(5)]
    batch += [_laptops(1000 * (i + 1), OTHER_IMPORTER, "2201") for i in range(4)]
    results = platform.declarations.lodge_many(SYSTEM, batch)
    assert all(not r.errors for r in results), [r.errors for r in results]
    nos = [r.declaration_no for r in results]
    with transaction(platform.sessions) as s:
        for i, no in enumerate(nos):
            s.execute(update(Declaration).where(Declaration.declaration_no == no)
                      .values(lodged_at=DAY0 + timedelta(days=i)))
    return nos


def q(**kw) -> DeclarationQuery:
    return DeclarationQuery.parse({k: str(v) for k, v in kw.items()})


def nos_of(page) -> list[str]:
    return [r["declaration_no"] for r in page.rows]


def test_each_filter_narrows_the_list(world, lodged):
    svc, officer = world.platform.declarations, world.principals["officer"]
    tiles, laptops = lodged[:5], lodged[5:]
    assert svc.list_page(officer, q()).total == 9
    assert set(nos_of(svc.list_page(officer, q(hs="6907")))) == set(tiles)
    assert set(nos_of(svc.list_page(officer, q(hs="847130")))) == set(laptops)
    assert svc.list_page(officer, q(hs="6908")).total == 0  # a prefix, not a substring
    assert set(nos_of(svc.list_page(officer, q(importer=OTHER_IMPORTER.lower())))) == set(laptops)
    assert set(nos_of(svc.list_page(officer, q(office="2201")))) == set(laptops)
    assert set(nos_of(svc.list_page(officer, q(lane="red")))) == set(tiles)
    assert set(nos_of(svc.list_page(officer, q(status="released")))) == set(laptops)
    assert nos_of(svc.list_page(officer, q(no=lodged[3]))) == [lodged[3]]
    # a number starts with its office's code: a prefix finds every declaration of that office
    assert set(nos_of(svc.list_page(officer, q(no="2248")))) == set(tiles)
    assert set(nos_of(svc.list_page(officer, q(no=lodged[5][:8])))) == set(laptops)
    # dates are the lodging day, both ends included
    assert set(nos_of(svc.list_page(officer, q(date_from="2026-11-03", date_to="2026-11-05")))) == set(lodged[2:5])
    assert set(nos_of(svc.list_page(officer, q(date_from=date(2026, 11, 9))))) == {lodged[8]}
    assert set(nos_of(svc.list_page(officer, q(date_to="2026-11-01")))) == {lodged[0]}
    both = svc.list_page(officer, q(hs="8471", date_from="2026-11-07", office="2201", lane="green"))
    assert set(nos_of(both)) == set(lodged[6:])


def test_a_sort_is_stable_and_pages_cover_the_list_once(world, lodged):
    svc, officer = world.platform.declarations, world.principals["officer"]
    by_value = svc.list_page(officer, q(sort="total_value", size=25))
    values = [r["total_value"] for r in by_value.rows]
    assert values == sorted(values)
    tied = [r["declaration_no"] for r in by_value.rows if r["total_value"] == 13000]
    assert tied == sorted(tied)  # equal values keep the lodging (id) order
    desc = svc.list_page(officer, q(sort="-total_value", size=25))
    assert nos_of(desc) == list(reversed(nos_of(by_value)))  # the tiebreak turns with the direction
    newest = svc.list_page(officer, q())
    assert nos_of(newest) == list(reversed(lodged))  # newest lodging first by default
    # the hold queue's order: highest score first; the green ones' scores follow their values
    by_score = svc.list_page(officer, q(sort="-risk_score"))
    scores = [r["risk_score"] for r in by_score.rows]
    assert scores == sorted(scores, reverse=True)


def test_pages_of_a_list_have_no_gap_and_no_overlap(world, lodged, monkeypatch):
    from smartcustoms.declarations import listing

    monkeypatch.setattr(listing, "PAGE_SIZES", (2, 25, 50, 100, 200))  # small pages over the nine rows
    svc, officer = world.platform.declarations, world.principals["officer"]
    pages = [svc.list_page(officer, q(sort="total_value", size=2, page=n)) for n in range(1, 6)]
    assert [p.pages for p in pages] == [5] * 5 and [len(p.rows) for p in pages] == [2, 2, 2, 2, 1]
    assert [(p.first, p.last) for p in pages] == [(1, 2), (3, 4), (5, 6), (7, 8), (9, 9)]
    seen = [no for p in pages for no in nos_of(p)]
    assert len(seen) == len(set(seen)) == 9
    assert seen == nos_of(svc.list_page(officer, q(sort="total_value", size=25)))
    past = svc.list_page(officer, q(sort="total_value", size=2, page=99))  # past the end: the last page
    assert past.page == 5 and nos_of(past) == nos_of(pages[-1])
    empty = svc.list_page(officer, q(hs="01"))
    assert (empty.total, empty.pages, empty.first, empty.last, empty.rows) == (0, 1, 0, 0, [])


def test_a_trader_lists_only_its_own_and_never_by_score(world, lodged):
    svc = world.platform.declarations
    own = svc.list_page(world.principals["trader"], q(size=100))
    assert set(nos_of(own)) == set(lodged[:5]) and own.total == 5
    assert all(r["risk_score"] is None for r in own.rows)
    other = svc.list_page(world.principals["other"], q())
    assert set(nos_of(other)) == set(lodged[5:])
    # another enterprise's number, HS code or importer finds nothing
    assert svc.list_page(world.principals["other"], q(no=lodged[0])).total == 0
    assert svc.list_page(world.principals["other"], q(hs="6907")).total == 0
    with pytest.raises(ListQueryInvalid) as exc:
        svc.list_page(world.principals["trader"], q(sort="-risk_score"))
    assert [e.field for e in exc.value.errors] == ["sort"]


def test_the_hold_queue_is_the_same_list_narrowed_to_held_declarations(world, lodged):
    from smartcustoms.declarations.holds import HELD_STATUSES

    svc, officer = world.platform.declarations, world.principals["officer"]
    held = svc.list_page(officer, q(sort="-risk_score"), HELD_STATUSES)
    assert set(nos_of(held)) == set(lodged[:5])
    assert svc.list_page(officer, q(hs="8471"), HELD_STATUSES).total == 0


@pytest.mark.parametrize(("params", "fields"), [
    ({"hs": "69a"}, ["hs"]), ({"hs": "6"}, ["hs"]), ({"no": "12345678901234567890"}, ["no"]),
    ({"importer": "ACME"}, ["importer"]), ({"office": "22"}, ["office"]), ({"lane": "purple"}, ["lane"]),
    ({"status": "lost"}, ["status"]), ({"date_from": "2026-13-01"}, ["date_from"]),
    ({"date_from": "2026-11-05", "date_to": "2026-11-01"}, ["date_to"]),
    ({"date_from": "2000-01-01", "date_to": "2026-11-01"}, ["date_to"]),
    ({"sort": "password"}, ["sort"]), ({"sort": "-id; drop table"}, ["sort"]), ({"size": "30"}, ["size"]),
    ({"size": "100000"}, ["size"]), ({"page": "0"}, ["page"]), ({"page": "x"}, ["page"]),
    ({"page": "99999999"}, ["page"]), ({"hs": "x", "office": "y", "size": "7"}, ["hs", "office", "size"]),
])
def test_a_wrong_filter_is_refused_with_its_field_named(params, fields):
    with pytest.raises(ListQueryInvalid) as exc:
        DeclarationQuery.parse(params)
    assert sorted(e.field for e in exc.value.errors) == sorted(fields)
    assert exc.value.status == 422 and all(e.message for e in exc.value.errors)


def test_blank_parameters_are_no_filter_and_unknown_ones_are_ignored():
    assert DeclarationQuery.parse({"hs": " ", "office": "", "utm": "x"}) == DeclarationQuery()
    assert DeclarationQuery.parse({"importer": " 91440300ma5f0aaa1b "}).importer == OTHER_IMPORTER


def test_an_export_takes_every_matching_row_in_order_up_to_the_cap(world, lodged):
    svc, officer = world.platform.declarations, world.principals["officer"]
    chunks, shown, total = svc.export_rows(officer, q(sort="total_value"))
    rows = [r for c in chunks for r in c]
    assert (shown, total) == (9, 9)
    assert [r["declaration_no"] for r in rows] == nos_of(svc.list_page(officer, q(sort="total_value", size=25)))
    chunks, shown, total = svc.export_rows(officer, q(sort="total_value"), cap=3)
    assert (shown, total) == (3, 9) and len([r for c in chunks for r in c]) == 3
    chunks, _, _ = svc.export_rows(world.principals["trader"], q())
    mine = [r for c in chunks for r in c]
    assert {r["declaration_no"] for r in mine} == set(lodged[:5])
    assert {r["importer_code"] for r in mine} == {world.importer} and all(r["risk_score"] is None for r in mine)


def test_the_api_search_takes_the_same_filters_and_names_a_wrong_one(world, lodged):
    from fastapi.testclient import TestClient

    from smartcustoms.web.app import create_app
    from tests.support import assert_problem, key_header

    with TestClient(create_app(world.platform)) as c:
        def found(query: str, user: str = "officer") -> set[str]:
            r = c.get(f"/api/v1/declarations?{query}", headers=key_header(world, user))
            assert r.status_code == 200, r.text
            return {d["declaration_no"] for d in r.json()}

        assert found("hs=8471&date_from=2026-11-07&date_to=2026-11-09") == set(lodged[6:])
        assert found("no=2248") == set(lodged[:5])
        assert found("hs=8471", user="trader") == set()  # the other importer's laptops stay out of sight
        assert_problem(c.get("/api/v1/declarations?hs=8x", headers=key_header(world, "officer")), 422, "hs")
        assert_problem(c.get("/api/v1/declarations?date_from=2026-11-09&date_to=2026-11-01",
                             headers=key_header(world, "officer")), 422, "date_to")
