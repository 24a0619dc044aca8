"""CEB513 waybill status, CEB623 cancellation, CEB625 return, CEB711 entry list (``cbec/aftercare.py``): the
official samples of both editions, flows on a released parcel, refusals; SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from lxml import etree

from smartcustoms.cbec import quota
from smartcustoms.cbec.ceb.parse import parse_items_lxml, parse_message
from smartcustoms.cbec.ceb.receipts import Receipt, emit_receipt
from smartcustoms.cbec.ceb.spec import SPECS, Document
from smartcustoms.cbec.engine import parse_batch
from smartcustoms.cbec.service import CbecService
from smartcustoms.core.config import CbecSettings
from smartcustoms.core.db import upgrade
from tests.support import CEB_DIR

from .conftest import Clock, drop_pg_schema, pg_url_or_skip

CEB = CEB_DIR
EDITIONS = {"2018": "进口业务节点报文.xsd", "202205": "海关跨境进口业务节点报文定义202205.xsd"}
NS = "http://www.chinaport.gov.cn/ceb"
DS = "http://www.w3.org/2000/09/xmldsig#"
KINDS = ("CEB513", "CEB623", "CEB625", "CEB711")
# the released parcel of tests/data/ceb (order, payment, waybill, inventory)
PARCEL = {"ebpCode": "1101980001", "orderNo": "ORD20260315000001", "ebcCode": "1101960101",
          "logisticsCode": "1101980201", "logisticsNo": "SF1234567890", "buyerIdNumber": "110101199003071234"}
DAY = 86_400_000

needs_official = pytest.mark.skipif(not CEB.is_dir(), reason=f"official CEB files absent: {CEB} (see issue #16)")


def official(kind: str, edition: str = "2018") -> bytes:
    return (CEB / edition / "samples" / "import" / f"{kind}Message.xml").read_bytes()


_SCHEMAS: dict[str, etree.XMLSchema] = {}


def schema(edition: str) -> etree.XMLSchema:
    if edition not in _SCHEMAS:
        _SCHEMAS[edition] = etree.XMLSchema(etree.parse(str(CEB / edition / "xsd" / EDITIONS[edition])))
    return _SCHEMAS[edition]


def assert_valid(receipts: list[Receipt]) -> None:
    """Every receipt validates against both official import XSDs."""
    for r in receipts:
        xml = etree.fromstring(emit_receipt(r))
        for edition in EDITIONS:
            assert schema(edition).validate(xml), (r, edition, schema(edition).error_log.last_error)


def one_document(kind: str, edition: str = "2018", lines: list[dict[str, str]] | None = None,
                 **values: str) -> bytes:
    """The official sample of ``kind`` cut to its first document, with ``values`` set in its head (a new guid
    unless given, appStatus 2 unless given) and its lines replaced by ``lines``; unsigned."""
    root = etree.fromstring(official(kind, edition))
    spec = SPECS[kind]
    docs = root.findall(f"{{{NS}}}{spec.doc_tag}")
    for extra in docs[1:]:
        root.remove(extra)
    for sig in root.findall(f"{{{DS}}}Signature"):
        root.remove(sig)
    doc = docs[0]
    head = doc if spec.head_tag == spec.doc_tag else doc.find(f"{{{NS}}}{spec.head_tag}")
    guid = values.pop("guid", str(uuid.uuid4()).upper())
    root.set("guid", guid)
    for name, v in {"guid": guid, "appStatus": "2", **values}.items():
        el = head.find(f"{{{NS}}}{name}")
        assert el is not None, name
        el.text = v
    if lines is not None:
        old = doc.findall(f"{{{NS}}}{spec.list_tag}")
        for i, values_i in enumerate(lines):
            el = old[min(i, len(old) - 1)]
            if i >= len(old):
                el = etree.fromstring(etree.tostring(el))
                doc.append(el)
            for name, v in values_i.items():
                el.find(f"{{{NS}}}{name}").text = v
        for el in old[len(lines):]:
            doc.remove(el)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def after_release(kind: str, invt_no: str, lines: list[dict[str, str]] | None = None, **values: str) -> bytes:
    """An official CEB623 / 625 sample naming the released parcel."""
    return one_document(kind, lines=lines, invtNo=invt_no, **{**PARCEL, **values})


@pytest.fixture(params=["sqlite", "postgresql"])
def service(request, tmp_path: Path):
    if request.param == "sqlite":
        url, schema_name = f"sqlite:///{tmp_path / 'cbec.db'}", None
    else:
        url, schema_name = pg_url_or_skip()
    try:
        upgrade(url)
        svc = CbecService(url, CbecSettings(deadline_s=60, accept_unsigned=True))
        svc.engine.clock = Clock()
        yield svc
        svc.close()
    finally:
        if schema_name:
            drop_pg_schema(schema_name)


def run(svc: CbecService, *messages: bytes) -> list[Receipt]:
    receipts = svc.engine.process(parse_batch(list(messages))).receipts
    assert_valid(receipts)
    return receipts


def release(svc: CbecService, samples: dict[str, bytes]) -> str:
    """Release the parcel of tests/data/ceb; its invtNo."""
    receipts = run(svc, *(samples[k] for k in ("order", "payment", "waybill", "inventory")))
    [final] = [r for r in receipts if r.kind == "CEB622" and r.status != 120]
    assert final.status == 800, final
    invt_no = final.keys["invtNo"]
    assert len(invt_no) == 18
    return invt_no


def parcel_row(svc: CbecService) -> tuple:
    return svc.store.execute("SELECT status, charged_fen, invt_no FROM cbec_parcel WHERE order_no = ?",
                             (PARCEL["orderNo"],)).fetchone()


def used(svc: CbecService) -> int:
    return quota.used_fen(svc.store, PARCEL["buyerIdNumber"], 2026)


# ---------------------------------------------------------------------------- the official samples
@needs_official
@pytest.mark.parametrize("edition", list(EDITIONS))
@pytest.mark.parametrize("kind", KINDS)
def test_every_official_sample_parses_on_both_paths(kind: str, edition: str) -> None:
    data = official(kind, edition)
    items = parse_items_lxml(data)
    root = etree.fromstring(data)
    assert len(items) == len(root.findall(f"{{{NS}}}{SPECS[kind].doc_tag}")) >= 1
    assert all(isinstance(d, Document) and d.kind == kind and len(d.guid) == 36 for d in items)
    assert parse_message(data) == items  # the compiled scanner declines these kinds: the same answer
    if kind in ("CEB625", "CEB711"):
        assert all(d.lines for d in items)


@needs_official
@pytest.mark.parametrize("element, kind, part", [
    ("LogisticsStatus", "CEB513", "head"), ("InvtCancel", "CEB623", "head"), ("InvtRefundHead", "CEB625", "head"),
    ("InvtRefundList", "CEB625", "lines"), ("DeliveryHead", "CEB711", "head"), ("DeliveryList", "CEB711", "lines")])
def test_field_tables_match_the_official_xsds(element: str, kind: str, part: str, monkeypatch) -> None:
    """Names, order, mandatory flags, lengths and types as both official editions give them (the check of
    test_spec_conformance.py, on these four messages' elements)."""
    from tests.cbec import test_spec_conformance as conformance

    monkeypatch.setitem(conformance.TABLES, element, getattr(SPECS[kind], part))
    conformance.test_field_table_matches_the_official_xsds(element)


@needs_official
@pytest.mark.parametrize("edition", list(EDITIONS))
def test_official_samples_through_the_engine_get_conformant_receipts(engine, edition: str) -> None:
    """Each sample repeats one guid across its documents: one answer, the rest duplicates; the drafts (appStatus
    1 in the official 623 and 625) are stored; the others name parcels we do not know: refused with their keys."""
    res = engine.process(parse_batch([official(k, edition) for k in KINDS]))
    assert_valid(res.receipts)
    by_kind: dict[str, list[Receipt]] = {}
    for r in res.receipts:
        by_kind.setdefault(r.kind, []).append(r)
    assert set(by_kind) == {"CEB514", "CEB624", "CEB626", "CEB712"}
    first = {}
    for k, v in by_kind.items():
        [first[k]] = [r for r in v if "duplicate" not in r.info]
    assert first["CEB514"].status == 100 and "no inventory declared for waybill" in first["CEB514"].info
    assert first["CEB514"].keys["logisticsNo"] == "L201603081138007"
    assert first["CEB624"].status == 1 and first["CEB626"].status == 1  # 暂存 drafts
    assert first["CEB712"].status == 120 and len(first["CEB712"].keys["rkdNo"]) == 18
    assert first["CEB712"].keys["preNo"].startswith("R") and len(first["CEB712"].keys["preNo"]) == 18
    dups = [r for v in by_kind.values() for r in v if r is not first[r.kind]]
    assert len(dups) == 10 + 10 + 10 + 1 - 4 and all(r.status in (1, 120) and "duplicate" in r.info for r in dups)


# ---------------------------------------------------------------------------- cancellation (CEB623)
@needs_official
def test_a_released_inventory_is_cancelled_after_review_and_the_quota_refunded(service, samples) -> None:
    svc = service
    invt_no = release(svc, samples)
    assert used(svc) == 31000
    [r] = run(svc, after_release("CEB623", invt_no, copNo="COP20260315000001"))
    assert (r.kind, r.status) == ("CEB624", 120)
    assert r.keys["invtNo"] == invt_no and r.keys["preNo"].startswith("C") and len(r.keys["preNo"]) == 18
    assert r.keys["copNo"] == "COP20260315000001"
    assert used(svc) == 31000  # nothing refunded before customs decides
    [pending] = svc.aftercare(["CEB623"], [120])
    assert (pending["order_no"], pending["invt_no"], pending["pre_no"]) == (PARCEL["orderNo"], invt_no,
                                                                            r.keys["preNo"])
    # a second request while the first is pending is refused
    [again] = run(svc, after_release("CEB623", invt_no))
    assert again.status == 100 and "already pending" in again.info
    out = svc.decide_cancellation(pending["id"], True, "goods not shipped", "officer1")
    receipt = out["receipt"]
    assert receipt["type"] == "CEB624" and receipt["returnStatus"] == "399"
    assert receipt["invtNo"] == invt_no and receipt["preNo"] == r.keys["preNo"]
    assert out["document"]["status"] == 399 and out["document"]["refund_fen"] == 31000
    assert parcel_row(svc) == (100, 0, invt_no)
    assert used(svc) == 0
    parcel = svc.parcel(PARCEL["ebpCode"], PARCEL["orderNo"])
    assert parcel["events"][-1]["actor"] == "officer1" and "cancelled" in parcel["events"][-1]["info"]
    assert [a["msg_type"] for a in parcel["aftercare"]] == ["CEB623", "CEB623"]
    audit = svc.store.execute("SELECT action, actor FROM audit_log WHERE action = 'cbec.cancellation.decision'"
                              ).fetchall()
    assert audit == [("cbec.cancellation.decision", "officer1")]
    # decided once: a second decision is a conflict, a new request is refused (no longer released)
    from smartcustoms.core.errors import Conflict

    with pytest.raises(Conflict):
        svc.decide_cancellation(pending["id"], False, "", "officer2")
    [late] = run(svc, after_release("CEB623", invt_no))
    assert late.status == 100 and "only a released inventory (800)" in late.info


@needs_official
def test_a_refused_cancellation_leaves_the_parcel_released(service, samples) -> None:
    svc = service
    invt_no = release(svc, samples)
    run(svc, after_release("CEB623", invt_no))
    [pending] = svc.aftercare(["CEB623"], [120])
    out = svc.decide_cancellation(pending["id"], False, "goods already delivered", "officer1")
    assert out["receipt"]["returnStatus"] == "100" and out["document"]["status"] == 100
    assert parcel_row(svc)[:2] == (800, 31000) and used(svc) == 31000


@needs_official
def test_cancellations_refused_with_reasons_and_keys(service, samples) -> None:
    svc = service
    [unknown] = run(svc, after_release("CEB623", "010120261234567890"))
    assert unknown.status == 100 and "no inventory declared for platform" in unknown.info
    assert unknown.keys["orderNo"] == PARCEL["orderNo"] and unknown.keys["ebpCode"] == PARCEL["ebpCode"]
    invt_no = release(svc, samples)
    [wrong] = run(svc, after_release("CEB623", "010120269999999999"))
    assert wrong.status == 100 and f"is not the inventory number of order {PARCEL['orderNo']}" in wrong.info
    [other_buyer] = run(svc, after_release("CEB623", invt_no, buyerIdNumber="110101199001010000"))
    assert other_buyer.status == 100 and "buyer" in other_buyer.info
    [change] = run(svc, after_release("CEB623", invt_no, appType="2"))
    assert change.status == 100 and "appType 2" in change.info
    # signed for by the consignee (CEB513 S): a return, not a cancellation
    [signed] = run(svc, one_document("CEB513", logisticsCode=PARCEL["logisticsCode"],
                                     logisticsNo=PARCEL["logisticsNo"], logisticsStatus="S"))
    assert (signed.kind, signed.status) == ("CEB514", 120) and signed.keys["logisticsStatus"] == "S"
    [after_delivery] = run(svc, after_release("CEB623", invt_no))
    assert after_delivery.status == 100 and "CEB625" in after_delivery.info
    assert used(svc) == 31000


@needs_official
def test_a_cancellation_of_a_rejected_or_old_inventory_is_refused(engine, samples) -> None:
    from tests.cbec.test_pipeline import parcel, xml  # a parcel the checks reject

    docs = parcel("M1")
    docs["CEB411"][1]["amountPaid"] = "1.00"
    res = engine.process(parse_batch([xml(docs, k) for k in docs]))
    assert [d.status for d in res.decisions] == [100]
    h = docs["CEB621"][1]
    [r] = engine.process(parse_batch([one_document(
        "CEB623", invtNo="010120260000000001", ebpCode=h["ebpCode"], orderNo="M1", ebcCode=h["ebcCode"],
        logisticsCode=h["logisticsCode"], logisticsNo=h["logisticsNo"], buyerIdNumber=h["buyerIdNumber"])])).receipts
    assert r.status == 100 and "only a released inventory (800) can be cancelled" in r.info


# ---------------------------------------------------------------------------- return (CEB625)
@needs_official
def test_goods_returned_in_two_parts_refund_the_quota_and_the_parcel_becomes_returned(service, samples) -> None:
    svc = service
    invt_no = release(svc, samples)
    line = {"gnum": "1", "gcode": "3304990099", "gname": "面霜", "qty": "1", "unit": "011"}
    [first] = run(svc, after_release("CEB625", invt_no, lines=[line]))
    assert (first.kind, first.status) == ("CEB626", 399), first.info
    assert first.keys["invtNo"] == invt_no and first.keys["preNo"].startswith("T")
    assert parcel_row(svc)[:2] == (800, 15500) and used(svc) == 15500
    [too_much] = run(svc, after_release("CEB625", invt_no, lines=[{**line, "qty": "2"}]))
    assert too_much.status == 100 and "not between 0 and the 1 not yet returned" in too_much.info
    two_bad = [{**line, "gnum": "2"}, {**line, "gcode": "8541401000"}]
    [bad_line] = run(svc, after_release("CEB625", invt_no, lines=two_bad))
    assert bad_line.status == 100 and "gnum 2 is not a line" in bad_line.info and "gcode 8541401000" in bad_line.info
    [rest] = run(svc, after_release("CEB625", invt_no, lines=[line]))
    assert rest.status == 399 and "all of them" in rest.info
    assert parcel_row(svc)[:2] == (700, 0) and used(svc) == 0
    [again] = run(svc, after_release("CEB625", invt_no, lines=[line]))
    assert again.status == 100 and "only goods of a released inventory" in again.info
    [cancel] = run(svc, after_release("CEB623", invt_no))
    assert cancel.status == 100
    events = svc.parcel(PARCEL["ebpCode"], PARCEL["orderNo"])["events"]
    assert [e["status"] for e in events][-2:] == [800, 700]


@needs_official
def test_a_return_after_a_restart_finds_the_released_inventory_in_the_log(db_url, samples) -> None:
    svc = CbecService(db_url, CbecSettings(deadline_s=60, accept_unsigned=True))
    try:
        svc.engine.clock = Clock()
        invt_no = release(svc, samples)
    finally:
        svc.close()
    svc = CbecService(db_url, CbecSettings(deadline_s=60, accept_unsigned=True))  # a new writer: the log re-read
    try:
        svc.engine.clock = Clock()
        line = {"gnum": "1", "gcode": "3304990099", "gname": "面霜", "qty": "2", "unit": "011"}
        [r] = run(svc, after_release("CEB625", invt_no, lines=[line]))
        assert r.status == 399 and parcel_row(svc)[:2] == (700, 0) and used(svc) == 0
    finally:
        svc.close()


@needs_official
def test_a_return_after_the_window_is_refused(service, samples) -> None:
    svc = service
    invt_no = release(svc, samples)
    svc.engine.clock.t += 31 * DAY
    line = {"gnum": "1", "gcode": "3304990099", "gname": "面霜", "qty": "2", "unit": "011"}
    [late] = run(svc, after_release("CEB625", invt_no, lines=[line]))
    assert late.status == 100 and "more than 30 days" in late.info
    assert used(svc) == 31000


# ---------------------------------------------------------------------------- waybill status, entry list
@needs_official
def test_waybill_arrival_is_an_event_on_the_parcel(service, samples) -> None:
    svc = service
    release(svc, samples)
    [r] = run(svc, one_document("CEB513", logisticsCode=PARCEL["logisticsCode"], logisticsNo=PARCEL["logisticsNo"],
                                logisticsStatus="R", logisticsTime="20260316090000"))
    assert (r.kind, r.status) == ("CEB514", 120)  # spec 3.8.4: 514 has no 399
    parcel = svc.parcel(PARCEL["ebpCode"], PARCEL["orderNo"])
    assert parcel["status"] == 800 and "arrived (运抵) at 2026-03-16 09:00:00" in parcel["events"][-1]["info"]
    assert [a["logistics_status"] for a in parcel["aftercare"]] == ["R"]
    [bad] = run(svc, one_document("CEB513", logisticsCode=PARCEL["logisticsCode"], logisticsNo=PARCEL["logisticsNo"],
                                  logisticsStatus="X"))
    assert bad.status == 100 and "logisticsStatus 'X'" in bad.info


@needs_official
@pytest.mark.parametrize("edition", list(EDITIONS))
def test_an_entry_list_is_stored_numbered_and_shown_to_officers(service, edition: str) -> None:
    svc = service
    [r] = run(svc, one_document("CEB711", edition))
    assert (r.kind, r.status) == ("CEB712", 120)
    [row] = svc.aftercare(["CEB711"], [120])
    assert row["rkd_no"] == r.keys["rkdNo"] and row["rkd_no"].startswith("3700")
    doc = svc.aftercare_document(row["id"])
    assert doc["head"]["billNo"] == "B00024204001" and [ln["logisticsNo"] for ln in doc["lines"]] == \
        ["L201603081138001"]
    [deleted] = run(svc, one_document("CEB711", edition, appType="3"))
    assert deleted.status == 100 and "appType 3" in deleted.info and "rkdNo" not in deleted.keys


# ---------------------------------------------------------------------------- HTTP API
@needs_official
def test_officers_review_cancellations_through_the_api_and_traders_see_their_own(sqlite_world, samples) -> None:
    from fastapi.testclient import TestClient

    from smartcustoms.web.app import create_app

    with TestClient(create_app(sqlite_world.platform)) as c:
        keys = sqlite_world.keys
        trader = {"X-API-Key": keys["trader"], "Content-Type": "application/xml"}
        officer = {"X-API-Key": keys["officer"]}
        body = b"".join(samples[k] for k in ("order", "payment", "waybill", "inventory"))
        assert c.post("/api/v1/cbec/messages", content=body, headers=trader).status_code == 200
        parcel = c.get(f"/api/v1/cbec/parcels/{PARCEL['ebpCode']}/{PARCEL['orderNo']}", headers=officer).json()
        assert parcel["status"] == 800
        r = c.post("/api/v1/cbec/messages", content=after_release("CEB623", parcel["invt_no"]),
                   headers={**trader, "Accept": "application/xml"})
        assert r.status_code == 200 and b"<CEB624Message" in r.content and b"<returnStatus>120<" in r.content
        queue = c.get("/api/v1/cbec/aftercare", headers=officer).json()["documents"]
        assert [d["order_no"] for d in queue] == [PARCEL["orderNo"]]
        mine = c.get("/api/v1/cbec/aftercare", headers={"X-API-Key": keys["trader"]}).json()["documents"]
        assert [d["id"] for d in mine] == [queue[0]["id"]]
        decision = {"approve": True, "info": "not shipped"}
        url = f"/api/v1/cbec/aftercare/{queue[0]['id']}/decision"
        assert c.post(url, json=decision, headers={"X-API-Key": keys["trader"]}).status_code == 403
        out = c.post(url, json=decision, headers=officer).json()
        assert out["receipt"]["returnStatus"] == "399" and out["document"]["refund_fen"] == 31000
        assert c.post(url, json=decision, headers=officer).status_code == 409
        q = c.get(f"/api/v1/cbec/quota/{PARCEL['buyerIdNumber']}/2026", headers=officer).json()
        assert q["used"] == "0.00"
        bad = c.get("/api/v1/cbec/aftercare?kind=CEB999", headers=officer)
        assert bad.status_code == 422
        from tests.web.test_parcels import sign_in  # the officers' parcel page lists the cancellation

        sign_in(c, "officer")
        page = c.get(f"/parcels/{PARCEL['ebpCode']}/{PARCEL['orderNo']}")
        assert page.status_code == 200 and 'data-testid="aftercare"' in page.text and "CEB623" in page.text


# ---------------------------------------------------------------------------- a flow of official samples only
@needs_official
@pytest.mark.parametrize("edition", list(EDITIONS))
def test_a_parcel_of_official_samples_is_cancelled_and_another_returned(db_url, clock, edition: str) -> None:
    """The official order, payment, waybill and inventory (aligned into one parcel) release; the official CEB623
    (naming that parcel and the invtNo CEB622 gave) cancels it after review; on a second database the official
    CEB625 returns its goods. The quota is refunded both times."""
    from smartcustoms.cbec import aftercare
    from smartcustoms.cbec.ceb.spec import INVENTORY, ORDER, PAYMENT, WAYBILL
    from tests.cbec.test_engine_conformance import make_engine, official_parcel

    for flow in ("cancel", "return"):
        url = db_url if flow == "cancel" else db_url.replace("cbec.db", "cbec-return.db")
        if flow == "return":
            upgrade(url)
        engine = make_engine(url, clock)
        docs = official_parcel(edition)
        res = engine.process([[docs[k]] for k in (ORDER, PAYMENT, WAYBILL, INVENTORY)])
        [final] = [r for r in res.receipts if r.kind == "CEB622" and r.status != 120]
        assert final.status == 800, final.info
        h = docs[INVENTORY].head
        buyer, year = h["buyerIdNumber"], int(h["appTime"][:4])
        charged = quota.used_fen(engine.store, buyer, year)
        assert charged > 0
        keys = {f: h[f] for f in ("ebpCode", "orderNo", "ebcCode", "logisticsCode", "logisticsNo", "buyerIdNumber")}
        if flow == "cancel":
            [r] = engine.process(parse_batch([one_document("CEB623", edition, invtNo=final.keys["invtNo"],
                                                           **keys)])).receipts
            assert (r.kind, r.status) == ("CEB624", 120), r.info
            [doc_id] = [d["id"] for d in aftercare.listing(engine.store, ["CEB623"], [120])]
            engine.store.begin()
            decision = aftercare.decide(engine.store, doc_id, True, "", "officer1", "officer", clock.t)
            engine.store.commit()
            assert_valid([r, decision])
            assert decision.status == 399 and decision.keys["invtNo"] == final.keys["invtNo"]
        else:
            lines = [{"gnum": ln["gnum"], "gcode": ln["gcode"], "qty": ln["qty"], "unit": ln["unit"]}
                     for ln in docs[INVENTORY].lines]
            [r] = engine.process(parse_batch([one_document("CEB625", edition, lines=lines,
                                                           invtNo=final.keys["invtNo"], **keys)])).receipts
            assert_valid([r])
            assert (r.kind, r.status) == ("CEB626", 399), r.info
        assert quota.used_fen(engine.store, buyer, year) == 0
        status = engine.store.execute("SELECT status FROM cbec_parcel WHERE order_no = ?", (h["orderNo"],)).fetchone()
        assert status == ((100,) if flow == "cancel" else (700,))
        engine.log.close()
        engine.store.close()


# ---------------------------------------------------------------------------- a refused document is not logged
@needs_official
def test_a_refused_document_is_not_logged_and_its_corrected_resend_is_processed(service, samples) -> None:
    """Like a refused 311-621 document, a refused 513/623/625/711 stays out of the message log: the sender's
    corrected resend with the same guid is processed, not answered "duplicate"; a resend of an accepted one is."""
    svc = service
    guid = str(uuid.uuid4()).upper()
    [early] = run(svc, after_release("CEB623", "010120261234567890", guid=guid))  # nothing released yet
    assert early.status == 100 and "no inventory declared" in early.info
    invt_no = release(svc, samples)
    [wrong] = run(svc, after_release("CEB623", "010120269999999999", guid=guid))
    assert wrong.status == 100 and "is not the inventory number" in wrong.info
    assert svc.engine.log.document("CEB623", guid) is None
    [entered] = run(svc, after_release("CEB623", invt_no, guid=guid))
    assert (entered.status, entered.info) == (120, "cancellation entered: awaiting customs review")
    assert svc.engine.log.document("CEB623", guid) is not None
    [again] = run(svc, after_release("CEB623", invt_no, guid=guid))
    assert again.status == 120 and "duplicate" in again.info
    rejected = svc.store.execute("SELECT msg_type, status FROM cbec_rejection WHERE guid = ? ORDER BY id",
                                 (guid,)).fetchall()
    assert [tuple(r) for r in rejected] == [("CEB623", 100), ("CEB623", 100)]
    wb_guid = str(uuid.uuid4()).upper()
    [lost] = run(svc, one_document("CEB513", guid=wb_guid, logisticsCode=PARCEL["logisticsCode"],
                                   logisticsNo="NO-SUCH-WAYBILL", logisticsStatus="S"))
    assert lost.status == 100
    [found] = run(svc, one_document("CEB513", guid=wb_guid, logisticsCode=PARCEL["logisticsCode"],
                                    logisticsNo=PARCEL["logisticsNo"], logisticsStatus="S"))
    assert (found.kind, found.status) == ("CEB514", 120) and "duplicate" not in found.info
