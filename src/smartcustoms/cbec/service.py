"""CBEC operations for the API and the CLI: submit messages, read parcels, officer decisions, quota.

One :class:`CbecService` per process and database holds the pipeline :class:`~.engine.Engine` (the
matcher state) behind a lock: the API runs a single CBEC writer per database. Quota charges stay
correct across processes whatever happens, because they are made under database row locks.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, func, or_, select, text
from sqlalchemy.orm import Session

from smartcustoms.audit.service import record_raw
from smartcustoms.cbec import aftercare, quota
from smartcustoms.cbec.ceb.parse import parse_any_items
from smartcustoms.cbec.ceb.receipts import Receipt, receipt_json
from smartcustoms.cbec.ceb.signature import SignaturePolicy, check_batch
from smartcustoms.cbec.ceb.spec import CebError, Document
from smartcustoms.cbec.ceb.statuses import CLOSED, INSPECTION, MANUAL_REVIEW, REJECTED, RELEASED, RETURNED
from smartcustoms.cbec.engine import CHARGED_STATUSES, BatchResult, Engine, ParseResult, _now_ms
from smartcustoms.cbec.models import CbecAftercare, CbecParcel, CbecParcelEvent
from smartcustoms.cbec.seams import ParcelSelectivity
from smartcustoms.cbec.senders import plain_reason
from smartcustoms.cbec.store import Store
from smartcustoms.core.config import CbecSettings
from smartcustoms.core.errors import Conflict, NotFound

# officer / declarant transitions: current status -> allowed next statuses
TRANSITIONS: dict[int, frozenset[int]] = {
    MANUAL_REVIEW: frozenset({RELEASED, INSPECTION, 399, 501, 502, 503, 599, RETURNED, REJECTED}),
    INSPECTION: frozenset({RELEASED, 399, 501, 502, 503, 599, RETURNED, REJECTED}),
    399: frozenset({RELEASED, RETURNED}),
    501: frozenset({RELEASED, RETURNED, 599}), 502: frozenset({RETURNED, 599}), 503: frozenset({RETURNED, 599}),
    599: frozenset({RELEASED, RETURNED}),
    RELEASED: frozenset({CLOSED, RETURNED}),
}
REFUNDING = frozenset({RETURNED, REJECTED})

_PARCEL_FIELDS = ("id", "ebp_code", "order_no", "inventory_guid", "ebc_code", "logistics_code", "logistics_no",
                  "buyer_id_type", "buyer_id_number", "buyer_name", "quota_year", "status", "regime",
                  "dutiable_fen", "tariff_fen", "consumption_fen", "vat_fen", "tax_fen", "charged_fen", "risk_score",
                  "info", "first_ms", "last_doc_ms", "decided_ms", "pre_no", "invt_no")


class StatusChanged(Conflict):
    """The parcel is no longer in the status the decision was made for (another officer was quicker)."""

    def __init__(self, current: int) -> None:
        super().__init__(f"the parcel's status changed meanwhile: it is now {current}")
        self.current = current


class CbecService:
    """Thread-safe facade over one store and one engine."""

    def __init__(self, url: str, settings: CbecSettings | None = None,
                 selectivity: ParcelSelectivity | None = None) -> None:
        self.store = Store(url)
        self.engine = Engine(self.store, settings, selectivity)
        self.engine.warm_start()
        self.lock = threading.Lock()
        self.closed = False

    def close(self) -> None:
        """Release the writer's message log and the database connection (another writer may then open them)."""
        with self.lock:
            if self.closed:
                return
            self.closed = True
            self.engine.log.close()
            self.store.close()

    def refresh_rules(self) -> None:
        """Re-read the risk rules and credit grades now (the rule table changed)."""
        with self.lock:
            self.engine.selectivity.refresh(self.store, force=True)

    def submit(self, items: Sequence[bytes | str | dict[str, Any]],
               authorize: Callable[[list[Document]], CebError | None] | None = None,
               signatures: SignaturePolicy | None = None) -> list[Receipt]:
        """Parse and process messages (XML or JSON form); returns every receipt they produced (see
        :meth:`submit_batch`, which also says which messages could not be read at all)."""
        return self.submit_batch(items, authorize, signatures).receipts

    def submit_batch(self, items: Sequence[bytes | str | dict[str, Any]],
                     authorize: Callable[[list[Document]], CebError | None] | None = None,
                     signatures: SignaturePolicy | None = None) -> BatchResult:
        """Parse and process messages (XML or JSON form); returns the batch's result: every receipt, and the
        messages whose type could not be read (``unreadable``: no receipt answers them).

        ``authorize(documents)`` may refuse a parsed message (e.g. a sender code that is not the caller's):
        it is then answered with that :class:`CebError`'s receipt, as a message refused by the parser.
        ``signatures`` (default: the writer's, every registered certificate) is what a message's
        ``ds:Signature`` must satisfy (:func:`~.ceb.signature.check_batch`)."""
        policy = signatures if signatures is not None else self.engine.signatures
        parsed: list[ParseResult] = []
        for item in items:
            try:
                answers = parse_any_items(item)  # per document: a Document or its own CebError
            except CebError as exc:
                parsed.append(exc)
                continue
            docs = [d for d in answers if isinstance(d, Document)]
            refusal = authorize(docs) if authorize is not None and docs else None
            if refusal is None and docs:
                raw = item if isinstance(item, bytes) else item.encode() if isinstance(item, str) else b""
                answers = check_batch([raw], [answers], policy)[0]
            parsed.append(answers if refusal is None else refusal)
        with self.lock:
            return self.engine.process(parsed)

    def expire(self) -> list[Receipt]:
        """Reject inventories still incomplete after the deadline; returns their receipts (safe on a timer).

        An empty batch through the writer, under the service's lock like every other write, so a call from a
        scheduler thread never interleaves with a batch being processed; after :meth:`close` it does nothing.
        """
        with self.lock:
            if self.closed:
                return []
            return self.engine.process([]).receipts

    def parcel(self, ebp_code: str, order_no: str, enterprise_codes: Collection[str] | None = None) -> dict[str, Any]:
        """A parcel with its status history; with ``enterprise_codes``, only one whose platform or e-commerce
        enterprise is among them (another's is "not found", as a missing one)."""
        with self.lock:
            row = self.store.execute(f"SELECT {', '.join(_PARCEL_FIELDS)} FROM cbec_parcel "
                                     "WHERE ebp_code = ? AND order_no = ?", (ebp_code, order_no)).fetchone()
            if row is None or (enterprise_codes is not None and row[1] not in enterprise_codes
                               and row[4] not in enterprise_codes):
                raise NotFound(f"no CBEC parcel for platform {ebp_code} order {order_no}")
            events = self.store.execute("SELECT id, status, info, actor, at_ms FROM cbec_parcel_event "
                                        "WHERE ebp_code = ? AND order_no = ? ORDER BY id",
                                        (ebp_code, order_no)).fetchall()
            out = dict(zip(_PARCEL_FIELDS, row, strict=True))
            # its cancellations (CEB623), returns (CEB625) and waybill statuses (CEB513)
            out["aftercare"] = aftercare.of_parcel(self.store, ebp_code, order_no,
                                                   (out["logistics_code"], out["logistics_no"]))
        out["events"] = [dict(zip(("id", "status", "info", "actor", "at_ms"), e, strict=True)) for e in events]
        return out

    def parcels(self, statuses: Sequence[int], after_id: int = 0, limit: int = 100,
                enterprise_codes: Collection[str] | None = None) -> list[dict[str, Any]]:
        """Parcels in ``statuses`` (an officer's queue: 300 review, 500 inspection), oldest first, after the
        parcel id ``after_id``; with ``enterprise_codes``, only those whose platform or e-commerce firm is
        among them."""
        where = [f"status IN ({', '.join('?' * len(statuses))})", "id > ?"]
        params: list[Any] = [*statuses, after_id]
        if enterprise_codes is not None:
            codes = sorted(enterprise_codes) or [""]
            marks = ", ".join("?" * len(codes))
            where.append(f"(ebp_code IN ({marks}) OR ebc_code IN ({marks}))")
            params += [*codes, *codes]
        with self.lock:
            rows = self.store.execute(f"SELECT {', '.join(_PARCEL_FIELDS)} FROM cbec_parcel "
                                      f"WHERE {' AND '.join(where)} ORDER BY id LIMIT ?", (*params, limit)).fetchall()
        return [dict(zip(_PARCEL_FIELDS, row, strict=True)) for row in rows]

    def set_status(self, ebp_code: str, order_no: str, status: int, info: str, actor: str,
                   expected: int | None = None, role: str = "officer") -> dict[str, Any]:
        """An officer's decision, a cancellation (100) or a return (700); gives quota back when due.

        With ``expected`` (the status the officer saw), a parcel whose status changed meanwhile is refused
        (:class:`StatusChanged`), checked under the parcel's row lock. The decision is in the audit log
        (``actor`` with ``role``), written in the transaction that changes the status.
        """
        now = _now_ms()
        with self.lock:
            store = self.store
            store.begin()
            try:
                lock = " FOR UPDATE" if store.dialect == "postgresql" else ""
                row = store.execute("SELECT status, buyer_id_number, quota_year, charged_fen FROM cbec_parcel "
                                    f"WHERE ebp_code = ? AND order_no = ?{lock}", (ebp_code, order_no)).fetchone()
                if row is None:
                    raise NotFound(f"no CBEC parcel for platform {ebp_code} order {order_no}")
                current, buyer, year, charged = row
                if expected is not None and current != expected:
                    raise StatusChanged(current)
                if status not in TRANSITIONS.get(current, frozenset()):
                    raise Conflict(f"parcel status {current} cannot become {status}")
                refund = charged if status in REFUNDING else 0
                if refund:
                    quota.refund(store, buyer, year, refund, now)
                store.execute("UPDATE cbec_parcel SET status = ?, info = ?, charged_fen = ?, decided_ms = ? "
                              "WHERE ebp_code = ? AND order_no = ?",
                              (status, info, charged - refund, now, ebp_code, order_no))
                store.execute("INSERT INTO cbec_parcel_event (ebp_code, order_no, status, info, actor, at_ms) "
                              "VALUES (?, ?, ?, ?, ?, ?)", (ebp_code, order_no, status, info, actor, now))
                record_raw(store, actor, role, "cbec.parcel.decision", "cbec_parcel", f"{ebp_code}/{order_no}",
                           {"from": current, "to": status, "info": info, "refund_fen": refund})
                store.commit()
            except BaseException:
                store.rollback()
                raise
            self.engine.matcher.closed[(ebp_code, order_no)] = status
            self.engine.read_outcomes()  # this process's writer learns the result at once
        return self.parcel(ebp_code, order_no)

    def aftercare(self, kinds: Sequence[str], statuses: Sequence[int], after_id: int = 0, limit: int = 100,
                  enterprise_codes: Collection[str] | None = None) -> list[dict[str, Any]]:
        """CEB513/623/625/711 documents of ``kinds`` in ``statuses`` (pending cancellations: CEB623, 120), oldest
        first; with ``enterprise_codes``, only a trader's own."""
        with self.lock:
            return aftercare.listing(self.store, kinds, statuses, after_id, limit,
                                     None if enterprise_codes is None else sorted(enterprise_codes))

    def aftercare_document(self, doc_id: int, enterprise_codes: Collection[str] | None = None) -> dict[str, Any]:
        """One CEB513/623/625/711 document with its head and lines (another trader's is "not found")."""
        with self.lock:
            out = aftercare.one_document(self.store, doc_id)
        if enterprise_codes is not None and not {out["ebp_code"], out["ebc_code"], out["logistics_code"]} \
                & set(enterprise_codes):
            raise NotFound(f"no CEB513/623/625/711 document {doc_id}")
        return out

    def decide_cancellation(self, doc_id: int, approve: bool, info: str, actor: str,
                            role: str = "officer") -> dict[str, Any]:
        """An officer approves or refuses a pending CEB623 cancellation (quota refunded when approved; audited);
        returns the document and its CEB624 receipt."""
        now = _now_ms()
        with self.lock:
            store = self.store
            store.begin()
            try:
                receipt = aftercare.decide(store, doc_id, approve, info, actor, role, now)
                store.commit()
            except BaseException:
                store.rollback()
                raise
            if approve:  # the parcel is cancelled (100): a new inventory for the order may declare it again
                key = (receipt.keys["ebpCode"], receipt.keys["orderNo"])
                self.engine.matcher.closed[key] = REJECTED
            self.engine.read_outcomes()
        return {"document": self.aftercare_document(doc_id), "receipt": receipt_json(receipt)}

    def quota_used(self, buyer_id_number: str, year: int) -> int:
        """Fen of the annual CBEC quota a buyer has used in ``year``."""
        with self.lock:
            return quota.used_fen(self.store, buyer_id_number, year)

    def receipts_since(self, after_id: int, limit: int = 1000,
                       enterprise_codes: Collection[str] | None = None) -> list[dict[str, Any]]:
        """CEB622 receipts of parcel events after ``after_id`` (for polling senders); with ``enterprise_codes``
        (a trader's), only those of parcels whose platform or e-commerce firm is among them or whose documents
        name one of them in ``BaseSubscribe``, with plain reasons (:func:`~.senders.plain_reason`). Each carries
        the parcel's keys: orderNo, logisticsNo, preNo and invtNo."""
        sql = ("SELECT e.id, e.status, e.info, e.at_ms, p.inventory_guid, p.ebp_code, p.ebc_code, e.actor, "
               "p.order_no, p.logistics_code, p.logistics_no, p.pre_no, p.invt_no "
               "FROM cbec_parcel_event e JOIN cbec_parcel p ON p.ebp_code = e.ebp_code AND p.order_no = e.order_no "
               "WHERE e.id > ?")
        params: list[Any] = [after_id]
        if enterprise_codes is not None:
            codes = sorted(enterprise_codes) or [""]
            marks = ", ".join("?" * len(codes))
            sql += (f" AND (p.ebp_code IN ({marks}) OR p.ebc_code IN ({marks}) OR EXISTS (SELECT 1 FROM "
                    "cbec_parcel_subscriber s WHERE s.ebp_code = p.ebp_code AND s.order_no = p.order_no "
                    f"AND s.code IN ({marks})))")
            params += [*codes, *codes, *codes]
        with self.lock:
            rows = self.store.execute(sql + " ORDER BY e.id LIMIT ?", (*params, limit)).fetchall()
        out = []
        for eid, status, info, at, guid, ebp, ebc, actor, order, lcode, lno, pre_no, invt_no in rows:
            if enterprise_codes is not None:
                info = plain_reason(status, info, actor)
            keys = {"ebpCode": ebp, "ebcCode": ebc or "", "orderNo": order, "logisticsCode": lcode or "",
                    "logisticsNo": lno or "", "preNo": pre_no or "", "invtNo": invt_no or ""}
            r = Receipt("CEB622", guid or "", status, info, at, keys)
            out.append({"id": eid, **receipt_json(r)})
        return out


