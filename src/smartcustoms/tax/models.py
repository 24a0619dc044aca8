"""Tables: tariff lines (by HS prefix) and exchange rates."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import Date, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from smartcustoms.core.db import Base

Rate = Numeric(12, 6)


class TariffLine(Base):
    """One tariff line; the longest ``hs_prefix`` matching an item's HS code applies."""

    __tablename__ = "tariff_lines"

    hs_prefix: Mapped[str] = mapped_column(String(10), primary_key=True)
    description: Mapped[str] = mapped_column(Text, default="")
    duty_type: Mapped[str] = mapped_column(String(12))
    duty_rate: Mapped[Decimal] = mapped_column(Rate, default=0)
    duty_specific: Mapped[Decimal] = mapped_column(Rate, default=0)
    duty_unit: Mapped[str | None] = mapped_column(String(3))
    ct_type: Mapped[str] = mapped_column(String(12), default="none")
    ct_rate: Mapped[Decimal] = mapped_column(Rate, default=0)
    ct_specific: Mapped[Decimal] = mapped_column(Rate, default=0)
    ct_unit: Mapped[str | None] = mapped_column(String(3))
    vat_rate: Mapped[Decimal] = mapped_column(Rate)


class ExchangeRate(Base):
    """Customs exchange rate: CNY per one unit of ``currency`` from ``valid_from``."""

    __tablename__ = "exchange_rates"

    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    valid_from: Mapped[date] = mapped_column(Date, primary_key=True)
    cny_per_unit: Mapped[Decimal] = mapped_column(Rate)
