"""The CBEC writer (the Engine): parse → dedupe → match → check → tax → score → quota → persist → receipts.

Crash safety rests on three rules:

1. **One transaction per batch.** The accepted documents (the message log), the quota charges, the parcel
   decisions and events, the rejections and the ingest offset of the batch are committed together;
   receipts go out only after the commit. A crash loses nothing committed and leaves no half batch.
2. **Idempotent by (message type, guid).** A document whose kind and guid are already in the log is
   acknowledged and ignored, so replaying input after a crash cannot process it twice (the official samples
   reuse one guid across message types: those are different documents).
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
from typing import Any, NamedTuple, Protocol

from smartcustoms.cbec import quota
from smartcustoms.cbec.ceb.emit import document_json
from smartcustoms.cbec.ceb.parse import Encoded, document_from_json, parse_batch_documents, stored_problems
from smartcustoms.cbec.ceb.receipts import Receipt
from smartcustoms.cbec.ceb.signature import SignaturePolicy, check_batch
from smartcustoms.cbec.ceb.spec import (
    INVENTORY,
    ORDER,
    PAYMENT,
    RECEIPT_KIND,
    WAYBILL,
    CebError,
    Document,
    preload_code_tables,
)
from smartcustoms.cbec.ceb.statuses import DRAFT, ENTERED, REJECTED, RELEASED
from smartcustoms.cbec.log import DocId, MessageLog, Record, open_log, route
from smartcustoms.cbec.matcher import Key, Matcher, Offer, Slot, WaybillKey, consistent, cross_check
from smartcustoms.cbec.positive_list import PositiveList
from smartcustoms.cbec.seams import ParcelHistory, ParcelSelectivity
from smartcustoms.cbec.senders import PLAIN_REASONS, store_signatures
from smartcustoms.cbec.store import Store
from smartcustoms.core.config import CbecSettings  # pydantic cannot read a class of this compiled module
from smartcustoms.risk.parcels.scoring import ParcelCase
from smartcustoms.tax.retail import HUNDRED, SINGLE_LIMIT, RateTable, TaxAssessment, TaxItem, assess

CHARGED_STATUSES = frozenset({300, 399, 500, 501, 502, 503, 599, 800, 899})
_new = tuple.__new__  # _new(Receipt, (...)) is Receipt(...) without the Python-level NamedTuple.__new__ call

OUTCOMES_EVERY_S = 30.0  # how often a writer reads officers' new inspection results
MATCHED_KINDS = frozenset({ORDER, PAYMENT, WAYBILL, INVENTORY})  # the four documents a parcel is made of
DRAFT_INFO = "stored as a draft (appStatus 1, 暂存): not declared; send it with appStatus 2 to declare it"
_CHINA = 8 * 3600  # customs numbers carry the date in China (UTC+8)


class DocumentHandler(Protocol):
    """Processes the documents of a kind the matcher does not take (CEB513, 623, 625, 711: ``aftercare``)."""

    def apply(self, engine: Engine, store: Store, docs: list[Document], now: int) -> list[Receipt]:
        """Inside the batch's transaction (after its parcel rows are written; never commits): act on the new
        documents of one kind, in order (not duplicates, not drafts, already in the message log); one
        receipt per document, sent after the commit."""
        ...


def _default_handlers() -> dict[str, DocumentHandler]:
    """The handlers of :mod:`smartcustoms.cbec.aftercare` by document kind (none without that module)."""
    try:
        from smartcustoms.cbec import aftercare  # type: ignore[attr-defined,unused-ignore]
    except ImportError as exc:
        if exc.name not in ("smartcustoms.cbec.aftercare", None):
            raise
        return {}
    return dict(aftercare.handlers())


def _draft_key(doc: Document) -> tuple[str, str, str]:
    """A draft's business key: kind and (ebpCode, orderNo), or (logisticsCode, logisticsNo) for a waybill."""
    h = doc.head
    if doc.kind == WAYBILL:
        return doc.kind, h.get("logisticsCode", ""), h.get("logisticsNo", "")
    return doc.kind, h.get("ebpCode", ""), h.get("orderNo", "")


