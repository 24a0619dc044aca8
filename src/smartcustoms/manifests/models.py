"""Manifest tables.

* ``manifest_message`` — every accepted message (unique per filer and MessageID), with its payload; append-only.
* ``manifest_filing`` — one row per consignment of an accepted message: the transport document, its version
  (amendments add a row, nothing is overwritten), the pre-loading outcome and reasons; append-only (database
  triggers forbid UPDATE and DELETE), so the assessments are the audit trail of the customs decisions.
* ``manifest_referral_event`` — what was done about a referred filing: an officer's decision (screening clear or
  threat found, do-not-load confirmed or lifted, information complete or escalated to screening) or the filer's
  answer to a request for information; append-only, so the referral's state is the last event.
* ``manifest_history_stat`` — history aggregates the rules read point in time: filings per party key and the
  running mean / sum of squares of log kg per package per goods key (updated as filings arrive).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from smartcustoms.core.db import Base

ID = BigInteger().with_variant(Integer, "sqlite")
APPEND_ONLY = ("manifest_message", "manifest_filing", "manifest_referral_event", "manifest_discrepancy",
               "manifest_discrepancy_event")


class ManifestMessage(Base):
    """One accepted manifest message, as received."""
    __tablename__ = "manifest_message"
    __table_args__ = (UniqueConstraint("filer_code", "message_id", name="uq_manifest_message_filer_id"),)

    id: Mapped[int] = mapped_column(ID, primary_key=True, autoincrement=True)
    filer_code: Mapped[str] = mapped_column(String(64))  # the carrier's or forwarder's enterprise code
    message_id: Mapped[str] = mapped_column(String(64))
    message_type: Mapped[str] = mapped_column(String(6))
    kind: Mapped[str] = mapped_column(String(16))
    mode: Mapped[str] = mapped_column(String(8))
    function_code: Mapped[str] = mapped_column(String(2))
    sender_id: Mapped[str] = mapped_column(String(50))
    journey_id: Mapped[str | None] = mapped_column(String(17))
    conveyance_id: Mapped[str | None] = mapped_column(String(35))
    consignments: Mapped[int] = mapped_column(Integer)
    received_at: Mapped[datetime] = mapped_column(DateTime)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime)
    payload: Mapped[bytes] = mapped_column(LargeBinary)


class ManifestFiling(Base):
    """One filed version of a transport document, with its pre-loading assessment."""
    __tablename__ = "manifest_filing"
    __table_args__ = (
        Index("ix_manifest_filing_doc", "filer_code", "transport_document_no"),
        Index("ix_manifest_filing_master", "master_document_no"),
        Index("ix_manifest_filing_outcome", "outcome", "id"),
        Index("ix_manifest_filing_document", "transport_document_no"),  # reconciliation (0303)
        Index("ix_manifest_filing_previous", "previous_document_no"),  # linked legs (0303)
    )

    id: Mapped[int] = mapped_column(ID, primary_key=True, autoincrement=True)
    message_row_id: Mapped[int] = mapped_column(ID, ForeignKey("manifest_message.id"))
    filer_code: Mapped[str] = mapped_column(String(64))
    transport_document_no: Mapped[str] = mapped_column(String(35))
    master_document_no: Mapped[str | None] = mapped_column(String(35))
    message_id: Mapped[str] = mapped_column(String(64))
    message_type: Mapped[str] = mapped_column(String(6))
    kind: Mapped[str] = mapped_column(String(16))
    mode: Mapped[str] = mapped_column(String(8))
    journey_id: Mapped[str | None] = mapped_column(String(17))
    conveyance_id: Mapped[str | None] = mapped_column(String(35))
    version: Mapped[int] = mapped_column(Integer)
    amended: Mapped[bool] = mapped_column(Boolean)
    withdrawn: Mapped[bool] = mapped_column(Boolean)
    late: Mapped[bool] = mapped_column(Boolean)
    outcome: Mapped[str | None] = mapped_column(String(24))
    reasons: Mapped[list] = mapped_column(JSON)  # [{"en": ..., "zh": ...}], most severe first
    received_at: Mapped[datetime] = mapped_column(DateTime)
    data: Mapped[dict] = mapped_column(JSON)  # the consignment as schemas.Consignment dumps it
    # the earlier leg's transport document when the goods changed mode (sea leg -> rail leg; 0303)
    previous_document_no: Mapped[str | None] = mapped_column(String(35), nullable=True)
    # the probability that the pre-loading assessment referred it (1: a rule or the model; the exploration rate
    # otherwise; null: withdrawn or filed before 0304), the live model's score and registry version (0304)
    selection_probability: Mapped[float | None] = mapped_column(Float, nullable=True)
    model_score: Mapped[float | None] = mapped_column(Float, nullable=True)
    model_version: Mapped[int | None] = mapped_column(Integer, nullable=True)


class ManifestHistoryStat(Base):
    """A history aggregate: filings of a party key, or log kg per package of a goods key (Welford)."""
    __tablename__ = "manifest_history_stat"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    n: Mapped[int] = mapped_column(Integer)
    mean: Mapped[float] = mapped_column(Float)
    m2: Mapped[float] = mapped_column(Float)


class ManifestReferralEvent(Base):
    """One step in working a referral: the filer's answer or an officer's decision (append-only)."""
    __tablename__ = "manifest_referral_event"
    __table_args__ = (
        Index("ix_manifest_referral_event_filing", "filing_id", "id"),
        # one closing decision per referral, even when two officers decide at once
        Index("ux_manifest_referral_event_closed", "filing_id", unique=True,
              sqlite_where=text("closed"), postgresql_where=text("closed")),
    )

    id: Mapped[int] = mapped_column(ID, primary_key=True, autoincrement=True)
    filing_id: Mapped[int] = mapped_column(ID, ForeignKey("manifest_filing.id"))
    filer_code: Mapped[str] = mapped_column(String(64))  # the filing's filer (for tenant reads)
    action: Mapped[str] = mapped_column(String(32))  # ReferralAction value
    outcome: Mapped[str] = mapped_column(String(24))  # the referral's outcome after this event
    closed: Mapped[bool] = mapped_column(Boolean)  # the referral has left the open queue
    text: Mapped[str] = mapped_column(String(4000))  # the officer's reason or the filer's answer
    actor: Mapped[str] = mapped_column(String(100))
    actor_role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime)


class ManifestDiscrepancy(Base):
    """A disagreement reconciliation found (short/over-landed, tally difference, unmanifested, undeclared...);
    append-only, opened once per ``key``: its state is in :class:`ManifestDiscrepancyEvent`."""
    __tablename__ = "manifest_discrepancy"
    __table_args__ = (
        UniqueConstraint("key", name="uq_manifest_discrepancy_key"),
        Index("ix_manifest_discrepancy_document", "transport_document_no"),
        Index("ix_manifest_discrepancy_declaration", "declaration_no"),
        Index("ix_manifest_discrepancy_kind", "kind", "id"),
    )

    id: Mapped[int] = mapped_column(ID, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(200))  # the same finding found again has the same key
    kind: Mapped[str] = mapped_column(String(32))  # reconcile.DiscrepancyKind value
    transport_document_no: Mapped[str] = mapped_column(String(35))
    filer_code: Mapped[str | None] = mapped_column(String(64), nullable=True)  # the manifest line's filer
    declaration_no: Mapped[str | None] = mapped_column(String(18), nullable=True)
    mode: Mapped[str | None] = mapped_column(String(8), nullable=True)
    detail: Mapped[dict] = mapped_column(JSON)
    opened_at: Mapped[datetime] = mapped_column(DateTime)


class ManifestDiscrepancyEvent(Base):
    """A step of a discrepancy: ``opened`` by a reconciliation run, ``resolved`` by an officer with the reason."""
    __tablename__ = "manifest_discrepancy_event"
    __table_args__ = (
        Index("ix_manifest_discrepancy_event_discrepancy", "discrepancy_id", "id"),
        # one resolution per discrepancy, even when two officers resolve at once
        Index("ux_manifest_discrepancy_event_resolved", "discrepancy_id", unique=True,
              sqlite_where=text("action = 'resolved'"), postgresql_where=text("action = 'resolved'")),
    )

    id: Mapped[int] = mapped_column(ID, primary_key=True, autoincrement=True)
    discrepancy_id: Mapped[int] = mapped_column(ID, ForeignKey("manifest_discrepancy.id"))
    action: Mapped[str] = mapped_column(String(16))  # opened / resolved
    resolution: Mapped[str | None] = mapped_column(String(32), nullable=True)  # why it is resolved (a code)
    text: Mapped[str] = mapped_column(String(2000))  # the officer's reason (or the run's note)
    actor: Mapped[str] = mapped_column(String(100))
    actor_role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime)
