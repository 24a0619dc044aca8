"""Scans of parcels and manifest lines through the platform's wiring (SQLite and PostgreSQL): a parcel's declared
goods come from its CEB621 inventory; an officer's verdict decides a held parcel (its officer result, which the
parcel model's labels read) or works a manifest line's open request for screening; TIP presentations decide
nothing; repeated verdicts and the machine's auto-clearances change nothing."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from smartcustoms.audit.service import entries
from smartcustoms.cbec.ceb.spec import INVENTORY
from smartcustoms.cbec.scan_subjects import ParcelSubjects, ParcelVerdicts, declared_goods
from smartcustoms.cbec.simulate import make_parcel
from smartcustoms.core.security import SYSTEM
from smartcustoms.inspection.images.schemas import ReviewIn
from smartcustoms.inspection.images.service import ImageVerdict
from smartcustoms.manifests.scan_subjects import ManifestLineVerdicts
from smartcustoms.manifests.schemas import Outcome
from smartcustoms.risk.targeting.schemas import RuleIn
from smartcustoms.risk.targeting.service import save_rule
from smartcustoms.simulate.manifests import Cons, Item, message
from tests.cbec.test_pipeline import parcel, xml
from tests.inspection.images.test_image_service import png

CREAM = ("3304990099", "Face cream", "011")
SERUM = ("3304990099", "Eye serum", "011")


@pytest.fixture
def world(world):
    """The world with a mandatory rule that holds every face-cream parcel for inspection (500)."""
    p = world.platform
    with p.sessions() as s, s.begin():
        save_rule(s, RuleIn(name="Cosmetics X-ray", description="scan every face cream parcel",
                            criteria=[{"field": "hs_code", "op": "prefix", "value": ["3304"]}],
                            lane="red", mandatory=True), SYSTEM)
    p.rules_changed()
    return world


def held_parcel(world, order_no: str, items: list[tuple[str, str, str, Decimal, int]] | None = None) -> dict:
    """A simulated parcel of face creams, held for inspection (500) by the mandatory rule; its documents."""
    p = world.platform
    docs = parcel(order_no, hs=CREAM) if items is None else _with_items(order_no, items)
    p.cbec.submit([xml(docs, k) for k in docs])
    assert status(world, docs) == 500
    return docs


def _with_items(order_no: str, items):
    return make_parcel(order_no, rng=random.Random(order_no), items=items)


def status(world, docs) -> int:
    head = docs[INVENTORY][1]
    return world.platform.cbec.parcel(head["ebpCode"], head["orderNo"])["status"]


def waybill(docs) -> str:
    return docs[INVENTORY][1]["logisticsNo"]


def review(world, image_id: int, verdict: str, reason: str = "seen on the X-ray image"):
    """Send the decision that gives ``verdict`` and fits the machine's call (none, review or auto_cleared)."""
    svc = world.platform.images
    routed = svc.get(world.principals["officer"], image_id).assessment
    machine = None if routed is None else ("threat" if routed.routed == "review" else "clear")
    decision = f"{'confirm' if machine in (None, verdict) else 'override'}_{verdict}"
    return svc.review(world.principals["officer"], image_id, ReviewIn(decision=decision, reason=reason))


def test_a_parcels_declared_goods_are_its_inventory_lines(world):
    docs = held_parcel(world, "IMGG1", items=[(*CREAM, Decimal("150.00"), 2), (*SERUM, Decimal("50.00"), 1)])
    head, lines = docs[INVENTORY][1], docs[INVENTORY][2]
    svc = world.platform.images
    svc.tip_share = 0.0
    out = svc.upload(world.principals["officer"], png(), "parcel", waybill(docs))
    subject = svc.subject(world.principals["officer"], out.id)
    assert (subject.kind, subject.id, subject.office) == ("parcel", waybill(docs), head["customsCode"])
    assert [(g.hs_code, g.description, g.quantity, g.unit) for g in subject.goods] == [
        ("3304990099", "Face cream", 2.0, "011"), ("3304990099", "Eye serum", 1.0, "011")]
    # no weight per inventory line: the head's weights shared by declared value (300 of 350, 50 of 350)
    values = [Decimal(x["totalPrice"]) for x in lines]
    gross, net = Decimal(head["grossWeight"]), Decimal(head["netWeight"])
    assert [g.gross_kg for g in subject.goods] == pytest.approx([float(gross * v / sum(values)) for v in values])
    assert sum(g.net_kg or 0 for g in subject.goods) == pytest.approx(float(net))
    assert all(g.packages is None for g in subject.goods)  # the packages count only for a single line
    # read where the store keeps it: SQLite file store, the writer's segment log; PostgreSQL, cbec_message
    inv = ParcelSubjects(world.platform.sessions, lambda: world.platform.cbec).inventory(head["guid"])
    assert inv is not None and declared_goods(inv) == list(subject.goods)
    assert ParcelSubjects(world.platform.sessions).resolve(world.principals["trader"], waybill(docs)) is None


