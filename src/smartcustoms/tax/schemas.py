"""Wire shapes for tariff lines."""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel


class TariffLineOut(BaseModel):
    """A tariff line as the API returns it: HS prefix, description and rates."""
    hs_prefix: str
    description: str
    duty_type: str
    duty_rate: Decimal
    duty_specific: Decimal
    duty_unit: str | None
    ct_type: str
    ct_rate: Decimal
    ct_specific: Decimal
    ct_unit: str | None
    vat_rate: Decimal
