"""The inspection results table."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import DateTime, ForeignKey, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from smartcustoms.core.db import Base


class InspectionResult(Base):
    """What an inspection (or post-clearance audit) found; one per declaration."""

    __tablename__ = "inspection_results"

    id: Mapped[int] = mapped_column(primary_key=True)
    declaration_id: Mapped[int] = mapped_column(ForeignKey("declarations.id"), unique=True)
    recorded_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    officer: Mapped[str] = mapped_column(String(100))
    outcome: Mapped[str] = mapped_column(String(12))  # no_offence | offence
    offence_type: Mapped[str | None] = mapped_column(String(40))
    critical: Mapped[bool] = mapped_column(default=False)
    duty_recovered: Mapped[Decimal] = mapped_column(Numeric(18, 2), default=0)
    notes: Mapped[str] = mapped_column(Text, default="")