def test_an_officers_verdict_on_a_held_parcel_is_its_officer_result_once(world):
    p = world.platform
    svc = p.images
    svc.tip_share = 0.0
    threat, clear = held_parcel(world, "IMGT1"), held_parcel(world, "IMGC1")
    a = svc.upload(world.principals["officer"], png(), "parcel", waybill(threat))
    b = svc.upload(world.principals["officer"], png(), "parcel", waybill(clear))
    review(world, a.id, "threat", "dense block inside the cream jars")
    review(world, b.id, "clear", "jars as declared")
    assert (status(world, threat), status(world, clear)) == (599, 800)
    view = p.cbec.parcel(threat[INVENTORY][1]["ebpCode"], "IMGT1")
    assert view["info"].startswith(f"X-ray image {a.id}: threat")
    with p.sessions() as s:
        decisions = [e for e in entries(s, "cbec_parcel") if e.action == "cbec.parcel.decision"]
    assert {(e.actor, e.role, e.detail["to"]) for e in decisions} == {("officer", "officer", 599),
                                                                        ("officer", "officer", 800)}
    # the parcel model's labels: the threat is an offence found, the clear scan nothing found
    results = sorted(r.offence for r in p.parcel_results() if r.offence is not None)
    assert results == [False, True]
    # the same verdict again (a redelivery) and a machine auto-clearance decide nothing; the first is noted
    listener = next(x for x in p.image_verdict_listeners if isinstance(x, ParcelVerdicts))
    again = ImageVerdict(a.id, "parcel", waybill(threat), "threat", "officer", "confirm_threat", datetime.now())
    listener(again)
    listener(replace(again, verdict="clear", decision="override_clear"))
    listener(replace(again, decided_by="system", decision="auto_cleared", verdict="clear"))
    assert status(world, threat) == 599
    with p.sessions() as s:
        noted = [e for e in entries(s, "cbec_parcel") if e.action == "image.verdict_not_applied"]
    assert len(noted) == 2 and "not held (status 599)" in noted[0].detail["why"]


def test_a_tip_presentation_on_a_parcel_decides_nothing(world):
    svc = world.platform.images
    docs = held_parcel(world, "IMGP1")
    svc.tip_share = 1.0
    out = svc.upload(world.principals["officer"], png(), "parcel", waybill(docs))
    if out.assessment is not None and out.assessment.routed == "auto_cleared":
        pytest.skip("the installed model auto-cleared the test image: no review job, no TIP")
    first = review(world, out.id, "threat", "something dense")
    assert first.tip_feedback is not None and status(world, docs) == 500  # scored, not the parcel's result
    real = review(world, out.id, "clear", "as declared")
    assert real.tip_feedback is None and status(world, docs) == 800


def screening(world, doc: str, description: str = "LITHIUM ION BATTERIES") -> int:
    """A filed consignment under a request for screening; its filing id."""
    m = world.platform.manifests
    data = message([Cons(doc=doc, loading_at=datetime.now() + timedelta(days=3),
                         items=[Item(description=description)])], message_id=f"M{doc}")
    assert m.ingest(data, world.importer, world.principals["trader"])[0].accepted
    ref = next(r for r in m.referrals() if r.transport_document_no == doc)
    assert ref.outcome is Outcome.REQUEST_FOR_SCREENING
    return ref.id


def test_a_manifest_line_verdict_works_its_open_screening_referral(world):
    p = world.platform
    svc = p.images
    svc.tip_share = 0.0
    fid = screening(world, "COSU7700001")
    out = svc.upload(world.principals["officer"], png(), "manifest_line", "COSU7700001")
    review(world, out.id, "threat", "organic mass behind the battery cartons")
    state = p.manifests.referral(fid, None)
    assert state.closed and state.outcome is Outcome.DO_NOT_LOAD
    step = state.events[-1]
    assert (step.action.value, step.actor) == ("threat_found", "officer") and f"image {out.id}" in step.text
    cleared = screening(world, "COSU7700002")
    out2 = svc.upload(world.principals["officer"], png(), "manifest_line", "COSU7700002")
    review(world, out2.id, "clear", "batteries as manifested")
    assert p.manifests.referral(cleared, None).events[-1].action.value == "screening_clear"
    # no open screening (decided already; never referred): an audit note, no step
    listener = next(x for x in p.image_verdict_listeners if isinstance(x, ManifestLineVerdicts))
    listener(ImageVerdict(out.id, "manifest_line", "COSU7700001", "clear", "officer", "override_clear",
                          datetime.now()))
    assert len(p.manifests.referral(fid, None).events) == len(state.events)
    with p.sessions() as s:
        noted = [e for e in entries(s, "manifest_filing") if e.action == "image.verdict_noted"]
    assert [n.detail["why"] for n in noted] == ["no open request for screening (decided)"]
