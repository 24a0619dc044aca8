"""The engine core against the CEB standard (issue #16): document identity by (message type, guid), drafts
(appStatus 1, 暂存), the e-port's preNo and customs' invtNo, BaseSubscribe subscribers, and all of it across a
restart. Flows are built from the official samples (both editions) and from generated parcels."""

from __future__ import annotations

import copy
import random
import re
from decimal import Decimal

import pytest

from smartcustoms.cbec.ceb.emit import emit_message
from smartcustoms.cbec.ceb.parse import parse_items
from smartcustoms.cbec.ceb.spec import INVENTORY, ORDER, PAYMENT, WAYBILL, Document
from smartcustoms.cbec.engine import Engine, parse_batch
from smartcustoms.cbec.log import stored_ids
from smartcustoms.cbec.positive_list import PositiveList
from smartcustoms.cbec.service import CbecService
from smartcustoms.cbec.simulate import make_parcel
from smartcustoms.cbec.store import Store
from smartcustoms.core.config import CbecSettings
from smartcustoms.core.db import upgrade
from tests.support import CEB_DIR

from .conftest import drop_pg_schema, pg_url_or_skip

CEB = CEB_DIR
EDITIONS = ("2018", "202205")
SAMPLE_GUID = "4CDE1CFD-EDED-46B1-946C-B8022E42FC94"
PRE_NO = re.compile(r"^B\d{8}\d{9}$")            # B + yyyyMMdd + 9 digits (B20160512000001882)
INVT_NO = re.compile(r"^\d{4}\d{4}I\d{9}$")       # customs code + year + I + 9 digits
BUYER = ("110101199003071234", "王芳", "13812345678", "北京市朝阳区建国路1号")
CREAM = ("3304990099", "Face cream", "011")


def official(edition: str, kind: str) -> bytes:
    path = CEB / edition / "samples" / "import" / f"{kind}Message.xml"
    if not path.exists():
        pytest.skip(f"official CEB samples not found at {path.parent} (see the issue: ../shared/data/ceb)")
    return path.read_bytes()


def official_docs(edition: str, kind: str) -> list[Document]:
    return [d for d in parse_items(official(edition, kind)) if isinstance(d, Document)]


@pytest.fixture
def engine(db_url: str, clock) -> Engine:
    """The engine, its positive list also allowing the official samples' goods (8541401000, LEDs: not on the
    packaged list, which is the CBEC list's, not the samples')."""
    default = PositiveList.from_csv()
    eng = Engine(Store(db_url), CbecSettings(deadline_s=60), clock=clock,
                 positive=PositiveList([*default.prefixes, "8541401000"]))
    eng.warm_start()
    return eng


def official_parcel(edition: str) -> dict[str, Document]:
    """One order, payment, waybill and inventory of the official samples (all four carry the one guid
    4CDE1CFD-...), their keys and amounts aligned on the inventory's so that they make one parcel."""
    inv = copy.deepcopy(next(d for d in official_docs(edition, INVENTORY) if d.head["appStatus"] == "2"))
    order = copy.deepcopy(official_docs(edition, ORDER)[0])
    pay = copy.deepcopy(official_docs(edition, PAYMENT)[0])
    way = copy.deepcopy(official_docs(edition, WAYBILL)[0])
    assert inv.guid == order.guid == pay.guid == way.guid == SAMPLE_GUID
    i = inv.head
    i["currency"] = "142"
    key = {"ebpCode": i["ebpCode"], "orderNo": i["orderNo"]}
    buyer = {f: i[f] for f in ("buyerIdType", "buyerIdNumber", "buyerName")}
    order.head.update(key, ebcCode=i["ebcCode"], **buyer)
    template = order.lines[0]
    order.lines[:] = [dict(template, gnum=ln["gnum"], itemNo=ln.get("itemNo", ""), qty=ln["qty"],
                           price=ln["price"], totalPrice=ln["totalPrice"]) for ln in inv.lines]
    goods = sum(Decimal(ln["totalPrice"]) for ln in inv.lines)
    paid = goods + Decimal(i.get("freight") or "0")
    order.head.update(goodsValue=str(goods), freight=i.get("freight") or "0", taxTotal="0", discount="0",
                      acturalPaid=str(paid))
    pay.head.update(key, payerIdType=i["buyerIdType"], payerIdNumber=i["buyerIdNumber"], payerName=i["buyerName"],
                    amountPaid=str(paid))
    way.head.update(orderNo=i["orderNo"], logisticsCode=i["logisticsCode"], logisticsNo=i["logisticsNo"],
                    consignee=order.head["consignee"], consigneeAddress=order.head["consigneeAddress"],
                    consigneeTelephone=order.head["consigneeTelephone"])
    return {ORDER: order, PAYMENT: pay, WAYBILL: way, INVENTORY: inv}


