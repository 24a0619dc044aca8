"""CBEC operations for the API and the CLI: submit messages, read parcels, officer decisions, quota.

One :class:`CbecService` per process and database holds the pipeline :class:`~.pipeline.Engine` (the
matcher state) behind a lock: the API runs a single CBEC writer per database. Quota charges stay
correct across processes whatever happens, because they are made under database row locks.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Sequence
from functools import cache
from typing import Any

from smartcustoms.audit.service import record_raw
from smartcustoms.cbec import quota
from smartcustoms.cbec.messages import (
    CLOSED,
    INSPECTION,
    MANUAL_REVIEW,
    REJECTED,
    RELEASED,
    RETURNED,
    CebError,
    Document,
    Receipt,
    parse_any,
    receipt_json,
)
from smartcustoms.cbec.pipeline import CHARGED_STATUSES, CbecSettings, Engine, ParseResult, _now_ms
from smartcustoms.cbec.risk_seam import ParcelSelectivity
from smartcustoms.cbec.senders import plain_reason
from smartcustoms.cbec.store import Store
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
                  "info", "first_ms", "last_doc_ms", "decided_ms")


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

    def close(self) -> None:
        """Release the writer's message log and the database connection (another writer may then open them)."""
        with self.lock:
            self.engine.log.close()
            self.store.close()

    def refresh_rules(self) -> None:
        """Re-read the risk rules and credit grades now (the rule table changed)."""
        with self.lock:
            self.engine.selectivity.refresh(self.store, force=True)

    def submit(self, items: Sequence[bytes | str | dict[str, Any]],
               authorize: Callable[[list[Document]], CebError | None] | None = None) -> list[Receipt]:
        """Parse and process messages (XML or JSON form); returns every receipt they produced.

        ``authorize(documents)`` may refuse a parsed message (e.g. a sender code that is not the caller's):
        it is then answered with that :class:`CebError`'s receipt, as a message refused by the parser."""
        parsed: list[ParseResult] = []
        for item in items:
            try:
                docs = parse_any(item)
            except CebError as exc:
                parsed.append(exc)
                continue
            refusal = authorize(docs) if authorize is not None else None
            parsed.append(docs if refusal is None else refusal)
        with self.lock:
            return self.engine.process(parsed).receipts

    def expire(self) -> list[Receipt]:
        """Report inventories still incomplete after the deadline."""
        with self.lock:
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

    def quota_used(self, buyer_id_number: str, year: int) -> int:
        with self.lock:
            return quota.used_fen(self.store, buyer_id_number, year)

    def receipts_since(self, after_id: int, limit: int = 1000,
                       enterprise_codes: Collection[str] | None = None) -> list[dict[str, Any]]:
        """CEB622 receipts of parcel events after ``after_id`` (for polling senders); with ``enterprise_codes``
        (a trader's), only those of parcels whose platform or e-commerce firm is among them, with plain
        reasons (:func:`~.senders.plain_reason`)."""
        sql = ("SELECT e.id, e.status, e.info, e.at_ms, p.inventory_guid, p.ebp_code, p.ebc_code, e.actor "
               "FROM cbec_parcel_event e JOIN cbec_parcel p ON p.ebp_code = e.ebp_code AND p.order_no = e.order_no "
               "WHERE e.id > ?")
        params: list[Any] = [after_id]
        if enterprise_codes is not None:
            codes = sorted(enterprise_codes) or [""]
            marks = ", ".join("?" * len(codes))
            sql += f" AND (p.ebp_code IN ({marks}) OR p.ebc_code IN ({marks}))"
            params += [*codes, *codes]
        with self.lock:
            rows = self.store.execute(sql + " ORDER BY e.id LIMIT ?", (*params, limit)).fetchall()
        out = []
        for eid, status, info, at, guid, ebp, ebc, actor in rows:
            if enterprise_codes is not None:
                info = plain_reason(status, info, actor)
            r = Receipt("CEB622", guid or "", status, info, at, {"ebpCode": ebp, "ebcCode": ebc or ""})
            out.append({"id": eid, **receipt_json(r)})
        return out


def charged(status: int) -> bool:
    return status in CHARGED_STATUSES


@cache
def service_for(url: str) -> CbecService:
    """The process-wide service of a database URL."""
    return CbecService(url)
