"""The inbox: what each party is told of a declaration's life, in codes and parameters, with its own read state
(storage on SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest
from sqlalchemy import select

from smartcustoms.core.db import transaction
from smartcustoms.core.errors import NotFound
from smartcustoms.core.security import Principal, Role
from smartcustoms.declarations.lifecycle import Lane, Status
from smartcustoms.declarations.models import Declaration
from smartcustoms.declarations.schemas import DeclarationIn
from smartcustoms.declarations.service import LaneDecision
from smartcustoms.enterprises.models import User
from smartcustoms.enterprises.schemas import UserIn
from smartcustoms.enterprises.service import create_user
from smartcustoms.inspection.schemas import InspectionResultIn
from smartcustoms.notices.schemas import NoticeCode
from smartcustoms.notices.service import UNREAD_CAP, NoticeDraft, post
from tests.support import DECLARANT, IMPORTER, SYSTEM, declaration_payload


class Fixed:
    """Every declaration on one lane, so the tests do not depend on the risk model."""

    def __init__(self, lane: Lane) -> None:
        self.lane = lane

    def decide(self, session, batch):
        return [LaneDecision(self.lane, 0.9, ["test rule"], "rule") for _ in batch]


def lodged(world, lane: Lane = Lane.RED, **overrides) -> str:
    world.platform.set_selectivity(Fixed(lane))
    body = DeclarationIn.model_validate(declaration_payload(**overrides))
    return world.platform.declarations.lodge_many(SYSTEM, [body])[0].declaration_no


def inbox(world, user: str, **kw):
    return world.platform.notices.page(world.principals[user], **kw)


def codes(world, user: str) -> list[str]:
    return [n.code for n in inbox(world, user).items]


def test_a_detention_tells_every_party_with_its_reason_and_no_one_else(world):
    no = lodged(world)
    officer = world.principals["officer"]
    svc = world.platform.declarations
    svc.decide(officer, no, None, "", decision="physical", reason_code="goods_may_differ")
    svc.decide(officer, no, None, "counterfeit brand marks on 40 boxes", decision="detain", reason_code="ipr")
    expected = [NoticeCode.DETAINED, NoticeCode.CHECK_ORDERED, NoticeCode.HELD]
    for user in ("trader", "broker"):  # the importer's and the declarant's users
        page = inbox(world, user)
        assert [n.code for n in page.items] == expected
        assert {n.declaration_no for n in page.items} == {no}
        assert page.total == 3 and page.unread == 3 and not any(n.read for n in page.items)
    detained, check, held = inbox(world, "trader").items
    assert detained.params == {"reason_code": "ipr", "note": "counterfeit brand marks on 40 boxes"}
    assert check.params == {"decision": "physical"}  # which check, not why (goods_may_differ stays inside)
    assert held.params == {"lane": "red"}  # the lane's consequence: no score, no rule
    assert world.platform.notices.text(detained.code, detained.params) == (
        "Detained: suspected infringement of intellectual property rights — counterfeit brand marks on 40 boxes.")
    assert codes(world, "other") == [] and codes(world, "officer") == []  # another enterprise, customs


def test_a_green_release_at_lodging_tells_nothing_and_a_hold_tells_its_lane(world):
    lodged(world, Lane.GREEN)
    assert codes(world, "trader") == []
    no = lodged(world, Lane.YELLOW)
    page = inbox(world, "trader")
    assert [(n.code, n.params, n.declaration_no) for n in page.items] == [(NoticeCode.HELD, {"lane": "yellow"}, no)]
    assert world.platform.notices.text(NoticeCode.HELD, {"lane": "yellow"}) == "Held for a document check."


def test_each_user_of_an_enterprise_has_its_own_read_state(world):
    with transaction(world.platform.sessions) as s:
        create_user(s, UserIn(username="trader2", password="correct horse", role="trader", enterprise_code=IMPORTER),
                    SYSTEM)
    with world.platform.sessions() as s:
        uid = s.scalar(select(User.id).where(User.username == "trader2"))
    trader2 = Principal(uid, "trader2", Role.TRADER, IMPORTER)
    notices = world.platform.notices
    trader = world.principals["trader"]
    first, second = lodged(world), lodged(world)
    newest = inbox(world, "trader").items
    assert [n.declaration_no for n in newest] == [second, first]
    assert notices.mark_read(trader, [newest[1].id]) == 1
    assert notices.mark_read(trader, [newest[1].id]) == 0  # already read: nothing more
    assert [n.read for n in inbox(world, "trader").items] == [False, True]
    assert notices.unread_count(trader) == 1
    assert notices.unread_count(trader2) == 2  # the other user of the importer has read nothing
    assert [n.read for n in notices.page(trader2).items] == [False, False]
    assert notices.mark_all_read(trader2) == 2
    assert notices.unread_count(trader2) == 0 and notices.unread_count(trader) == 1
    third = lodged(world)  # arrives after "mark all read": unread
    page = notices.page(trader2, unread_only=True)
    assert [n.declaration_no for n in page.items] == [third] and page.total == 1 and page.unread == 1
    assert notices.mark_all_read(trader2) == 1 and notices.unread_count(trader2) == 0  # the mark moves on
    assert notices.unread_count(world.principals["broker"]) == 3  # the declarant's users too


def test_a_message_of_another_enterprise_cannot_be_marked_and_is_never_listed(world):
    lodged(world)
    mine = inbox(world, "trader").items[0]
    notices = world.platform.notices
    with pytest.raises(NotFound):
        notices.mark_read(world.principals["other"], [mine.id])
    with pytest.raises(NotFound):  # one foreign id among own ones: nothing is marked
        notices.mark_read(world.principals["officer"], [mine.id])
    assert notices.unread_count(world.principals["trader"]) == 1
    assert notices.page(world.principals["other"]).total == 0
    assert notices.mark_all_read(world.principals["other"]) == 0
    assert notices.unread_count(world.principals["trader"]) == 1  # another's "mark all" marks nothing of ours
    assert notices.page(SYSTEM).total == 0 and notices.unread_count(SYSTEM) == 0


def test_inspection_results_cancellations_and_amendments_are_told(world):
    officer = world.principals["officer"]
    trader = world.principals["trader"]
    platform = world.platform
    held = lodged(world)
    platform.inspections.record(officer, held, InspectionResultIn(
        outcome="offence", offence_type="undervaluation", duty_recovered=Decimal("880.00"), notes="invoice split"))
    clean = lodged(world)
    platform.inspections.record(officer, clean, InspectionResultIn(outcome="no_offence"))
    cancelled = lodged(world)
    platform.declarations.cancel(trader, cancelled, "goods sold before arrival")
    amended = lodged(world)
    p = declaration_payload(client_message_id="amend-1", total_value="9000.00", net_mass_kg="18000")
    p["items"] = p["items"][:1]
    platform.declarations.amend(world.principals["broker"], amended, DeclarationIn.model_validate(p))
    by_no: dict[str, list] = {}
    for n in inbox(world, "trader", limit=50).items:
        by_no.setdefault(n.declaration_no, []).append((n.code, n.params))
    assert by_no[held][0] == (NoticeCode.DETAINED, {"offence_type": "undervaluation", "duty_recovered": "880.00"})
    assert "invoice split" not in str(by_no[held])  # the officer's notes stay with customs
    assert by_no[clean][0] == (NoticeCode.RELEASED, {"outcome": "no_offence"})
    assert by_no[cancelled][0] == (NoticeCode.CANCELLED, {"reason": "goods sold before arrival", "by": "trader"})
    with platform.sessions() as s:
        tax = s.scalar(select(Declaration.tax_total_cny).where(Declaration.declaration_no == amended))
    # newest first: held again on its lane, the tax assessed again, the first hold
    assert [c for c, _ in by_no[amended]] == [NoticeCode.HELD, NoticeCode.TAX_REASSESSED, NoticeCode.HELD]
    assert by_no[amended][1][1] == {"tax_total": f"{tax:.2f}", "version": 2}
    # a post-clearance audit finding annotates a release
    platform.inspections.record(officer, lodged(world, Lane.GREEN), InspectionResultIn(
        outcome="offence", offence_type="misclassification", duty_recovered=Decimal("120.50")))
    n = inbox(world, "trader").items[0]
    assert (n.code, n.params) == (NoticeCode.AUDIT_FINDING, {"outcome": "offence", "offence_type": "misclassification",
                                                             "duty_recovered": "120.50"})
    assert platform.notices.text(n.code, n.params) == (
        "Post-clearance audit: offence found (misclassification), duty recovered 120.50 CNY.")


def test_documents_provided_reach_the_officer_who_asked_for_them(world):
    officer = world.principals["officer"]
    svc = world.platform.declarations
    no = lodged(world)
    svc.decide(officer, no, None, "Form E", decision="request_documents", reason_code="origin_certificate")
    assert [n.params for n in inbox(world, "trader").items][0] == {"reason_code": "origin_certificate",
                                                                    "note": "Form E"}
    with svc.sessions() as s, s.begin():  # the trader's answer, as the documents' service records it
        decl = svc.load_visible(s, world.principals["trader"], no)
        svc.append_event(s, decl, Status.INSPECTION, "trader", "documents provided", {"documents_provided": 2})
    page = inbox(world, "officer")
    assert [(n.code, n.params, n.declaration_no) for n in page.items] == [
        (NoticeCode.DOCUMENTS_PROVIDED, {"count": 2, "by": IMPORTER}, no)]
    assert codes(world, "admin") == []  # only the officer who asked
    assert NoticeCode.DOCUMENTS_PROVIDED not in codes(world, "trader")


def test_the_unread_count_stops_at_its_cap(world):
    trader = world.principals["trader"]
    with transaction(world.platform.sessions) as s:
        post(s, [NoticeDraft(NoticeCode.HELD, {"lane": "red"}, datetime(2026, 1, 1), "X", enterprise_code=DECLARANT)
                 for _ in range(UNREAD_CAP + 20)])
    assert world.platform.notices.unread_count(world.principals["broker"]) == UNREAD_CAP
    assert world.platform.notices.unread_count(trader) == 0
    page = world.platform.notices.page(world.principals["broker"], limit=25, offset=100)
    assert page.total == UNREAD_CAP + 20 and len(page.items) == 20


def test_a_notice_goes_to_an_enterprise_or_a_user_never_both():
    with pytest.raises(ValueError):
        NoticeDraft(NoticeCode.HELD, {}, datetime(2026, 1, 1), enterprise_code=IMPORTER, user_id=1).row()
    with pytest.raises(ValueError):
        NoticeDraft(NoticeCode.HELD, {}, datetime(2026, 1, 1)).row()
