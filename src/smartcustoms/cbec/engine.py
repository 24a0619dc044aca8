"""The CBEC writer (the Engine): parse → dedupe → match → check → tax → score → quota → persist → receipts.

Crash safety rests on three rules:

1. **One transaction per batch.** The accepted documents (the message log), the quota charges, the parcel
   decisions and events, the rejections and the ingest offset of the batch are committed together;
   receipts go out only after the commit. A crash loses nothing committed and leaves no half batch.
2. **Idempotent by guid.** A document whose guid is already in the log is acknowledged and ignored, so
   replaying input after a crash cannot process it twice.
3. **Release and quota charge together.** A parcel's status and its quota charge are written in the same
   transaction; the ledger always equals the sum of charged parcels per buyer and year.

The matcher's state is in memory; :meth:`Engine.warm_start` rebuilds it from the log after a restart.
Parsing is CPU-heavy and may run in worker processes (:mod:`.runner`); a single writer does everything else.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, NamedTuple

from smartcustoms.cbec import quota
from smartcustoms.cbec.ceb.parse import Encoded, document_from_json, parse_batch_documents, stored_problems
from smartcustoms.cbec.ceb.receipts import Receipt
from smartcustoms.cbec.ceb.spec import GENERIC_RECEIPT, RECEIPT_KIND, CebError, Document, preload_code_tables
from smartcustoms.cbec.ceb.statuses import ENTERED, REJECTED, RELEASED
from smartcustoms.cbec.log import MessageLog, Record, open_log, route
from smartcustoms.cbec.matcher import Key, Matcher, Offer, Slot, WaybillKey, consistent, cross_check
from smartcustoms.cbec.positive_list import PositiveList
from smartcustoms.cbec.seams import ParcelHistory, ParcelSelectivity
from smartcustoms.cbec.senders import PLAIN_REASONS
from smartcustoms.cbec.store import Store
from smartcustoms.core.config import CbecSettings  # pydantic cannot read a class of this compiled module
from smartcustoms.risk.parcels.scoring import ParcelCase
from smartcustoms.tax.retail import SINGLE_LIMIT, RateTable, TaxAssessment, TaxItem, assess, to_fen

CHARGED_STATUSES = frozenset({300, 399, 500, 501, 502, 503, 599, 800, 899})
_new = tuple.__new__  # _new(Receipt, (...)) is Receipt(...) without the Python-level NamedTuple.__new__ call

OUTCOMES_EVERY_S = 30.0  # how often a writer reads officers' new inspection results


class Decision(NamedTuple):
    """A parcel's decision: its status and reasons, the tax assessed, the quota year and the risk score."""

    slot: Slot
    status: int
    info: str
    tax: TaxAssessment | None
    year: int
    score: float | None


@dataclass
class BatchResult:
    """What one batch produced: receipts, decisions, latencies and message counts."""

    receipts: list[Receipt] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)
    latencies_ms: list[int] = field(default_factory=list)
    duplicates: int = 0
    rejected_messages: int = 0
    accepted_messages: int = 0


ParseResult = list[Document] | Encoded | CebError


def parse_batch(raws: Sequence[bytes]) -> list[ParseResult]:
    """Parse many messages; a bad one yields its :class:`CebError` (pure, runs in worker processes)."""
    return parse_batch_documents(raws)  # type: ignore[return-value]


def _now_ms() -> int:
    """Wall-clock time in epoch milliseconds (the engine's default clock)."""
    return int(time.time() * 1000)


_PARCEL_COLS = ("ebp_code", "order_no", "inventory_guid", "ebc_code", "logistics_code", "logistics_no",
                "buyer_id_type", "buyer_id_number", "buyer_name", "buyer_telephone", "consignee_address",
                "quota_year", "status", "regime", "dutiable_fen", "tariff_fen", "consumption_fen", "vat_fen",
                "tax_fen", "charged_fen", "risk_score", "info", "first_ms", "last_doc_ms", "decided_ms")
