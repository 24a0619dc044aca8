"""``audit verify``: the audit chain is intact, and every status change has its lifecycle events.

Three checks, read-only:

* the chain: each entry's ``prev_hash`` is the previous entry's ``hash`` and its ``hash`` is the SHA-256
  of its canonical form; the chain head names the last entry (entries removed at the end);
* the traces: every status change the database triggers recorded (``declaration_status_changes``,
  ``cbec_parcel_status_changes``) is explained by the declaration's or parcel's lifecycle events, in
  order, and each current status is that of its last event: a status changed behind the service's
  back shows;
* the triggers themselves are all in place (the append-only guards and the status traces).

Tables are read by name with plain SQL: this low layer does not import the domains it checks.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import inspect, select, text
from sqlalchemy.engine import Connection

from smartcustoms.audit.models import AuditChainHead, AuditEntry
from smartcustoms.audit.service import CHAINED_FIELDS, GENESIS, HEAD_ID, entry_hash

# the tables whose rows may never change, and the status traces (by the migrations that make them)
APPEND_ONLY = ("audit_log", "declaration_events", "credit_grade_changes", "declaration_status_changes",
               "inspection_results", "declaration_documents", "declaration_versions", "tax_payments",
               "manifest_message", "manifest_filing", "manifest_referral_event",
               "images", "image_assessments", "image_tip_projections", "image_reviews",
               "image_threat_marks")
APPEND_ONLY_CBEC = ("cbec_parcel_event", "cbec_message", "cbec_rejection", "cbec_parcel_status_changes")
STATUS_TRACES = {"declarations": "declarations_status_trace", "cbec_parcel": "cbec_parcel_status_trace"}
SHOWN = 20  # findings listed per kind (all are counted)


@dataclass(frozen=True)
class ChainBreak:
    """The first entry at which the chain does not hold."""

    entry_id: int
    reason: str


@dataclass(frozen=True)
class Untraced:
    """A status change (or a current status) that no lifecycle event explains."""

    object_type: str  # declaration | parcel
    object_id: str
    from_status: Any
    to_status: Any
    reason: str


@dataclass
class Report:
    """What :func:`verify` found; ``ok`` when nothing."""

    entries: int = 0
    chain_break: ChainBreak | None = None
    status_changes: int = 0
    untraced: list[Untraced] = field(default_factory=list)
    untraced_count: int = 0
    missing_triggers: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether the audit chain is intact, every change is traced and no trigger is missing."""
        return self.chain_break is None and not self.untraced_count and not self.missing_triggers

    def as_dict(self) -> dict[str, Any]:
        """The report as a JSON-ready dict, with its ``ok`` verdict."""
        return {"ok": self.ok, **asdict(self)}

    def _untraced(self, found: Untraced) -> None:
        self.untraced_count += 1
        if len(self.untraced) < SHOWN:
            self.untraced.append(found)


# -- pure checks -------------------------------------------------------------------------------
def check_chain(rows: Iterable[dict[str, Any]]) -> tuple[int, ChainBreak | None, int, str]:
    """Walk entries in id order: (entries, the first break or None, the last id, the last hash)."""
    n, last_id, prev = 0, 0, GENESIS
    for row in rows:
        n += 1
        if row["prev_hash"] != prev:
            return n, ChainBreak(row["id"], "prev_hash is not the previous entry's hash "
                                            "(an entry was removed or inserted before it)"), row["id"], prev
        if entry_hash(row, row["prev_hash"]) != row["hash"]:
            return n, ChainBreak(row["id"], "hash does not match the entry's content"), row["id"], prev
        last_id, prev = row["id"], row["hash"]
    return n, None, last_id, prev


def unexplained(changes: Sequence[tuple[Any, Any]], events: Sequence[tuple[Any, Any]]) -> list[int]:
    """Indexes of the status changes (old, new), in order, that no run of events explains.

    ``events`` are (from, to), in order; ``from`` None matches any status (parcel events have none). A
    change is explained by a run of events after the previous change's, starting at one leaving ``old``
    and ending at one reaching ``new`` (one UPDATE may move a status over several events).
    """
    bad, p = [], 0
    for i, (old, new) in enumerate(changes):
        j = p
        while j < len(events) and events[j][0] not in (old, None):
            j += 1
        while j < len(events) and events[j][1] != new:
            j += 1
        if j == len(events):
            bad.append(i)
        else:
            p = j + 1
    return bad


def _grouped(rows: Iterable[Sequence[Any]]) -> Iterator[tuple[Any, list[Sequence[Any]]]]:
    for key, group in itertools.groupby(rows, key=lambda r: r[0]):
        yield key, list(group)


# -- database checks ---------------------------------------------------------------------------
def _chain(conn: Connection, report: Report) -> None:
    cols = [AuditEntry.id, *(getattr(AuditEntry, f) for f in CHAINED_FIELDS), AuditEntry.prev_hash, AuditEntry.hash]
    rows = (dict(r._mapping) for r in conn.execution_options(yield_per=2000)
            .execute(select(*cols).order_by(AuditEntry.id)))
    report.entries, report.chain_break, last_id, last_hash = check_chain(rows)
    if report.chain_break is None:
        head = conn.execute(select(AuditChainHead.entry_id, AuditChainHead.hash)
                            .where(AuditChainHead.id == HEAD_ID)).first()
        if head is None or tuple(head) != (last_id, last_hash):
            report.chain_break = ChainBreak(last_id, "the chain head does not name the last entry "
                                                     "(entries were removed at the end)")


