"""Adapter for the public KCS synthetic import-declaration files (Jeong et al., 2022).

Each CSV row is one single-item declaration. See ``../shared/data/kcs/README.md`` for the format.
The adapter maps it to the canonical item frame (:mod:`smartcustoms.risk.frame`):
``Item Price`` becomes ``customs_value`` (KRW), ``HS6 Code`` is zero-padded to six digits,
``Fraud`` becomes ``offence``, ``Critical Fraud`` becomes ``critical`` and
``duty_recovered = offence x value x tax_rate / 100`` (the dataset has no revenue label).
Results are assumed known ``outcome_lag`` after acceptance (default 7 days).
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

import polars as pl

from smartcustoms.risk.frame import DEFAULT_OUTCOME_LAG, conform, time_sorted

KCS_COLUMNS: dict[str, str] = {
    "Declaration ID": "declaration_no",
    "Date": "declared_at",
    "Office ID": "office_code",
    "Process Type": "process_type",
    "Import Type": "import_type",
    "Import Use": "import_use",
    "Payment Type": "payment_type",
    "Mode of Transport": "transport_mode",
    "Declarant ID": "declarant_code",
    "Importer ID": "importer_code",
    "Seller ID": "seller_code",
    "Courier ID": "courier_code",
    "HS6 Code": "hs_code",
    "Country of Departure": "departure_country",
    "Country of Origin": "origin_country",
    "Tax Rate": "tax_rate",
    "Tax Type": "tax_type",
    "Country of Origin Indicator": "origin_indicator",
    "Net Mass": "net_mass_kg",
    "Item Price": "customs_value",
    "Fraud": "offence",
    "Critical Fraud": "critical",
}
_FLOATS = ("Tax Rate", "Net Mass", "Item Price")
_INTS = {"Fraud": (0, 1), "Critical Fraud": (0, 1, 2)}
_REQUIRED_VALUES = ("Declaration ID", "Date", "HS6 Code", "Net Mass", "Item Price", "Tax Rate")


class KcsFormatError(ValueError):
    """A KCS file is malformed; the message names the file, line and column."""


def default_kcs_dir() -> Path:
    """``$SMARTCUSTOMS_KCS_DIR``, else ``../shared/data/kcs`` next to the repository root."""
    env = os.environ.get("SMARTCUSTOMS_KCS_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[4].parent / "shared" / "data" / "kcs"


def _check_header(path: Path) -> list[str]:
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            header = next(csv.reader(fh), None)
    except FileNotFoundError:
        raise KcsFormatError(f"{path}: file not found") from None
    except UnicodeDecodeError as exc:
        raise KcsFormatError(f"{path}: not UTF-8 text ({exc.reason})") from None
    if not header:
        raise KcsFormatError(f"{path}: empty file, expected a KCS header line")
    header = [h.strip() for h in header]
    missing = [c for c in KCS_COLUMNS if c not in header]
    if missing:
        raise KcsFormatError(f"{path}:1: missing column(s) {', '.join(repr(c) for c in missing)}")
    return header


def _first_bad(raw: pl.DataFrame, column: str, ok: pl.Expr) -> int | None:
    """Index (0-based data row) of the first row failing ``ok``, or None."""
    bad = raw.with_row_index("_row").filter(~ok.fill_null(False)).select("_row")
    return int(bad.item(0, 0)) if bad.height else None


def read_kcs(path: str | Path, outcome_lag: timedelta = DEFAULT_OUTCOME_LAG) -> pl.DataFrame:
    """Read one KCS CSV file into a time-sorted canonical item frame.

    Raises :class:`KcsFormatError` naming ``file:line: column`` on any malformed value.
    """
    path = Path(path)
    _check_header(path)
    try:
        raw = pl.read_csv(path, infer_schema=False, columns=list(KCS_COLUMNS))
    except pl.exceptions.PolarsError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise KcsFormatError(f"{path}: cannot parse as CSV: {first}") from None
    raw = raw.with_columns(pl.col(c).str.strip_chars().replace("", None) for c in raw.columns)

    def fail(column: str, row: int, what: str) -> KcsFormatError:
        value = raw[column][row]
        return KcsFormatError(f"{path}:{row + 2}: column {column!r}: {what} (got {value!r})")

    for col in _REQUIRED_VALUES:
        row = _first_bad(raw, col, pl.col(col).is_not_null())
        if row is not None:
            raise fail(col, row, "value is required")
    for col in _FLOATS:
        row = _first_bad(raw, col, pl.col(col).cast(pl.Float64, strict=False).is_not_null())
        if row is not None:
            raise fail(col, row, "not a number")
    for col, allowed in _INTS.items():
        ok = pl.col(col).is_null() | pl.col(col).cast(pl.Int64, strict=False).is_in(allowed)
        row = _first_bad(raw, col, ok)
        if row is not None:
            raise fail(col, row, f"expected one of {allowed}")
    row = _first_bad(raw, "Date", pl.col("Date").str.to_date("%Y-%m-%d", strict=False).is_not_null())
    if row is not None:
        raise fail("Date", row, "expected a date YYYY-MM-DD")
    row = _first_bad(raw, "HS6 Code", pl.col("HS6 Code").str.contains(r"^\d{1,6}$"))
    if row is not None:
        raise fail("HS6 Code", row, "expected up to six digits")
    row = _first_bad(
        raw,
        "Net Mass",
        (pl.col("Net Mass").cast(pl.Float64) >= 0) & (pl.col("Item Price").cast(pl.Float64) >= 0),
    )
    if row is not None:
        raise fail("Net Mass", row, "mass and price must not be negative")

    frame = raw.rename(KCS_COLUMNS).with_columns(
        pl.col("declared_at").str.to_date("%Y-%m-%d").cast(pl.Datetime("us")),
        pl.col("hs_code").str.zfill(6),
        pl.col("tax_rate", "net_mass_kg", "customs_value").cast(pl.Float64),
        pl.col("offence", "critical").cast(pl.Int8),
        pl.col("import_type").alias("trade_mode"),
    )
    frame = frame.with_columns(
        (pl.col("offence") * pl.col("customs_value") * pl.col("tax_rate") / 100.0).alias("duty_recovered"),
        pl.when(pl.col("offence").is_not_null()).then(pl.col("declared_at") + outcome_lag).alias("outcome_at"),
    )
    return time_sorted(conform(frame))


def read_kcs_files(paths: Sequence[str | Path], outcome_lag: timedelta = DEFAULT_OUTCOME_LAG) -> pl.DataFrame:
    """Read and concatenate several KCS files into one time-sorted item frame."""
    if not paths:
        raise KcsFormatError("no KCS file given")
    return time_sorted(pl.concat([read_kcs(p, outcome_lag) for p in paths], how="vertical"))