def charged(status: int) -> bool:
    """Does a parcel in ``status`` hold a quota charge?"""
    return status in CHARGED_STATUSES


# -- officers' reads (any process, through the platform's database sessions; not the writer) ---------------
PARCEL_HELD = (MANUAL_REVIEW, INSPECTION)  # held for manual review (300), inspection (500)
PARCEL_OUTCOMES = (501, 502, 503, 599, 700, 800)  # what officers decide for a held parcel
PARCEL_PAGE = 100
#: statuses in ``ix_cbec_parcel_held`` (held, detained, returned: officers' parcels; not releases, rejections)
HELD_OR_DECIDED = (300, 800)
_HELD_OR_DECIDED = text("cbec_parcel.status >= 300 AND cbec_parcel.status < 800")
_MONEY = ("dutiable", "tariff", "consumption", "vat", "tax", "charged")


@dataclass
class ParcelQueue:
    """One page of parcels, the held ones counted per status, and the cursor of the next page."""

    rows: list[dict]
    counts: dict[int, int]  # held status -> parcels
    next_after: str | None  # keyset cursor of the next page (None: this is the last page)


def ms_time(ms: int | None) -> datetime | None:
    """A stored epoch-milliseconds time as a naive UTC datetime (like the declarations' times)."""
    return None if ms is None else datetime.fromtimestamp(ms / 1000, UTC).replace(tzinfo=None)


