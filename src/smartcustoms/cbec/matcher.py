"""Three-document matching (三单对碰): order + payment + waybill against the import inventory.

Documents arrive in any order. Order, payment and inventory are joined on (ebpCode, orderNo); the
waybill is joined on (logisticsCode, logisticsNo) named by the inventory. When the inventory and all
three documents are present the parcel is *complete* and :func:`cross_check` lists every disagreement.

The :class:`Matcher` keeps the waiting documents in memory; the database (the accepted-message log)
is the durable copy, from which :meth:`Matcher.replay` rebuilds the state after a restart and from
which a ``loader`` fetches documents that are no longer in memory (re-opened or evicted parcels).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from itertools import islice

from smartcustoms.cbec.ceb.spec import INVENTORY, ORDER, PAYMENT, WAYBILL, Document
from smartcustoms.cbec.ceb.statuses import REJECTED

Key = tuple[str, str]      # (ebpCode, orderNo)
WaybillKey = tuple[str, str]  # (logisticsCode, logisticsNo)
TOLERANCE = Decimal("0.01")
KIND_NAMES = {ORDER: "CEB311 order", PAYMENT: "CEB411 payment", WAYBILL: "CEB511 waybill",
              INVENTORY: "CEB621 inventory"}


def waybill_key(doc: Document) -> WaybillKey:
    """The (logisticsCode, logisticsNo) key of a waybill or of the waybill an inventory names."""
    return doc.head["logisticsCode"], doc.head["logisticsNo"]


@dataclass(slots=True)
class Slot:
    """The documents of one parcel seen so far."""

    key: Key
    first_ms: int
    last_ms: int
    order: Document | None = None
    payment: Document | None = None
    inventory: Document | None = None
    waybill: Document | None = None
    inventory_ms: int = 0

    def missing(self) -> list[str]:
        """Names of the document kinds (order, payment, waybill, inventory) still missing from the parcel."""
        return [KIND_NAMES[k] for k, d in ((ORDER, self.order), (PAYMENT, self.payment),
                                           (WAYBILL, self.waybill), (INVENTORY, self.inventory)) if d is None]


_SLOT_ATTR = {ORDER: "order", PAYMENT: "payment", INVENTORY: "inventory"}


class Offer:
    """What happened to an offered document."""

    ACCEPTED, REFUSED = "accepted", "refused"

    __slots__ = ("status", "info", "complete")

    def __init__(self, status: str, info: str = "", complete: Slot | None = None) -> None:
        self.status, self.info, self.complete = status, info, complete


_WAITING = Offer(Offer.ACCEPTED)  # accepted, nothing completed (shared: offers are read, never changed)

Loader = Callable[[Key | None, WaybillKey | None], dict[str, Document]]


class Matcher:
    """In-memory join of the four documents; decisions are recorded with :meth:`close`."""

    def __init__(self, loader: Loader | None = None, max_pending: int | None = None) -> None:
        self.max_pending = max_pending
        # hashes of the keys of parcels (and waybills) evicted to the log: a set of ints costs a third of one
        # of key tuples; a collision only makes the matcher look in the log for a key that is not there
        self.evicted: set[int] = set()
        self.evicted_waybills: set[int] = set()
        self.pending: dict[Key, Slot] = {}
        self.waybills: dict[WaybillKey, tuple[Document, int]] = {}
        self.waybill_owner: dict[WaybillKey, Key] = {}
        self.closed: dict[Key, int] = {}
        self._deadlines: deque[tuple[int, Key]] = deque()
        self.loader = loader

    # ------------------------------------------------------------------ offering documents
    def offer(self, doc: Document, now_ms: int) -> Offer:
        """Add a new (not duplicate) document; returns accepted/refused and the parcel it completes."""
        h = doc.head
        app_type = h.get("appType", "1")
        if app_type == "3":
            return Offer(Offer.REFUSED, "appType 3 (delete) is not accepted; a released inventory is cancelled "
                                        "with a CEB623 cancellation request")
        kind = doc.kind
        if kind == WAYBILL:
            return self._offer_waybill(doc, now_ms, app_type)
        key = (h["ebpCode"], h["orderNo"])
        status = self.closed.get(key)
        slot = self.pending.get(key)
        if status is not None:
            if status != REJECTED:
                return Offer(Offer.REFUSED, f"parcel {key[1]} already decided (status {status}); "
                                            "modification refused (cancel a released inventory with CEB623, "
                                            "return its goods with CEB625)")
            slot = self._reopen(key, now_ms)
        elif slot is None and self.evicted and hash(key) in self.evicted:
            slot = self._restore(key, now_ms)
        if slot is None:
            slot = self.pending[key] = Slot(key, now_ms, now_ms)
        attr = _SLOT_ATTR[kind]
        if getattr(slot, attr) is not None and app_type != "2" and status is None:
            return Offer(Offer.REFUSED, f"{KIND_NAMES[kind]} for order {key[1]} already declared; "
                                        "send appType 2 to modify it")
        setattr(slot, attr, doc)
        if now_ms > slot.last_ms:
            slot.last_ms = now_ms
        if kind == INVENTORY:
            wkey = (h["logisticsCode"], h["logisticsNo"])
            self.waybill_owner[wkey] = key
            if slot.inventory_ms == 0:
                slot.inventory_ms = now_ms
                self._deadlines.append((now_ms, key))
            held = self._waybill(wkey, now_ms)
            if held is not None:
                slot.waybill = held[0]
                if held[1] > slot.last_ms:
                    slot.last_ms = held[1]
        if slot.inventory is not None and slot.order is not None and slot.payment is not None \
                and slot.waybill is not None:
            return Offer(Offer.ACCEPTED, "", slot)
        return _WAITING

    def _waybill(self, wkey: WaybillKey, now_ms: int) -> tuple[Document, int] | None:
        held = self.waybills.get(wkey)
        if held is None and self.evicted_waybills and hash(wkey) in self.evicted_waybills \
                and self.loader is not None:
            self.evicted_waybills.discard(hash(wkey))
            doc = self.loader(None, wkey).get(WAYBILL)
            if doc is not None:
                held = self.waybills[wkey] = (doc, now_ms)
        return held

    def _restore(self, key: Key, now_ms: int) -> Slot:
        """Bring an evicted parcel's documents back from the store."""
        self.evicted.discard(hash(key))
        slot = self.pending[key] = Slot(key, now_ms, now_ms)
        if self.loader is not None:
            docs = self.loader(key, None)
            slot.order, slot.payment, slot.inventory = docs.get(ORDER), docs.get(PAYMENT), docs.get(INVENTORY)
            if slot.inventory is not None:
                slot.inventory_ms = now_ms  # its deadline entry is still queued
                wkey = waybill_key(slot.inventory)
                self.waybill_owner[wkey] = key
                held = self._waybill(wkey, now_ms)
                if held is not None:
                    slot.waybill = held[0]
        return slot

    def shrink(self) -> int:
        """Keep at most ``max_pending`` parcels (and waybills) in memory; the oldest go back to the store."""
        if not self.max_pending:
            return 0
        dropped = 0
        if len(self.pending) > self.max_pending:
            for key in list(islice(self.pending, len(self.pending) - self.max_pending * 9 // 10)):
                del self.pending[key]
                self.evicted.add(hash(key))
                dropped += 1
        if len(self.waybills) > self.max_pending:
            for wkey in list(islice(self.waybills, len(self.waybills) - self.max_pending * 9 // 10)):
                del self.waybills[wkey]
                self.evicted_waybills.add(hash(wkey))
                dropped += 1
        return dropped

    def _offer_waybill(self, doc: Document, now_ms: int, app_type: str) -> Offer:
        wkey = waybill_key(doc)
        key = self.waybill_owner.get(wkey)
        slot = self.pending.get(key) if key else None
        if key is not None and slot is None and key in self.closed and self.closed[key] != REJECTED:
            return Offer(Offer.REFUSED, f"waybill {wkey[1]}: parcel already decided; modification refused")
        if key is not None and slot is None and self.evicted and hash(key) in self.evicted:
            slot = self._restore(key, now_ms)
        if wkey in self.waybills and app_type != "2":
            return Offer(Offer.REFUSED, f"waybill {wkey[1]} already declared; send appType 2 to modify it")
        self.waybills[wkey] = (doc, now_ms)
        if slot is None and key is not None and self.closed.get(key) == REJECTED:
            slot = self._reopen(key, now_ms)
        if slot is None:
            return _WAITING
        slot.waybill = doc
        if now_ms > slot.last_ms:
            slot.last_ms = now_ms
        complete = self._complete(slot)
        return _WAITING if complete is None else Offer(Offer.ACCEPTED, "", complete)

    def _reopen(self, key: Key, now_ms: int) -> Slot:
        """A rejected parcel gets a corrected document: bring its other documents back."""
        del self.closed[key]
        slot = self.pending.get(key) or Slot(key, now_ms, now_ms)
        self.pending[key] = slot
        if self.loader is not None:
            docs = self.loader(key, None)
            slot.order = slot.order or docs.get(ORDER)
            slot.payment = slot.payment or docs.get(PAYMENT)
            slot.inventory = slot.inventory or docs.get(INVENTORY)
            if slot.inventory is not None:
                wkey = waybill_key(slot.inventory)
                self.waybill_owner[wkey] = key
                wb = self.waybills.get(wkey)
                if wb is None:
                    wdoc = self.loader(None, wkey).get(WAYBILL)
                    wb = (wdoc, now_ms) if wdoc else None
                if wb is not None:
                    self.waybills[wkey] = wb
                    slot.waybill = wb[0]
        if slot.inventory is not None and slot.inventory_ms == 0:
            slot.inventory_ms = now_ms
            self._deadlines.append((now_ms, key))
        return slot

    @staticmethod
    def _complete(slot: Slot) -> Slot | None:
        if slot.inventory is not None and slot.order is not None and slot.payment is not None \
                and slot.waybill is not None:
            return slot
        return None

    # ------------------------------------------------------------------ decisions and deadlines
    def close(self, key: Key, status: int) -> None:
        """Record a decision: the parcel leaves the pending state."""
        slot = self.pending.pop(key, None)
        if self.evicted:
            self.evicted.discard(hash(key))
        self.closed[key] = status
        if slot is not None and slot.inventory is not None:
            h = slot.inventory.head
            wkey = (h["logisticsCode"], h["logisticsNo"])
            self.waybills.pop(wkey, None)
            self.waybill_owner.pop(wkey, None)

    def overdue(self, now_ms: int, deadline_ms: int) -> list[Slot]:
        """Pending parcels whose inventory arrived more than ``deadline_ms`` ago (oldest first).

        Before a parcel is called incomplete its missing documents are looked up in the store (they
        may have been evicted from memory); a parcel found complete that way is returned too.
        """
        out = []
        while self._deadlines and self._deadlines[0][0] + deadline_ms <= now_ms:
            _t, key = self._deadlines.popleft()
            slot = self.pending.get(key)
            if slot is None and hash(key) in self.evicted:
                slot = self._restore(key, now_ms)
            if slot is None or slot.inventory is None:
                continue
            if self.loader is not None and self._complete(slot) is None:
                docs = self.loader(key, waybill_key(slot.inventory))
                slot.order = slot.order or docs.get(ORDER)
                slot.payment = slot.payment or docs.get(PAYMENT)
                slot.waybill = slot.waybill or docs.get(WAYBILL)
            out.append(slot)
        return out

    def evict_orphans(self, now_ms: int, ttl_ms: int) -> int:
        """Drop documents waiting longer than ``ttl_ms`` without an inventory (they stay in the store)."""
        old = [k for k, s in self.pending.items() if s.inventory is None and s.last_ms + ttl_ms <= now_ms]
        for k in old:
            del self.pending[k]
        wold = [w for w, (_d, t) in self.waybills.items() if t + ttl_ms <= now_ms and w not in self.waybill_owner]
        for w in wold:
            del self.waybills[w]
        return len(old) + len(wold)


# ---------------------------------------------------------------------- cross-document checks
def _d(v: str | None) -> Decimal:
    return Decimal(v) if v else Decimal(0)


def _same(a: str | None, b: str | None) -> bool:
    return (a or "") == (b or "")


def cross_check(order: Document, payment: Document, waybill: Document, inventory: Document) -> list[str]:
    """Every disagreement between the four documents of a parcel (empty when consistent)."""
    o, p, w, i = order.head, payment.head, waybill.head, inventory.head
    failed: list[str] = []
    for f in ("buyerIdType", "buyerIdNumber", "buyerName"):
        if not _same(o.get(f), i.get(f)):
            failed.append(f"order {f} {o.get(f)!r} != inventory {f} {i.get(f)!r}")
    for of, pf in (("buyerIdType", "payerIdType"), ("buyerIdNumber", "payerIdNumber"), ("buyerName", "payerName")):
        if not _same(o.get(of), p.get(pf)):
            failed.append(f"payment {pf} {p.get(pf)!r} != order {of} {o.get(of)!r}")
    paid, actural = _d(p.get("amountPaid")), _d(o.get("acturalPaid"))
    if p.get("amountPaid") != o.get("acturalPaid") and abs(paid - actural) > TOLERANCE:
        failed.append(f"payment amountPaid {paid} != order acturalPaid {actural}")
    expected = _d(o.get("goodsValue")) + _d(o.get("freight")) + _d(o.get("taxTotal")) - _d(o.get("discount"))
    if abs(expected - actural) > TOLERANCE:
        failed.append(f"order acturalPaid {actural} != goodsValue + freight + taxTotal - discount = {expected}")
    if not _same(o.get("ebcCode"), i.get("ebcCode")):
        failed.append(f"order ebcCode {o.get('ebcCode')!r} != inventory ebcCode {i.get('ebcCode')!r}")
    failed += _compare_lines(order.lines, inventory.lines)
    if not _same(w.get("orderNo"), i.get("orderNo")):
        failed.append(f"waybill orderNo {w.get('orderNo')!r} != inventory orderNo {i.get('orderNo')!r}")
    for wf, of in (("consignee", "consignee"), ("consigneeAddress", "consigneeAddress"),
                   ("consigneeTelephone", "consigneeTelephone")):
        if not _same(w.get(wf), o.get(of)):
            failed.append(f"waybill {wf} {w.get(wf)!r} != order {of} {o.get(of)!r}")
    return failed


def consistent_py(order: Document, payment: Document, waybill: Document, inventory: Document) -> bool:
    """A quick sufficient test that :func:`cross_check` finds nothing (the common case).

    ``True`` only when every value agrees exactly as text (and the order total within a float margin far
    below the 0.01 tolerance); anything else answers ``False`` and the caller runs :func:`cross_check`.
    :func:`consistent` is the compiled form when built (the same answers).
    """
    og, pg, wg, ig = order.head.get, payment.head.get, waybill.head.get, inventory.head.get
    actural = og("acturalPaid")
    if not (og("buyerIdNumber") == ig("buyerIdNumber") == pg("payerIdNumber")
            and og("buyerName") == ig("buyerName") == pg("payerName")
            and og("buyerIdType") == ig("buyerIdType") == pg("payerIdType")
            and actural is not None and pg("amountPaid") == actural and og("ebcCode") == ig("ebcCode")
            and wg("orderNo") == ig("orderNo") and wg("consignee") == og("consignee")
            and wg("consigneeAddress") == og("consigneeAddress")
            and wg("consigneeTelephone") == og("consigneeTelephone")):
        return False
    try:
        total = (float(og("goodsValue") or 0) + float(og("freight") or 0) + float(og("taxTotal") or 0)
                 - float(og("discount") or 0))
        if abs(total - float(actural)) > 0.005:
            return False
    except ValueError:
        return False
    ol, il = order.lines, inventory.lines
    if len(ol) != len(il):
        return False
    if len(ol) > 1 and len({ln.get("gnum") for ln in ol}) != len(ol):
        return False
    for a, b in zip(ol, il, strict=True):
        ag, bg = a.get, b.get
        if not (ag("gnum") == bg("gnum") and ag("itemNo") == bg("itemNo") and ag("qty") == bg("qty")
                and ag("price") == bg("price") and ag("totalPrice") == bg("totalPrice")):
            return False
    return True


def _compare_lines(order_lines: list[dict[str, str]], inv_lines: list[dict[str, str]]) -> list[str]:
    failed = []
    if len(order_lines) != len(inv_lines):
        failed.append(f"order has {len(order_lines)} lines, inventory has {len(inv_lines)}")
    by_gnum = {ln.get("gnum"): ln for ln in order_lines}
    for il in inv_lines:
        g = il.get("gnum")
        ol = by_gnum.get(g)
        if ol is None:
            failed.append(f"inventory line {g} has no order line")
            continue
        if not _same(ol.get("itemNo"), il.get("itemNo")):
            failed.append(f"line {g} itemNo: order {ol.get('itemNo')!r} != inventory {il.get('itemNo')!r}")
        for f in ("qty", "price", "totalPrice"):
            sa, sb = ol.get(f), il.get(f)
            if sa != sb:
                a, b = _d(sa), _d(sb)
                if abs(a - b) > TOLERANCE:
                    failed.append(f"line {g} {f}: order {a} != inventory {b}")
    return failed


def _compiled_consistent() -> Callable[[Document, Document, Document, Document], bool]:
    """:func:`consistent_py` compiled (``_match.pyx``), or itself when the extension is not built."""
    try:
        from smartcustoms.cbec._match import consistent as compiled
        from smartcustoms.cbec._match import consistent_fallback
    except ImportError:  # pragma: no cover - built by `pip install -e .`
        return consistent_py
    consistent_fallback(consistent_py)
    return compiled  # type: ignore[no-any-return]


consistent = _compiled_consistent()  # :func:`consistent_py`, compiled when built
