"""The canonical goods-item frame: the seam between declarations, datasets and risk scoring.

One row per goods item. Every producer (the KCS adapter, the live declarations service, the
synthetic generators) hands risk scoring a Polars frame with these columns and dtypes:

=====================  ===============  ===========================================================
column                 dtype            meaning
=====================  ===============  ===========================================================
declaration_no         Utf8             declaration number (报关单号)
item_no                Int64            goods item number within the declaration (1-based)
declared_at            Datetime(us)     acceptance time, UTC, timezone-naive
office_code            Utf8             customs office of declaration
trade_mode             Utf8             trade mode (监管方式; KCS: import type)
transport_mode         Utf8             mode of transport
process_type           Utf8, nullable   processing type (KCS: process type)
import_type            Utf8, nullable   import type
import_use             Utf8, nullable   intended use of the goods
payment_type           Utf8, nullable   payment method
declarant_code         Utf8, nullable   customs broker / declarant
importer_code          Utf8, nullable   consignee / importer of record
seller_code            Utf8, nullable   foreign seller (consignor)
courier_code           Utf8, nullable   express courier, when the goods came by courier
hs_code                Utf8             HS code, 6 or 10 digits (features use the 6/4/2-digit prefixes)
origin_country         Utf8             ISO 3166 alpha-2 country of origin
departure_country      Utf8             ISO 3166 alpha-2 country of departure (shipment)
origin_indicator       Utf8, nullable   how origin was established (certificate, marking, ...)
tax_type               Utf8, nullable   tariff rate type (general, FTA, ...)
tax_rate               Float64          duty rate in percent
net_mass_kg            Float64          net mass in kilograms
quantity               Float64, null.   quantity in the statistical unit
customs_value          Float64          customs value in the currency of account (KRW for KCS, CNY live)
description            Utf8, nullable   goods description, free text
offence                Int8, nullable   label: 1 when inspection found an offence, 0 when clean
critical               Int8, nullable   label: 0 none, 1 offence, 2 critical offence (drugs, IP, origin)
duty_recovered         Float64, null.   label: duty recovered by the inspection
outcome_at             Datetime(us), n  when the inspection result became known; null = not yet
=====================  ===============  ===========================================================

``outcome_at`` is what keeps history features honest: an outcome only enters the features of a
declaration accepted at or after ``outcome_at``. Live, it is the time the officer recorded the
result. For datasets without it (KCS) it is ``declared_at + lag`` (``DEFAULT_OUTCOME_LAG``, 7 days):
a result is assumed known one week after acceptance, including in an evaluation's test period, as
in live operation.
"""

from __future__ import annotations

from datetime import timedelta

import polars as pl

DEFAULT_OUTCOME_LAG = timedelta(days=7)

ITEM_SCHEMA: dict[str, pl.DataType] = {
    "declaration_no": pl.Utf8(),
    "item_no": pl.Int64(),
    "declared_at": pl.Datetime("us"),
    "office_code": pl.Utf8(),
    "trade_mode": pl.Utf8(),
    "transport_mode": pl.Utf8(),
    "process_type": pl.Utf8(),
    "import_type": pl.Utf8(),
    "import_use": pl.Utf8(),
    "payment_type": pl.Utf8(),
    "declarant_code": pl.Utf8(),
    "importer_code": pl.Utf8(),
    "seller_code": pl.Utf8(),
    "courier_code": pl.Utf8(),
    "hs_code": pl.Utf8(),
    "origin_country": pl.Utf8(),
    "departure_country": pl.Utf8(),
    "origin_indicator": pl.Utf8(),
    "tax_type": pl.Utf8(),
    "tax_rate": pl.Float64(),
    "net_mass_kg": pl.Float64(),
    "quantity": pl.Float64(),
    "customs_value": pl.Float64(),
    "description": pl.Utf8(),
}

LABEL_SCHEMA: dict[str, pl.DataType] = {
    "offence": pl.Int8(),
    "critical": pl.Int8(),
    "duty_recovered": pl.Float64(),
    "outcome_at": pl.Datetime("us"),
}

FULL_SCHEMA: dict[str, pl.DataType] = {**ITEM_SCHEMA, **LABEL_SCHEMA}

_FULL_POLARS_SCHEMA = pl.Schema(FULL_SCHEMA)

#: Columns that must be present and non-null in every item frame.
REQUIRED_NON_NULL = ("declaration_no", "declared_at", "hs_code", "customs_value", "net_mass_kg", "tax_rate")


class ItemFrameError(ValueError):
    """An item frame does not follow the canonical schema."""


def conform(frame: pl.DataFrame) -> pl.DataFrame:
    """Return ``frame`` with every canonical column, in canonical order and dtype.

    Missing optional columns (and all label columns) are added as nulls; missing required columns
    or nulls in them raise :class:`ItemFrameError`. Extra columns are dropped.
    """
    if frame.schema == _FULL_POLARS_SCHEMA:  # already canonical: only the null check remains
        nulls = [c for c in REQUIRED_NON_NULL if frame[c].null_count()]
        if nulls:
            raise ItemFrameError(f"item frame has nulls in required column(s): {', '.join(nulls)}")
        return frame
    missing = [c for c in REQUIRED_NON_NULL if c not in frame.columns]
    if missing:
        raise ItemFrameError(f"item frame lacks required column(s): {', '.join(missing)}")
    cols = []
    for name, dtype in FULL_SCHEMA.items():
        if name in frame.columns:
            cols.append(pl.col(name).cast(dtype, strict=True).alias(name))
        else:
            cols.append(pl.lit(None, dtype=dtype).alias(name))
    out = frame.select(cols)
    if "item_no" not in frame.columns:
        out = out.with_columns(pl.lit(1, dtype=pl.Int64()).alias("item_no"))
    nulls = [c for c in REQUIRED_NON_NULL if out[c].null_count()]
    if nulls:
        raise ItemFrameError(f"item frame has nulls in required column(s): {', '.join(nulls)}")
    return out


def time_sorted(frame: pl.DataFrame) -> pl.DataFrame:
    """Stable sort by acceptance time: the order in which history features see declarations."""
    return frame.sort("declared_at", maintain_order=True)