def reasons_of(info: str | None) -> list[str]:
    """A parcel's ``info`` (reasons joined by '; ') as a list."""
    return [r.strip() for r in (info or "").split("; ") if r.strip()]


#: the actor of the pipeline's own parcel events (an officer's events carry the officer's name)
PIPELINE = "system"


def hold_reasons(session: Session, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], list[str]]:
    """Why the pipeline held each parcel of ``keys`` (platform code, order number): the reasons of its latest
    hold event (300/500 by the pipeline), which an officer's later note does not replace."""
    if not keys:
        return {}
    e = CbecParcelEvent
    wanted = set(keys)
    q = (select(e.ebp_code, e.order_no, e.info)
         .where(e.ebp_code.in_(sorted({b for b, _ in wanted})), e.order_no.in_(sorted({o for _, o in wanted})),
                e.actor == PIPELINE, e.status.in_(PARCEL_HELD))  # both key columns: ix_cbec_parcel_event_key
         .order_by(e.id))
    return {(b, o): reasons_of(info) for b, o, info in session.execute(q) if (b, o) in wanted}


def _split_reasons(m: dict, held_for: list[str] | None) -> None:
    """``risk_reasons`` (why the pipeline held it) apart from ``note`` (an officer's note on its latest decision);
    ``reasons`` stays the parcel's current info (the pipeline's reasons, or the officer's note)."""
    held = m["status"] in PARCEL_HELD
    if held_for is None:  # never held by the pipeline (or held before events were kept)
        m["risk_reasons"], m["note"] = (m["reasons"] if held else []), None
    else:
        m["risk_reasons"] = held_for
        m["note"] = m.get("info") if not held or m["reasons"] != held_for else None