def generated(order_no: str, app_status: str = "2") -> dict[str, bytes]:
    docs = make_parcel(order_no, rng=random.Random(order_no), buyer=BUYER, items=[(*CREAM, Decimal("150.00"), 2)])
    out = {}
    for kind, (g, head, lines, base) in docs.items():
        out[kind] = emit_message(kind, g, [(dict(head, appStatus=app_status), lines)], base)
    return out


def parcel_row(store: Store, order_no: str) -> tuple:
    return store.execute("SELECT status, pre_no, invt_no, charged_fen FROM cbec_parcel WHERE order_no = ?",
                         (order_no,)).fetchone()


def make_engine(url: str, clock) -> Engine:
    eng = Engine(Store(url), CbecSettings(deadline_s=60), clock=clock,
                 positive=PositiveList([*PositiveList.from_csv().prefixes, "8541401000"]))
    eng.warm_start()
    return eng


# ------------------------------------------------------------------ identity: (message type, guid)
@pytest.mark.parametrize("edition", EDITIONS)
def test_official_samples_sharing_one_guid_form_a_parcel_and_release(engine, edition):
    docs = official_parcel(edition)
    res = engine.process([[docs[k]] for k in (ORDER, PAYMENT, WAYBILL, INVENTORY)])
    assert res.duplicates == 0 and res.accepted_messages == 4
    assert [r.status for r in res.receipts[:4]] == [120] * 4
    [d] = res.decisions
    assert d.status == 800, d.info
    final = res.receipts[-1]
    assert final.kind == "CEB622" and final.status == 800 and final.guid == SAMPLE_GUID
    assert PRE_NO.match(final.keys["preNo"]) and INVT_NO.match(final.keys["invtNo"])
    status, pre_no, invt_no, charged = parcel_row(engine.store, docs[INVENTORY].head["orderNo"])
    assert (status, pre_no, invt_no) == (800, final.keys["preNo"], final.keys["invtNo"]) and charged > 0
    assert sorted(stored_ids(engine.store)) == sorted((k, SAMPLE_GUID) for k in (ORDER, PAYMENT, WAYBILL, INVENTORY))
    # the same documents again: duplicates of their own kind, acknowledged, nothing processed twice
    again = engine.process([[docs[k]] for k in (ORDER, PAYMENT, WAYBILL, INVENTORY)])
    assert again.duplicates == 4 and not again.decisions and all(r.status == 120 for r in again.receipts)


@pytest.mark.parametrize("edition", EDITIONS)
def test_a_guid_repeated_within_one_message_type_is_a_duplicate(engine, edition):
    """The official CEB621 sample repeats its guid on its ten inventories (declared, draft, declared, ...): the
    first is new, the other nine are duplicates of it (a draft of a declared document too): acknowledged, every
    one answered, none processed again."""
    items = parse_batch([official(edition, INVENTORY)])
    docs = [d for d in items[0] if isinstance(d, Document)]
    assert len(docs) == 10 and {d.guid for d in docs} == {SAMPLE_GUID} and docs[0].head["appStatus"] == "2"
    res = engine.process(items)
    assert [r.status for r in res.receipts] == [120] * 10 and res.duplicates == 9
    assert res.accepted_messages == 1 and stored_ids(engine.store) == [(INVENTORY, SAMPLE_GUID)]
    assert engine.store.execute("SELECT count(*) FROM cbec_draft").fetchone()[0] == 0


