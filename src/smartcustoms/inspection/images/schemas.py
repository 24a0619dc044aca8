"""Wire shapes and in-memory types of scan images: the pixels, the declared goods, records, reviews.

``ScanImage`` and ``DeclaredGoods`` are plain dataclasses shared by the DICOS reader, the model
(``model.py``), threat image projection (``tip.py``) and the synthetic generator (``simulate/scans.py``).
The Pydantic models are what the API sends and takes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from smartcustoms.core.wire import UtcDateTime
from smartcustoms.inspection.schemas import OFFENCE_TYPES

Modality = Literal["DX", "CT"]
SubjectKind = Literal["declaration", "parcel", "manifest_line"]
Routing = Literal["auto_cleared", "review"]
Decision = Literal["confirm_clear", "confirm_threat", "override_clear", "override_threat"]
Verdict = Literal["clear", "threat"]
ImageFormat = Literal["dicos", "png", "tiff"]

ThreatCategory = Literal["drugs", "weapons", "explosives", "currency", "undeclared_goods", "other"]

SUBJECT_KINDS: tuple[str, ...] = ("declaration", "parcel", "manifest_line")
#: what an officer can mark a region of a scan as (``ThreatMarkIn.category``)
THREAT_CATEGORIES: tuple[str, ...] = ("drugs", "weapons", "explosives", "currency", "undeclared_goods", "other")
#: threat regions one review may mark
MAX_MARKS = 10
DECISIONS: tuple[str, ...] = ("confirm_clear", "confirm_threat", "override_clear", "override_threat")


@dataclass(frozen=True)
class ScanImage:
    """A scan as transmissions in 0..1 (1 = nothing in the beam) at a high and a low energy.

    ``high`` and ``low`` are float32 arrays of the same HxW shape; a single-energy scan has ``low`` equal
    to ``high``. ``pixel_mm`` is the detector pitch at the object (mm per pixel)."""

    high: np.ndarray
    low: np.ndarray
    pixel_mm: float = 5.0
    modality: Modality = "DX"

    def __post_init__(self) -> None:
        if self.high.ndim != 2 or self.high.shape != self.low.shape:
            raise ValueError(f"high and low must be 2-D of the same shape, not {self.high.shape} "
                             f"and {self.low.shape}")
        if not self.pixel_mm > 0:
            raise ValueError("pixel_mm must be positive")

    @property
    def shape(self) -> tuple[int, int]:
        """(height, width) in pixels."""
        return int(self.high.shape[0]), int(self.high.shape[1])

    @property
    def dual_energy(self) -> bool:
        """Whether the two energies differ (a single-energy scan repeats ``high`` as ``low``)."""
        return self.low is not self.high and not np.array_equal(self.low, self.high)


@dataclass(frozen=True)
class DeclaredGoods:
    """One declared goods line as the image model sees it (from a declaration, parcel or manifest line)."""

    hs_code: str
    description: str = ""
    quantity: float = 0.0
    unit: str = ""
    gross_kg: float | None = None
    net_kg: float | None = None
    packages: int | None = None


@dataclass(frozen=True)
class Box:
    """A rectangle in pixel coordinates: rows ``top..top+height``, columns ``left..left+width``."""

    top: int
    left: int
    height: int
    width: int


@dataclass
class ScanSubject:
    """What a scan is of: the kind, its id, the customs office and the declared goods (may be empty)."""

    kind: str
    id: str
    office: str | None = None
    goods: Sequence[DeclaredGoods] = field(default_factory=list)
    importer: str | None = None


# -- wire shapes -----------------------------------------------------------------------------------------
class BoxOut(BaseModel):
    """The suspect region as a pixel rectangle."""

    top: int = Field(description="first row of the region (0 = top of the image)")
    left: int = Field(description="first column of the region")
    height: int = Field(description="rows in the region")
    width: int = Field(description="columns in the region")


class AssessmentOut(BaseModel):
    """The model's reading of an image and where it was routed."""

    anomaly_score: float = Field(description="0..1, higher = more likely a concealment or undeclared goods")
    consistent: bool = Field(description="whether the image fits the declared goods (density, material)")
    reasons: list[str] = Field(description="why the image does or does not fit the declared goods")
    model_version: str = Field(description="version of the image model that assessed it")
    region: BoxOut | None = Field(None, description="bounding box of the hottest heat-map region, if any")
    routed: Routing = Field(description="auto_cleared (below threshold and consistent) or review")
    threshold: float = Field(description="review threshold in force when it was routed")
    assessed_at: UtcDateTime = Field(description="when the model assessed it (UTC)")


