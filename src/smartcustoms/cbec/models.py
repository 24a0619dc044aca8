"""CBEC tables. The pipeline writes them with raw SQL (see ``store.py``); the ORM classes describe them.

* ``cbec_message`` — the accepted-message log (one row per document, unique (message type, guid)), committed
  before a receipt is sent; the matcher's in-memory state is rebuilt from it after a restart.
* ``cbec_draft`` — documents stored as drafts (appStatus 1, 暂存): acknowledged, never cleared; ``declared_ms``
  is set when the same document comes with appStatus 2.
* ``cbec_counter`` — per-shard sequences of the numbers the engine assigns (e-port preNo, customs invtNo).
* ``cbec_parcel_subscriber`` — enterprises a parcel's documents name in ``BaseSubscribe``: they read its receipts.
* ``cbec_parcel`` — one row per (platform code, order no): the current decision, tax and quota charge.
* ``cbec_parcel_event`` — append-only status history of parcels (what CEB622 receipts are made from).
* ``cbec_parcel_status_changes`` — append-only trace of every UPDATE of a parcel's status (a trigger).
* ``cbec_quota`` — the annual quota ledger, integer fen per buyer id number and calendar year.
* ``cbec_rejection`` — messages refused as a whole (malformed, bad code, missing field...).
* ``cbec_ingest_offset`` — how far each ingested file has been processed (same transaction as its batch).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Float,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from smartcustoms.core.db import Base

ID = BigInteger().with_variant(Integer, "sqlite")


class CbecMessage(Base):
    """One accepted CEB document in the message log (unique message type and guid), with its keys and payload."""
    __tablename__ = "cbec_message"
    __table_args__ = (
        UniqueConstraint("guid", "msg_type"),  # guid first: the duplicate check looks up by guid
        Index("ix_cbec_message_order", "ebp_code", "order_no"),
        Index("ix_cbec_message_waybill", "logistics_code", "logistics_no"),
    )

    id: Mapped[int] = mapped_column(ID, primary_key=True, autoincrement=True)
    guid: Mapped[str] = mapped_column(String(64))
    message_guid: Mapped[str] = mapped_column(String(64))
    msg_type: Mapped[str] = mapped_column(String(8))
    app_type: Mapped[int] = mapped_column(SmallInteger)
    ebp_code: Mapped[str | None] = mapped_column(String(64))
    order_no: Mapped[str | None] = mapped_column(String(64))
    logistics_code: Mapped[str | None] = mapped_column(String(64))
    logistics_no: Mapped[str | None] = mapped_column(String(64))
    received_ms: Mapped[int] = mapped_column(BigInteger)
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    pre_no: Mapped[str | None] = mapped_column(String(18))  # an inventory's e-port number (the engine's)


class CbecDraft(Base):
    """A CEB document stored as a draft (appStatus 1, 暂存): acknowledged, not cleared; declared later."""
    __tablename__ = "cbec_draft"
    __table_args__ = (Index("ix_cbec_draft_doc", "msg_type", "guid"),)

    id: Mapped[int] = mapped_column(ID, primary_key=True, autoincrement=True)
    msg_type: Mapped[str] = mapped_column(String(8))
    guid: Mapped[str] = mapped_column(String(64))
    key1: Mapped[str] = mapped_column(String(64))  # ebpCode (logisticsCode for a waybill)
    key2: Mapped[str] = mapped_column(String(64))  # orderNo (logisticsNo for a waybill)
    order_no: Mapped[str | None] = mapped_column(String(64))
    pre_no: Mapped[str | None] = mapped_column(String(18))
    received_ms: Mapped[int] = mapped_column(BigInteger)
    declared_ms: Mapped[int | None] = mapped_column(BigInteger)
    payload: Mapped[bytes] = mapped_column(LargeBinary)


class CbecCounter(Base):
    """The last number of a sequence the engine assigns (``preNo:<shard>``, ``invtNo:<shard>``)."""
    __tablename__ = "cbec_counter"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger)


class CbecParcelSubscriber(Base):
    """An enterprise a parcel's documents name in ``BaseSubscribe``: it may read the parcel's receipts."""
    __tablename__ = "cbec_parcel_subscriber"

    ebp_code: Mapped[str] = mapped_column(String(64), primary_key=True)
    order_no: Mapped[str] = mapped_column(String(64), primary_key=True)
    code: Mapped[str] = mapped_column(String(64), primary_key=True)


class CbecParcel(Base):
    """One CBEC parcel (platform code, order no): its current decision, tax and quota charge."""
    __tablename__ = "cbec_parcel"
    __table_args__ = (
        UniqueConstraint("ebp_code", "order_no", name="uq_cbec_parcel_key"),
        Index("ix_cbec_parcel_waybill", "logistics_code", "logistics_no"),
        # the parcels officers work on (held, detained, returned): the pipeline's releases and rejections
        # do not pay for it
        Index("ix_cbec_parcel_held", "status", "id", sqlite_where=text("status >= 300 AND status < 800"),
              postgresql_where=text("status >= 300 AND status < 800")),
    )

    id: Mapped[int] = mapped_column(ID, primary_key=True, autoincrement=True)
    ebp_code: Mapped[str] = mapped_column(String(64))
    order_no: Mapped[str] = mapped_column(String(64))
    inventory_guid: Mapped[str | None] = mapped_column(String(64))
    ebc_code: Mapped[str | None] = mapped_column(String(64))
    logistics_code: Mapped[str | None] = mapped_column(String(64))
    logistics_no: Mapped[str | None] = mapped_column(String(64))
    buyer_id_type: Mapped[str | None] = mapped_column(String(8))
    buyer_id_number: Mapped[str | None] = mapped_column(String(64))  # not indexed: see migration 0103
    buyer_name: Mapped[str | None] = mapped_column(String(128))
    buyer_telephone: Mapped[str | None] = mapped_column(String(64))
    consignee_address: Mapped[str | None] = mapped_column(String(512))
    quota_year: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[int] = mapped_column(SmallInteger)
    regime: Mapped[str | None] = mapped_column(String(16))
    dutiable_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    tariff_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    consumption_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    vat_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    tax_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    charged_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    risk_score: Mapped[float | None] = mapped_column(Float)
    info: Mapped[str] = mapped_column(Text, default="")
    first_ms: Mapped[int] = mapped_column(BigInteger)
    last_doc_ms: Mapped[int] = mapped_column(BigInteger)
    decided_ms: Mapped[int] = mapped_column(BigInteger)
    pre_no: Mapped[str | None] = mapped_column(String(18))   # e-port number, assigned when the inventory entered
    invt_no: Mapped[str | None] = mapped_column(String(18))  # customs inventory number, assigned on acceptance


class CbecParcelEvent(Base):
    """One status change of a CBEC parcel, by the pipeline or an officer (source of CEB622 receipts)."""
    __tablename__ = "cbec_parcel_event"
    __table_args__ = (
        Index("ix_cbec_parcel_event_key", "ebp_code", "order_no"),
        # officers' events only (what writers read to learn from results): pipeline inserts do not pay for it
        Index("ix_cbec_parcel_event_officer", "id", sqlite_where=text("actor <> 'system'"),
              postgresql_where=text("actor <> 'system'")),
    )

    id: Mapped[int] = mapped_column(ID, primary_key=True, autoincrement=True)
    ebp_code: Mapped[str] = mapped_column(String(64))
    order_no: Mapped[str] = mapped_column(String(64))
    status: Mapped[int] = mapped_column(SmallInteger)
    info: Mapped[str] = mapped_column(Text, default="")
    actor: Mapped[str] = mapped_column(String(64), default="system")
    at_ms: Mapped[int] = mapped_column(BigInteger)


class CbecQuota(Base):
    """A buyer's annual CBEC quota used in a calendar year, in integer fen."""
    __tablename__ = "cbec_quota"

    buyer_id_number: Mapped[str] = mapped_column(String(64), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    used_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_ms: Mapped[int] = mapped_column(BigInteger)


class CbecRejection(Base):
    """A CEB message refused as a whole (malformed, bad code, missing field...), with the reason."""
    __tablename__ = "cbec_rejection"

    id: Mapped[int] = mapped_column(ID, primary_key=True, autoincrement=True)
    guid: Mapped[str | None] = mapped_column(String(64))
    msg_type: Mapped[str | None] = mapped_column(String(8))
    status: Mapped[int] = mapped_column(SmallInteger)
    info: Mapped[str] = mapped_column(Text)
    at_ms: Mapped[int] = mapped_column(BigInteger)


class CbecIngestOffset(Base):
    """How far an ingested file has been processed, committed with its batch."""
    __tablename__ = "cbec_ingest_offset"

    source: Mapped[str] = mapped_column(String(1024), primary_key=True)
    byte_offset: Mapped[int] = mapped_column(BigInteger)
    updated_ms: Mapped[int] = mapped_column(BigInteger)


class CbecParcelStatusChange(Base):
    """Every change of ``cbec_parcel.status`` by an UPDATE (an officer's decision, a re-decided parcel or a
    direct UPDATE), written by a database trigger; append-only. ``smartcustoms audit verify`` matches
    each with a parcel event."""

    __tablename__ = "cbec_parcel_status_changes"
    __table_args__ = (Index("ix_cbec_parcel_status_changes_key", "ebp_code", "order_no"),)

    id: Mapped[int] = mapped_column(ID, primary_key=True, autoincrement=True)
    ebp_code: Mapped[str] = mapped_column(String(64))
    order_no: Mapped[str] = mapped_column(String(64))
    from_status: Mapped[int | None] = mapped_column(SmallInteger)
    to_status: Mapped[int | None] = mapped_column(SmallInteger)
    at_ms: Mapped[int] = mapped_column(BigInteger)


class CbecAftercare(Base):
    """A document about a parcel after its release or about bonded goods (``cbec/aftercare.py``): a CEB513
    waybill status, CEB623 inventory cancellation, CEB625 return or CEB711 entry list, with its outcome
    (``status``: 120 entered / awaiting review, 399 decided, 100 refused) and the numbers customs gave it."""

    __tablename__ = "cbec_aftercare"
    __table_args__ = (
        Index("ix_cbec_aftercare_doc", "msg_type", "guid"),
        Index("ix_cbec_aftercare_order", "ebp_code", "order_no"),
        Index("ix_cbec_aftercare_waybill", "logistics_code", "logistics_no"),
        Index("ix_cbec_aftercare_queue", "msg_type", "status", "id"),
    )

    id: Mapped[int] = mapped_column(ID, primary_key=True, autoincrement=True)
    msg_type: Mapped[str] = mapped_column(String(8))
    guid: Mapped[str] = mapped_column(String(64))
    status: Mapped[int] = mapped_column(SmallInteger)
    ebp_code: Mapped[str | None] = mapped_column(String(64))
    order_no: Mapped[str | None] = mapped_column(String(64))
    ebc_code: Mapped[str | None] = mapped_column(String(64))
    logistics_code: Mapped[str | None] = mapped_column(String(64))
    logistics_no: Mapped[str | None] = mapped_column(String(64))
    logistics_status: Mapped[str | None] = mapped_column(String(1))  # CEB513: R arrived, S signed for
    customs_code: Mapped[str | None] = mapped_column(String(8))
    cop_no: Mapped[str | None] = mapped_column(String(64))
    pre_no: Mapped[str | None] = mapped_column(String(18))   # the e-port number of this document (ours)
    invt_no: Mapped[str | None] = mapped_column(String(18))  # the inventory cancelled / returned
    rkd_no: Mapped[str | None] = mapped_column(String(18))   # CEB711: the entry-list number customs gave
    refund_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    info: Mapped[str] = mapped_column(Text)
    received_ms: Mapped[int] = mapped_column(BigInteger)
    decided_ms: Mapped[int | None] = mapped_column(BigInteger)
    decided_by: Mapped[str | None] = mapped_column(String(64))
    payload: Mapped[bytes] = mapped_column(LargeBinary)  # the document's JSON form (head and lines)
