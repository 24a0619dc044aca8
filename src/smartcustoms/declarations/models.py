"""Tables: declarations (header), goods items, lifecycle events."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import JSON, DateTime, Float, ForeignKey, Index, Integer, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from smartcustoms.core.db import Base

Money = Numeric(18, 2)
Amount = Numeric(18, 4)


class Declaration(Base):
    """Header of a goods declaration; ``status`` is the projection of its latest event."""

    __tablename__ = "declarations"
    __table_args__ = (
        UniqueConstraint("lodged_by", "client_message_id", name="uq_declarations_client_message"),
        Index("ix_declarations_status_lane", "status", "lane"),
        Index("ix_declarations_importer_declared", "importer_code", "declared_at"),
        # the lists' filters and sorts (declarations.listing; migration 0010_core)
        Index("ix_declarations_lodged_by", "lodged_by"),
        Index("ix_declarations_office_lodged", "office_code", "lodged_at"),
        Index("ix_declarations_status_lodged", "status", "lodged_at"),
        Index("ix_declarations_status_score", "status", "risk_score", "lane", "office_code"),  # covers the queue
        Index("ix_declarations_transport_document", "transport_document_no"),  # manifests reconciliation (0012)
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    declaration_no: Mapped[str] = mapped_column(String(18), unique=True)
    client_message_id: Mapped[str] = mapped_column(String(64))  # the lodging's key: never changed afterwards
    body_hash: Mapped[str | None] = mapped_column(String(64))  # SHA-256 of the lodged body (a repeat must match)
    lodged_by: Mapped[str] = mapped_column(String(18))  # enterprise code of the lodging trader
    declarant_code: Mapped[str] = mapped_column(String(18), index=True)
    importer_code: Mapped[str] = mapped_column(String(18))
    seller_name: Mapped[str | None] = mapped_column(String(200))
    trade_mode: Mapped[str] = mapped_column(String(4))
    transport_mode: Mapped[str] = mapped_column(String(2))
    office_code: Mapped[str] = mapped_column(String(4), index=True)
    departure_country: Mapped[str] = mapped_column(String(2))
    origin_country: Mapped[str] = mapped_column(String(2))
    currency: Mapped[str] = mapped_column(String(3))
    incoterm: Mapped[str] = mapped_column(String(3))
    freight: Mapped[Decimal] = mapped_column(Amount)
    insurance: Mapped[Decimal | None] = mapped_column(Amount)
    gross_mass_kg: Mapped[Decimal] = mapped_column(Amount)
    net_mass_kg: Mapped[Decimal] = mapped_column(Amount)
    packages: Mapped[int] = mapped_column(Integer)
    total_value: Mapped[Decimal] = mapped_column(Amount)
    declared_at: Mapped[datetime] = mapped_column(DateTime)
    lodged_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    status: Mapped[str] = mapped_column(String(20))
    version: Mapped[int] = mapped_column(Integer, default=1)
    customs_value_cny: Mapped[Decimal | None] = mapped_column(Money)
    duty_cny: Mapped[Decimal | None] = mapped_column(Money)
    consumption_tax_cny: Mapped[Decimal | None] = mapped_column(Money)
    vat_cny: Mapped[Decimal | None] = mapped_column(Money)
    tax_total_cny: Mapped[Decimal | None] = mapped_column(Money)
    lane: Mapped[str | None] = mapped_column(String(10))
    risk_score: Mapped[float | None] = mapped_column(Float)
    # the bill of lading / air waybill / consignment note the goods came under (提运单号; 0012_core)
    transport_document_no: Mapped[str | None] = mapped_column(String(35), nullable=True)


class GoodsItem(Base):
    """One goods item (line) of a customs declaration, with its tariff code, value and taxes."""
    __tablename__ = "goods_items"
    __table_args__ = (UniqueConstraint("declaration_id", "item_no", name="uq_goods_items_declaration_item"),
                      Index("ix_goods_items_hs_declaration", "hs_code", "declaration_id"))  # lists' HS filter

    id: Mapped[int] = mapped_column(primary_key=True)
    declaration_id: Mapped[int] = mapped_column(ForeignKey("declarations.id", ondelete="CASCADE"))
    item_no: Mapped[int] = mapped_column(Integer)
    hs_code: Mapped[str] = mapped_column(String(10), index=True)
    description: Mapped[str] = mapped_column(Text)
    model_spec: Mapped[str] = mapped_column(Text, default="")
    quantity: Mapped[Decimal] = mapped_column(Amount)
    unit: Mapped[str] = mapped_column(String(3))
    net_mass_kg: Mapped[Decimal] = mapped_column(Amount)
    unit_price: Mapped[Decimal] = mapped_column(Amount)
    total_value: Mapped[Decimal] = mapped_column(Amount)
    origin_country: Mapped[str] = mapped_column(String(2))
    customs_value_cny: Mapped[Decimal | None] = mapped_column(Money)
    duty_cny: Mapped[Decimal | None] = mapped_column(Money)
    consumption_tax_cny: Mapped[Decimal | None] = mapped_column(Money)
    vat_cny: Mapped[Decimal | None] = mapped_column(Money)


class DeclarationEvent(Base):
    """Append-only lifecycle event; triggers forbid UPDATE and DELETE."""

    __tablename__ = "declaration_events"
    __table_args__ = (UniqueConstraint("declaration_id", "seq", name="uq_declaration_events_seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    declaration_id: Mapped[int] = mapped_column(ForeignKey("declarations.id"))
    seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(DateTime)
    actor: Mapped[str] = mapped_column(String(100))
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(Text, default="")
    detail: Mapped[dict | None] = mapped_column(JSON)


class DeclarationAmendment(Base):
    """An amendment's idempotency key: a repeat returns the declaration, another body under it is a conflict."""

    __tablename__ = "declaration_amendments"
    __table_args__ = (UniqueConstraint("declaration_id", "client_message_id", name="uq_declaration_amendments_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    declaration_id: Mapped[int] = mapped_column(ForeignKey("declarations.id", ondelete="CASCADE"))
    client_message_id: Mapped[str] = mapped_column(String(64))
    body_hash: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(DateTime)
    actor: Mapped[str] = mapped_column(String(100))


class NumberSequence(Base):
    """Block allocator for declaration numbers (per office and year)."""

    __tablename__ = "number_sequences"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[int] = mapped_column(Integer, default=0)


class DeclarationStatusChange(Base):
    """Every change of ``declarations.status``, written by a database trigger (the service's or a direct
    UPDATE's); append-only. ``smartcustoms audit verify`` matches each with lifecycle events."""

    __tablename__ = "declaration_status_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    declaration_id: Mapped[int] = mapped_column(ForeignKey("declarations.id"), index=True)
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str | None] = mapped_column(String(20))
    at: Mapped[datetime] = mapped_column(DateTime)


class DeclarationVersion(Base):
    """One version of a declaration as lodged or amended (header, items, tax), kept for the version diff;
    append-only (triggers forbid UPDATE and DELETE)."""

    __tablename__ = "declaration_versions"
    __table_args__ = (UniqueConstraint("declaration_id", "version", name="uq_declaration_versions_version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    declaration_id: Mapped[int] = mapped_column(ForeignKey("declarations.id"))
    version: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(DateTime)
    actor: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str] = mapped_column(Text, default="")
    body: Mapped[dict] = mapped_column(JSON)


class TaxPayment(Base):
    """A payment of a declaration's assessed taxes, as customs confirmed it (bank or e-payment reference);
    append-only: a wrong entry is corrected by a negative one."""

    __tablename__ = "tax_payments"
    __table_args__ = (UniqueConstraint("declaration_id", "reference", name="uq_tax_payments_reference"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    declaration_id: Mapped[int] = mapped_column(ForeignKey("declarations.id"), index=True)
    amount_cny: Mapped[Decimal] = mapped_column(Money)
    paid_at: Mapped[datetime] = mapped_column(DateTime)
    reference: Mapped[str] = mapped_column(String(64))
    recorded_by: Mapped[str] = mapped_column(String(100))
    recorded_at: Mapped[datetime] = mapped_column(DateTime)