# ------------------------------------------------------------------ drafts (appStatus 1, 暂存)
@pytest.mark.parametrize("edition", EDITIONS)
def test_an_official_draft_is_stored_and_acknowledged_not_cleared(engine, edition):
    draft = copy.deepcopy(next(d for d in official_docs(edition, INVENTORY) if d.head["appStatus"] == "1"))
    res = engine.process([[draft]])
    [r] = res.receipts
    assert (r.kind, r.status, r.guid) == ("CEB622", 1, SAMPLE_GUID) and "暂存" in r.info
    assert PRE_NO.match(r.keys["preNo"])  # like the official CEB622 sample: a draft has its preNo already
    assert res.accepted_messages == 0 and not res.decisions and stored_ids(engine.store) == []
    row = engine.store.execute("SELECT msg_type, guid, pre_no, declared_ms FROM cbec_draft").fetchall()
    assert row == [(INVENTORY, SAMPLE_GUID, r.keys["preNo"], None)]
    assert engine.store.execute("SELECT count(*) FROM cbec_parcel").fetchone()[0] == 0


def test_a_draft_parcel_is_not_cleared_taxed_or_charged_until_declared(engine, clock):
    drafts = generated("DRAFT1", app_status="1")
    res = engine.process(parse_batch(list(drafts.values())), force_deadline=True)
    assert [r.status for r in res.receipts] == [1, 1, 1, 1] and not res.decisions
    assert engine.store.execute("SELECT count(*) FROM cbec_parcel").fetchone()[0] == 0
    assert engine.store.execute("SELECT count(*) FROM cbec_quota").fetchone()[0] == 0
    pre_no = next(r.keys["preNo"] for r in res.receipts if r.kind == "CEB622")
    # the same documents (kind and guid) with appStatus 2 declare them: cleared, and the inventory keeps its preNo
    clock.t += 1000
    declared = generated("DRAFT1", app_status="2")
    res = engine.process(parse_batch(list(declared.values())))
    [d] = res.decisions
    assert d.status == 800 and res.duplicates == 0
    assert parcel_row(engine.store, "DRAFT1")[:2] == (800, pre_no)
    assert engine.store.execute("SELECT count(*) FROM cbec_draft WHERE declared_ms IS NULL").fetchone()[0] == 0


def test_a_draft_is_declared_by_a_document_with_the_same_business_key_and_a_new_guid(engine):
    draft = generated("DRAFT2", app_status="1")[INVENTORY]
    [r] = engine.process(parse_batch([draft])).receipts
    declared = generated("DRAFT2")
    inv = declared[INVENTORY].replace(r.guid.encode(), b"0" * 8 + r.guid.encode()[8:])
    res = engine.process(parse_batch([declared[ORDER], declared[PAYMENT], declared[WAYBILL], inv]))
    assert [d.status for d in res.decisions] == [800]
    assert parcel_row(engine.store, "DRAFT2")[1] == r.keys["preNo"]
    # the draft sent again (kind and guid of a pending draft) is a duplicate draft, still not cleared
    res = engine.process(parse_batch([generated("DRAFT3", app_status="1")[ORDER]] * 2))
    assert [x.status for x in res.receipts] == [1, 1] and res.duplicates == 1


def test_a_refused_declaration_leaves_its_draft_a_draft(engine):
    docs = generated("DRAFT4")
    engine.process(parse_batch(list(docs.values())))
    draft = re.sub(rb"<ceb:guid>.{8}", b"<ceb:guid>AAAAAAAA", generated("DRAFT4", app_status="1")[ORDER])  # new guid
    assert engine.process(parse_batch([draft])).receipts[0].status == 1
    declared = draft.replace(b"<ceb:appStatus>1<", b"<ceb:appStatus>2<")
    [r] = engine.process(parse_batch([declared])).receipts
    assert r.status == 100 and "already decided" in r.info
    assert engine.store.execute("SELECT count(*) FROM cbec_draft WHERE declared_ms IS NULL").fetchone()[0] == 1


