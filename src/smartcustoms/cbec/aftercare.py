"""After release, and bonded goods: CEB513 waybill status, CEB623 inventory cancellation, CEB625 return, CEB711
entry list (the import messages beyond the four a parcel is made of).

The Engine hands each batch's new documents of these kinds (not duplicates, not drafts, already in the message
log) to :func:`handlers`' objects inside the batch's transaction, after the batch's parcel rows are written;
each answers every document with its receipt (CEB514 / 624 / 626 / 712) and keeps it in ``cbec_aftercare``.

* **CEB513 waybill status** (运单状态, from the logistics company): ``logisticsStatus`` R (arrived, 运抵) or
  S (signed for by the consignee, 签收) of a declared parcel's waybill: an event on the parcel; 514 ``120``
  (海关入库). Spec 3.8.4 (table 3-28, both editions) gives CEB514 the statuses 2/3/4/100/120 only, no 399.
  Spec 3.7.4 (table 3-24) says logisticsStatus is "限定S" (S only), but the official CEB513 samples of both
  editions send R and the XSD has no code list: R is accepted as well (it is an event, no decision hangs on it).
* **CEB623 cancellation** (撤销申请单, spec 3.11-3.12; appType 1 new only, invtNo mandatory: "申请撤销的原始清单
  编号"; the spec's refusals -623003 no inventory with that invtNo, -623005 the inventory's status does not allow
  a cancellation, -623009 already declared) of a *released* (800) inventory named by ebpCode + orderNo and its invtNo,
  whose goods have not been signed for (a CEB513 S: then it is a return, CEB625) and within
  :data:`CANCEL_DAYS` of the release: 624 ``120`` (entered, awaiting an officer), then the officer approves
  (:func:`decide`: 624 ``399``, the parcel becomes ``100`` cancelled and its quota charge is refunded) or refuses
  (624 ``100``). One cancellation per parcel may be pending or approved.
* **CEB625 return** (退货申请单, spec 3.13-3.14: each line names the original inventory line by gnum, qty at most the
  inventory's; -625209 a line not in the inventory, -625022/-625033 already declared) of goods of a released (800/899)
  inventory within :data:`RETURN_DAYS` of the
  release: each line names a line of the inventory (gnum, the same gcode) and at most the quantity not returned
  yet. Decided at once: 626 ``399``; the quota charge is refunded in proportion to the value returned (all of
  it when every line is returned in full: the parcel becomes ``700`` returned).
* **CEB711 entry list** (入库明细单) of 1210 bonded goods (the supervised warehouse's operator lists the waybills it
  took in): stored and shown to officers, an entry-list number (rkdNo) given; 712 ``120``.

Time windows: the specification states none. They are GACC's: announcement 2018 No. 194 (关于跨境电子商务零售
进出口商品有关监管事宜的公告) lets returns be declared for goods brought back to the original supervised site "within
30 days of release" (海关放行之日起30日内以原状运抵原监管作业场所), and has the tax collected on days 31 to 45 after
release for inventories with no return or cancellation within those 30 days (放行后30日内未发生退货或修撤单的): so
both :data:`CANCEL_DAYS` and :data:`RETURN_DAYS` are 30. The receipts' statuses are the spec's (3.12.4, 3.14.4,
3.16.4: 1/2/3/4/100/120/399, below 0 a processing exception); our rules beyond the spec (a cancellation refused once
the goods were signed for: a return then) are ours and say so in their reasons.

The receipt keys carry the numbers senders match by: the document's own e-port number (preNo: ``C`` / ``T`` /
``R`` + yyyyMMdd + 9 digits), the inventory's invtNo (the parcel's, as CEB622 gave it), copNo, the codes.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from decimal import Decimal
from typing import Any, Protocol

import orjson

from smartcustoms.audit.service import record_raw
from smartcustoms.cbec import quota
from smartcustoms.cbec.ceb.emit import document_json
from smartcustoms.cbec.ceb.receipts import Receipt
from smartcustoms.cbec.ceb.spec import (
    CANCELLATION,
    ENTRY_LIST,
    INVENTORY,
    RECEIPT_KIND,
    RETURN,
    WAYBILL_STATUS,
    Document,
)
from smartcustoms.cbec.ceb.statuses import CLOSED, DECIDED, ENTERED, REJECTED, RELEASED, RETURNED
from smartcustoms.cbec.log import MessageLog
from smartcustoms.cbec.matcher import Matcher
from smartcustoms.cbec.store import Store
from smartcustoms.core.errors import Conflict, NotFound

DAY_MS = 86_400_000
CANCEL_DAYS = 30   # a released inventory may be cancelled within 30 days of release (GACC 2018 No. 194: 修撤单)
RETURN_DAYS = 30   # goods may be returned within 30 days of release (GACC 2018 No. 194: 放行之日起30日内)
LOGISTICS_STATES = {"R": "arrived (运抵)", "S": "signed for by the consignee (签收)"}
KIND_NAMES = {WAYBILL_STATUS: "CEB513 waybill status", CANCELLATION: "CEB623 inventory cancellation",
              RETURN: "CEB625 return", ENTRY_LIST: "CEB711 entry list"}
_PRE_LETTER = {CANCELLATION: "C", RETURN: "T", ENTRY_LIST: "R"}
_CHINA = 8 * 3600

_PARCEL_COLS = ("id", "ebp_code", "order_no", "inventory_guid", "ebc_code", "logistics_code", "logistics_no",
                "buyer_id_number", "quota_year", "status", "dutiable_fen", "charged_fen", "decided_ms", "pre_no",
                "invt_no")
_ROW_COLS = ("id", "msg_type", "guid", "status", "ebp_code", "order_no", "ebc_code", "logistics_code", "logistics_no",
             "logistics_status", "customs_code", "cop_no", "pre_no", "invt_no", "rkd_no", "refund_fen", "info",
             "received_ms", "decided_ms", "decided_by")
_INSERT = ("INSERT INTO cbec_aftercare (msg_type, guid, status, ebp_code, order_no, ebc_code, logistics_code, "
           "logistics_no, logistics_status, customs_code, cop_no, invt_no, refund_fen, info, received_ms, "
           "decided_ms, decided_by, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
           "RETURNING id")
_EVENT = "INSERT INTO cbec_parcel_event (ebp_code, order_no, status, info, actor, at_ms) VALUES (?, ?, ?, ?, ?, ?)"


class Engine(Protocol):
    """What the handlers use of the writer (:class:`~smartcustoms.cbec.engine.Engine`, which imports this module)."""

    log: MessageLog
    matcher: Matcher


class Refused(Exception):
    """A document refused for a business rule (the receipt's reason)."""


def _china_date(ms: int) -> str:
    return time.strftime("%Y%m%d", time.gmtime(ms // 1000 + _CHINA))


def _parcel(store: Store, where: str, params: Sequence[Any]) -> dict[str, Any] | None:
    """The parcel row (``_PARCEL_COLS``) matching ``where``, locked for the transaction on PostgreSQL."""
    lock = " FOR UPDATE" if store.dialect == "postgresql" else ""
    row = store.execute(f"SELECT {', '.join(_PARCEL_COLS)} FROM cbec_parcel WHERE {where} ORDER BY id DESC "
                        f"LIMIT 1{lock}", params).fetchone()
    return None if row is None else dict(zip(_PARCEL_COLS, row, strict=True))


def _parcel_of(store: Store, h: dict[str, str]) -> dict[str, Any]:
    """The parcel a CEB623/625 names (ebpCode + orderNo), checked against the invtNo, waybill and buyer it gives."""
    p = _parcel(store, "ebp_code = ? AND order_no = ?", (h["ebpCode"], h["orderNo"]))
    if p is None:
        raise Refused(f"no inventory declared for platform {h['ebpCode']} order {h['orderNo']}")
    if p["invt_no"] is not None and h.get("invtNo") != p["invt_no"]:
        raise Refused(f"invtNo {h.get('invtNo')} is not the inventory number of order {h['orderNo']} "
                      f"({p['invt_no']})")
    if (h.get("logisticsCode"), h.get("logisticsNo")) != (p["logistics_code"], p["logistics_no"]):
        raise Refused(f"waybill {h.get('logisticsCode')}/{h.get('logisticsNo')} is not the inventory's "
                      f"({p['logistics_code']}/{p['logistics_no']})")
    if h.get("buyerIdNumber") != p["buyer_id_number"]:
        raise Refused("buyerIdNumber is not the inventory's buyer")
    return p


def _signed_for(store: Store, p: dict[str, Any]) -> bool:
    """Has the consignee signed for the parcel's waybill (a CEB513 with logisticsStatus S)?"""
    return store.execute("SELECT 1 FROM cbec_aftercare WHERE logistics_code = ? AND logistics_no = ? "
                         "AND msg_type = ? AND logistics_status = 'S' AND status IN (?, ?) LIMIT 1",
                         (p["logistics_code"], p["logistics_no"], WAYBILL_STATUS, ENTERED, DECIDED)
                         ).fetchone() is not None


def _open_requests(store: Store, p: dict[str, Any], kind: str) -> list[tuple[int, int]]:
    """``(id, status)`` of the pending (120) or approved (399) documents of ``kind`` about the parcel."""
    return store.execute("SELECT id, status FROM cbec_aftercare WHERE ebp_code = ? AND order_no = ? AND msg_type = ? "
                         "AND status IN (?, ?) ORDER BY id", (p["ebp_code"], p["order_no"], kind, ENTERED, DECIDED)
                         ).fetchall()


def _keys(doc: Document, p: dict[str, Any] | None, pre_no: str | None) -> dict[str, str]:
    """A receipt's keys: the document head's, our preNo for the document, the inventory's invtNo."""
    keys = dict(doc.head)
    keys.pop("preNo", None)
    keys.pop("invtNo", None)
    if pre_no:
        keys["preNo"] = pre_no
    invt = p["invt_no"] if p is not None else doc.head.get("invtNo")
    if invt and len(invt) == 18:  # the receipt's invtNo is exactly 18 characters
        keys["invtNo"] = invt
    return keys


def _inventory(engine: Engine, p: dict[str, Any], doc: Document) -> Document | None:
    """The parcel's released inventory from the message log; a CEB623/625 without copNo takes the inventory's
    (the receipt must carry one)."""
    inv = engine.log.document(INVENTORY, p["inventory_guid"]) if p["inventory_guid"] else None
    if inv is not None and not doc.head.get("copNo") and inv.head.get("copNo"):
        doc.head["copNo"] = inv.head["copNo"]
    return inv


class _Handler:
    """The common part: one row per document in ``cbec_aftercare``, one receipt per document."""

    kind = ""

    def apply(self, engine: Engine, store: Store, docs: list[Document], now: int) -> list[Receipt]:
        """Act on the new documents of this kind (inside the batch's transaction); one receipt each."""
        out = []
        rkind = RECEIPT_KIND[self.kind]
        for doc in docs:
            p: dict[str, Any] | None = None
            try:
                p, status, info, refund = self.one(engine, store, doc, now)
            except Refused as exc:
                status, info, refund = REJECTED, str(exc), 0
            row_id = self._store(store, doc, p, status, info, refund, now)
            pre_no = self._number(store, row_id, now)
            out.append(Receipt(rkind, doc.guid, status, info, now, self.keys(doc, p, pre_no, store, row_id, status,
                                                                             now)))
        return out

    def one(self, engine: Engine, store: Store, doc: Document,
            now: int) -> tuple[dict[str, Any] | None, int, str, int]:
        """``(parcel, status, info, refund fen)`` of one document, or :class:`Refused`."""
        raise NotImplementedError

    def keys(self, doc: Document, p: dict[str, Any] | None, pre_no: str | None, store: Store, row_id: int,
             status: int, now: int) -> dict[str, str]:
        """The receipt's keys."""
        return _keys(doc, p, pre_no)

    def _store(self, store: Store, doc: Document, p: dict[str, Any] | None, status: int, info: str, refund: int,
               now: int) -> int:
        h = doc.head
        decided = now if status != ENTERED else None
        row = store.execute(_INSERT, (
            self.kind, doc.guid, status, h.get("ebpCode"), h.get("orderNo"), h.get("ebcCode"), h.get("logisticsCode"),
            h.get("logisticsNo"), h.get("logisticsStatus"), h.get("customsCode"),
            h.get("copNo"), p["invt_no"] if p else h.get("invtNo"), refund,
            info[:4000], now, decided, "system" if decided else None, document_json(doc))).fetchone()
        return int(row[0])

    def _number(self, store: Store, row_id: int, now: int) -> str | None:
        letter = _PRE_LETTER.get(self.kind)
        if letter is None:
            return None
        pre_no = f"{letter}{_china_date(now)}{row_id % 10**9:09d}"
        store.execute("UPDATE cbec_aftercare SET pre_no = ? WHERE id = ?", (pre_no, row_id))
        return pre_no


class WaybillStatusHandler(_Handler):
    """CEB513 (spec 3.7): the waybill of a declared parcel arrived (R) or was signed for (S); an event on the
    parcel; CEB514 120 (spec 3.8.4)."""

    kind = WAYBILL_STATUS

    def one(self, engine: Engine, store: Store, doc: Document,
            now: int) -> tuple[dict[str, Any] | None, int, str, int]:
        """Record the waybill status on its parcel."""
        h = doc.head
        p = _parcel(store, "logistics_code = ? AND logistics_no = ?", (h["logisticsCode"], h["logisticsNo"]))
        if p is None:
            raise Refused(f"no inventory declared for waybill {h['logisticsCode']}/{h['logisticsNo']}")
        state = h["logisticsStatus"]
        if state not in LOGISTICS_STATES:
            raise Refused(f"logisticsStatus {state!r} is not R (arrived) or S (signed for)")
        t = h["logisticsTime"]
        info = (f"waybill {h['logisticsNo']} {LOGISTICS_STATES[state]} at {t[:4]}-{t[4:6]}-{t[6:8]} "
                f"{t[8:10]}:{t[10:12]}:{t[12:14]} (CEB513)")
        store.execute(_EVENT, (p["ebp_code"], p["order_no"], p["status"], info, "system", now))
        return p, ENTERED, info, 0  # CEB514 knows 2/3/4/100/120 only (spec 3.8.4): 120 海关入库

    def keys(self, doc: Document, p: dict[str, Any] | None, pre_no: str | None, store: Store, row_id: int,
             status: int, now: int) -> dict[str, str]:
        """LogisticsStatusReturn: logisticsCode, logisticsNo, logisticsStatus."""
        return dict(doc.head)


class CancellationHandler(_Handler):
    """CEB623 (spec 3.11; receipt CEB624, spec 3.12.4): a request to cancel a released inventory within
    :data:`CANCEL_DAYS` (GACC 2018 No. 194); entered (120) for an officer to decide (399 approved, 100 refused)."""

    kind = CANCELLATION

    def one(self, engine: Engine, store: Store, doc: Document,
            now: int) -> tuple[dict[str, Any] | None, int, str, int]:
        """Check the request against the parcel and the rules; enter it for review."""
        h = doc.head
        if h.get("appType") != "1":
            raise Refused(f"appType {h.get('appType')} is not accepted for a cancellation (1 new only)")
        p = _parcel_of(store, h)
        if p["status"] != RELEASED:
            raise Refused(f"only a released inventory (800) can be cancelled; order {h['orderNo']} is "
                          f"{p['status']}")
        if p["decided_ms"] is not None and now - p["decided_ms"] > CANCEL_DAYS * DAY_MS:
            raise Refused(f"released more than {CANCEL_DAYS} days ago: it can no longer be cancelled")
        if _signed_for(store, p):
            raise Refused("the goods were signed for by the consignee: send a CEB625 return instead")
        if _open_requests(store, p, CANCELLATION):
            raise Refused(f"a cancellation of order {h['orderNo']} is already pending or approved")
        if _open_requests(store, p, RETURN):
            raise Refused(f"goods of order {h['orderNo']} were returned (CEB625): it cannot be cancelled")
        _inventory(engine, p, doc)
        return p, ENTERED, "cancellation entered: awaiting customs review", 0


class ReturnHandler(_Handler):
    """CEB625 (spec 3.13; receipt CEB626, spec 3.14.4): goods of a released inventory returned within
    :data:`RETURN_DAYS` (GACC 2018 No. 194); quota refunded in proportion, decided at once (399)."""

    kind = RETURN

    def one(self, engine: Engine, store: Store, doc: Document,
            now: int) -> tuple[dict[str, Any] | None, int, str, int]:
        """Check the return against the released inventory's lines; refund the quota it frees."""
        h = doc.head
        if h.get("appType") != "1":
            raise Refused(f"appType {h.get('appType')} is not accepted for a return (1 new only)")
        p = _parcel_of(store, h)
        if p["status"] not in (RELEASED, CLOSED):
            raise Refused(f"only goods of a released inventory (800) can be returned; order {h['orderNo']} is "
                          f"{p['status']}")
        if p["decided_ms"] is not None and now - p["decided_ms"] > RETURN_DAYS * DAY_MS:
            raise Refused(f"released more than {RETURN_DAYS} days ago: too late for a return")
        if _open_requests(store, p, CANCELLATION):
            raise Refused(f"a cancellation of order {h['orderNo']} is pending or approved")
        inv = _inventory(engine, p, doc)
        if inv is None:
            raise Refused(f"the inventory of order {h['orderNo']} is not in the message log")
        lines = {str(int(ln["gnum"])): ln for ln in inv.lines}
        returned = _returned_qty(store, p)
        problems, value, total = [], Decimal(0), sum((Decimal(ln["totalPrice"]) for ln in inv.lines), Decimal(0))
        full = dict.fromkeys(lines, False)
        for i, ln in enumerate(doc.lines, 1):
            g = str(int(ln["gnum"]))
            orig = lines.get(g)
            if orig is None:
                problems.append(f"line {i}: gnum {g} is not a line of the inventory")
                continue
            if ln["gcode"] != orig["gcode"]:
                problems.append(f"line {i}: gcode {ln['gcode']} is not the inventory line's ({orig['gcode']})")
            qty, had = Decimal(ln["qty"]), Decimal(orig["qty"])
            left = had - returned.get(g, Decimal(0))
            if qty <= 0 or qty > left:
                problems.append(f"line {i}: qty {ln['qty']} is not between 0 and the {left} not yet returned")
                continue
            value += Decimal(orig["totalPrice"]) * qty / had
            returned[g] = returned.get(g, Decimal(0)) + qty
            full[g] = returned[g] >= had
        if problems:
            raise Refused("; ".join(problems))
        for g, orig in lines.items():  # lines returned in earlier returns count as returned
            full[g] = full[g] or returned.get(g, Decimal(0)) >= Decimal(orig["qty"])
        everything = all(full.values())
        charged = int(p["charged_fen"] or 0)
        share = int(Decimal(int(p["dutiable_fen"] or 0)) * value / total) if total > 0 else charged
        refund = charged if everything else min(charged, share)
        if refund:
            quota.refund(store, p["buyer_id_number"], p["quota_year"], refund, now)
        status = RETURNED if everything else p["status"]
        info = (f"goods returned (CEB625 {doc.guid}): " + ("all of them" if everything else "in part")
                + f"; {refund / 100:.2f} CNY of annual quota refunded")
        decided = now if everything else p["decided_ms"]  # a part returned: the release time stays (the window)
        store.execute("UPDATE cbec_parcel SET status = ?, info = ?, charged_fen = ?, decided_ms = ? "
                      "WHERE id = ?", (status, info, charged - refund, decided, p["id"]))
        store.execute(_EVENT, (p["ebp_code"], p["order_no"], status, info, "system", now))
        if everything:
            engine.matcher.closed[(p["ebp_code"], p["order_no"])] = status
        return p, DECIDED, info, refund


def _returned_qty(store: Store, p: dict[str, Any]) -> dict[str, Decimal]:
    """Quantities of the parcel's inventory lines (by gnum) returned by earlier accepted CEB625s."""
    out: dict[str, Decimal] = {}
    for (payload,) in store.execute("SELECT payload FROM cbec_aftercare WHERE ebp_code = ? AND order_no = ? "
                                    "AND msg_type = ? AND status = ?", (p["ebp_code"], p["order_no"], RETURN,
                                                                        DECIDED)).fetchall():
        for ln in orjson.loads(bytes(payload))["documents"][0]["lines"]:
            g = str(int(ln["gnum"]))
            out[g] = out.get(g, Decimal(0)) + Decimal(ln["qty"])
    return out


class EntryListHandler(_Handler):
    """CEB711: the waybills a supervised warehouse took in for 1210 bonded imports; stored, numbered (rkdNo)."""

    kind = ENTRY_LIST

    def one(self, engine: Engine, store: Store, doc: Document,
            now: int) -> tuple[dict[str, Any] | None, int, str, int]:
        """Accept the entry list (new or changed); a deletion is refused."""
        h = doc.head
        if h.get("appType") == "3":
            raise Refused("appType 3 (delete) is not accepted for an entry list; send appType 2 to change it")
        if h.get("ieFlag") != "I":
            raise Refused("ieFlag is not I (import)")
        gnums = [ln["gnum"] for ln in doc.lines]
        if len(set(gnums)) != len(gnums):
            raise Refused("gnum repeated in the entry list")
        return None, ENTERED, f"entry list entered: {len(doc.lines)} waybills", 0

    def keys(self, doc: Document, p: dict[str, Any] | None, pre_no: str | None, store: Store, row_id: int,
             status: int, now: int) -> dict[str, str]:
        """DeliveryReturn: customsCode, operatorCode, copNo, our preNo and rkdNo (none when refused)."""
        keys = _keys(doc, None, pre_no)
        keys.pop("rkdNo", None)
        if status != REJECTED:
            rkd = f"{doc.head['customsCode']}{_china_date(now)}{row_id % 10**6:06d}"
            store.execute("UPDATE cbec_aftercare SET rkd_no = ? WHERE id = ?", (rkd, row_id))
            keys["rkdNo"] = rkd
        return keys


def handlers() -> dict[str, _Handler]:
    """The Engine's handlers of CEB513 / 623 / 625 / 711 documents, by kind."""
    return {h.kind: h for h in (WaybillStatusHandler(), CancellationHandler(), ReturnHandler(), EntryListHandler())}


# ---------------------------------------------------------------------------- officers
def row_dict(row: Sequence[Any]) -> dict[str, Any]:
    """A ``cbec_aftercare`` row (``_ROW_COLS``) as a dict, with the kind's name."""
    out = dict(zip(_ROW_COLS, row, strict=True))
    out["kind_name"] = KIND_NAMES.get(out["msg_type"], out["msg_type"])
    return out


def listing(store: Store, kinds: Sequence[str], statuses: Sequence[int], after_id: int = 0, limit: int = 100,
            enterprise_codes: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Documents of ``kinds`` in ``statuses`` after the id ``after_id``, oldest first (an officer's queue); with
    ``enterprise_codes``, only those whose platform, e-commerce or logistics code is among them."""
    where = [f"msg_type IN ({', '.join('?' * len(kinds))})", f"status IN ({', '.join('?' * len(statuses))})",
             "id > ?"]
    params: list[Any] = [*kinds, *statuses, after_id]
    if enterprise_codes is not None:
        codes = sorted(enterprise_codes) or [""]
        marks = ", ".join("?" * len(codes))
        where.append(f"(ebp_code IN ({marks}) OR ebc_code IN ({marks}) OR logistics_code IN ({marks}))")
        params += [*codes, *codes, *codes]
    rows = store.execute(f"SELECT {', '.join(_ROW_COLS)} FROM cbec_aftercare WHERE {' AND '.join(where)} "
                         "ORDER BY id LIMIT ?", (*params, limit)).fetchall()
    return [row_dict(r) for r in rows]


def one_document(store: Store, doc_id: int) -> dict[str, Any]:
    """One document with its head and lines."""
    row = store.execute(f"SELECT {', '.join(_ROW_COLS)}, payload FROM cbec_aftercare WHERE id = ?",
                        (doc_id,)).fetchone()
    if row is None:
        raise NotFound(f"no CEB513/623/625/711 document {doc_id}")
    out = row_dict(row[:-1])
    d = orjson.loads(bytes(row[-1]))["documents"][0]
    out["head"], out["lines"] = d["head"], d["lines"]
    return out


def of_parcel(store: Store, ebp_code: str, order_no: str, logistics: tuple[str | None, str | None]
              ) -> list[dict[str, Any]]:
    """The documents about a parcel: its cancellations and returns, its waybill's statuses."""
    rows = store.execute(f"SELECT {', '.join(_ROW_COLS)} FROM cbec_aftercare WHERE (ebp_code = ? AND order_no = ?) "
                         "OR (msg_type = ? AND logistics_code = ? AND logistics_no = ?) ORDER BY id",
                         (ebp_code, order_no, WAYBILL_STATUS, *logistics)).fetchall()
    return [row_dict(r) for r in rows]


def decide(store: Store, doc_id: int, approve: bool, info: str, actor: str, role: str, now: int) -> Receipt:
    """An officer's decision on a pending CEB623 cancellation (inside the caller's transaction): approved, the
    parcel becomes 100 (cancelled) and its quota charge is refunded; refused, the parcel stays released. Audited.
    Returns the CEB624 receipt (the writer's matcher must then learn the parcel's new status)."""
    lock = " FOR UPDATE" if store.dialect == "postgresql" else ""
    row = store.execute(f"SELECT {', '.join(_ROW_COLS)}, payload FROM cbec_aftercare WHERE id = ?{lock}",
                        (doc_id,)).fetchone()
    if row is None or row[1] != CANCELLATION:
        raise NotFound(f"no CEB623 cancellation {doc_id}")
    d = row_dict(row[:-1])
    if d["status"] != ENTERED:
        raise Conflict(f"cancellation {doc_id} is already decided (status {d['status']})")
    payload = orjson.loads(bytes(row[-1]))
    head = payload["documents"][0]["head"]
    p = _parcel(store, "ebp_code = ? AND order_no = ?", (d["ebp_code"], d["order_no"]))
    refund = 0
    if approve:
        if p is None or p["status"] != RELEASED:
            raise Conflict(f"the parcel is no longer released (status {None if p is None else p['status']})")
        refund = int(p["charged_fen"] or 0)
        if refund:
            quota.refund(store, p["buyer_id_number"], p["quota_year"], refund, now)
        status, text = DECIDED, f"cancellation approved: {info}" if info else "cancellation approved"
        parcel_info = f"inventory cancelled (CEB623 {d['guid']}); {refund / 100:.2f} CNY of annual quota refunded"
        store.execute("UPDATE cbec_parcel SET status = ?, info = ?, charged_fen = 0, decided_ms = ? WHERE id = ?",
                      (REJECTED, parcel_info, now, p["id"]))
        store.execute(_EVENT, (p["ebp_code"], p["order_no"], REJECTED, parcel_info, actor, now))
    else:
        status, text = REJECTED, f"cancellation refused by customs: {info}" if info else "cancellation refused"
    store.execute("UPDATE cbec_aftercare SET status = ?, info = ?, refund_fen = ?, decided_ms = ?, decided_by = ? "
                  "WHERE id = ?", (status, text[:4000], refund, now, actor, doc_id))
    record_raw(store, actor, role, "cbec.cancellation.decision", "cbec_aftercare", str(doc_id),
               {"approve": approve, "info": info, "refund_fen": refund, "ebp_code": d["ebp_code"],
                "order_no": d["order_no"]})
    keys = dict(head)
    keys.pop("invtNo", None)
    keys["preNo"] = d["pre_no"]
    if d["invt_no"] and len(d["invt_no"]) == 18:
        keys["invtNo"] = d["invt_no"]
    return Receipt(RECEIPT_KIND[CANCELLATION], d["guid"], status, text, now, keys)