class Decision(NamedTuple):
    """A parcel's decision: its status and reasons, the tax assessed, the quota year and the risk score."""

    slot: Slot
    status: int
    info: str
    tax: TaxAssessment | None
    year: int
    score: float | None


class Unreadable(NamedTuple):
    """A message whose type could not be read (no receipt can answer it): its position in the batch (``at``), its
    guid when one could be read and the reason; the API answers it with a 422 problem, the CLI with an error
    line."""

    at: int | None
    guid: str | None
    info: str


@dataclass
class BatchResult:
    """What one batch produced: receipts, decisions, latencies and message counts."""

    receipts: list[Receipt] = field(default_factory=list)
    unreadable: list[Unreadable] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)
    latencies_ms: list[int] = field(default_factory=list)
    duplicates: int = 0
    rejected_messages: int = 0
    accepted_messages: int = 0


ParseResult = list[Document | CebError] | Encoded | CebError
"""A message as the parser answers it: an answer per document (``Encoded`` carries them as payloads), or a
:class:`CebError` when the message as a whole cannot be read."""


def parse_batch(raws: Sequence[bytes], signatures: SignaturePolicy | None = None) -> list[ParseResult]:
    """Parse many messages, an answer per document (:data:`ParseResult`; pure, runs in worker processes). With
    ``signatures``, each message's ``ds:Signature`` is verified on its raw bytes (:func:`check_batch`)."""
    if signatures is None:
        return parse_batch_documents(raws)  # type: ignore[return-value]
    signed: list[bool | None] = []  # what the compiled scanner saw: no second pass over the bytes for it
    parsed = parse_batch_documents(raws, signed)
    return check_batch(raws, parsed, signatures, signed)  # type: ignore[no-any-return]


def _now_ms() -> int:
    """Wall-clock time in epoch milliseconds (the engine's default clock)."""
    return int(time.time() * 1000)


_PARCEL_COLS = ("ebp_code", "order_no", "inventory_guid", "ebc_code", "logistics_code", "logistics_no",
                "buyer_id_type", "buyer_id_number", "buyer_name", "buyer_telephone", "consignee_address",
                "quota_year", "status", "regime", "dutiable_fen", "tariff_fen", "consumption_fen", "vat_fen",
                "tax_fen", "charged_fen", "risk_score", "info", "first_ms", "last_doc_ms", "decided_ms",
                "pre_no", "invt_no")
