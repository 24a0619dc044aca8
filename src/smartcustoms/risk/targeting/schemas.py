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


#: an example rule: heavy consignments of glazed tiles from one origin, a tenth of them to a scan
RULE_EXAMPLE: dict[str, Any] = {
    "name": "Tiles, heavy, ES", "description": "glazed tiles over 50 kg net from Spain: undervaluation seen in 2026",
    "criteria": [{"field": "hs_code", "op": "prefix", "value": "6907"},
                 {"field": "net_mass_kg", "op": "gt", "value": 50},
                 {"field": "origin_country", "op": "in", "value": ["ES", "PT"]}],
    "lane": "blue", "mandatory": False, "target_rate": 0.1, "valid_from": "2026-12-01", "valid_to": None,
    "active": True}


class RuleIn(BaseModel):
    """An analyst's risk profile (ASYCUDA-style): criteria, the lane it sends to, validity, target rate."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [RULE_EXAMPLE]})
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

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {**RULE_EXAMPLE, "id": 7, "created_by": "analyst1", "created_at": "2026-11-30T02:10:00Z",
         "updated_at": "2026-12-01T07:45:00Z", "matches": 412, "selected": 43, "inspected": 40, "hits": 9}]})

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
    kind: Literal["declaration", "parcel", "manifest"] = "declaration"


class DriftOut(BaseModel):
    """Drift of one office in one week (Monday to Sunday, UTC); see ``smartcustoms.risk.drift``."""

    office_code: str
    week: date = Field(description="the Monday of the week")
    n: int = Field(description="decisions scored that week")
    model_version: int | None = Field(description="the model version that scored most of them")
    reference_n: int = Field(description="scores of the reference window: the office's previous 4 weeks, same model")
    psi: float | None = Field(description="population stability index of the week's scores against the reference "
                                          "(null: fewer than 30 scores on one side)")
    psi_level: Literal["stable", "moderate", "significant"] | None = Field(
        description="PSI < 0.1 stable, 0.1 to 0.25 moderate, > 0.25 significant")
    psi_p: float | None = Field(description="chance of such a PSI with no change (chi-square approximation)")
    inspected: int = Field(description="inspections the selectivity chose, by the week the result was recorded")
    hits: int
    hit_rate: float | None
    reference_hit_rate: float | None
    hit_rate_change: float | None = Field(description="hit_rate - reference_hit_rate")
    hit_rate_p: float | None = Field(description="two-proportion z-test p-value (null: under 10 inspections a side)")
    alert: bool = Field(description="PSI significant and p < 0.01, or the hit-rate change has p < 0.01")
    reasons: list[Literal["scores", "hit_rate"]]


class BacktestOut(BaseModel):
    """What a rule's criteria would have selected among the last ``days`` days' declarations."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"days": 30, "since": "2026-11-04T00:00:00Z", "declarations": 18342, "matched": 412, "matched_inspected": 40,
         "matched_offences": 9, "hit_rate": 0.225, "inspected": 1466, "offences": 139, "overall_hit_rate": 0.0948}]})

    days: int
    since: UtcDateTime
    declarations: int = Field(description="declarations lodged in the window")
    matched: int = Field(description="of them, those the criteria select")
    matched_inspected: int = Field(description="of the matched, those with an inspection result")
    matched_offences: int = Field(description="of the matched, those with an offence found")
    hit_rate: float | None = Field(description="matched_offences / matched_inspected")
    inspected: int = Field(description="every declaration of the window with an inspection result")
    offences: int
    overall_hit_rate: float | None = Field(description="offences / inspected: the baseline")
