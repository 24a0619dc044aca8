"""Tables: notices (one per recipient: an enterprise or a user), and each user's read state."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, DateTime, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from smartcustoms.core.db import Base


class Notice(Base):
    """A message to every user of an enterprise (``enterprise_code``) or to one user (``user_id``).

    It holds a code and its parameters, never rendered text: each reader reads it in their own language.
    """

    __tablename__ = "notices"
    __table_args__ = (
        Index("ix_notices_enterprise_code_id", "enterprise_code", "id"),
        Index("ix_notices_user_id_id", "user_id", "id"),
        CheckConstraint("(enterprise_code IS NULL) <> (user_id IS NULL)", name="one_recipient"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    enterprise_code: Mapped[str | None] = mapped_column(String(18))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    code: Mapped[str] = mapped_column(String(40))
    params: Mapped[dict] = mapped_column(JSON)
    declaration_no: Mapped[str | None] = mapped_column(String(18))
    at: Mapped[datetime] = mapped_column(DateTime)


class NoticeRead(Base):
    """A user has read a notice (above the user's ``NoticeMark``: those below it are all read)."""

    __tablename__ = "notice_reads"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    notice_id: Mapped[int] = mapped_column(ForeignKey("notices.id"), primary_key=True)
    read_at: Mapped[datetime] = mapped_column(DateTime)


class NoticeMark(Base):
    """"Mark all read": every notice up to ``read_upto`` (an id) is read by the user."""

    __tablename__ = "notice_marks"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    read_upto: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(DateTime)