# ------------------------------------------------------------------ preNo / invtNo
def test_numbers_are_unique_and_refused_inventories_get_no_invtno(engine):
    msgs = [m for n in range(5) for m in generated(f"NUM{n}").values()]
    bad = generated("NUMBAD")
    bad_pay = bad[PAYMENT].replace("王芳".encode(), "李四".encode())
    assert bad_pay != bad[PAYMENT]
    res = engine.process(parse_batch(msgs + [bad[ORDER], bad_pay, bad[WAYBILL], bad[INVENTORY]]))
    rows = engine.store.execute("SELECT order_no, status, pre_no, invt_no FROM cbec_parcel "
                                "ORDER BY order_no").fetchall()
    assert len(rows) == 6
    assert all(PRE_NO.match(p) for _o, _s, p, _i in rows) and len({p for _o, _s, p, _i in rows}) == 6
    released = [r for r in rows if r[1] == 800]
    assert len(released) == 5 and len({i for *_x, i in released}) == 5 and all(INVT_NO.match(i) for *_x, i in released)
    assert [r for r in rows if r[0] == "NUMBAD"][0][1:] == (100, rows[-1][2], None)
    entered = {r.guid: r.keys.get("preNo") for r in res.receipts if r.kind == "CEB622" and r.status == 120}
    decided = {r.guid: r.keys.get("preNo") for r in res.receipts if r.kind == "CEB622" and r.status != 120}
    assert entered == decided  # the receipt on entry and the decision carry the same preNo


def test_shards_number_apart(db_url, clock):
    a = Engine(Store(db_url), CbecSettings(deadline_s=60), clock=clock, shard=0, shards=2)
    b = Engine(Store(db_url), CbecSettings(deadline_s=60), clock=clock, shard=1, shards=2)
    a.warm_start()
    b.warm_start()
    assert a._next_pre_no(clock.t)[9] == "0" and b._next_pre_no(clock.t)[9] == "1"
    assert a._next_pre_no(clock.t) != b._next_pre_no(clock.t)


def test_numbers_and_drafts_survive_a_restart_and_stay_the_same(db_url, clock):
    eng = make_engine(db_url, clock)
    first = generated("R1")
    res = eng.process(parse_batch([first[ORDER], first[PAYMENT], first[WAYBILL], first[INVENTORY]]))
    released = parcel_row(eng.store, "R1")
    second = generated("R2")
    res = eng.process(parse_batch([second[INVENTORY], second[WAYBILL]]))  # waits for its order and payment
    pre_waiting = res.receipts[0].keys["preNo"]
    draft = generated("R3", app_status="1")
    [dr] = eng.process(parse_batch([draft[INVENTORY]])).receipts
    eng.store.conn.close()  # no orderly shutdown: the next engine starts from what was committed
    eng.log.close()

    again = make_engine(db_url, clock)
    assert parcel_row(again.store, "R1") == released
    res = again.process(parse_batch([second[ORDER], second[PAYMENT]]))
    [d] = res.decisions
    assert d.status == 800 and d.slot.inventory.head["preNo"] == pre_waiting
    assert parcel_row(again.store, "R2")[1] == pre_waiting
    # the draft is still a draft: sent again it is a duplicate draft; declared, it keeps its preNo
    assert again.process(parse_batch([draft[INVENTORY]])).duplicates == 1
    third = generated("R3")
    res = again.process(parse_batch([third[ORDER], third[PAYMENT], third[WAYBILL], third[INVENTORY]]))
    assert [d.status for d in res.decisions] == [800] and parcel_row(again.store, "R3")[1] == dr.keys["preNo"]
    # new numbers continue the sequence: never one given before the restart
    numbers = again.store.execute("SELECT pre_no, invt_no FROM cbec_parcel").fetchall()
    assert len({p for p, _i in numbers}) == 3 and len({i for _p, i in numbers}) == 3