_UPSERT_PARCEL = (
    f"INSERT INTO cbec_parcel ({', '.join(_PARCEL_COLS)}) VALUES ({', '.join('?' * len(_PARCEL_COLS))}) "
    "ON CONFLICT (ebp_code, order_no) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _PARCEL_COLS[2:]))
_MAX_PARCEL_ID = "SELECT coalesce(max(id), 0) FROM cbec_parcel"
_EVENT_COLS = ("ebp_code", "order_no", "status", "info", "actor", "at_ms")
_REJECTION_COLS = ("guid", "msg_type", "status", "info", "at_ms")
_DRAFT_COLS = ("msg_type", "guid", "key1", "key2", "order_no", "pre_no", "received_ms", "payload")
_SET_COUNTER = ("INSERT INTO cbec_counter (name, value) VALUES (?, ?) "
                "ON CONFLICT (name) DO UPDATE SET value = excluded.value")
_SUBSCRIBE = ("INSERT INTO cbec_parcel_subscriber (ebp_code, order_no, code) VALUES (?, ?, ?) "
              "ON CONFLICT DO NOTHING")


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
        # registered signing certificates (re-read with officers' outcomes): the parse stage checks signatures
        self.signatures: SignaturePolicy = store_signatures(store, self.settings.accept_unsigned)
        #: handlers of the kinds beyond the four documents of a parcel (CEB513/623/625/711), by kind
        self.handlers: dict[str, DocumentHandler] = _default_handlers()
        # numbers this shard assigns: a digit of the shard (two beyond ten shards) and a sequence (cbec_counter)
        self._shard_tag = f"{shard:0{1 if shards <= 10 else 2}d}"
        self._seq_width = 9 - len(self._shard_tag)
        self._seq_mod = int("1" + "0" * self._seq_width)  # (a power with ** is a float once compiled)
        self._pre_seq = self._invt_seq = 0
        self._pre_saved = self._invt_saved = 0
        self._day_at = -1
        self._day = self._pre_head = self._invt_mid = ""
        # drafts (appStatus 1) not declared yet: identity -> business key, preNo; business key -> identities
        self._drafts: dict[DocId, tuple[tuple[str, str, str], str | None]] = {}
        self._draft_keys: dict[tuple[str, str, str], list[DocId]] = {}

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
        self._load_numbers()
        for doc, ms in self.log.replay(self.store, is_decided):
            if doc.kind not in MATCHED_KINDS:  # their handlers keep their state in their tables
                continue
            problems = stored_problems(doc)
            if problems:  # a record of an older version with values today's checks refuse: reported, not used
                self._poisoned.append((doc, "; ".join(f"{f}: {r}" for f, r in problems)[:4000]))
                continue
            offer = self.matcher.offer(doc, ms)
            if offer.complete is not None:
                self._carry.append(offer.complete)
        self._dirty = False

    def _load_numbers(self) -> None:
        """Read this shard's number sequences and its drafts not yet declared from the store."""
        counters = dict(self.store.execute("SELECT name, value FROM cbec_counter WHERE name IN (?, ?)",
                                           (f"preNo:{self.shard}", f"invtNo:{self.shard}")).fetchall())
        self._pre_seq = self._pre_saved = int(counters.get(f"preNo:{self.shard}", 0))
        self._invt_seq = self._invt_saved = int(counters.get(f"invtNo:{self.shard}", 0))
        self._drafts, self._draft_keys = {}, {}
        for kind, guid, k1, k2, order, pre_no in self.store.execute(
                "SELECT msg_type, guid, key1, key2, order_no, pre_no FROM cbec_draft WHERE declared_ms IS NULL "
                "ORDER BY id").fetchall():
            if route(order, self.shards) == self.shard:
                self._note_draft((kind, guid), (kind, k1, k2), pre_no)

    def _note_draft(self, ident: DocId, key: tuple[str, str, str], pre_no: str | None) -> None:
        self._drafts[ident] = (key, pre_no)
        self._draft_keys.setdefault(key, []).append(ident)

    def _find_draft(self, doc: Document) -> tuple[tuple[str, str, str], str | None] | None:
        """The pending draft a declared document declares (same kind and guid, else the same business key):
        its business key and preNo."""
        found = self._drafts.get((doc.kind, doc.guid))
        key = found[0] if found is not None else _draft_key(doc)
        idents = self._draft_keys.get(key)
        if not idents:
            return None
        return key, next((p for p in (self._drafts[i][1] for i in reversed(idents)) if p), None)

    def _take_draft(self, key: tuple[str, str, str]) -> tuple[str, str, str]:
        """The drafts of a business key are declared: no longer pending (the batch marks their rows)."""
        for i in self._draft_keys.pop(key, ()):
            self._drafts.pop(i, None)
        return key

    def _today(self, now: int) -> str:
        """``yyyyMMdd`` in China of ``now`` (epoch ms), worked out once a minute, with the fixed parts of the
        numbers assigned in that minute (``_pre_head``, ``_invt_mid``)."""
        if now // 60_000 != self._day_at:
            self._day_at = now // 60_000
            self._day = day = time.strftime("%Y%m%d", time.gmtime(now / 1000 + _CHINA))
            self._pre_head = f"B{day}{self._shard_tag}"
            self._invt_mid = f"{day[:4]}I{self._shard_tag}"
        return self._day

    def _next_pre_no(self, now: int) -> str:
        """A new e-port number: ``B`` + date (China) + shard + sequence, 18 characters (B20160512000001882)."""
        self._pre_seq = seq = self._pre_seq + 1
        if now // 60_000 != self._day_at:
            self._today(now)
        return self._pre_head + str(seq % self._seq_mod).zfill(self._seq_width)

    def _next_invt_no(self, inv: Document, now: int) -> str:
        """A new customs inventory number: customs code (4) + year + ``I`` + shard + sequence, 18 characters."""
        self._invt_seq = seq = self._invt_seq + 1
        if now // 60_000 != self._day_at:
            self._today(now)
        return _customs4(inv.head.get("customsCode")) + self._invt_mid + str(seq % self._seq_mod).zfill(self._seq_width)

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
            self.signatures = store_signatures(self.store, self.settings.accept_unsigned)
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
        # refusals by the parser, in order: whole messages and single documents of a message (customs answers
        # each document: a refused one gets its own receipt and its siblings proceed)
        refused: list[CebError] = []
        refuse = refused.append
        for i, (item, arr) in enumerate(zip(parsed, arrivals, strict=True)):
            if every is not None and every[i]:
                if isinstance(item, CebError):
                    if self.shard == 0:
                        refuse(item)
                    continue
                for d in item.payloads if isinstance(item, Encoded) else item:
                    if isinstance(d, CebError):
                        if route(d.keys.get("orderNo"), self.shards) == self.shard:
                            refuse(d)
                        continue
                    doc = document_from_json(d) if isinstance(d, bytes) else d
                    if route(doc.head.get("orderNo"), self.shards) == self.shard:
                        add_candidate((doc, None, arr))
                continue
            if isinstance(item, CebError):
                refuse(item)
            elif isinstance(item, Encoded):
                for p in item.payloads:
                    if isinstance(p, bytes):
                        add_candidate((document_from_json(p), p, arr))
                    else:
                        refuse(p)
            else:  # an answer per document (the usual: one document)
                raw = raws[i] if raws is not None else None
                for d in item:
                    if isinstance(d, CebError):
                        refuse(d)
                    else:
                        add_candidate((d, raw, arr))
        for item in refused:
            guid = item.doc_guid or item.message_guid or ""
            kind = RECEIPT_KIND.get(item.kind or "")
            if kind is None:  # the message's type cannot be read: refused at the transport level, no receipt
                at = next((j for j, p in enumerate(parsed) if p is item), None)
                res.unreadable.append(Unreadable(at, guid or None, item.info))
            else:  # a receipt with the business keys the sender can match it by
                res.receipts.append(Receipt(kind, guid, item.status, item.info, now, item.keys))
            rejections.append((guid or None, item.kind, item.status, item.info[:4000], now))
            res.rejected_messages += 1
        existing = self.log.seen([(c[0].kind, c[0].guid) for c in candidates])
        seen: set[DocId] = set()
        drafts: list[tuple] = []   # cbec_draft rows of the batch
        declared: list[tuple[DocId, tuple[str, str, str]]] = []  # drafts the batch declares
        others: dict[str, list[Document]] = {}  # documents for the handlers, by kind
        records: list[Record] = []
        completes: dict[Key, Slot] = {s.key: s for s in getattr(self, "_carry", [])}
        self._carry = []
        try:
            add_receipt, add_record, mark_seen = res.receipts.append, records.append, seen.add
            offer_doc = self.matcher.offer
            accepted = 0
            pending_drafts, handlers = self._drafts, self.handlers
            self._today(now)  # preNo: _pre_head + the sequence, as _next_pre_no(now) writes it (inline)
            pre_head, seq_mod, seq_width = self._pre_head, self._seq_mod, self._seq_width
            for doc, payload, arr in candidates:
                guid = doc.guid
                kind = doc.kind
                rkind = RECEIPT_KIND[kind]
                ident = (kind, guid)
                if ident in existing or ident in seen:
                    add_receipt(Receipt(rkind, guid, ENTERED, "duplicate message (same guid) already accepted; ignored",
                                        now, doc.head))
                    res.duplicates += 1
                    continue
                h = doc.head
                if h.get("appStatus") == "1":  # a draft (暂存): stored and acknowledged, never cleared
                    if ident in pending_drafts:
                        add_receipt(Receipt(rkind, guid, DRAFT, "duplicate draft (same guid) already stored; "
                                            "ignored", now, h))
                        res.duplicates += 1
                        continue
                    self._store_draft(doc, payload, arr, drafts)
                    add_receipt(Receipt(rkind, guid, DRAFT, DRAFT_INFO, now, h))
                    continue
                mark_seen(ident)
                draft = self._find_draft(doc) if pending_drafts else None
                if kind not in MATCHED_KINDS:
                    if kind not in handlers:
                        info = f"message type {kind} is not handled"
                        add_receipt(Receipt(rkind, guid, REJECTED, info, now, h))
                        rejections.append((guid, kind, REJECTED, info, now))
                        res.rejected_messages += 1
                        continue
                    add_record(_new(Record, (doc, payload, arr)))
                    others.setdefault(kind, []).append(doc)
                    accepted += 1
                    if draft is not None:
                        declared.append((ident, self._take_draft(draft[0])))
                    continue
                offer = offer_doc(doc, arr)
                if offer.status == Offer.REFUSED:
                    add_receipt(Receipt(rkind, guid, REJECTED, offer.info, now, doc.head))
                    rejections.append((guid, doc.kind, REJECTED, offer.info, now))
                    res.rejected_messages += 1
                    continue
                if draft is not None:  # the declaration of a draft: the draft is declared, its preNo kept
                    declared.append((ident, self._take_draft(draft[0])))
                if kind == INVENTORY:  # the e-port's number: kept with the document, on every later receipt
                    if draft is not None and draft[1]:
                        h["preNo"] = draft[1]
                    else:
                        self._pre_seq = seq = self._pre_seq + 1
                        h["preNo"] = pre_head + str(seq % seq_mod).zfill(seq_width)
                add_record(_new(Record, (doc, payload, arr)))  # the NamedTuples, without their __new__ call
                add_receipt(_new(Receipt, (rkind, guid, ENTERED, "entered customs", now, h)))
                accepted += 1
                complete = offer.complete
                if complete is not None:
                    completes[complete.key] = complete
            res.accepted_messages += accepted
            deadline = 0 if force_deadline else int(self.settings.deadline_s * 1000)
            overdue = [s for s in self.matcher.overdue(now, deadline) if s.key not in completes]
            decisions = self._decide(list(completes.values()), overdue, now)
            self._commit(records, decisions, rejections, source, now, res, drafts, declared, others)
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
                tax = assess([_new(TaxItem, (ln["gcode"], _decimal(ln["totalPrice"]), _decimal(ln["qty"])))
                              for ln in inv.lines],
                             _decimal(inv.head.get("freight", "0")), _decimal(inv.head.get("insuredFee", "0")),
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
                decisions.append(_new(Decision, (slot, REJECTED, "; ".join(failed), tax, year, None)))
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
                decisions.append(_new(Decision, (slot, sel.status, info, tax, year, sel.score)))
        return decisions

    def _select(self, passing: list[tuple[Slot, TaxAssessment, int]]) -> list[Any]:
        features = self.history.features
        cases = [_new(ParcelCase, (s.key, s.inventory, features(s.inventory, t.dutiable, y, SINGLE_LIMIT),  # type: ignore[arg-type]
                                   float(t.dutiable))) for s, t, y in passing]  # (a passing slot has its inventory)
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

    def _store_draft(self, doc: Document, payload: bytes | None, arr: int, rows: list[tuple]) -> None:
        """A draft (appStatus 1) of the batch: its ``cbec_draft`` row (an inventory gets its preNo now)."""
        h = doc.head
        if doc.kind == INVENTORY:
            h["preNo"] = self._next_pre_no(arr if arr > 0 else self.clock())
        key = _draft_key(doc)
        self._note_draft((doc.kind, doc.guid), key, h.get("preNo") if doc.kind == INVENTORY else None)
        body = payload if payload and payload[:1] == b"{" else document_json(doc)
        rows.append((doc.kind, doc.guid, key[1], key[2], h.get("orderNo"), h.get("preNo") or None, arr, body))

    @staticmethod
    def _subscribers(decisions: list[Decision]) -> list[tuple[str, str, str]]:
        """``cbec_parcel_subscriber`` rows: the enterprises the decided parcels' documents subscribe."""
        rows = []
        for d in decisions:
            slot = d.slot
            for doc in (slot.order, slot.payment, slot.waybill, slot.inventory):
                if doc is not None and doc.base and doc.base.get("subscribe"):
                    rows += [(slot.key[0], slot.key[1], c) for c in _subscriber_codes(doc)]
        return rows

    def _commit(self, records: list[Record], decisions: list[Decision], rejections: list[tuple],
                source: tuple[str, int] | None, now: int, res: BatchResult, drafts: Sequence[tuple] = (),
                declared: Sequence[tuple[DocId, tuple[str, str, str]]] = (),
                others: dict[str, list[Document]] | None = None) -> None:
        store = self.store
        # everything that needs no lock is done before the transaction: other shards wait for its lock
        parcel_rows: list[tuple] = []
        add_row, next_pre_no = parcel_rows.append, self._next_pre_no
        self._today(now)  # invtNo: as _next_invt_no(inv, now) writes it, inline
        invt_mid, seq_mod, seq_width, customs_of = self._invt_mid, self._seq_mod, self._seq_width, _customs4
        seq = self._invt_seq
        for d in decisions:  # an inventory accepted for clearance (not refused) gets its invtNo (and one logged
            inv = d.slot.inventory  # by an older version, without a preNo, its preNo)
            if inv is not None:
                h = inv.head
                if not h.get("preNo"):
                    h["preNo"] = next_pre_no(now)
                if d.status != REJECTED:
                    seq += 1
                    h["invtNo"] = customs_of(h.get("customsCode")) + invt_mid + str(seq % seq_mod).zfill(seq_width)
            add_row(_parcel_row(d, now))
        self._invt_seq = seq
        charge_idx = [i for i, d in enumerate(decisions) if d.status in CHARGED_STATUSES]
        # (buyer, year, dutiable fen: the row's, the same as to_fen(tax.dutiable))
        reqs = [(decisions[i].slot.inventory.head["buyerIdNumber"], decisions[i].year,  # type: ignore[union-attr]
                 parcel_rows[i][14]) for i in charge_idx]
        try:
            if not others:  # the usual batch: its log records are ready before the lock
                self.log.prepare(records)
            store.begin()
            if not others:
                self.log.record(store)
            for i, ok in zip(charge_idx, quota.charge_batch(store, reqs, now), strict=True):
                if not ok:
                    d = decisions[i]
                    decisions[i] = d._replace(status=REJECTED, info=(
                        f"annual CBEC quota of 26,000 CNY for buyer in {d.year} would be exceeded by "
                        f"this parcel ({d.tax.dutiable} CNY)"))  # type: ignore[union-attr]
                    inv = decisions[i].slot.inventory
                    if inv is not None:
                        inv.head.pop("invtNo", None)  # refused after all: not numbered (the number is not reused)
                    parcel_rows[i] = _parcel_row(decisions[i], now)
            events = [(d.slot.key[0], d.slot.key[1], d.status, d.info, "system", now) for d in decisions]
            note_ids = self.shards > 1 and store.dialect == "sqlite" and bool(parcel_rows)
            if note_ids:
                first = store.execute(_MAX_PARCEL_ID).fetchone()[0] + 1
            store.executemany(_UPSERT_PARCEL, parcel_rows)
            own_ids = (first, store.execute(_MAX_PARCEL_ID).fetchone()[0]) if note_ids else None
            store.copy_rows("cbec_parcel_event", _EVENT_COLS, events)
            store.copy_rows("cbec_rejection", _REJECTION_COLS, rejections)
            if drafts or declared:
                store.copy_rows("cbec_draft", _DRAFT_COLS, drafts)
                store.executemany("UPDATE cbec_draft SET declared_ms = ? WHERE declared_ms IS NULL AND msg_type = ? "
                                  "AND (guid = ? OR (key1 = ? AND key2 = ?))",
                                  [(now, i[0], i[1], k[1], k[2]) for i, k in declared])
            subscribers = self._subscribers(decisions)
            if subscribers:
                store.executemany(_SUBSCRIBE, subscribers)
            if self._pre_seq != self._pre_saved or self._invt_seq != self._invt_saved:
                store.executemany(_SET_COUNTER, [(f"preNo:{self.shard}", self._pre_seq),
                                                 (f"invtNo:{self.shard}", self._invt_seq)])
            handled: list[Receipt] = []
            if others:
                # the handlers answer first; a document they refuse (514/624/626/712 returnStatus 100 or < 0)
                # stays out of the message log, as refused 311-621 documents do, so a corrected resend with the
                # same guid is processed rather than answered "duplicate"; then the batch's records are logged
                refused: set[int] = set()
                late_rejections: list[tuple] = []
                for kind, docs in others.items():
                    answers = self.handlers[kind].apply(self, store, docs, now)
                    for doc, r in zip(docs, answers, strict=True):
                        if r.status == REJECTED or r.status < 0:
                            refused.add(id(doc))
                            late_rejections.append((doc.guid or None, kind, r.status, r.info[:4000], now))
                    handled += answers
                if refused:
                    records = [r for r in records if id(r.doc) not in refused]
                    store.copy_rows("cbec_rejection", _REJECTION_COLS, late_rejections)
                    res.accepted_messages -= len(refused)
                    res.rejected_messages += len(refused)
                self.log.prepare(records)
                self.log.record(store)
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
        self._pre_saved, self._invt_saved = self._pre_seq, self._invt_seq
        res.receipts += handled
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


_DECIMALS: dict[str, Decimal] = {}


def _decimal(text: str) -> Decimal:
    """``Decimal(text)``, memoised (prices, quantities, freight and insurance repeat; a Decimal never changes)."""
    found = _DECIMALS.get(text)
    if found is None:
        found = Decimal(text)  # a value Decimal refuses raises here, as before, and is not kept
        if len(_DECIMALS) >= 4096:
            _DECIMALS.clear()
        _DECIMALS[text] = found
    return found


_CUSTOMS4: dict[str | None, str] = {}


def _customs4(code: str | None) -> str:
    """The four digits of a customs code an invtNo starts with (``0000`` when there are none), memoised."""
    found = _CUSTOMS4.get(code)
    if found is None:
        c = code or "0000"
        found = c[:4] if len(c) >= 4 and c[:4].isdigit() else "0000"
        if len(_CUSTOMS4) < 4096:
            _CUSTOMS4[code] = found
    return found


def _subscriber_codes(doc: Document | None) -> list[str]:
    """Enterprises a document's ``BaseSubscribe`` blocks name (``dxpAddress``: their DXP id or code) to receive
    its receipts (the parser keeps the blocks as ``base["subscribe"]``)."""
    base: dict[str, Any] | None = doc.base if doc is not None else None
    subs = base.get("subscribe") if base else None
    if not subs:
        return []
    return [str(s["dxpAddress"]) for s in subs if isinstance(s, dict) and s.get("dxpAddress")]


def _year(inv: Document | None, now: int) -> int:
    t = inv.head.get("appTime", "") if inv is not None else ""
    y = t[:4]
    found = _YEARS.get(y)  # the usual: a year seen before
    if found is not None:
        return found
    if len(y) == 4 and y.isascii() and y.isdigit():
        found = _YEARS[y] = int(y)  # at most 10,000 keys: the four-digit strings
        return found
    return time.gmtime(now / 1000).tm_year


_YEARS: dict[str, int] = {}


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
        # to_fen(amount) of amounts already rounded to the fen (assess returns them through fen()): exactly
        # int(amount * 100), without quantize's rounding (fen_of in tests/cbec/test_hot_path.py checks it)
        dutiable, tariff, consumption, vat = (int(t.dutiable * HUNDRED), int(t.tariff * HUNDRED),
                                              int(t.consumption * HUNDRED), int(t.vat * HUNDRED))
        fens = (t.regime, dutiable, tariff, consumption, vat, tariff + consumption + vat,  # total: their sum, in fen
                dutiable if d.status in CHARGED_STATUSES else 0)
    else:
        fens = (None, 0, 0, 0, 0, 0, 0)
    return (slot.key[0], slot.key[1], inv.guid if inv else None, h.get("ebcCode"), h.get("logisticsCode"),
            h.get("logisticsNo"), h.get("buyerIdType"), h.get("buyerIdNumber"), h.get("buyerName"),
            h.get("buyerTelephone"), h.get("consigneeAddress"), d.year, d.status, *fens, d.score, d.info,
            slot.first_ms, slot.last_ms, now, h.get("preNo") or None, h.get("invtNo") or None)
