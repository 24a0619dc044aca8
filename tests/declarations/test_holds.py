"""The hold queue: held declarations by lane and office, highest score or oldest first, a page at a time."""

from __future__ import annotations

from smartcustoms.core.db import transaction
from smartcustoms.declarations import holds
from smartcustoms.declarations.schemas import DeclarationIn
from smartcustoms.inspection.schemas import InspectionResultIn
from tests.support import SYSTEM, declaration_payload


def _laptops(office: str) -> DeclarationIn:
    p = declaration_payload(total_value="1000.00", net_mass_kg="100", gross_mass_kg="110", office_code=office)
    p["items"] = [{"hs_code": "8471300000", "description": "Laptop computers", "quantity": "1", "unit": "035",
                   "net_mass_kg": "100", "unit_price": "1000", "total_value": "1000.00", "origin_country": "VN"}]
    return DeclarationIn.model_validate(p)


def _lodge_held(world) -> list:
    """Tiles at 2248 held red, laptops at 2201 held yellow (two mandatory rules); returns the lodge results."""
    from smartcustoms.risk.targeting import service as risk_service
    from smartcustoms.risk.targeting.schemas import RuleIn

    platform = world.platform
    with transaction(platform.sessions) as s:
        for name, hs, lane in (("tiles", "6907", "red"), ("laptops", "8471", "yellow")):
            risk_service.save_rule(s, RuleIn(name=name, lane=lane, mandatory=True,
                                             criteria=[{"field": "hs_code", "op": "prefix", "value": [hs]}]), SYSTEM)
    platform.rules_changed()
    batch = [DeclarationIn.model_validate(declaration_payload()) for _ in range(3)] + [_laptops("2201")
                                                                                      for _ in range(2)]
    return platform.declarations.lodge_many(SYSTEM, batch)


def test_held_declarations_are_counted_per_office_and_lane_and_filtered(world):
    results = _lodge_held(world)
    with world.platform.sessions() as s:
        q = holds.hold_queue(s)
        red = holds.hold_queue(s, lane="red")
        yellow_2201 = holds.hold_queue(s, lane="yellow", office="2201")
        none = holds.hold_queue(s, lane="red", office="2201")
    assert q.counts == {("2248", "red"): 3, ("2201", "yellow"): 2}
    assert q.total == 5 and {r["declaration_no"] for r in q.rows} == {r.declaration_no for r in results}
    assert red.total == 3 and {r["lane"] for r in red.rows} == {"red"}
    assert yellow_2201.total == 2 and {r["office_code"] for r in yellow_2201.rows} == {"2201"}
    assert none.total == 0 and none.rows == [] and none.counts == q.counts  # the counts ignore the filters


def test_the_queue_orders_by_score_or_age_and_pages(world):
    _lodge_held(world)
    with world.platform.sessions() as s:
        by_score = holds.hold_queue(s)
        by_age = holds.hold_queue(s, order="lodged_at")
        unknown = holds.hold_queue(s, order="importer_code")  # not an ordering: highest score first
        pages = [holds.hold_queue(s, order="lodged_at", limit=2, offset=o).rows for o in (0, 2, 4)]
    scores = [r["risk_score"] for r in by_score.rows]
    assert scores == sorted(scores, reverse=True)
    assert [r["lodged_at"] for r in by_age.rows] == sorted(r["lodged_at"] for r in by_age.rows)
    assert unknown.rows == by_score.rows
    assert [r["declaration_no"] for page in pages for r in page] == [r["declaration_no"] for r in by_age.rows]
    assert [len(p) for p in pages] == [2, 2, 1]


def test_a_decided_declaration_leaves_the_queue(world):
    results = _lodge_held(world)
    officer = world.principals["officer"]
    world.platform.inspections.record(officer, results[0].declaration_no, InspectionResultIn(outcome="no_offence"))
    with world.platform.sessions() as s:
        q = holds.hold_queue(s)
    assert q.total == 4 and results[0].declaration_no not in {r["declaration_no"] for r in q.rows}
