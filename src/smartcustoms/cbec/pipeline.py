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

import csv
import gc
import multiprocessing as mp
import os
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache
from importlib import resources
from pathlib import Path
from typing import NamedTuple

import orjson
from pydantic_settings import BaseSettings, SettingsConfigDict

from smartcustoms.cbec import quota
from smartcustoms.cbec.matcher import KIND_NAMES, Key, Matcher, Slot, WaybillKey, cross_check
from smartcustoms.cbec.messages import (
    ENTERED,
    GENERIC_RECEIPT,
    INVENTORY,
    NOT_PROCESSED,
    RECEIPT_KIND,
    REJECTED,
    RELEASED,
    WAYBILL,
    CebError,
    Document,
    Encoded,
    Receipt,
    document_from_json,
    document_json,
    parse_batch_encoded,
    parse_message,
)
from smartcustoms.cbec.risk_seam import ParcelHistory, ParcelSelectivity, RuleSelectivity
from smartcustoms.cbec.store import Store
from smartcustoms.cbec.tax import SINGLE_LIMIT, RateTable, TaxAssessment, TaxItem, assess, to_fen

CHARGED_STATUSES = frozenset({300, 399, 500, 501, 502, 503, 599, 800, 899})


class CbecSettings(BaseSettings):
    """CBEC settings, from ``SMARTCUSTOMS_CBEC_*`` environment variables."""

    model_config = SettingsConfigDict(env_prefix="SMARTCUSTOMS_CBEC_", extra="ignore")

    deadline_s: float = 600.0          # an inventory still missing a document after this is incomplete
    orphan_ttl_s: float = 86_400.0     # documents without an inventory leave memory after this
    positive_list: Path | None = None  # CSV with an ``hs_prefix`` column
    rates_csv: Path | None = None      # CSV ``hs_prefix,tariff,consumption,vat``
    batch_size: int = 1000
    workers: int = 2
    max_pending: int = 50_000          # parcels kept in memory; older waiting ones are reloaded from the store


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
    out: list[ParseResult] = []
    for raw in raws:
        try:
            out.append(parse_message(raw))
        except CebError as exc:
            out.append(exc)
    return out


def _now_ms() -> int:
    return int(time.time() * 1000)


_MSG_COLS = ("guid", "message_guid", "msg_type", "app_type", "ebp_code", "order_no", "logistics_code",
             "logistics_no", "received_ms", "payload")
_PARCEL_COLS = ("ebp_code", "order_no", "inventory_guid", "ebc_code", "logistics_code", "logistics_no",
                "buyer_id_type", "buyer_id_number", "buyer_name", "buyer_telephone", "consignee_address",
                "quota_year", "status", "regime", "dutiable_fen", "tariff_fen", "consumption_fen", "vat_fen",
                "tax_fen", "charged_fen", "risk_score", "info", "first_ms", "last_doc_ms", "decided_ms")