def _parcel_row(m: dict) -> dict:
    m["reasons"] = reasons_of(m.get("info"))
    m["decided_at"] = ms_time(m.get("decided_ms"))
    for k in _MONEY:
        if f"{k}_fen" in m:
            m[f"{k}_cny"] = None if m[f"{k}_fen"] is None else Decimal(int(m[f"{k}_fen"])).scaleb(-2)
    return m


def _cursor(text_: str | None, parts: int) -> tuple[int, ...] | None:
    """A paging cursor's numbers; a missing or hand-mangled one starts from the beginning."""
    try:
        values = tuple(int(x) for x in (text_ or "").split(".") if x.isascii() and len(x) <= 19)
    except ValueError:
        return None
    in_range = all(0 <= v < 2**63 for v in values)  # the database's BIGINT
    return values if len(values) == parts and in_range else None


def parcel_queue(session: Session, statuses: tuple[int, ...] = PARCEL_HELD, *, after: str | None = None,
                 limit: int = PARCEL_PAGE) -> ParcelQueue:
    """Parcels in ``statuses``, a page at a time.

    Held parcels (300/500 only) come oldest first (by parcel id, cursor ``after`` = the last id shown);
    any other selection is "recently decided": the latest decision first (cursor ``"<decided_ms>.<id>"``).
    """
    p = CbecParcel
    held = set(statuses) <= set(PARCEL_HELD)
    cols = [p.id, p.ebp_code, p.order_no, p.ebc_code, p.status, p.risk_score, p.info, p.dutiable_fen, p.tax_fen,
            p.decided_ms, p.pre_no, p.invt_no]
    cursor = _cursor(after, 1 if held else 2)
    q = select(*cols).where(p.status.in_(statuses))
    if all(HELD_OR_DECIDED[0] <= s < HELD_OR_DECIDED[1] for s in statuses):
        q = q.where(_HELD_OR_DECIDED)  # the partial index's own terms: the planners use it (not 800 releases)
    if held:
        if cursor:
            q = q.where(p.id > cursor[0])
        q = q.order_by(p.id)
    else:
        if cursor:
            ms, last = cursor
            q = q.where(or_(p.decided_ms < ms, and_(p.decided_ms == ms, p.id < last)))
        q = q.order_by(p.decided_ms.desc(), p.id.desc())
    rows = [_parcel_row(dict(r._mapping)) for r in session.execute(q.limit(limit))]
    held_for = hold_reasons(session, [(r["ebp_code"], r["order_no"]) for r in rows])
    for r in rows:
        _split_reasons(r, held_for.get((r["ebp_code"], r["order_no"])))
    counts = dict.fromkeys(PARCEL_HELD, 0)
    counts.update({int(s): int(n) for s, n in session.execute(
        select(p.status, func.count()).where(p.status.in_(PARCEL_HELD), _HELD_OR_DECIDED).group_by(p.status))})
    nxt = None
    if len(rows) == limit:
        last_row = rows[-1]
        nxt = str(last_row["id"]) if held else f"{last_row['decided_ms']}.{last_row['id']}"
    return ParcelQueue(rows, counts, nxt)