def test_numbers_and_identity_on_postgresql(clock):
    url, schema = pg_url_or_skip()
    try:
        upgrade(url)
        eng = make_engine(url, clock)
        docs = official_parcel("2018")
        res = eng.process([[docs[k]] for k in (ORDER, PAYMENT, WAYBILL, INVENTORY)])
        [d] = res.decisions
        assert d.status == 800, d.info
        row = parcel_row(eng.store, docs[INVENTORY].head["orderNo"])
        assert PRE_NO.match(row[1]) and INVT_NO.match(row[2])
        assert eng.process([[docs[ORDER]]]).duplicates == 1
        draft = generated("PGD", app_status="1")
        eng.process(parse_batch([draft[INVENTORY]]))
        eng.store.close()
        again = make_engine(url, clock)
        assert again.process([[docs[INVENTORY]]]).duplicates == 1
        assert again.process(parse_batch([draft[INVENTORY]])).duplicates == 1
        assert parcel_row(again.store, docs[INVENTORY].head["orderNo"]) == row
        waiting = generated("PGW")
        pre = again.process(parse_batch([waiting[INVENTORY]])).receipts[0].keys["preNo"]
        again.store.close()
        third = make_engine(url, clock)
        res = third.process(parse_batch([waiting[ORDER], waiting[PAYMENT], waiting[WAYBILL]]))
        assert [d.status for d in res.decisions] == [800] and parcel_row(third.store, "PGW")[1] == pre
        third.store.close()
    finally:
        drop_pg_schema(schema)


# ------------------------------------------------------------------ BaseSubscribe
def test_receipts_reach_the_subscribers_named_in_base_subscribe(db_url, clock):
    docs = generated("SUB1")
    sub = (b"<ceb:BaseSubscribe><ceb:status>800</ceb:status><ceb:dxpMode>DXP</ceb:dxpMode>"
           b"<ceb:dxpAddress>DXPENT0000458763</ceb:dxpAddress></ceb:BaseSubscribe>")
    inv = docs[INVENTORY].replace(b"</ceb:BaseTransfer>", b"</ceb:BaseTransfer>" + sub)
    svc = CbecService(db_url)
    try:
        svc.engine.clock = clock
        svc.engine.process(parse_batch([docs[ORDER], docs[PAYMENT], docs[WAYBILL], inv]))
        mine = svc.receipts_since(0, enterprise_codes={"DXPENT0000458763"})
        assert [r["returnStatus"] for r in mine] == ["800"]
        assert mine[0]["preNo"] and mine[0]["invtNo"]
        assert svc.receipts_since(0, enterprise_codes={"DXPENT0000000001"}) == []
        parcel = svc.parcel(*svc.store.execute("SELECT ebp_code, order_no FROM cbec_parcel").fetchone())
        assert PRE_NO.match(parcel["pre_no"]) and INVT_NO.match(parcel["invt_no"])
    finally:
        svc.close()


def test_a_log_written_before_identities_had_kinds_still_loads(db_url, clock):
    """Records of an older version (meta ``[guid, kind, key1, key2, orderNo, received_ms]``, no preNo, the
    guid index keyed by guid alone) load: their documents are waiting, and are duplicates of their kind only."""
    import orjson

    from smartcustoms.cbec.ceb.parse import parse_message
    from smartcustoms.cbec.log import _HEAD, log_dir

    docs = generated("OLD1")
    store = Store(db_url)
    directory = log_dir(store)
    assert directory is not None
    directory.mkdir(parents=True, exist_ok=True)
    body = b""
    for kind in (ORDER, INVENTORY):
        [doc] = parse_message(docs[kind])
        h = doc.head
        k = (h["logisticsCode"], h["logisticsNo"]) if kind == WAYBILL else (h["ebpCode"], h["orderNo"])
        meta = orjson.dumps([doc.guid, kind, *k, h["orderNo"], clock.t])
        body += _HEAD.pack(len(docs[kind]), len(meta), -1) + meta + docs[kind]
    (directory / "0of1.log").write_bytes(body)
    store.execute("INSERT INTO cbec_ingest_offset (source, byte_offset, updated_ms) VALUES ('log:0of1', ?, 0)",
                  (len(body),))
    store.close()

    eng = make_engine(db_url, clock)
    res = eng.process(parse_batch([docs[ORDER], docs[PAYMENT], docs[WAYBILL]]))
    assert res.duplicates == 1 and res.receipts[0].status == 120 and "duplicate" in res.receipts[0].info
    [d] = res.decisions
    assert d.status == 800 and PRE_NO.match(res.receipts[-1].keys["preNo"])  # numbered when decided