_UPSERT_PARCEL = (
    f"INSERT INTO cbec_parcel ({', '.join(_PARCEL_COLS)}) VALUES ({', '.join('?' * len(_PARCEL_COLS))}) "
    "ON CONFLICT (ebp_code, order_no) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _PARCEL_COLS[2:]))
_MAX_PARCEL_ID = "SELECT coalesce(max(id), 0) FROM cbec_parcel"
_EVENT_COLS = ("ebp_code", "order_no", "status", "info", "actor", "at_ms")
_REJECTION_COLS = ("guid", "msg_type", "status", "info", "at_ms")


class Engine:
    """The single writer: holds the matcher state and turns parsed messages into committed decisions."""

    def __init__(self, store: Store, settings: CbecSettings | None = None,
                 selectivity: ParcelSelectivity | None = None, rates: RateTable | None = None,
                 positive: PositiveList | None = None, clock: Callable[[], int] = _now_ms,
                 shard: int = 0, shards: int = 1) -> None:
        self.store = store
        self.shard, self.shards = shard, shards
        self.log: MessageLog = open_log(store, shard, shards)
        if shards > 1:
            store.serialize_writers()
        self._seen_parcel_id = 0
        # SQLite, several shards: ids of the rows this shard's last batch inserted (under the write lock,
        # so no other writer's rows are among them); the next look at other shards' rows skips them
        self._own_ids: tuple[int, int] | None = None
        self.settings = settings or CbecSettings()
        if selectivity is None:
            from smartcustoms.risk.parcels.selectivity import ParcelRiskEngine
            from smartcustoms.risk.targeting.policy import SelectivityConfig

            s = self.settings
            selectivity = ParcelRiskEngine(SelectivityConfig(budget=s.risk_budget, exploration=s.risk_exploration,
                                                             seed=s.risk_seed))
        self.selectivity = selectivity
        self.rates = rates or (RateTable.from_csv(self.settings.rates_csv) if self.settings.rates_csv
                               else RateTable())
        self.positive = positive or PositiveList.from_csv(self.settings.positive_list)
        self.clock = clock
        self.matcher = Matcher(loader=self.log.load, max_pending=self.settings.max_pending)
        self.history = ParcelHistory()
        self._dirty = False
        self._last_evict = 0
        self._seen_event_id = 0
        self._outcomes_at = -1e18

    # ------------------------------------------------------------------ state
    def warm_start(self) -> None:
        """Rebuild the in-memory state (decided keys, history, waiting documents) from the store."""
        preload_code_tables()  # before the first message rather than during it
        self.matcher = Matcher(loader=self.log.load, max_pending=self.settings.max_pending)
        self.history = ParcelHistory()
        self.selectivity.refresh(self.store, force=True)
        self._seen_event_id = 0
        self.read_outcomes()
        decided: set[Key] = set()
        decided_waybills: set[WaybillKey] = set()
        self._seen_parcel_id = 0
        self._own_ids = None
        for ebp, order, status, lc, lno in self._read_parcels(observe_own=True):
            self.matcher.closed[(ebp, order)] = status
            decided.add((ebp, order))
            if lc is not None:
                decided_waybills.add((lc, lno))  # type: ignore[arg-type]  # a stored waybill has its number

        def is_decided(waybill: bool, key: Key) -> bool:
            return key in decided_waybills if waybill else key in decided

        self._carry: list[Slot] = []
        self._poisoned: list[tuple[Document, str]] = []
        for doc, ms in self.log.replay(self.store, is_decided):
            problems = stored_problems(doc)
            if problems:  # a record of an older version with values today's checks refuse: reported, not used
                self._poisoned.append((doc, "; ".join(f"{f}: {r}" for f, r in problems)[:4000]))
                continue
            offer = self.matcher.offer(doc, ms)
            if offer.complete is not None:
                self._carry.append(offer.complete)
        self._dirty = False

    def _read_parcels(self, observe_own: bool) -> list[tuple[str, str, int, str | None, str | None]]:
        """Parcel rows decided since the last read feed the history features (this shard's own ones only
        with ``observe_own``: a running shard has observed them already); returns this shard's rows as
        ``(ebp, order, status, logistics code, logistics no)``."""
        sql = ("SELECT id, ebp_code, order_no, status, buyer_id_number, quota_year, consignee_address, "
               "buyer_telephone, logistics_code, logistics_no FROM cbec_parcel WHERE id > ?")
        params: tuple[int, ...] = (self._seen_parcel_id,)
        mine = self._own_ids
        if not observe_own and mine is not None and mine[0] >= self._seen_parcel_id:
            sql += " AND id NOT BETWEEN ? AND ?"  # this shard's last batch: observed already
            params += mine
        rows = self.store.execute(sql + " ORDER BY id", params)
        shards, me, own_rows = self.shards, self.shard, []
        observe_row = self.history.observe_row
        for pid, ebp, order, status, buyer, year, addr, phone, lc, lno in rows:
            self._seen_parcel_id = pid
            # route(order, shards) == me, inline
            own = shards == 1 or (zlib.crc32(order.encode()) % shards if order else 0) == me
            if buyer is not None and (observe_own or not own):
                observe_row(buyer, year or 0, addr, phone, ebp, lc, status)
            if own:
                own_rows.append((ebp, order, status, lc, lno))
        if mine is not None:
            self._own_ids = None
            self._seen_parcel_id = max(self._seen_parcel_id, mine[1])
        return own_rows

    def _sync_history(self) -> None:
        """Other shards' decisions since the last look feed this shard's history features."""
        self._read_parcels(observe_own=False)

    def read_outcomes(self) -> None:
        """Officers' results on held parcels since the last look (any shard's, any process's) feed the history:
        how often inspecting an e-commerce enterprise's parcels finds an offence (a partial index holds
        officers' events only, so the look costs nothing however many parcels the pipeline decided)."""
        self._outcomes_at = time.monotonic()
        rows = self.store.execute(
            "SELECT e.id, e.status, p.ebc_code FROM cbec_parcel_event e JOIN cbec_parcel p "
            "ON p.ebp_code = e.ebp_code AND p.order_no = e.order_no "
            "WHERE e.actor <> 'system' AND e.id > ? ORDER BY e.id", (self._seen_event_id,)).fetchall()
        for eid, status, ebc in rows:
            self.history.observe_outcome(ebc, status)
            self._seen_event_id = eid

    def source_key(self, source: str) -> str:
        """The ingest-offset key of a file for this shard (each shard reads the whole file)."""
        return source if self.shards == 1 else f"{source}#{self.shard}of{self.shards}"

    def committed_offset(self, source: str) -> int:
        """Byte offset of ``source`` already ingested by this shard (0 when none is committed)."""
        row = self.store.execute("SELECT byte_offset FROM cbec_ingest_offset WHERE source = ?",
                                 (self.source_key(source),)).fetchone()
        return int(row[0]) if row else 0

    # ------------------------------------------------------------------ the batch
    def process(self, parsed: Sequence[ParseResult], arrivals: Sequence[int] | int | None = None,
                source: tuple[str, int] | None = None, force_deadline: bool = False,
                every: Sequence[bool] | None = None, raws: Sequence[bytes] | None = None) -> BatchResult:
        """Process one batch of parsed messages in one transaction; returns receipts and decisions.

        ``raws[i]`` (optional) is the XML that ``parsed[i]`` was parsed from: the log keeps it as it came.

        ``every[i]`` marks a message that every shard sees (see :func:`chunks_of_file`): this shard keeps
        only its own documents of it, and only shard 0 answers for it when it is refused whole.
        """
        if self._dirty:
            self.warm_start()
        if self.shards > 1:
            self._sync_history()
        self.selectivity.refresh(self.store)
        if time.monotonic() - self._outcomes_at >= OUTCOMES_EVERY_S:
            self.read_outcomes()
        now = self.clock()
        if arrivals is None or isinstance(arrivals, int):
            arrivals = [arrivals or now] * len(parsed)
        res = BatchResult()
        rejections: list[tuple] = []
        if getattr(self, "_poisoned", None):
            for doc, info in self._poisoned:
                info = f"stored document refused on replay: {info}"
                res.receipts.append(Receipt(RECEIPT_KIND[doc.kind], doc.guid, REJECTED, info, now, doc.head))
                rejections.append((doc.guid or None, doc.kind, REJECTED, info[:4000], now))
            self._poisoned = []
        candidates: list[tuple[Document, bytes | None, int]] = []
        add_candidate = candidates.append
        for i, (item, arr) in enumerate(zip(parsed, arrivals, strict=True)):
            if every is not None and every[i]:
                if isinstance(item, CebError):
                    if self.shard != 0:
                        continue
                else:
                    docs = [document_from_json(p) for p in item.payloads] if isinstance(item, Encoded) else item
                    candidates.extend((d, None, arr) for d in docs
                                      if route(d.head.get("orderNo"), self.shards) == self.shard)
                    continue
            if type(item) is list:  # documents (the usual: one)
                raw = raws[i] if raws is not None else None
                if len(item) == 1:
                    add_candidate((item[0], raw, arr))
                else:
                    candidates.extend([(d, raw, arr) for d in item])
            elif isinstance(item, CebError):
                guid = item.doc_guid or item.message_guid or ""
                kind = RECEIPT_KIND.get(item.kind or "", GENERIC_RECEIPT)
                res.receipts.append(Receipt(kind, guid, item.status, item.info, now, {}))
                rejections.append((guid or None, item.kind, item.status, item.info[:4000], now))
                res.rejected_messages += 1
            elif isinstance(item, Encoded):
                candidates.extend((document_from_json(p), p, arr) for p in item.payloads)
            else:
                raw = raws[i] if raws is not None else None
                candidates.extend((d, raw, arr) for d in item)
        existing = self.log.seen([c[0].guid for c in candidates])
        seen: set[str] = set()
        records: list[Record] = []
        completes: dict[Key, Slot] = {s.key: s for s in getattr(self, "_carry", [])}
        self._carry = []
        try:
            add_receipt, add_record, mark_seen = res.receipts.append, records.append, seen.add
            offer_doc = self.matcher.offer
            accepted = 0
            for doc, payload, arr in candidates:
                guid = doc.guid
                rkind = RECEIPT_KIND[doc.kind]
                if guid in existing or guid in seen:
                    add_receipt(Receipt(rkind, guid, ENTERED, "duplicate message (same guid) already accepted; ignored",
                                        now, doc.head))
                    res.duplicates += 1
                    continue
                mark_seen(guid)
                offer = offer_doc(doc, arr)
                if offer.status == Offer.REFUSED:
                    add_receipt(Receipt(rkind, guid, REJECTED, offer.info, now, doc.head))
                    rejections.append((guid, doc.kind, REJECTED, offer.info, now))
                    res.rejected_messages += 1
                    continue
                add_record(_new(Record, (doc, payload, arr)))  # the NamedTuples, without their __new__ call
                add_receipt(_new(Receipt, (rkind, guid, ENTERED, "entered customs", now, doc.head)))
                accepted += 1
                complete = offer.complete
                if complete is not None:
                    completes[complete.key] = complete
            res.accepted_messages += accepted
            deadline = 0 if force_deadline else int(self.settings.deadline_s * 1000)
            overdue = [s for s in self.matcher.overdue(now, deadline) if s.key not in completes]
            decisions = self._decide(list(completes.values()), overdue, now)
            self._commit(records, decisions, rejections, source, now, res)
        except BaseException:
            self._dirty = True
            raise
        self.matcher.shrink()
        if now - self._last_evict > 60_000:
            self._last_evict = now
            self.matcher.evict_orphans(now, int(self.settings.orphan_ttl_s * 1000))
        return res

    def _decide(self, complete: list[Slot], overdue: list[Slot], now: int) -> list[Decision]:
        """Decisions on complete parcels and overdue ones; a parcel that cannot be decided (any error while
        matching, taxing or scoring it, e.g. a record of an older version with values today's checks refuse)
        is rejected on its own (:func:`_undecidable`): it never aborts the batch."""
        decisions: list[Decision] = []
        passing: list[tuple[Slot, TaxAssessment, int]] = []
        for slot in complete + [s for s in overdue if Matcher._complete(s) is not None]:
            inv = slot.inventory
            assert inv is not None and slot.order and slot.payment and slot.waybill
            try:
                failed = [] if consistent(slot.order, slot.payment, slot.waybill, inv) else \
                    cross_check(slot.order, slot.payment, slot.waybill, inv)
                failed += self._inventory_checks(inv)
                tax = assess([TaxItem(ln["gcode"], Decimal(ln["totalPrice"]), Decimal(ln["qty"])) for ln in inv.lines],
                             Decimal(inv.head.get("freight", "0")), Decimal(inv.head.get("insuredFee", "0")),
                             self.rates)
                if not tax.dutiable <= MAX_DUTIABLE:
                    raise ValueError(f"dutiable value {tax.dutiable} CNY out of range")
                if tax.regime == "over_limit":
                    failed.append(f"dutiable value {tax.dutiable} CNY over the 5,000 CNY single-transaction limit "
                                  "(only a single indivisible item may exceed it)")
                year = _year(inv, now)
            except Exception as exc:  # noqa: BLE001 - one parcel's fault stays its own
                decisions.append(_undecidable(slot, exc, now))
                continue
            if failed:
                decisions.append(Decision(slot, REJECTED, "; ".join(failed), tax, year, None))
            else:
                passing.append((slot, tax, year))
        for slot in overdue:
            if Matcher._complete(slot) is None:
                info = "incomplete after deadline: missing " + ", ".join(slot.missing())
                decisions.append(Decision(slot, REJECTED, info, None, _year(slot.inventory, now), None))
        if passing:
            try:
                selections: list[Any] = self._select(passing)
            except Exception:  # noqa: BLE001 - find the parcels at fault: one at a time
                selections = []
                for one in passing:
                    try:
                        selections += self._select([one])
                    except Exception as exc:  # noqa: BLE001
                        selections.append(exc)
            for (slot, tax, year), sel in zip(passing, selections, strict=True):
                if isinstance(sel, Exception):
                    decisions.append(_undecidable(slot, sel, now))
                    continue
                info = "; ".join(sel.reasons)
                if sel.status == RELEASED:
                    info = f"released: {info}" if info else "released"
                decisions.append(Decision(slot, sel.status, info, tax, year, sel.score))
        return decisions

    def _select(self, passing: list[tuple[Slot, TaxAssessment, int]]) -> list[Any]:
        features = self.history.features
        cases = [ParcelCase(s.key, s.inventory, features(s.inventory, t.dutiable, y, SINGLE_LIMIT),  # type: ignore[arg-type]
                            float(t.dutiable)) for s, t, y in passing]  # (a passing slot has its inventory)
        return list(self.selectivity.select(cases))

    def _inventory_checks(self, inv: Document) -> list[str]:
        failed = []
        h = inv.head
        if h.get("currency") != "142":
            failed.append(f"inventory currency {h.get('currency')!r} is not 142 (CNY)")
        if h.get("ieFlag") != "I":
            failed.append("inventory ieFlag is not I (import)")
        for ln in inv.lines:
            if not self.positive.allows(ln["gcode"]):
                failed.append(f"line {ln.get('gnum')} HS code {ln['gcode']} is not on the CBEC positive list")
        return failed

    def _commit(self, records: list[Record], decisions: list[Decision], rejections: list[tuple],
                source: tuple[str, int] | None, now: int, res: BatchResult) -> None:
        store = self.store
        # everything that needs no lock is done before the transaction: other shards wait for its lock
        parcel_rows = [_parcel_row(d, now) for d in decisions]
        charge_idx = [i for i, d in enumerate(decisions) if d.status in CHARGED_STATUSES]
        # (buyer, year, dutiable fen: the row's, the same to_fen(tax.dutiable))
        reqs = [(decisions[i].slot.inventory.head["buyerIdNumber"], decisions[i].year,  # type: ignore[union-attr]
                 parcel_rows[i][14]) for i in charge_idx]
        try:
            self.log.prepare(records)
            store.begin()
            self.log.record(store)
            for i, ok in zip(charge_idx, quota.charge_batch(store, reqs, now), strict=True):
                if not ok:
                    d = decisions[i]
                    decisions[i] = d._replace(status=REJECTED, info=(
                        f"annual CBEC quota of 26,000 CNY for buyer in {d.year} would be exceeded by "
                        f"this parcel ({d.tax.dutiable} CNY)"))  # type: ignore[union-attr]
                    parcel_rows[i] = _parcel_row(decisions[i], now)
            events = [(d.slot.key[0], d.slot.key[1], d.status, d.info, "system", now) for d in decisions]
            note_ids = self.shards > 1 and store.dialect == "sqlite" and bool(parcel_rows)
            if note_ids:
                first = store.execute(_MAX_PARCEL_ID).fetchone()[0] + 1
            store.executemany(_UPSERT_PARCEL, parcel_rows)
            own_ids = (first, store.execute(_MAX_PARCEL_ID).fetchone()[0]) if note_ids else None
            store.copy_rows("cbec_parcel_event", _EVENT_COLS, events)
            store.copy_rows("cbec_rejection", _REJECTION_COLS, rejections)
            if source is not None:
                store.execute("INSERT INTO cbec_ingest_offset (source, byte_offset, updated_ms) VALUES (?, ?, ?) "
                              "ON CONFLICT (source) DO UPDATE SET byte_offset = excluded.byte_offset, "
                              "updated_ms = excluded.updated_ms", (self.source_key(source[0]), source[1], now))
            store.commit()
        except BaseException:
            store.rollback()
            self.log.aborted()
            raise
        self.log.committed()
        if own_ids is not None:
            self._own_ids = own_ids
        done = self.clock()
        close, forget, observe = self.matcher.close, self.log.forget, self.history.observe
        add_receipt, add_latency = res.receipts.append, res.latencies_ms.append
        plain = PLAIN_REASONS.get  # the sender is told the status in plain words: no score, rule or rank
        for d in decisions:
            slot = d.slot
            inv = slot.inventory
            status = d.status
            close(slot.key, status)
            if inv is None:
                continue
            h = inv.head
            if status != REJECTED:
                forget(slot.key, (h.get("logisticsCode", ""), h.get("logisticsNo", "")))
            observe(inv, d.year, status)
            add_receipt(_new(Receipt, ("CEB622", inv.guid, status, d.info if status == REJECTED else plain(status, ""),
                                       done, h)))
            if slot.order is not None and slot.payment is not None and slot.waybill is not None:  # complete
                add_latency(done - slot.last_ms)
        res.decisions = decisions


def _year(inv: Document | None, now: int) -> int:
    t = inv.head.get("appTime", "") if inv is not None else ""
    y = t[:4]
    return int(y) if len(y) == 4 and y.isascii() and y.isdigit() else time.gmtime(now / 1000).tm_year


MAX_DUTIABLE = Decimal(10) ** 12  # CNY: anything above cannot be a parcel (and would overflow the fen columns)


def _undecidable(slot: Slot, exc: Exception, now: int) -> Decision:
    """The rejection (100) of a parcel that could not be decided, with the reason."""
    reason = str(exc)[:500] or type(exc).__name__
    return Decision(slot, REJECTED, f"could not be processed: {reason}", None, _year(None, now), None)


def _parcel_row(d: Decision, now: int) -> tuple:
    """The ``cbec_parcel`` row of a decision (``_PARCEL_COLS``; index 14 is the dutiable value in fen)."""
    slot = d.slot
    inv = slot.inventory
    h = inv.head if inv is not None else {}
    t = d.tax
    fens: tuple[Any, ...]
    if t is not None:
        dutiable, tariff, consumption, vat = to_fen(t.dutiable), to_fen(t.tariff), to_fen(t.consumption), to_fen(t.vat)
        fens = (t.regime, dutiable, tariff, consumption, vat, tariff + consumption + vat,  # total: their sum, in fen
                dutiable if d.status in CHARGED_STATUSES else 0)
    else:
        fens = (None, 0, 0, 0, 0, 0, 0)
    return (slot.key[0], slot.key[1], inv.guid if inv else None, h.get("ebcCode"), h.get("logisticsCode"),
            h.get("logisticsNo"), h.get("buyerIdType"), h.get("buyerIdNumber"), h.get("buyerName"),
            h.get("buyerTelephone"), h.get("consigneeAddress"), d.year, d.status, *fens, d.score, d.info,
            slot.first_ms, slot.last_ms, now)