def parcel_view(session: Session, ebp_code: str, order_no: str) -> dict | None:
    """One parcel (every stored column) with its status history, oldest event first; None when unknown."""
    p, e = CbecParcel.__table__, CbecParcelEvent
    row = session.execute(select(p).where(p.c.ebp_code == ebp_code, p.c.order_no == order_no)).first()
    if row is None:
        return None
    out = _parcel_row(dict(row._mapping))
    out["first_at"] = ms_time(out.get("first_ms"))
    out["events"] = [{**dict(r._mapping), "at": ms_time(r.at_ms), "reasons": reasons_of(r.info)}
                     for r in session.execute(select(e.id, e.status, e.info, e.actor, e.at_ms)
                                              .where(e.ebp_code == ebp_code, e.order_no == order_no).order_by(e.id))]
    holds = [ev for ev in out["events"] if ev["actor"] == PIPELINE and ev["status"] in PARCEL_HELD]
    _split_reasons(out, holds[-1]["reasons"] if holds else None)
    officers = [ev for ev in out["events"] if ev["actor"] != PIPELINE]  # the latest officer's decision
    out["decided_by"] = officers[-1] if officers else None
    out["note"] = officers[-1]["info"] if officers else None
    a = CbecAftercare  # its cancellations (CEB623), returns (CEB625) and waybill statuses (CEB513)
    mine = or_(and_(a.ebp_code == ebp_code, a.order_no == order_no),
               and_(a.msg_type == "CEB513", a.logistics_code == out.get("logistics_code"),
                    a.logistics_no == out.get("logistics_no")))
    out["aftercare"] = [{**dict(r._mapping), "at": ms_time(r.received_ms)} for r in session.execute(
        select(a.id, a.msg_type, a.status, a.pre_no, a.info, a.received_ms, a.decided_by).where(mine).order_by(a.id))]
    return out