def _declarations(conn: Connection, report: Report) -> None:
    changes = conn.execute(text("SELECT c.declaration_id, d.declaration_no, c.from_status, c.to_status "
                                "FROM declaration_status_changes c JOIN declarations d ON d.id = c.declaration_id "
                                "ORDER BY c.declaration_id, c.id"))
    events = conn.execute(text("SELECT declaration_id, from_status, to_status FROM declaration_events "
                               "WHERE declaration_id IN (SELECT declaration_id FROM declaration_status_changes) "
                               "ORDER BY declaration_id, seq"))
    ev_groups = _grouped(events)
    ev_key, ev_rows = next(ev_groups, (None, []))
    for did, rows in _grouped(changes):
        while ev_key is not None and ev_key < did:  # integer ids: one merge walk of both streams
            ev_key, ev_rows = next(ev_groups, (None, []))
        evs = [(r[1], r[2]) for r in ev_rows] if ev_key == did else []
        report.status_changes += len(rows)
        for i in unexplained([(r[2], r[3]) for r in rows], evs):
            report._untraced(Untraced("declaration", rows[i][1], rows[i][2], rows[i][3],
                                      "status changed without a lifecycle event"))
    projection = text(
        "SELECT d.declaration_no, e.to_status, d.status FROM declarations d "
        "LEFT JOIN declaration_events e ON e.declaration_id = d.id AND e.seq = "
        "(SELECT max(seq) FROM declaration_events x WHERE x.declaration_id = d.id) "
        "WHERE e.to_status IS NULL OR e.to_status <> d.status ORDER BY d.id")
    for no, last, status in conn.execute(projection):
        report._untraced(Untraced("declaration", no, last, status, "status is not that of the last lifecycle event"))


def _parcels(conn: Connection, report: Report) -> None:
    changes: dict[tuple[str, str], list[tuple[Any, Any]]] = {}
    for ebp, order, old, new in conn.execute(text("SELECT ebp_code, order_no, from_status, to_status "
                                                  "FROM cbec_parcel_status_changes ORDER BY id")):
        changes.setdefault((ebp, order), []).append((old, new))
    report.status_changes += sum(map(len, changes.values()))
    events: dict[tuple[str, str], list[tuple[Any, Any]]] = {}
    if changes:
        for ebp, order, status in conn.execute(text(
                "SELECT e.ebp_code, e.order_no, e.status FROM cbec_parcel_event e WHERE EXISTS (SELECT 1 FROM "
                "cbec_parcel_status_changes c WHERE c.ebp_code = e.ebp_code AND c.order_no = e.order_no) "
                "ORDER BY e.id")):
            events.setdefault((ebp, order), []).append((None, status))
    for key, rows in changes.items():
        for i in unexplained(rows, events.get(key, [])):
            report._untraced(Untraced("parcel", "/".join(key), rows[i][0], rows[i][1],
                                      "status changed without a parcel event"))
    projection = text(
        "SELECT p.ebp_code, p.order_no, e.status, p.status FROM cbec_parcel p "
        "LEFT JOIN cbec_parcel_event e ON e.id = (SELECT max(x.id) FROM cbec_parcel_event x "
        "WHERE x.ebp_code = p.ebp_code AND x.order_no = p.order_no) "
        "WHERE e.status IS NULL OR e.status <> p.status ORDER BY p.id")
    for ebp, order, last, status in conn.execute(projection):
        report._untraced(Untraced("parcel", f"{ebp}/{order}", last, status,
                                  "status is not that of the last parcel event"))


def _triggers(conn: Connection, cbec: bool) -> list[str]:
    """The expected triggers that are not in the database."""
    postgres = conn.dialect.name == "postgresql"
    tables = APPEND_ONLY + (APPEND_ONLY_CBEC if cbec else ())
    if postgres:
        expected = [f"{t}_append_only" for t in tables]
        present = set(conn.execute(text(
            "SELECT t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "WHERE NOT t.tgisinternal AND c.relnamespace = current_schema()::regnamespace")).scalars())
    else:
        expected = [f"{t}_no_{a}" for t in tables for a in ("update", "delete")]
        present = set(conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'trigger'")).scalars())
    expected += [name for table, name in STATUS_TRACES.items() if cbec or table == "declarations"]
    return [t for t in expected if t not in present]


def verify(conn: Connection) -> Report:
    """Run every check on the database behind ``conn`` (read-only)."""
    report = Report()
    cbec = inspect(conn).has_table("cbec_parcel")
    _chain(conn, report)
    _declarations(conn, report)
    if cbec:
        _parcels(conn, report)
    report.missing_triggers = _triggers(conn, cbec)
    return report
