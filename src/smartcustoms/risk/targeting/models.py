"""Tables of live risk targeting: rule profiles, lane decisions, the model registry."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Boolean, Date, DateTime, Float, ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from smartcustoms.core.db import Base


class RiskRule(Base):
    """An analyst's risk profile: criteria over declaration fields and features, a lane, a validity."""

    __tablename__ = "risk_rules"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    criteria: Mapped[list] = mapped_column(JSON)
    lane: Mapped[str] = mapped_column(String(10))
    mandatory: Mapped[bool] = mapped_column(Boolean, default=False)
    target_rate: Mapped[float] = mapped_column(Float, default=1.0)
    valid_from: Mapped[date | None] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime)


class RiskDecision(Base):
    """The selectivity outcome of a declaration (its latest version): score, lane, mechanism, reasons,
    and the probability that the selectivity held it."""

    __tablename__ = "risk_decisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    declaration_id: Mapped[int] = mapped_column(ForeignKey("declarations.id"), index=True)
    decided_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    office_code: Mapped[str] = mapped_column(String(4))
    importer_code: Mapped[str] = mapped_column(String(18))
    credit_grade: Mapped[str] = mapped_column(String(30))
    score: Mapped[float] = mapped_column(Float)
    lane: Mapped[str] = mapped_column(String(10))
    mechanism: Mapped[str] = mapped_column(String(12))
    reasons: Mapped[list] = mapped_column(JSON)
    model_version: Mapped[int | None] = mapped_column(Integer)
    #: P(held | score, rules, draws) when decided: 1 for mandatory and model holds, else
    #: 1 - (1 - p_rules)(1 - p_exploration); training weights inspected results by its inverse.
    #: Null for decisions made before it was recorded.
    selection_probability: Mapped[float | None] = mapped_column(Float)


class RiskDecisionRule(Base):
    """Which rules matched a decision (for each rule's hit statistics)."""

    __tablename__ = "risk_decision_rules"

    decision_id: Mapped[int] = mapped_column(ForeignKey("risk_decisions.id"), primary_key=True)
    rule_id: Mapped[int] = mapped_column(ForeignKey("risk_rules.id"), primary_key=True, index=True)
    selected: Mapped[bool] = mapped_column(Boolean)


class RiskModelVersion(Base):
    """A trained model in the registry: candidate, live or retired."""

    __tablename__ = "risk_model_versions"

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    status: Mapped[str] = mapped_column(String(12), index=True)  # candidate, live, retired, rolled_back
    #: what the model scores: 'declaration' (the offence model) or 'parcel' (the CBEC parcel model); each
    #: kind has its own live version, promotions and roll-backs (version numbers are shared)
    kind: Mapped[str] = mapped_column(String(12), default="declaration", server_default="declaration", index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    trained_by: Mapped[str] = mapped_column(String(100))
    training_from: Mapped[datetime | None] = mapped_column(DateTime)
    training_to: Mapped[datetime | None] = mapped_column(DateTime)
    metrics: Mapped[dict] = mapped_column(JSON)
    features: Mapped[list] = mapped_column(JSON)
    promoted_by: Mapped[str | None] = mapped_column(String(100))
    promoted_at: Mapped[datetime | None] = mapped_column(DateTime)
    blob: Mapped[bytes] = mapped_column(LargeBinary)