class ThreatMarkIn(BaseModel):
    """A region of the scan the officer marks as a threat: a pixel rectangle (inside the image) and a category."""

    model_config = ConfigDict(extra="forbid")
    category: ThreatCategory = Field(description="drugs, weapons, explosives, currency, undeclared_goods or other")
    top: int = Field(ge=0, le=4095, description="first row of the region (0 = top of the image)")
    left: int = Field(ge=0, le=4095, description="first column of the region (0 = left edge)")
    height: int = Field(ge=1, le=4096, description="rows in the region")
    width: int = Field(ge=1, le=4096, description="columns in the region")


class ThreatMarkOut(ThreatMarkIn):
    """A threat region an officer marked with a review."""


class ReviewOut(BaseModel):
    """One officer decision on an image (append-only)."""

    officer: str = Field(description="username of the officer who decided")
    decision: Decision = Field(description="confirm_clear | confirm_threat | override_clear | override_threat")
    verdict: Verdict = Field(description="what the officer concluded: clear or threat")
    reason: str = Field(description="the officer's words")
    at: UtcDateTime = Field(description="when the decision was recorded (UTC)")
    marks: list[ThreatMarkOut] = Field(default_factory=list, description="threat regions the officer marked")


class ImageOut(BaseModel):
    """An image record: what it is of, the stored file, the assessment and the reviews."""

    id: int = Field(description="image id")
    subject_kind: SubjectKind = Field(description="what the scan is of: declaration, parcel or manifest_line")
    subject_id: str = Field(description="declaration number, parcel (waybill) number or manifest line id")
    office: str | None = Field(description="customs office of the subject, when known")
    modality: Modality = Field(description="DX (projection radiograph) or CT")
    source_format: ImageFormat = Field(description="the uploaded file's format")
    dual_energy: bool = Field(description="whether the scan has two energies")
    width: int = Field(description="width in pixels")
    height: int = Field(description="height in pixels")
    pixel_mm: float = Field(description="pixel pitch at the object, mm")
    sha256: str = Field(description="SHA-256 of the uploaded file, hex")
    size_bytes: int = Field(description="size of the uploaded file in bytes")
    uploaded_by: str = Field(description="who uploaded it")
    uploaded_at: UtcDateTime = Field(description="when it was uploaded (UTC)")
    assessment: AssessmentOut | None = Field(None, description="the model's assessment (None if no model)")
    reviews: list[ReviewOut] = Field(default_factory=list, description="officer decisions, oldest first")
    status: Literal["unassessed", "auto_cleared", "awaiting_review", "reviewed"] = Field(
        description="where the image stands")


class ReviewJobOut(BaseModel):
    """An image waiting for an officer in the review queue (TIP jobs look the same)."""

    image_id: int = Field(description="image id; pixels at /api/v1/images/{id}/pixels.png")
    subject_kind: SubjectKind = Field(description="what the scan is of")
    subject_id: str = Field(description="id of the subject")
    office: str | None = Field(description="customs office of the subject")
    anomaly_score: float | None = Field(description="the model's anomaly score, 0..1 (None: not assessed)")
    consistent: bool | None = Field(description="whether the image fits the declared goods (None: not assessed)")
    reasons: list[str] = Field(description="the model's consistency reasons")
    region: BoxOut | None = Field(None, description="suspect region from the heat map")
    queued_at: UtcDateTime = Field(description="when the job entered the queue (UTC)")


