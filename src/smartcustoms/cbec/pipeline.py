"""The CBEC batch pipeline: parse → dedupe → match → check → tax → score → quota → persist → receipts.

Crash safety rests on three rules:

1. **One transaction per batch.** The accepted documents (the message log), the quota charges, the parcel
   decisions and events, the rejections and the ingest offset of the batch are committed together;
   receipts go out only after the commit. A crash loses nothing committed and leaves no half batch.
2. **Idempotent by guid.** A document whose guid is already in the log is acknowledged and ignored, so
   replaying input after a crash cannot process it twice.
3. **Release and quota charge together.** A parcel's status and its quota charge are written in the same
   transaction; the ledger always equals the sum of charged parcels per buyer and year.

The matcher's state is in memory; :meth:`Engine.warm_start` rebuilds it from the log after a restart.
Parsing is CPU-heavy and runs in a pool of worker processes; a single writer does everything else.
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import gc
import mmap
import multiprocessing as mp
import os
import re
import threading
import time
import zlib
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, NamedTuple

from smartcustoms.cbec import quota
from smartcustoms.cbec.log import MessageLog, Record, open_log, route
from smartcustoms.cbec.matcher import KIND_NAMES, Key, Matcher, Offer, Slot, WaybillKey, consistent, cross_check
from smartcustoms.cbec.messages import (
    ENTERED,
    GENERIC_RECEIPT,
    INVENTORY,
    NOT_PROCESSED,
    RECEIPT_KIND,
    REJECTED,
    RELEASED,
    CebError,
    Document,
    Encoded,
    Receipt,
    document_from_json,
    emit_receipts,
    parse_batch_documents,
    parse_batch_encoded,
    preload_code_tables,
    stored_problems,
)
from smartcustoms.cbec.risk_seam import ParcelCase, ParcelHistory, ParcelSelectivity
from smartcustoms.cbec.senders import PLAIN_REASONS
from smartcustoms.cbec.store import Store
from smartcustoms.cbec.tax import SINGLE_LIMIT, RateTable, TaxAssessment, TaxItem, assess, to_fen
from smartcustoms.core.config import CbecSettings  # pydantic cannot read a class of this compiled module

CHARGED_STATUSES = frozenset({300, 399, 500, 501, 502, 503, 599, 800, 899})
_new = tuple.__new__  # _new(Receipt, (...)) is Receipt(...) without the Python-level NamedTuple.__new__ call

OUTCOMES_EVERY_S = 30.0  # how often a writer reads officers' new inspection results


class PositiveList:
    """HS codes allowed for CBEC retail import (正面清单), by prefix."""

    def __init__(self, prefixes: Iterable[str]) -> None:
        self.prefixes = frozenset(p.strip() for p in prefixes if p.strip())
        self._lengths = sorted({len(p) for p in self.prefixes}, reverse=True)
        self._cache: dict[str, bool] = {}

    def allows(self, hs: str) -> bool:
        hit = self._cache.get(hs)
        if hit is None:
            hit = self._cache[hs] = any(hs[:n] in self.prefixes for n in self._lengths)
        return hit

    @classmethod
    def from_csv(cls, path: Path | None = None) -> PositiveList:
        if path is None:
            text = resources.files("smartcustoms.cbec").joinpath("data", "positive_list.csv").read_text("utf-8")
        else:
            text = Path(path).read_text("utf-8")
        return cls(r["hs_prefix"] for r in csv.DictReader(text.splitlines()))


class Decision(NamedTuple):
    slot: Slot
    status: int
    info: str
    tax: TaxAssessment | None
    year: int
    score: float | None


@dataclass
class BatchResult:
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
            from smartcustoms.risk.parcels import ParcelRiskEngine

            selectivity = ParcelRiskEngine(self.settings.risk_policy())
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
                decided_waybills.add((lc, lno))

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
        cases = [ParcelCase(s.key, s.inventory, features(s.inventory, t.dutiable, y, SINGLE_LIMIT),
                            float(t.dutiable)) for s, t, y in passing]
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


# ---------------------------------------------------------------------- streams and the worker pool
class Chunk(NamedTuple):
    raws: list[bytes]
    source: str | None = None
    end_offset: int | None = None
    every: list[bool] | None = None  # messages every shard looks at (see Engine.process)


def iter_stream(path: Path, start: int = 0, block: int = 8 << 20) -> Iterator[tuple[int, int, bytes]]:
    """``(start offset, end offset, message)`` of a file of concatenated XML messages, from ``start``."""
    marker = b"<?xml"
    with path.open("rb") as fh:
        fh.seek(start)
        pos, buf = start, b""
        while True:
            data = fh.read(block)
            buf += data
            cut = len(buf) if not data else buf.rfind(marker)
            if cut > 0:
                region = buf[:cut]
                starts = [i for i in _find_all(region, marker)] or [0]
                if starts[0] != 0:
                    starts.insert(0, 0)
                for s, e in zip(starts, starts[1:] + [len(region)], strict=True):
                    msg = region[s:e]
                    if msg.strip():
                        yield pos + s, pos + e, msg
                pos += cut
                buf = buf[cut:]
            if not data:
                return


def _find_all(data: bytes, marker: bytes) -> Iterator[int]:
    i = data.find(marker)
    while i >= 0:
        yield i
        i = data.find(marker, i + 1)


def _split_route_py(data: bytes | memoryview, shards: int, shard: int, final: bool
                    ) -> tuple[list[tuple[int, int, bool]], int]:
    """Python form of ``_cebscan.split_route`` (same answers; used when the compiled module is not built)."""
    data = bytes(data)
    cut = len(data) if final else data.rfind(b"<?xml")
    if cut <= 0:
        return [], 0
    out: list[tuple[int, int, bool]] = []
    start, count, every, value = 0, 0, False, b""

    def finish(s: int, e: int) -> None:
        if not data[s:e].strip(b" \t\r\n"):
            return
        if shards <= 1:
            got = 0
        elif every or count > 1:
            got = -1
        elif count == 0:
            got = 0
        else:
            got = zlib.crc32(value.strip(b" \t\r\n")) % shards
        if got in (-1, shard):
            out.append((s, e, got == -1))

    j = data.find(b"<", 0, cut)
    while j >= 0:
        c1 = data[j + 1:j + 2] if j + 1 < cut else b""
        if c1 == b"?":
            if j > start and data.startswith(b"<?xml", j) and j + 5 <= cut:
                finish(start, j)
                start, count, every, value = j, 0, False, b""
        elif c1 == b"!":
            every = True
        elif c1 != b"/":
            m = _TAG_NAME.match(data, j + 1, cut)
            k = m.end() if m else j + 1
            name = data[j + 1:k]
            if name == b"orderNo" or name.endswith(b":orderNo"):
                count += 1
                if k < cut and data[k:k + 1] == b">":
                    if count == 1:
                        end = data.find(b"<", k + 1, cut)
                        value = data[k + 1:end if end >= 0 else cut]
                        every = every or b"&" in value
                else:
                    every = True
        j = data.find(b"<", j + 1, cut)
    finish(start, cut)
    return out, cut


_TAG_NAME = re.compile(rb"[^>/ \t\r\n]*")


def _splitter() -> Callable[[Any, int, int, bool], tuple[list[tuple[int, int, bool]], int]]:
    try:
        from smartcustoms.cbec._cebscan import split_route
    except ImportError:  # pragma: no cover - built by `pip install -e .`
        return _split_route_py
    return split_route  # type: ignore[no-any-return]


def chunks_of_file(path: Path, start: int, size: int, shard: int = 0, shards: int = 1,
                   block: int = 8 << 20) -> Iterator[Chunk]:
    """Chunks of ``size`` messages of a file from byte ``start``, only those routed to ``shard``.

    Every shard reads the whole file (mapped, not copied) and keeps the messages whose ``orderNo`` routes
    to it (all four documents of a parcel carry the order number); a message that may hold documents of
    several shards goes to every shard (``Chunk.every``). ``end_offset`` is where the next chunk starts.
    """
    split = _splitter()
    source = str(path.resolve())
    raws: list[bytes] = []
    every: list[bool] = []
    pos = start
    with path.open("rb") as fh:
        n = os.fstat(fh.fileno()).st_size
        if n > start:
            with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
                view = memoryview(mm)
                dropped = start // mmap.PAGESIZE * mmap.PAGESIZE
                try:
                    window = block
                    while pos < n:
                        end = min(n, pos + window)
                        final = end == n
                        part = view[pos:end]
                        found, cut = split(part, shards, shard, final)
                        part.release()
                        if cut == 0:  # no whole message in the window yet: a message longer than it
                            window *= 2
                            continue
                        window = block
                        for s, e, all_shards in found:
                            raws.append(mm[pos + s:pos + e])
                            every.append(all_shards)
                            if len(raws) >= size:
                                yield Chunk(raws, source, pos + e, every if any(every) else None)
                                raws, every = [], []
                        # the pages read are dropped from this process (they stay in the page cache)
                        done = (pos + cut) // mmap.PAGESIZE * mmap.PAGESIZE
                        if done > dropped:
                            mm.madvise(mmap.MADV_DONTNEED, dropped, done - dropped)
                            dropped = done
                        pos += cut
                finally:
                    view.release()
    if raws or pos > start:
        yield Chunk(raws, source, pos, every if any(every) else None)


@cache
def _pool(workers: int) -> mp.pool.Pool:  # type: ignore[name-defined]
    return mp.get_context("spawn").Pool(workers)


@dataclass
class RunStats:
    parcels: int = 0
    messages: int = 0
    duplicates: int = 0
    rejected_messages: int = 0
    status_counts: Counter = field(default_factory=Counter)
    latencies_ms: list[int] = field(default_factory=list)
    elapsed_s: float = 0.0
    lock_wait_s: float = 0.0  # writer shards: queued for the database write lock
    cpu_s: float = 0.0        # writer shards: CPU time of the shard processes

    def add(self, res: BatchResult) -> None:
        self.duplicates += res.duplicates
        self.rejected_messages += res.rejected_messages
        self.parcels += len(res.decisions)
        self.status_counts.update(d.status for d in res.decisions)
        self.latencies_ms.extend(res.latencies_ms)


def run_chunks(engine: Engine, chunks: Iterable[Chunk], workers: int = 2, window: int = 3,
               sink: Callable[[list[Receipt]], None] | None = None, flush: bool = False,
               before_flush: Callable[[], None] | None = None) -> RunStats:
    """Parse chunks in ``workers`` processes (0 = inline) and process them in order on this writer; with
    ``flush``, then decide every waiting parcel (``before_flush`` runs first)."""
    stats = RunStats()
    gc.freeze()  # the warm-started state is long-lived: keep it out of collections
    gc.set_threshold(100_000, 50, 100)
    t0 = time.perf_counter()
    inflight: deque = deque()
    pool = _pool(workers) if workers > 0 else None

    def drain_one() -> None:
        pending, chunk, arrival = inflight.popleft()
        parsed = pending.get() if pool is not None else pending
        src = (chunk.source, chunk.end_offset) if chunk.source is not None else None
        res = engine.process(parsed, arrival, src, every=chunk.every, raws=None if pool is not None else chunk.raws)
        stats.messages += len(chunk.raws)
        stats.add(res)
        if sink is not None:
            sink(res.receipts)

    for chunk in chunks:
        arrival = engine.clock()
        # workers hand back log payloads (cheap to pickle); inline, documents are parsed straight from the XML
        job = (pool.apply_async(parse_batch_encoded, (chunk.raws,)) if pool is not None
               else parse_batch(chunk.raws))
        inflight.append((job, chunk, arrival))
        while len(inflight) >= (window if pool is not None else 1):
            drain_one()
    while inflight:
        drain_one()
    if flush:
        if before_flush is not None:
            before_flush()
        res = engine.process([], None, None, force_deadline=True)
        stats.add(res)
        if sink is not None:
            sink(res.receipts)
    stats.elapsed_s = time.perf_counter() - t0
    return stats


def ingest_path(engine: Engine, path: Path, workers: int = 2, batch_size: int = 1000,
                sink: Callable[[list[Receipt]], None] | None = None, flush: bool = False,
                before_flush: Callable[[], None] | None = None) -> RunStats:
    """Ingest a file of concatenated messages or a directory of ``*.xml`` files, resuming after a crash."""
    files = sorted(p for p in path.rglob("*.xml") if p.is_file()) if path.is_dir() else [path]

    def chunks() -> Iterator[Chunk]:
        for f in files:
            yield from chunks_of_file(f, engine.committed_offset(str(f.resolve())), batch_size,
                                      engine.shard, engine.shards)

    return run_chunks(engine, chunks(), workers=workers, sink=sink, flush=flush, before_flush=before_flush)


# ---------------------------------------------------------------------- writer shards
class ShardJob(NamedTuple):
    url: str
    path: str
    shard: int
    shards: int
    batch_size: int
    receipts: str | None
    flush: bool


def _die_with_parent() -> None:
    """Linux: this process gets SIGKILL when the process that started it dies (kill -9 of the ingest)."""
    with contextlib.suppress(Exception):
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def run_shard(job: ShardJob, ready: Any = None, streamed: Any = None) -> RunStats:
    """One writer shard: its own engine, message log and offsets; parses inline (runs in its own process).

    ``ready`` (a barrier) is passed once the shard has warm-started, so that a caller can time the work;
    ``streamed`` (a barrier of the shards) before the final flush of ``job.flush``, so that a parcel whose
    waybill went to another shard (its orderNo disagrees) finds it committed there.
    """
    _die_with_parent()
    store = Store(job.url)
    lock_fd = -1
    # one live process per shard: a restarted shard waits here until its predecessor has gone
    if store.dialect == "postgresql":  # a session lock, released when the connection ends
        store.execute("SELECT pg_advisory_lock(hashtext(current_schema() || ?))",
                      (f"/cbec-shard-{job.shard}of{job.shards}",))
    elif store.path not in (None, ":memory:"):
        lock_fd = os.open(f"{store.path}.shard-{job.shard}of{job.shards}.lock", os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(lock_fd, fcntl.LOCK_EX)
    try:
        settings = CbecSettings()
        settings.max_pending = max(1, settings.max_pending // job.shards)  # the cap is for all shards together
        engine = Engine(store, settings, shard=job.shard, shards=job.shards)
        engine.warm_start()
        if ready is not None:
            ready.wait()
        cpu0 = time.process_time()
        out = open(job.receipts, "ab") if job.receipts else None  # noqa: SIM115 - closed below
        try:
            def sink(rs: list[Receipt]) -> None:
                if out is not None:
                    out.write(emit_receipts(rs))  # one append per batch: shards never interleave inside one
                    out.flush()

            def all_streamed() -> None:
                if streamed is not None:
                    with contextlib.suppress(threading.BrokenBarrierError):  # a shard died: flush anyway
                        streamed.wait(timeout=600)

            stats = ingest_path(engine, Path(job.path), workers=0, batch_size=job.batch_size, sink=sink,
                                flush=job.flush, before_flush=all_streamed)
            stats.lock_wait_s = store.lock_wait_s
            stats.cpu_s = time.process_time() - cpu0
            return stats
        finally:
            if out is not None:
                out.close()
            engine.log.close()
            store.close()
    finally:
        if lock_fd >= 0:
            os.close(lock_fd)


def ingest_sharded(url: str, path: Path, shards: int = 2, batch_size: int = 1000, receipts: Path | None = None,
                   flush: bool = False) -> RunStats:
    """Ingest with ``shards`` writer processes, each owning the parcels whose order number routes to it.

    They share the database (transactions queued on a file lock for SQLite; quota rows locked as
    always) and each has its own message log and file offsets, so each resumes on its own after a crash.
    """
    ctx = mp.get_context("spawn")
    ready, streamed = ctx.Barrier(shards + 1), ctx.Barrier(shards)
    results = ctx.SimpleQueue()
    procs = [ctx.Process(target=_shard_main, name=f"cbec-shard-{i}", args=(
        ShardJob(url, str(path), i, shards, batch_size, str(receipts) if receipts else None, flush), ready,
        results, streamed)) for i in range(shards)]
    for p in procs:
        p.start()
    try:
        ready.wait(timeout=600)  # every shard has warm-started: the clock starts
        t0 = time.perf_counter()
        parts = []
        while len(parts) < shards:
            if results.empty() and not any(p.is_alive() for p in procs):
                raise RuntimeError("a CBEC writer shard died: " + ", ".join(
                    f"{p.name} exit {p.exitcode}" for p in procs))
            if results.empty():
                time.sleep(0.01)
                continue
            item = results.get()
            if isinstance(item, BaseException):
                raise item
            parts.append(item)
        elapsed = time.perf_counter() - t0
    finally:
        for p in procs:
            p.join(timeout=60)
            if p.is_alive():
                p.kill()
    total = RunStats()
    for st in parts:
        total.parcels += st.parcels
        total.messages += st.messages
        total.duplicates += st.duplicates
        total.rejected_messages += st.rejected_messages
        total.status_counts.update(st.status_counts)
        total.latencies_ms.extend(st.latencies_ms)
        total.lock_wait_s += st.lock_wait_s
        total.cpu_s += st.cpu_s
    total.elapsed_s = elapsed
    return total


def _shard_main(job: ShardJob, ready: Any, results: Any, streamed: Any = None) -> None:
    try:
        results.put(run_shard(job, ready, streamed))
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, which raises it
        ready.abort()
        if streamed is not None:
            streamed.abort()
        results.put(RuntimeError(f"shard {job.shard}: {exc!r}"))
        raise


def default_workers() -> int:
    return max(1, min(2, os.cpu_count() or 1))


__all__ = ["Engine", "CbecSettings", "PositiveList", "Decision", "BatchResult", "parse_batch", "run_chunks",
           "ingest_path", "iter_stream", "Chunk", "RunStats", "NOT_PROCESSED", "INVENTORY", "KIND_NAMES"]
