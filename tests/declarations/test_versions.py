"""Amendments keep their versions and say what changed; tax payment status follows the assessed taxes."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from smartcustoms.audit.service import entries
from smartcustoms.declarations.lifecycle import Lane
from smartcustoms.declarations.payments import Payment, PaymentStatus, payment_state
from smartcustoms.declarations.service import LaneDecision
from smartcustoms.declarations.versions import diff
from tests.support import assert_problem as problem
from tests.support import declaration_payload
from tests.support import key_header as h


class RedLane:
    """Holds everything on the red lane."""

    def decide(self, session, batch):
        return [LaneDecision(Lane.RED, 0.9, ["test rule"], "rule") for _ in batch]


def _item(hs: str, desc: str, qty: str, price: str) -> dict:
    return {"hs_code": hs, "description": desc, "quantity": qty, "unit_price": price,
            "total_value": str(Decimal(qty) * Decimal(price)), "unit": "035"}


def test_diff_pairs_items_so_a_removed_line_reads_as_removed():
    a = {"header": {"total_value": "13000", "seller_name": "A"},
         "items": [_item("6907220000", "wall tiles", "18000", "0.5"), _item("6907220000", "floor tiles", "2000", "2"),
                   _item("8471300000", "laptops", "1", "900")]}
    b = {"header": {"total_value": "13000.00", "seller_name": "B"},
         "items": [_item("6907220000", "wall tiles", "18000", "0.50"), _item("8471300000", "laptops", "2", "900"),
                   _item("9403600000", "wooden furniture", "3", "100")]}
    d = diff(1, a, 2, b)
    assert [(c.field, c.old, c.new) for c in d.header] == [("seller_name", "A", "B")]  # 13000 == 13000.00
    kinds = [(i.kind, i.old_item_no, i.new_item_no) for i in d.items]
    assert kinds == [("removed", 2, None), ("changed", 3, 2), ("added", None, 3)]
    laptops = d.items[1]
    assert [(c.field, c.old, c.new) for c in laptops.changes] == [("quantity", "1", "2"),
                                                                  ("total_value", "900", "1800")]
    assert diff(1, a, 1, a).empty


def test_an_amendment_keeps_both_versions_with_its_reason_and_is_audited(world):
    platform, trader = world.platform, world.principals["trader"]
    platform.set_selectivity(RedLane())
    from smartcustoms.declarations.schemas import DeclarationIn

    p = declaration_payload()
    out, _ = platform.declarations.lodge(trader, DeclarationIn.model_validate(p))
    p2 = declaration_payload(client_message_id="amend-1", total_value="9000.00", net_mass_kg="18000",
                             seller_name="Levante Export S.L.")
    p2["items"] = p2["items"][:1]
    amended = platform.declarations.amend(trader, out.declaration_no, DeclarationIn.model_validate(p2),
                                          reason="floor tiles not shipped")
    assert amended.version == 2 and amended.status == "lane_assigned" and amended.lane == "red"
    kept = platform.declarations.versions(trader, out.declaration_no)
    assert [(v.version, v.reason) for v in kept] == [(1, "lodged"), (2, "floor tiles not shipped")]
    [(v2, d)] = platform.declarations.version_diffs(trader, out.declaration_no)
    assert v2.version == 2 and (d.old, d.new) == (1, 2)
    assert {c.field: (c.old, c.new) for c in d.header}["seller_name"] == ("Cerámica Levante S.L.",
                                                                        "Levante Export S.L.")
    assert [(i.kind, i.old_item_no, i.description) for i in d.items] == [("removed", 2, "Glazed ceramic floor tiles")]
    assert {c.field for c in d.tax} >= {"customs_value_cny", "tax_total_cny"}
    events = platform.declarations.events(trader, out.declaration_no)
    assert events[4].reason == "amended to version 2"
    assert events[4].detail["amendment_reason"] == "floor tiles not shipped"
    with platform.sessions() as s:
        actions = [e.action for e in entries(s, "declaration", out.declaration_no)]
    assert "declaration.amend" in actions  # a trader's amendment is audited too
    platform.declarations.cancel(trader, out.declaration_no, "order withdrawn")
    with platform.sessions() as s:
        assert "declaration.cancel" in [e.action for e in entries(s, "declaration", out.declaration_no)]
    # another enterprise sees no versions (the declaration does not exist for it)
    from smartcustoms.core.errors import NotFound

    with pytest.raises(NotFound):
        platform.declarations.versions(world.principals["other"], out.declaration_no)
    with pytest.raises(DBAPIError, match="append-only"), platform.engine.begin() as conn:
        conn.execute(text("UPDATE declaration_versions SET reason = 'rewritten'"))


def test_versions_and_tax_payment_through_the_api(client, world):
    world.platform.set_selectivity(RedLane())
    p = declaration_payload()
    no = client.post("/api/v1/declarations", json=p, headers=h(world, "trader")).json()["declaration_no"]
    assert client.get(f"/api/v1/declarations/{no}/versions", headers=h(world, "trader")).json() == []
    p2 = {**p, "client_message_id": "fix-1", "seller_name": "Levante Export S.L."}
    r = client.put(f"/api/v1/declarations/{no}?reason=seller+name+corrected", json=p2, headers=h(world, "trader"))
    assert r.status_code == 200, r.text
    [v] = client.get(f"/api/v1/declarations/{no}/versions", headers=h(world, "trader")).json()
    assert v["version"] == 2 and v["previous_version"] == 1 and v["reason"] == "seller name corrected"
    assert v["header"] == [{"field": "seller_name", "old": "Cerámica Levante S.L.", "new": "Levante Export S.L."}]
    assert v["items"] == [] and v["tax"] == []
    state = client.get(f"/api/v1/declarations/{no}/tax-payment", headers=h(world, "trader")).json()
    total = Decimal(state["due_cny"])
    assert state["status"] == "unpaid" and total > 0 and state["due_by"]
    # only customs confirm payments; the trader's attempt is refused, another enterprise sees nothing
    pay = {"amount_cny": str(total - 100), "reference": "BOC-2026-0001"}
    assert client.post(f"/api/v1/declarations/{no}/payments", json=pay, headers=h(world, "trader")).status_code == 403
    assert client.get(f"/api/v1/declarations/{no}/tax-payment", headers=h(world, "other")).status_code == 404
    r = client.post(f"/api/v1/declarations/{no}/payments", json=pay, headers=h(world, "officer"))
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "part_paid" and Decimal(r.json()["outstanding_cny"]) == 100
    again = client.post(f"/api/v1/declarations/{no}/payments", json=pay, headers=h(world, "officer"))
    assert Decimal(again.json()["paid_cny"]) == total - 100  # the same reference again changes nothing
    problem(client.post(f"/api/v1/declarations/{no}/payments", json={**pay, "amount_cny": "1"},
                        headers=h(world, "officer")), 409, "reference")
    problem(client.post(f"/api/v1/declarations/{no}/payments", json={"amount_cny": "0", "reference": "x"},
                        headers=h(world, "officer")), 422)
    r = client.post(f"/api/v1/declarations/{no}/payments", json={"amount_cny": "100", "reference": "BOC-2026-0002"},
                    headers=h(world, "officer"))
    assert r.json()["status"] == "paid" and len(r.json()["payments"]) == 2


def test_payment_falls_due_fifteen_days_after_the_notice_then_a_surcharge_accrues():
    notice = datetime(2026, 3, 1, 10, 0)
    state = payment_state(Decimal("1000"), notice, [], notice + timedelta(days=15))
    assert state.status == PaymentStatus.UNPAID and state.due_by == datetime(2026, 3, 16, 10, 0)
    late = payment_state(Decimal("1000"), notice, [Payment(Decimal("400"), notice, "r1", "officer")],
                         datetime(2026, 3, 20, 9, 0))
    assert late.status == PaymentStatus.OVERDUE and late.days_late == 4
    assert late.outstanding_cny == Decimal("600.00") and late.surcharge_cny == Decimal("1.20")  # 600 × 0.05 % × 4
    assert payment_state(Decimal("0"), notice, [], notice).status == PaymentStatus.NOTHING_DUE
    assert payment_state(Decimal("500"), notice, [], notice, void=True).status == PaymentStatus.NOTHING_DUE
    assert payment_state(None, None, [], notice).status == PaymentStatus.NOT_ASSESSED