class ReviewIn(BaseModel):
    """An officer's decision on a review job."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"decision": "confirm_threat", "reason": "dense block behind the cartons, not in the declared goods",
         "offence_type": "prohibited",
         "marks": [{"category": "drugs", "top": 40, "left": 300, "height": 25, "width": 30}]},
        {"decision": "override_clear", "reason": "the dense region is the declared machine parts"}]})
    decision: Decision = Field(description="confirm_clear / confirm_threat (agree with the machine's call) or "
                                           "override_clear / override_threat (disagree)")
    reason: Annotated[str, Field(max_length=2000, description="the officer's words (required for a threat "
                                                             "or an override)")] = ""
    offence_type: Annotated[Literal[OFFENCE_TYPES] | None, Field(  # type: ignore[valid-type]
        description="for a threat on a declaration: the offence type of the inspection "
                                         "result (prohibited, quantity, misclassification, ...); default "
                                         "prohibited")] = None
    marks: Annotated[list[ThreatMarkIn], Field(
        max_length=MAX_MARKS, description=f"for a threat: up to {MAX_MARKS} regions of the scan the officer marks "
                                          "(pixels, inside the image) with a threat category; written into the "
                                          "DICOS TDR as operator-assessed potential threat objects")] = []

    @field_validator("marks")
    @classmethod
    def marks_for_threats(cls, marks: list[ThreatMarkIn], info: ValidationInfo) -> list[ThreatMarkIn]:
        """Regions are marked on a threat call only (a clear verdict has nothing to mark)."""
        decision = info.data.get("decision")
        if marks and decision is not None and not str(decision).endswith("threat"):
            raise ValueError("threat regions are marked with a threat decision only")
        return marks

    @model_validator(mode="after")
    def reason_when_needed(self) -> ReviewIn:
        """A threat or an override needs the officer's reason."""
        if (self.decision != "confirm_clear") and not self.reason.strip():
            raise ValueError("a threat or an override needs a reason")
        return self


class ReviewResultOut(BaseModel):
    """What recording a review did."""

    image_id: int = Field(description="image id")
    decision: Decision = Field(description="the recorded decision")
    verdict: Verdict = Field(description="clear or threat")
    inspection_result: bool = Field(description="whether it became an inspection result of a declaration")
    tip_feedback: Literal["hit", "false_location", "miss"] | None = Field(
        None, description="on a threat-image-projection job, revealed after the decision: hit (a threat call with "
                          "a marked region on the projected threat), false_location (a threat call, but no region "
                          "marked on it) or miss (cleared); the image then returns to the queue for its real review")
    tip_region: BoxOut | None = Field(
        None, description="on a threat-image-projection job, after the decision: where the projected threat was")
    note: str = Field("", description="what else happened (e.g. why no inspection result was recorded)")


class TipOfficerOut(BaseModel):
    """An officer's threat-image-projection score (a hit needs a marked region on the projected threat)."""

    officer: str = Field(description="officer username")
    tip_jobs: int = Field(description="TIP presentations the officer decided (projected threats shown)")
    hits: int = Field(description="threat calls with a marked region on the projected threat")
    false_locations: int = Field(0, description="threat calls with no region marked on the projected threat "
                                                "(none marked, or only elsewhere)")
    misses: int = Field(description="projected threats the officer cleared")
    detection_rate: float | None = Field(description="hits / tip_jobs (None before any)")
    clean_reviewed: int = Field(0, description="real (not TIP) images the officer decided that were found clean: "
                                               "the image's latest real review is clear")
    false_alarms: int = Field(0, description="of those, the ones the officer called a threat")
    false_alarm_rate: float | None = Field(None, description="false_alarms / clean_reviewed (None when the officer "
                                                             "decided no image found clean)")
