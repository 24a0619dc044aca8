"""Writing and reading the append-only, hash-chained audit log.

Each entry stores ``prev_hash`` (the previous entry's ``hash``; :data:`GENESIS` for the first) and
``hash`` = SHA-256 of its canonical form (:func:`canonical`). An append first takes the row lock of the
one-row ``audit_chain_head`` (an ``UPDATE`` of it), reads the last hash there, inserts the entry and
moves the head, all in the caller's transaction: appends are serialised and the chain cannot fork.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from smartcustoms.audit.models import AuditChainHead, AuditEntry
from smartcustoms.core.clock import utcnow
from smartcustoms.core.security import Principal

GENESIS = "0" * 64
CHAINED_FIELDS = ("at", "actor", "role", "action", "object_type", "object_id", "detail")
HEAD_ID = 1


def _iso(at: datetime) -> str:
    if at.tzinfo is not None:
        at = at.astimezone(UTC).replace(tzinfo=None)
    return at.isoformat(sep=" ", timespec="microseconds")


def canonical(entry: Mapping[str, Any], prev_hash: str) -> bytes:
    """The bytes an entry's hash covers: sorted-key JSON of its id-independent fields and ``prev_hash``."""
    body = {k: entry[k] for k in CHAINED_FIELDS}
    body["at"] = _iso(entry["at"])
    body["prev_hash"] = prev_hash
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode()


def entry_hash(entry: Mapping[str, Any], prev_hash: str) -> str:
    """SHA-256 (hex) of :func:`canonical`."""
    return hashlib.sha256(canonical(entry, prev_hash)).hexdigest()


def new_entry(actor: str, role: str, action: str, object_type: str, object_id: str,
              detail: dict | None = None, at: datetime | None = None) -> dict[str, Any]:
    """The chained fields of an entry; ``detail`` as it reads back from the JSON column."""
    return {"at": at or utcnow(), "actor": actor, "role": role, "action": action, "object_type": object_type,
            "object_id": object_id, "detail": json.loads(json.dumps(detail or {}, allow_nan=False))}


class ChainHeadMissing(RuntimeError):
    """The ``audit_chain_head`` row is missing: the database was not migrated (``smartcustoms db upgrade``)."""


def record(session: Session, who: Principal, action: str, object_type: str, object_id: str,
           detail: dict | None = None) -> None:
    """Append one audit entry in the caller's transaction."""
    if who.acting_via:  # the call came with an API key that another user (``acting_via``) made for ``who``
        detail = {**(detail or {}), "acting_via": who.acting_via}
    entry = new_entry(who.username, str(who.role), action, object_type, object_id, detail)
    # the head's row lock first (an UPDATE: SQLite's write lock too), then its hash is the latest
    prev = session.execute(update(AuditChainHead).where(AuditChainHead.id == HEAD_ID)
                           .values(entry_id=AuditChainHead.entry_id).returning(AuditChainHead.hash)
                           .execution_options(synchronize_session=False)).scalar_one_or_none()
    if prev is None:
        raise ChainHeadMissing("the audit chain head is missing: run the migrations")
    digest = entry_hash(entry, prev)
    eid = session.execute(insert(AuditEntry).values(**entry, prev_hash=prev, hash=digest)
                          .returning(AuditEntry.id)).scalar_one()
    session.execute(update(AuditChainHead).where(AuditChainHead.id == HEAD_ID)
                    .values(entry_id=eid, hash=digest).execution_options(synchronize_session=False))


def record_many(session: Session, who: Principal, entries: Sequence[Mapping[str, Any]]) -> None:
    """Append several entries made by :func:`new_entry` (in order) in the caller's transaction: one head lock,
    one multi-row insert, one head move, so a batch of intake messages costs three statements, not three each.
    ``who``'s ``acting_via`` is added to each detail as :func:`record` does."""
    if not entries:
        return
    prev = session.execute(update(AuditChainHead).where(AuditChainHead.id == HEAD_ID)
                           .values(entry_id=AuditChainHead.entry_id).returning(AuditChainHead.hash)
                           .execution_options(synchronize_session=False)).scalar_one_or_none()
    if prev is None:
        raise ChainHeadMissing("the audit chain head is missing: run the migrations")
    rows = []
    for e in entries:
        entry = dict(e)
        if who.acting_via:
            entry["detail"] = {**entry["detail"], "acting_via": who.acting_via}
        digest = entry_hash(entry, prev)
        rows.append({**entry, "prev_hash": prev, "hash": digest})
        prev = digest
    # ids in the order of the entries (the chain's order), whatever the database does with a multi-row insert
    ids = session.scalars(insert(AuditEntry).returning(AuditEntry.id, sort_by_parameter_order=True), rows).all()
    session.execute(update(AuditChainHead).where(AuditChainHead.id == HEAD_ID)
                    .values(entry_id=ids[-1], hash=prev).execution_options(synchronize_session=False))


class RawConnection(Protocol):
    """A DBAPI-level connection with ``?`` placeholders (the CBEC store)."""

    dialect: str

    def execute(self, text: str, params: Sequence[Any] | None = None) -> Any:
        """Run one SQL statement with positional parameters on the raw connection."""
        ...


def record_raw(conn: RawConnection, actor: str, role: str, action: str, object_type: str, object_id: str,
               detail: dict | None = None) -> None:
    """Append one audit entry through a raw connection, in its open transaction (as :func:`record`)."""
    entry = new_entry(actor, role, action, object_type, object_id, detail)
    rows = conn.execute(f"UPDATE audit_chain_head SET entry_id = entry_id WHERE id = {HEAD_ID} "
                        "RETURNING hash").fetchall()
    if not rows:
        raise ChainHeadMissing("the audit chain head is missing: run the migrations")
    prev = rows[0][0]
    digest = entry_hash(entry, prev)
    postgres = conn.dialect == "postgresql"
    at = entry["at"] if postgres else entry["at"].strftime("%Y-%m-%d %H:%M:%S.%f")  # SQLAlchemy's SQLite form
    eid = conn.execute(
        "INSERT INTO audit_log (at, actor, role, action, object_type, object_id, detail, prev_hash, hash) "
        f"VALUES (?, ?, ?, ?, ?, ?, {'CAST(? AS JSON)' if postgres else '?'}, ?, ?) RETURNING id",
        (at, actor, role, action, object_type, object_id, json.dumps(entry["detail"]), prev, digest),
    ).fetchall()[0][0]
    conn.execute(f"UPDATE audit_chain_head SET entry_id = ?, hash = ? WHERE id = {HEAD_ID}", (eid, digest))


def entries(session: Session, object_type: str | None = None, object_id: str | None = None,
            limit: int = 200) -> list[AuditEntry]:
    """Audit entries, newest first, optionally for one object type and object id."""
    q = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if object_type:
        q = q.where(AuditEntry.object_type == object_type)
    if object_id:
        q = q.where(AuditEntry.object_id == object_id)
    return list(session.scalars(q))
