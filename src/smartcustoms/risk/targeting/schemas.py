"""Wire shapes of live risk targeting: rule profiles, decisions, model versions."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from smartcustoms.core.wire import UtcDateTime

Operator = Literal["eq", "ne", "in", "not_in", "prefix", "gt", "ge", "lt", "le", "between"]


class Condition(BaseModel):
    """One criterion: ``field op value``; a rule's conditions must all hold for one goods item."""

    model_config = ConfigDict(extra="forbid")
    field: Annotated[str, StringConstraints(min_length=1, max_length=60)]
    op: Operator
    value: Any


class RuleIn(BaseModel):
    """An analyst's risk profile (ASYCUDA-style): criteria, the lane it sends to, validity, target rate."""

    model_config = ConfigDict(extra="forbid")
    name: Annotated[str, StringConstraints(min_length=1, max_length=100, strip_whitespace=True)]
    description: Annotated[str, StringConstraints(max_length=1000)] = ""
    criteria: Annotated[list[Condition], Field(min_length=1, max_length=20)]
    lane: Literal["yellow", "blue", "red"]
    mandatory: bool = Field(False, description="hold every match (prohibited goods); ignores target rate")
    target_rate: Annotated[float, Field(gt=0, le=1)] = Field(1.0, description="share of matches to hold")
    valid_from: date | None = None
    valid_to: date | None = None
    active: bool = True


class RuleOut(RuleIn):
    """A stored rule with its statistics (matches, selections, inspections, hits)."""

    id: int
    created_by: str
    created_at: UtcDateTime
    updated_at: UtcDateTime
    matches: int = 0
    selected: int = 0
    inspected: int = 0
    hits: int = 0


class ModelVersionOut(BaseModel):
    """A model version in the registry: status, training window, metrics, promotion."""

    version: int
    status: str
    created_at: UtcDateTime
    trained_by: str
    training_from: UtcDateTime | None
    training_to: UtcDateTime | None
    metrics: dict
    promoted_by: str | None
    promoted_at: UtcDateTime | None
