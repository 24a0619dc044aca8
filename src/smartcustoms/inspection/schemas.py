"""Wire shapes of inspection results."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from smartcustoms.core.wire import UtcDateTime

OFFENCE_TYPES = ("undervaluation", "misclassification", "false_origin", "quantity", "prohibited", "other")


class InspectionResultIn(BaseModel):
    """What the officer found."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"outcome": "offence", "offence_type": "undervaluation", "critical": False, "duty_recovered": "6240.00",
         "notes": "invoice price 0.50 USD/kg against 1.10 USD/kg on the seller's price list"},
        {"outcome": "no_offence", "notes": "goods as declared"}]})
    outcome: Literal["no_offence", "offence"]
    offence_type: Literal[OFFENCE_TYPES] | None = None  # type: ignore[valid-type]
    critical: bool = False
    duty_recovered: Annotated[Decimal, Field(ge=0, max_digits=18, decimal_places=2)] = Decimal(0)
    notes: Annotated[str, Field(max_length=2000)] = ""

    @model_validator(mode="after")
    def offence_needs_a_type(self) -> InspectionResultIn:
        """Require an offence type for an offence and no offence details for a clean result."""
        if self.outcome == "offence" and self.offence_type is None:
            raise ValueError("an offence needs an offence_type")
        if self.outcome == "no_offence" and (self.offence_type or self.duty_recovered or self.critical):
            raise ValueError("no offence: leave offence_type, critical and duty_recovered empty")
        return self


class InspectionResultOut(InspectionResultIn):
    """An inspection result as the API returns it, with the declaration, officer and time."""
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"outcome": "offence", "offence_type": "undervaluation", "critical": False, "duty_recovered": "6240.00",
         "notes": "invoice price 0.50 USD/kg against 1.10 USD/kg on the seller's price list",
         "declaration_no": "224820261000012345", "recorded_at": "2026-12-03T06:20:00Z", "officer": "officer1",
         "status": "detained"}]})
    declaration_no: str
    recorded_at: UtcDateTime
    officer: str
    status: str
