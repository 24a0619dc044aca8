"""The audit log table, hash-chained; database triggers forbid UPDATE and DELETE on it.

``audit_chain_head`` is one row: the last entry's id and hash. Appending takes its row lock first, so
concurrent writers (PostgreSQL) append one after the other and the chain never forks.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from smartcustoms.core.db import Base


class AuditEntry(Base):
    """One entry of the hash-chained audit log: who did what to which object, and when."""
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime, index=True)
    actor: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(20))
    action: Mapped[str] = mapped_column(String(100))
    object_type: Mapped[str] = mapped_column(String(50))
    object_id: Mapped[str] = mapped_column(String(100))
    detail: Mapped[dict] = mapped_column(JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))  # the previous entry's hash (64 zeros for the first)
    hash: Mapped[str] = mapped_column(String(64))  # SHA-256 of this entry's canonical form and prev_hash


class AuditChainHead(Base):
    """The end of the audit chain: one row (id 1), locked by every append."""

    __tablename__ = "audit_chain_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    entry_id: Mapped[int] = mapped_column(Integer)  # 0 while the log is empty
    hash: Mapped[str] = mapped_column(String(64))