_UPSERT_PARCEL = (
    f"INSERT INTO cbec_parcel ({', '.join(_PARCEL_COLS)}) VALUES ({', '.join('?' * len(_PARCEL_COLS))}) "
    "ON CONFLICT (ebp_code, order_no) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _PARCEL_COLS[2:]))
_EVENT_COLS = ("ebp_code", "order_no", "status", "info", "actor", "at_ms")
_REJECTION_COLS = ("guid", "msg_type", "status", "info", "at_ms")


class Engine:
    """The single writer: holds the matcher state and turns parsed messages into committed decisions."""

    def __init__(self, store: Store, settings: CbecSettings | None = None,
                 selectivity: ParcelSelectivity | None = None, rates: RateTable | None = None,
                 positive: PositiveList | None = None, clock: Callable[[], int] = _now_ms) -> None:
        self.store = store
        self.settings = settings or CbecSettings()
        self.selectivity = selectivity or RuleSelectivity()
        self.rates = rates or (RateTable.from_csv(self.settings.rates_csv) if self.settings.rates_csv
                               else RateTable())
        self.positive = positive or PositiveList.from_csv(self.settings.positive_list)
        self.clock = clock
        self.matcher = Matcher(loader=self._load, max_pending=self.settings.max_pending)
        self.history = ParcelHistory()
        self._dirty = False
        self._last_evict = 0

    # ------------------------------------------------------------------ state
    def warm_start(self) -> None:
        """Rebuild the in-memory state (decided keys, history, waiting documents) from the store."""
        self.matcher = Matcher(loader=self._load, max_pending=self.settings.max_pending)
        self.history = ParcelHistory()
        for ebp, order, status, buyer, year, addr, phone, lc in self.store.execute(
                "SELECT ebp_code, order_no, status, buyer_id_number, quota_year, consignee_address, "
                "buyer_telephone, logistics_code FROM cbec_parcel ORDER BY id"):
            self.matcher.closed[(ebp, order)] = status
            if buyer is not None:
                self.history.observe_row(buyer, year or 0, addr, phone, ebp, lc, status)
        rows = self.store.execute(
            "SELECT id, payload, received_ms FROM cbec_message m WHERE m.msg_type <> 'CEB511' AND NOT EXISTS "
            "(SELECT 1 FROM cbec_parcel p WHERE p.ebp_code = m.ebp_code AND p.order_no = m.order_no) "
            "UNION ALL SELECT id, payload, received_ms FROM cbec_message m WHERE m.msg_type = 'CEB511' AND "
            "NOT EXISTS (SELECT 1 FROM cbec_parcel p WHERE p.logistics_code = m.logistics_code "
            "AND p.logistics_no = m.logistics_no) ORDER BY 1").fetchall()
        self._carry: list[Slot] = []
        for _id, payload, ms in rows:
            offer = self.matcher.offer(document_from_json(bytes(payload)), ms)
            if offer.complete is not None:
                self._carry.append(offer.complete)
        self._dirty = False

    def _load(self, key: Key | None, wkey: WaybillKey | None) -> dict[str, Document]:
        """Latest stored document of each kind for an order key and/or a waybill key."""
        out: dict[str, Document] = {}
        if key is not None:
            for kind, payload in self.store.execute(
                    "SELECT msg_type, payload FROM cbec_message WHERE ebp_code = ? AND order_no = ? "
                    "AND msg_type <> 'CEB511' ORDER BY id", key):
                out[kind] = document_from_json(bytes(payload))
        if wkey is not None:
            for (payload,) in self.store.execute(
                    "SELECT payload FROM cbec_message WHERE logistics_code = ? AND logistics_no = ? "
                    "AND msg_type = 'CEB511' ORDER BY id", wkey):
                out[WAYBILL] = document_from_json(bytes(payload))
        return out

    def committed_offset(self, source: str) -> int:
        row = self.store.execute("SELECT byte_offset FROM cbec_ingest_offset WHERE source = ?",
                                 (source,)).fetchone()
        return int(row[0]) if row else 0

    def _existing_guids(self, guids: list[str]) -> set[str]:
        found: set[str] = set()
        if not guids:
            return found
        if self.store.dialect == "postgresql":
            for (g,) in self.store.execute("SELECT guid FROM cbec_message WHERE guid = ANY(?)", (guids,)):
                found.add(g)
            return found
        for (g,) in self.store.execute("SELECT guid FROM cbec_message WHERE guid IN "
                                       "(SELECT value FROM json_each(?))", (orjson.dumps(guids).decode(),)):
            found.add(g)
        return found

    # ------------------------------------------------------------------ the batch
    def process(self, parsed: Sequence[ParseResult], arrivals: Sequence[int] | int | None = None,
                source: tuple[str, int] | None = None, force_deadline: bool = False) -> BatchResult:
        """Process one batch of parsed messages in one transaction; returns receipts and decisions."""
        if self._dirty:
            self.warm_start()
        now = self.clock()
        if arrivals is None or isinstance(arrivals, int):
            arrivals = [arrivals or now] * len(parsed)
        res = BatchResult()
        rejections: list[tuple] = []
        candidates: list[tuple[Document, bytes | None, int]] = []
        for item, arr in zip(parsed, arrivals, strict=True):
            if isinstance(item, CebError):
                guid = item.doc_guid or item.message_guid or ""
                kind = RECEIPT_KIND.get(item.kind or "", GENERIC_RECEIPT)
                res.receipts.append(Receipt(kind, guid, item.status, item.info, now, {}))
                rejections.append((guid or None, item.kind, item.status, item.info[:4000], now))
                res.rejected_messages += 1
            elif isinstance(item, Encoded):
                candidates.extend((document_from_json(p), p, arr) for p in item.payloads)
            else:
                candidates.extend((d, None, arr) for d in item)
        existing = self._existing_guids([c[0].guid for c in candidates])
        seen: set[str] = set()
        msg_rows: list[tuple] = []
        completes: dict[Key, Slot] = {s.key: s for s in getattr(self, "_carry", [])}
        self._carry = []
        try:
            for doc, payload, arr in candidates:
                rkind = RECEIPT_KIND[doc.kind]
                if doc.guid in existing or doc.guid in seen:
                    res.receipts.append(Receipt(rkind, doc.guid, ENTERED, "duplicate message (same guid) "
                                                "already accepted; ignored", now, doc.head))
                    res.duplicates += 1
                    continue
                seen.add(doc.guid)
                offer = self.matcher.offer(doc, arr)
                if offer.status == offer.REFUSED:
                    res.receipts.append(Receipt(rkind, doc.guid, REJECTED, offer.info, now, doc.head))
                    rejections.append((doc.guid, doc.kind, REJECTED, offer.info, now))
                    res.rejected_messages += 1
                    continue
                h = doc.head
                msg_rows.append((doc.guid, doc.message_guid, doc.kind, int(h.get("appType", "1")), h.get("ebpCode"),
                                 h.get("orderNo"), h.get("logisticsCode"), h.get("logisticsNo"), arr,
                                 payload or document_json(doc)))
                res.receipts.append(Receipt(rkind, doc.guid, ENTERED, "entered customs", now, h))
                res.accepted_messages += 1
                if offer.complete is not None:
                    completes[offer.complete.key] = offer.complete
            deadline = 0 if force_deadline else int(self.settings.deadline_s * 1000)
            overdue = [s for s in self.matcher.overdue(now, deadline) if s.key not in completes]
            decisions = self._decide(list(completes.values()), overdue, now)
            self._commit(msg_rows, decisions, rejections, source, now, res)
        except BaseException:
            self._dirty = True
            raise
        self.matcher.shrink()
        if now - self._last_evict > 60_000:
            self._last_evict = now
            self.matcher.evict_orphans(now, int(self.settings.orphan_ttl_s * 1000))
        return res

    def _decide(self, complete: list[Slot], overdue: list[Slot], now: int) -> list[Decision]:
        decisions: list[Decision] = []
        passing: list[tuple[Slot, TaxAssessment, int]] = []
        for slot in complete + [s for s in overdue if Matcher._complete(s) is not None]:
            inv = slot.inventory
            assert inv is not None and slot.order and slot.payment and slot.waybill
            failed = cross_check(slot.order, slot.payment, slot.waybill, inv)
            failed += self._inventory_checks(inv)
            tax = assess([TaxItem(ln["gcode"], Decimal(ln["totalPrice"]), Decimal(ln["qty"])) for ln in inv.lines],
                         Decimal(inv.head.get("freight", "0")), Decimal(inv.head.get("insuredFee", "0")), self.rates)
            if tax.regime == "over_limit":
                failed.append(f"dutiable value {tax.dutiable} CNY over the 5,000 CNY single-transaction limit "
                              "(only a single indivisible item may exceed it)")
            year = _year(inv, now)
            if failed:
                decisions.append(Decision(slot, REJECTED, "; ".join(failed), tax, year, None))
            else:
                passing.append((slot, tax, year))
        for slot in overdue:
            if Matcher._complete(slot) is None:
                info = "incomplete after deadline: missing " + ", ".join(slot.missing())
                decisions.append(Decision(slot, REJECTED, info, None, _year(slot.inventory, now), None))
        if passing:
            feats = [self.history.features(s.inventory, t.dutiable, y, SINGLE_LIMIT) for s, t, y in passing]
            for (slot, tax, year), sel in zip(passing, self.selectivity.select(feats), strict=True):
                info = "; ".join(sel.reasons) if sel.status != RELEASED else "released"
                decisions.append(Decision(slot, sel.status, info, tax, year, sel.score))
        return decisions

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

    def _commit(self, msg_rows: list[tuple], decisions: list[Decision], rejections: list[tuple],
                source: tuple[str, int] | None, now: int, res: BatchResult) -> None:
        store = self.store
        store.begin()
        try:
            store.copy_rows("cbec_message", _MSG_COLS, msg_rows)
            charge_idx = [i for i, d in enumerate(decisions) if d.status in CHARGED_STATUSES]
            reqs = [(decisions[i].slot.inventory.head["buyerIdNumber"], decisions[i].year,
                     to_fen(decisions[i].tax.dutiable)) for i in charge_idx]  # type: ignore[union-attr]
            for i, ok in zip(charge_idx, quota.charge_batch(store, reqs, now), strict=True):
                if not ok:
                    d = decisions[i]
                    decisions[i] = d._replace(status=REJECTED, info=(
                        f"annual CBEC quota of 26,000 CNY for buyer in {d.year} would be exceeded by "
                        f"this parcel ({d.tax.dutiable} CNY)"))  # type: ignore[union-attr]
            parcel_rows, events = [], []
            for d in decisions:
                parcel_rows.append(_parcel_row(d, now))
                events.append((d.slot.key[0], d.slot.key[1], d.status, d.info, "system", now))
            store.executemany(_UPSERT_PARCEL, parcel_rows)
            store.copy_rows("cbec_parcel_event", _EVENT_COLS, events)
            store.copy_rows("cbec_rejection", _REJECTION_COLS, rejections)
            if source is not None:
                store.execute("INSERT INTO cbec_ingest_offset (source, byte_offset, updated_ms) VALUES (?, ?, ?) "
                              "ON CONFLICT (source) DO UPDATE SET byte_offset = excluded.byte_offset, "
                              "updated_ms = excluded.updated_ms", (source[0], source[1], now))
            store.commit()
        except BaseException:
            store.rollback()
            raise
        done = self.clock()
        for d in decisions:
            inv = d.slot.inventory
            self.matcher.close(d.slot.key, d.status)
            if inv is None:
                continue
            self.history.observe(inv, d.year, d.status)
            res.receipts.append(Receipt("CEB622", inv.guid, d.status, d.info, done, inv.head))
            if Matcher._complete(d.slot) is not None:
                res.latencies_ms.append(done - d.slot.last_ms)
        res.decisions = decisions


def _year(inv: Document | None, now: int) -> int:
    t = inv.head.get("appTime", "") if inv is not None else ""
    return int(t[:4]) if t[:4].isdigit() else time.gmtime(now / 1000).tm_year


def _parcel_row(d: Decision, now: int) -> tuple:
    inv = d.slot.inventory
    h = inv.head if inv is not None else {}
    t = d.tax
    charged = to_fen(t.dutiable) if (t is not None and d.status in CHARGED_STATUSES) else 0
    return (d.slot.key[0], d.slot.key[1], inv.guid if inv else None, h.get("ebcCode"), h.get("logisticsCode"),
            h.get("logisticsNo"), h.get("buyerIdType"), h.get("buyerIdNumber"), h.get("buyerName"),
            h.get("buyerTelephone"), h.get("consigneeAddress"), d.year, d.status, t.regime if t else None,
            to_fen(t.dutiable) if t else 0, to_fen(t.tariff) if t else 0, to_fen(t.consumption) if t else 0,
            to_fen(t.vat) if t else 0, to_fen(t.total) if t else 0, charged, d.score, d.info,
            d.slot.first_ms, d.slot.last_ms, now)


# ---------------------------------------------------------------------- streams and the worker pool
class Chunk(NamedTuple):
    raws: list[bytes]
    source: str | None = None
    end_offset: int | None = None


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


def chunks_of_file(path: Path, start: int, size: int) -> Iterator[Chunk]:
    source = str(path.resolve())
    raws: list[bytes] = []
    end = start
    for _s, e, msg in iter_stream(path, start):
        raws.append(msg)
        end = e
        if len(raws) >= size:
            yield Chunk(raws, source, end)
            raws = []
    if raws:
        yield Chunk(raws, source, end)


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

    def add(self, res: BatchResult) -> None:
        self.duplicates += res.duplicates
        self.rejected_messages += res.rejected_messages
        self.parcels += len(res.decisions)
        self.status_counts.update(d.status for d in res.decisions)
        self.latencies_ms.extend(res.latencies_ms)


def run_chunks(engine: Engine, chunks: Iterable[Chunk], workers: int = 2, window: int = 3,
               sink: Callable[[list[Receipt]], None] | None = None, flush: bool = False) -> RunStats:
    """Parse chunks in ``workers`` processes (0 = inline) and process them in order on this writer."""
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
        res = engine.process(parsed, arrival, src)
        stats.messages += len(chunk.raws)
        stats.add(res)
        if sink is not None:
            sink(res.receipts)

    for chunk in chunks:
        arrival = engine.clock()
        job = (pool.apply_async(parse_batch_encoded, (chunk.raws,)) if pool is not None
               else parse_batch_encoded(chunk.raws))
        inflight.append((job, chunk, arrival))
        while len(inflight) >= (window if pool is not None else 1):
            drain_one()
    while inflight:
        drain_one()
    if flush:
        res = engine.process([], None, None, force_deadline=True)
        stats.add(res)
        if sink is not None:
            sink(res.receipts)
    stats.elapsed_s = time.perf_counter() - t0
    return stats


def ingest_path(engine: Engine, path: Path, workers: int = 2, batch_size: int = 1000,
                sink: Callable[[list[Receipt]], None] | None = None, flush: bool = False) -> RunStats:
    """Ingest a file of concatenated messages or a directory of ``*.xml`` files, resuming after a crash."""
    files = sorted(p for p in path.rglob("*.xml") if p.is_file()) if path.is_dir() else [path]

    def chunks() -> Iterator[Chunk]:
        for f in files:
            yield from chunks_of_file(f, engine.committed_offset(str(f.resolve())), batch_size)

    return run_chunks(engine, chunks(), workers=workers, sink=sink, flush=flush)


def default_workers() -> int:
    return max(1, min(2, os.cpu_count() or 1))


__all__ = ["Engine", "CbecSettings", "PositiveList", "Decision", "BatchResult", "parse_batch", "run_chunks",
           "ingest_path", "iter_stream", "Chunk", "RunStats", "NOT_PROCESSED", "INVENTORY", "KIND_NAMES"]
