"""Writing and reading the append-only audit log."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from smartcustoms.audit.models import AuditEntry
from smartcustoms.security import Principal


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def record(session: Session, who: Principal, action: str, object_type: str, object_id: str,
           detail: dict | None = None) -> None:
    """Append one audit entry in the caller's transaction."""
    session.execute(insert(AuditEntry).values(
        at=utcnow(), actor=who.username, role=str(who.role), action=action,
        object_type=object_type, object_id=object_id, detail=detail or {},
    ))


def entries(session: Session, object_type: str | None = None, object_id: str | None = None,
            limit: int = 200) -> list[AuditEntry]:
    q = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if object_type:
        q = q.where(AuditEntry.object_type == object_type)
    if object_id:
        q = q.where(AuditEntry.object_id == object_id)
    return list(session.scalars(q))