@dataclass
class ParcelSummary:
    """Parcels per receipt status, and parcels decided per hour (UTC) over the last hours."""

    status_counts: dict[int, int]
    hours: list[str]  # "HH:00", UTC, oldest first
    per_hour: list[int]


def parcel_summary(session: Session, hours: int = 24, now_ms: int | None = None) -> ParcelSummary:
    """Parcels by receipt status and decided per hour over the last ``hours`` (for the dashboard)."""
    p = CbecParcel
    counts = {int(s): int(n) for s, n in session.execute(select(p.status, func.count()).group_by(p.status))}
    now_ms = now_ms or _now_ms()
    hour = 3_600_000
    first = now_ms // hour - hours + 1
    sqlite = session.get_bind().dialect.name == "sqlite"
    bucket = (p.decided_ms / hour).label("h") if sqlite else func.floor(p.decided_ms / hour).label("h")
    per = dict.fromkeys(range(first, first + hours), 0)
    for h, n in session.execute(select(bucket, func.count()).where(p.decided_ms >= first * hour).group_by(bucket)):
        if int(h) in per:
            per[int(h)] += int(n)
    labels = [datetime.fromtimestamp(h * 3600, UTC).strftime("%H:00") for h in per]
    return ParcelSummary(counts, labels, list(per.values()))
