"""The scan image tables, all append-only: the image, the model's assessment (with TIP), officers' reviews and
the threat regions they mark.

An image is tied to its subject by kind and id strings (a declaration number, a parcel's waybill, a manifest
line), since parcels and manifests are domains above this one. Where an image stands (awaiting review,
reviewed) is derived from the rows, never updated in place.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from smartcustoms.core.db import Base


class ScanImageRecord(Base):
    """One uploaded scan; its file is in the image store under ``sha256`` (a DICOS copy under ``dicos_sha256``)."""

    __tablename__ = "images"
    __table_args__ = (Index("ix_images_subject", "subject_kind", "subject_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    subject_kind: Mapped[str] = mapped_column(String(16))  # declaration | parcel | manifest_line
    subject_id: Mapped[str] = mapped_column(String(64))
    office: Mapped[str | None] = mapped_column(String(4), index=True)
    importer: Mapped[str | None] = mapped_column(String(18), index=True)  # for "previous images of the importer"
    hs_codes: Mapped[str] = mapped_column(String(400), default="")  # declared HS codes, comma-separated
    modality: Mapped[str] = mapped_column(String(2))  # DX | CT
    source_format: Mapped[str] = mapped_column(String(5))  # dicos | png | tiff
    dual_energy: Mapped[bool] = mapped_column(Boolean)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    pixel_mm: Mapped[float] = mapped_column(Float)
    sha256: Mapped[str] = mapped_column(String(64))  # of the uploaded file
    size_bytes: Mapped[int] = mapped_column(Integer)
    low_sha256: Mapped[str | None] = mapped_column(String(64))  # a separate low-energy file, when sent
    dicos_sha256: Mapped[str] = mapped_column(String(64))  # the DICOS DX the TDR refers to (the upload if DICOS)
    sop_instance_uid: Mapped[str] = mapped_column(String(64))
    sop_class_uid: Mapped[str] = mapped_column(String(64))
    uploaded_by: Mapped[str] = mapped_column(String(100))
    uploaded_at: Mapped[datetime] = mapped_column(DateTime, index=True)


class ImageAssessment(Base):
    """The model's reading of an image and where it was routed."""

    __tablename__ = "image_assessments"

    id: Mapped[int] = mapped_column(primary_key=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id"), unique=True)
    assessed_at: Mapped[datetime] = mapped_column(DateTime)
    anomaly_score: Mapped[float] = mapped_column(Float)
    consistent: Mapped[bool] = mapped_column(Boolean)
    reasons: Mapped[list] = mapped_column(JSON)
    model_version: Mapped[str] = mapped_column(String(64))
    region_top: Mapped[int | None] = mapped_column(Integer)
    region_left: Mapped[int | None] = mapped_column(Integer)
    region_height: Mapped[int | None] = mapped_column(Integer)
    region_width: Mapped[int | None] = mapped_column(Integer)
    heatmap_sha256: Mapped[str] = mapped_column(String(64))  # 8-bit PNG of the heat map in the store
    threshold: Mapped[float] = mapped_column(Float)
    routed: Mapped[str] = mapped_column(String(12), index=True)  # auto_cleared | review
    seconds: Mapped[float] = mapped_column(Float)  # the model's time for this image


class TipProjection(Base):
    """A known threat projected into a review job (threat image projection); officers are not told which."""

    __tablename__ = "image_tip_projections"

    id: Mapped[int] = mapped_column(primary_key=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id"), unique=True)
    at: Mapped[datetime] = mapped_column(DateTime)
    threat: Mapped[str] = mapped_column(String(32))  # the library threat's name (tip.threat_library)
    top: Mapped[int] = mapped_column(Integer)
    left: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    width: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))  # the projected image (DICOS DX) in the store


class ImageReview(Base):
    """One officer decision on an image; on a TIP presentation it is scored (``tip_hit``) and changes nothing else."""

    __tablename__ = "image_reviews"

    id: Mapped[int] = mapped_column(primary_key=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime)
    officer: Mapped[str] = mapped_column(String(100), index=True)
    decision: Mapped[str] = mapped_column(String(16))  # confirm_clear | confirm_threat | override_clear | ...
    verdict: Mapped[str] = mapped_column(String(6))  # clear | threat
    reason: Mapped[str] = mapped_column(Text, default="")
    offence_type: Mapped[str | None] = mapped_column(String(40))
    tip: Mapped[bool] = mapped_column(Boolean, default=False)  # the decision was on a TIP presentation
    tip_hit: Mapped[bool | None] = mapped_column(Boolean)  # TIP only: the projected threat was called a threat
    inspection_result: Mapped[bool] = mapped_column(Boolean, default=False)  # became a declaration's result


class ImageThreatMark(Base):
    """A region of the scan an officer marked as a threat with a review (its category and pixel rectangle)."""

    __tablename__ = "image_threat_marks"

    id: Mapped[int] = mapped_column(primary_key=True)
    review_id: Mapped[int] = mapped_column(ForeignKey("image_reviews.id"), index=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id"), index=True)
    category: Mapped[str] = mapped_column(String(20))  # schemas.THREAT_CATEGORIES
    top: Mapped[int] = mapped_column(Integer)
    left: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    width: Mapped[int] = mapped_column(Integer)
