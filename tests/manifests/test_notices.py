"""The filing enterprise's inbox hears of its manifests: referred (with reasons), decided, discrepancies."""

from __future__ import annotations

from datetime import datetime, timedelta

from smartcustoms.manifests.schemas import DecisionIn, DiscrepancyResolution, DiscrepancyResolutionIn, ReferralAction
from smartcustoms.notices.schemas import NoticeCode
from smartcustoms.simulate.manifests import Cons, Item, message
from smartcustoms.web.i18n import translator
from smartcustoms.web.pages.inbox import notice_text, target
from tests.support import key_header

LOADING = datetime.now() + timedelta(days=3)


def file(world, consignments, *, filer=None, kind="original", message_id="M1", **kw):
    answers = world.platform.manifests.ingest(message(consignments, kind=kind, message_id=message_id, **kw),
                                              filer or world.importer, world.principals["trader"])
    assert answers[0].accepted, answers[0].errors
    return answers[0]


def inbox(world, user="trader"):
    return world.platform.notices.page(world.principals[user], limit=50).items


def test_a_referral_tells_the_filers_users_with_the_reasons_in_both_languages(sqlite_world):
    w = sqlite_world
    answer = file(w, [Cons(doc="COSU6123456780", loading_at=LOADING, items=[Item(description="FAK")]),
                      Cons(doc="COSU6123456781", loading_at=LOADING, items=[Item(description="GEARBOX HOUSINGS")])])
    outcomes = {c.transport_document_no: c.outcome.value for c in answer.consignments}
    assert outcomes["COSU6123456780"] == "request_for_information"
    referred = [c for c in answer.consignments if c.outcome.value != "assessment_complete"]
    notices = inbox(w)
    assert len(notices) == len(referred)  # one per referred consignment, none for a cleared one
    n = next(x for x in notices if x.params["document_no"] == "COSU6123456780")
    fid = next(r.id for r in w.platform.manifests.referrals() if r.transport_document_no == "COSU6123456780")
    assert n.code == NoticeCode.MANIFEST_REFERRED and n.read is False
    assert n.params["outcome"] == "request_for_information" and n.params["filing_id"] == fid
    en_reasons = next(c.reasons for c in answer.consignments if c.transport_document_no == "COSU6123456780")
    assert n.params["reasons"] == "; ".join(en_reasons) and n.params["reasons_zh"]
    text = w.platform.notices.text(n.code, n.params)  # the API's English
    assert text.startswith("Consignment COSU6123456780: Request for information — ") and en_reasons[0] in text
    zh = notice_text(translator("zh"), n.code, n.params, zh=True)
    assert "要求补充信息" in zh and n.params["reasons_zh"].split("；")[0] in zh
    assert target(n.code, n.params, None) == f"/manifests/requests/{fid}"
    assert inbox(w, "other") == [] and inbox(w, "officer") == []  # another enterprise, customs: not told


def test_an_officers_decision_tells_the_filer_with_the_officers_reason(sqlite_world):
    w = sqlite_world
    file(w, [Cons(doc="COSU6123456780", loading_at=LOADING, items=[Item(description="FAK")])])
    svc = w.platform.manifests
    fid = svc.referrals()[0].id
    svc.answer_information(fid, "12 pallets of gearbox housings, HS 848340", w.importer, w.principals["trader"])
    svc.decide(fid, DecisionIn(action=ReferralAction.INFORMATION_COMPLETE, reason="answer suffices"),
               w.principals["officer"])
    decided = inbox(w)[0]
    assert decided.code == NoticeCode.MANIFEST_DECIDED
    assert decided.params == {"document_no": "COSU6123456780", "filing_id": fid, "action": "information_complete",
                              "outcome": "assessment_complete", "note": "answer suffices"}
    assert w.platform.notices.text(decided.code, decided.params) == (
        "Consignment COSU6123456780: the information suffices: assessment complete — answer suffices.")
    zh = translator("zh")
    assert notice_text(zh, decided.code, decided.params, zh=True) == (
        "提运单 COSU6123456780：" + zh("notice.manifest_action.information_complete") + "——answer suffices。")
    assert target(decided.code, decided.params, None) == "/manifests/shipments/COSU6123456780"


def test_a_filer_that_is_no_registered_enterprise_has_nobody_to_tell(sqlite_world):
    w = sqlite_world
    file(w, [Cons(doc="COSU6123456780", loading_at=LOADING, items=[Item(description="FAK")])],
         filer="CARRIER-NOT-REGISTERED-0000000000")  # longer than any enterprise code: still filed
    assert w.platform.manifests.referrals()[0].filer_code == "CARRIER-NOT-REGISTERED-0000000000"
    assert inbox(w) == []


def test_discrepancies_opened_and_resolved_tell_the_filer(world):
    w = world
    svc = w.platform.manifests
    file(w, [Cons(doc="COSU6123456780", loading_at=LOADING), Cons(doc="COSU6123456781", loading_at=LOADING)])
    file(w, [Cons(doc="COSU6123456780", items=[Item(gross_kg="1625.65")])], kind="tally", message_id="T1")
    later = svc.clock() + timedelta(hours=25)
    svc.discrepancies.clock = lambda: later
    svc.reconcile()
    opened = {(n.params["document_no"], n.params["kind"]) for n in inbox(w)
              if n.code == NoticeCode.DISCREPANCY_OPENED}
    assert opened == {("COSU6123456780", "weight_difference"), ("COSU6123456781", "short_landed")}
    short = next(d for d in svc.discrepancies.listing() if d.kind == "short_landed")
    svc.discrepancies.resolve(short.id, DiscrepancyResolutionIn(
        resolution=DiscrepancyResolution.SHORT_SHIPPED, reason="left in Rotterdam"), w.principals["officer"])
    resolved = inbox(w)[0]
    assert resolved.code == NoticeCode.DISCREPANCY_RESOLVED and resolved.params["discrepancy_id"] == short.id
    assert w.platform.notices.text(resolved.code, resolved.params) == (
        "Discrepancy on consignment COSU6123456781 (Short-landed) resolved: Short-shipped (not loaded) — "
        "left in Rotterdam.")
    zh = notice_text(translator("zh"), resolved.code, resolved.params, zh=True)
    assert "COSU6123456781" in zh and translator("zh")("discrepancy_kind.short_landed") in zh
    assert inbox(w, "other") == []


def test_the_inbox_api_gives_the_carrier_its_manifest_notices_in_english(client, world):
    file(world, [Cons(doc="COSU6123456780", loading_at=LOADING, items=[Item(description="FAK")])])
    r = client.get("/api/v1/inbox", headers=key_header(world, "trader"))
    assert r.status_code == 200, r.text
    item = r.json()["items"][0]
    assert item["code"] == "manifest.referred" and item["declaration_no"] is None
    assert item["params"]["document_no"] == "COSU6123456780" and isinstance(item["params"]["filing_id"], int)
    assert item["text"].startswith("Consignment COSU6123456780: Request for information — ")
    assert client.get("/api/v1/inbox", headers=key_header(world, "other")).json()["items"] == []
