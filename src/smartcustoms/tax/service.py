"""Tax formulas (pure, Decimal, rounded to fen) and the tariff / exchange-rate tables.

Formulas (per goods item, amounts in CNY):

* customs value (完税价格) is CIF: goods + freight + insurance. FOB/FCA/FAS/EXW add freight and
  insurance, CFR/CPT add insurance; when insurance is unknown it is 3‰ of (goods + freight), the
  rule China customs applies. Header freight and insurance are shared among items pro rata by value.
* duty: ad valorem = value × rate; specific = quantity × amount; composite = both.
* consumption tax: ad valorem = (value + duty) / (1 − rate) × rate (the VAT-inclusive base);
  specific = quantity × amount; composite = (value + duty + quantity × amount) / (1 − rate) × rate
  + quantity × amount.
* import VAT = (value + duty + consumption tax) × VAT rate.
"""

from __future__ import annotations

import csv
import re
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from importlib import resources
from pathlib import Path

from smartcustoms.core.errors import FieldError

FEN = Decimal("0.01")
ZERO = Decimal(0)
ONE = Decimal(1)
INSURANCE_RATE_WHEN_UNKNOWN = Decimal("0.003")
KILOGRAM = "035"
LEVY_TYPES = ("none", "ad_valorem", "specific", "composite")


class TaxError(ValueError):
    """A tax cannot be assessed; ``field`` names what is missing or wrong."""

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.field = field


def to_fen(amount: Decimal) -> Decimal:
    """Round half up to 0.01 (fen)."""
    return amount.quantize(FEN, rounding=ROUND_HALF_UP)


@dataclass(frozen=True, slots=True)
class TariffRates:
    """The rates of one tariff line. Rates are fractions (0.13 = 13 %); specific amounts in CNY."""

    hs_prefix: str
    duty_type: str = "ad_valorem"
    duty_rate: Decimal = ZERO
    duty_specific: Decimal = ZERO
    duty_unit: str | None = None
    ct_type: str = "none"
    ct_rate: Decimal = ZERO
    ct_specific: Decimal = ZERO
    ct_unit: str | None = None
    vat_rate: Decimal = Decimal("0.13")
    description: str = ""


@dataclass(frozen=True, slots=True)
class ItemTax:
    """The customs value and taxes assessed on one goods item, in CNY."""
    item_no: int
    customs_value: Decimal
    duty: Decimal
    consumption_tax: Decimal
    vat: Decimal

    @property
    def total(self) -> Decimal:
        """Duty, consumption tax and VAT of the item."""
        return self.duty + self.consumption_tax + self.vat


@dataclass(frozen=True, slots=True)
class Assessment:
    """Per-item taxes of a declaration and their totals (CNY)."""

    items: tuple[ItemTax, ...]
    exchange_rate: Decimal
    customs_value: Decimal
    duty: Decimal
    consumption_tax: Decimal
    vat: Decimal

    @classmethod
    def of(cls, items: Sequence[ItemTax], exchange_rate: Decimal) -> Assessment:
        """The assessment of ``items`` with its totals."""
        return cls(tuple(items), exchange_rate, sum((i.customs_value for i in items), ZERO),
                   sum((i.duty for i in items), ZERO), sum((i.consumption_tax for i in items), ZERO),
                   sum((i.vat for i in items), ZERO))

    @property
    def total(self) -> Decimal:
        """Duty, consumption tax and VAT of the declaration."""
        return self.duty + self.consumption_tax + self.vat


# -- formulas -------------------------------------------------------------------------------
def customs_value(goods: Decimal, incoterm: str, freight: Decimal, insurance: Decimal | None) -> Decimal:
    """CIF value from the goods price under ``incoterm``, unrounded, in the invoice currency."""
    term = incoterm.upper()
    if term in ("CIF", "CIP", "DAP", "DPU", "DDP"):
        return goods
    if term in ("CFR", "CPT"):
        base = goods
    elif term in ("FOB", "FCA", "FAS", "EXW"):
        base = goods + freight
    else:
        raise TaxError(f"unknown incoterm {incoterm!r}", "incoterm")
    ins = insurance if insurance is not None else base * INSURANCE_RATE_WHEN_UNKNOWN
    return base + ins


def duty(value: Decimal, quantity: Decimal, rates: TariffRates) -> Decimal:
    """Customs duty on one item."""
    return to_fen(_levy(rates.duty_type, value, quantity, rates.duty_rate, rates.duty_specific))


def consumption_tax(value: Decimal, duty_amount: Decimal, quantity: Decimal, rates: TariffRates) -> Decimal:
    """Consumption tax on one item, on the VAT-inclusive base for the ad valorem part."""
    kind, rate, specific = rates.ct_type, rates.ct_rate, rates.ct_specific
    if kind == "none":
        return ZERO
    if kind == "specific":
        return to_fen(quantity * specific)
    if rate >= ONE:
        raise TaxError("consumption-tax rate must be below 100 %", "ct_rate")
    if kind == "ad_valorem":
        return to_fen((value + duty_amount) / (ONE - rate) * rate)
    if kind == "composite":
        spec = quantity * specific
        return to_fen((value + duty_amount + spec) / (ONE - rate) * rate + spec)
    raise TaxError(f"unknown consumption-tax type {kind!r}", "ct_type")


def import_vat(value: Decimal, duty_amount: Decimal, ct_amount: Decimal, vat_rate: Decimal) -> Decimal:
    """Import VAT on customs value plus duty plus consumption tax, in fen."""
    return to_fen((value + duty_amount + ct_amount) * vat_rate)


def _levy(kind: str, value: Decimal, quantity: Decimal, rate: Decimal, specific: Decimal) -> Decimal:
    if kind == "none":
        return ZERO
    if kind == "ad_valorem":
        return value * rate
    if kind == "specific":
        return quantity * specific
    if kind == "composite":
        return value * rate + quantity * specific
    raise TaxError(f"unknown levy type {kind!r}", "duty_type")


def levy_quantity(unit_of_levy: str | None, quantity: Decimal, unit: str, net_mass_kg: Decimal) -> Decimal:
    """The quantity a specific rate applies to: the item's quantity, or its net mass per kilogram."""
    if unit_of_levy is None or unit_of_levy == unit:
        return quantity
    if unit_of_levy == KILOGRAM:
        return net_mass_kg
    raise TaxError(f"specific rate is per unit {unit_of_levy} but the item is declared in unit {unit}", "unit")


@dataclass(frozen=True, slots=True)
class TaxableItem:
    """One goods item as the tax assessment needs it."""
    item_no: int
    hs_code: str
    quantity: Decimal
    unit: str
    net_mass_kg: Decimal
    total_value: Decimal


def assess(
    items: Sequence[TaxableItem],
    *,
    incoterm: str,
    freight: Decimal,
    insurance: Decimal | None,
    cny_per_unit: Decimal,
    tariff: TariffTable,
) -> Assessment:
    """Assess every item of a declaration; freight and insurance are allocated pro rata by value."""
    goods_total = sum((i.total_value for i in items), ZERO)
    out: list[ItemTax] = []
    for idx, item in enumerate(items):
        share = item.total_value / goods_total if goods_total else ONE / len(items)
        ins = insurance * share if insurance is not None else None
        cif = customs_value(item.total_value, incoterm, freight * share, ins)
        value = to_fen(cif * cny_per_unit)
        rates = tariff.rates_for(item.hs_code)
        if rates is None:
            raise TaxError(f"no tariff line for HS {item.hs_code}", f"items[{idx}].hs_code")
        dq = levy_quantity(rates.duty_unit, item.quantity, item.unit, item.net_mass_kg)
        d = duty(value, dq, rates)
        cq = levy_quantity(rates.ct_unit, item.quantity, item.unit, item.net_mass_kg)
        c = consumption_tax(value, d, cq, rates)
        out.append(ItemTax(item.item_no, value, d, c, import_vat(value, d, c, rates.vat_rate)))
    return Assessment.of(out, cny_per_unit)


# -- tables ---------------------------------------------------------------------------------
TARIFF_COLUMNS = (
    "hs_prefix", "description", "duty_type", "duty_rate", "duty_specific", "duty_unit",
    "ct_type", "ct_rate", "ct_specific", "ct_unit", "vat_rate",
)


MAX_RATE_PERCENT = Decimal(1000)         # an ad valorem rate above 1000 % is a typing error, not a tariff
MAX_SPECIFIC = Decimal("999999.999999")  # the largest specific amount the tariff table stores (Numeric(12, 6))
MAX_TABLE_ERRORS = 100                   # problems a rejected table reports at most


class TableFormatError(ValueError):
    """A tariff or exchange-rate file is wrong; the message names the first line and column.

    ``problems`` lists every problem found (up to ``MAX_TABLE_ERRORS``) as ``(line, column, message)``.
    """

    def __init__(self, message: str, problems: list[tuple[int, str, str]] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []


@dataclass
class TariffTable:
    """Tariff lines keyed by HS prefix (2–10 digits); lookup is the longest matching prefix."""

    lines: dict[str, TariffRates] = field(default_factory=dict)

    def rates_for(self, hs_code: str) -> TariffRates | None:
        """Rates of the longest tariff line (10 to 2 digits) that ``hs_code`` falls under, else None."""
        for n in (10, 8, 6, 4, 2):
            if len(hs_code) >= n:
                rates = self.lines.get(hs_code[:n])
                if rates is not None:
                    return rates
        return None

    @classmethod
    def from_rows(cls, rows: Iterable[TariffRates]) -> TariffTable:
        """A tariff table of the given lines, keyed by HS prefix."""
        return cls({r.hs_prefix: r for r in rows})


def _dec(value: str, line: int, column: str, *, default: Decimal = ZERO) -> Decimal:
    value = (value or "").strip()
    if not value:
        return default
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise TableFormatError(f"line {line}, column {column}: {value!r} is not a number") from None
    if not number.is_finite():
        raise TableFormatError(f"line {line}, column {column}: {value!r} is not a finite number")
    return number


def _check_range(value: Decimal, low: Decimal, high: Decimal, line: int, column: str, unit: str = "") -> None:
    if not low <= value <= high:
        raise TableFormatError(f"line {line}, column {column}: {value}{unit} is not between {low} and {high}{unit}")


def _tariff_row(row: dict, line: int, seen: set[str]) -> TariffRates:
    """One tariff line of the CSV, range-checked; raises TableFormatError naming line and column."""
    prefix = (row["hs_prefix"] or "").strip()
    if not (prefix.isascii() and prefix.isdigit() and 2 <= len(prefix) <= 10 and len(prefix) % 2 == 0):
        raise TableFormatError(f"line {line}, column hs_prefix: {prefix!r} is not 2–10 digits")
    if prefix in seen:
        raise TableFormatError(f"line {line}, column hs_prefix: {prefix} is listed twice")
    for col in ("duty_type", "ct_type"):
        if (row[col] or "none").strip() not in LEVY_TYPES:
            raise TableFormatError(f"line {line}, column {col}: must be one of {', '.join(LEVY_TYPES)}")
    for col in ("duty_unit", "ct_unit"):
        unit = (row[col] or "").strip()
        if unit and not (unit.isascii() and unit.isdigit() and len(unit) == 3):
            raise TableFormatError(f"line {line}, column {col}: {unit!r} is not a 3-digit customs unit code")
    pct = Decimal(100)
    rates = {col: _dec(row[col], line, col, default=Decimal(13) if col == "vat_rate" else ZERO)
             for col in ("duty_rate", "duty_specific", "ct_rate", "ct_specific", "vat_rate")}
    for col in ("duty_rate", "ct_rate", "vat_rate"):
        _check_range(rates[col], ZERO, MAX_RATE_PERCENT, line, col, " %")
    for col in ("duty_specific", "ct_specific"):
        _check_range(rates[col], ZERO, MAX_SPECIFIC, line, col)
    ct_type = (row["ct_type"] or "none").strip()
    if ct_type in ("ad_valorem", "composite") and rates["ct_rate"] >= pct:
        raise TableFormatError(f"line {line}, column ct_rate: a consumption-tax rate must be below 100 %")
    seen.add(prefix)
    return TariffRates(
        hs_prefix=prefix,
        description=(row["description"] or "").strip(),
        duty_type=(row["duty_type"] or "none").strip(),
        duty_rate=rates["duty_rate"] / pct,
        duty_specific=rates["duty_specific"],
        duty_unit=(row["duty_unit"] or "").strip() or None,
        ct_type=ct_type,
        ct_rate=rates["ct_rate"] / pct,
        ct_specific=rates["ct_specific"],
        ct_unit=(row["ct_unit"] or "").strip() or None,
        vat_rate=rates["vat_rate"] / pct,
    )


_WHERE = re.compile(r"^line (\d+), column (\w+): (.*)$", re.S)


def parse_tariff_csv(text: str) -> list[TariffRates]:
    """Parse a tariff CSV (columns: TARIFF_COLUMNS; rates in percent), every rate range-checked.

    Rates are finite, 0–1000 % (a consumption-tax rate below 100 %), specific amounts 0 or more. A
    table with problems raises TableFormatError: its message names the first line and column, its
    ``problems`` every one found (up to MAX_TABLE_ERRORS).
    """
    reader = csv.DictReader(text.splitlines())
    missing = [c for c in TARIFF_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise TableFormatError(f"line 1: missing column(s) {', '.join(missing)}",
                               [(1, c, "missing column") for c in missing])
    out: list[TariffRates] = []
    problems: list[tuple[int, str, str]] = []
    first = ""
    seen: set[str] = set()
    for line, row in enumerate(reader, start=2):
        try:
            out.append(_tariff_row(row, line, seen))
        except TableFormatError as exc:
            first = first or str(exc)
            m = _WHERE.match(str(exc))
            problems.append((line, m.group(2), m.group(3)) if m else (line, "row", str(exc)))
            if len(problems) >= MAX_TABLE_ERRORS:
                break
    if problems:
        more = f" ({len(problems)} problems)" if len(problems) > 1 else ""
        raise TableFormatError(first + more, problems)
    return out


def table_field_errors(exc: TableFormatError) -> list[FieldError]:
    """The problems of a rejected table as field errors ``line[3].duty_rate`` (line and column)."""
    if not exc.problems:
        return [FieldError("body", str(exc))]
    return [FieldError(f"line[{line}].{column}", message) for line, column, message in exc.problems]


def demo_tariff_text() -> str:
    """Text of the shipped illustrative demo tariff CSV."""
    return resources.files("smartcustoms.tax").joinpath("data", "demo_tariff.csv").read_text("utf-8")


def load_tariff(path: Path | None = None) -> TariffTable:
    """The tariff table from ``path``, or the shipped illustrative demo table."""
    text = Path(path).read_text("utf-8") if path else demo_tariff_text()
    return TariffTable.from_rows(parse_tariff_csv(text))


@dataclass
class ExchangeRates:
    """Customs exchange rates: CNY per unit of a currency, each valid from a date."""

    by_currency: dict[str, tuple[list[date], list[Decimal]]] = field(default_factory=dict)

    def add(self, currency: str, valid_from: date, cny_per_unit: Decimal) -> None:
        """Add a rate for ``currency`` valid from ``valid_from``, kept in date order."""
        dates, rates = self.by_currency.setdefault(currency, ([], []))
        i = bisect_right(dates, valid_from)
        dates.insert(i, valid_from)
        rates.insert(i, cny_per_unit)

    def rate(self, currency: str, on: date) -> Decimal:
        """CNY per unit of ``currency`` on date ``on`` (the latest rate in force)."""
        if currency == "CNY":
            return ONE
        entry = self.by_currency.get(currency)
        if entry is None:
            raise TaxError(f"no exchange rate for currency {currency}", "currency")
        dates, rates = entry
        i = bisect_right(dates, on) - 1
        if i < 0:
            raise TaxError(f"no exchange rate for {currency} on {on.isoformat()}", "currency")
        return rates[i]


def parse_exchange_rates_csv(text: str) -> ExchangeRates:
    """Columns: currency, valid_from (YYYY-MM-DD), cny_per_unit."""
    table = ExchangeRates()
    for line, row in enumerate(csv.DictReader(text.splitlines()), start=2):
        try:
            valid_from = date.fromisoformat(row["valid_from"].strip())
        except (ValueError, KeyError, AttributeError):
            raise TableFormatError(f"line {line}, column valid_from: not a YYYY-MM-DD date") from None
        rate = _dec(row["cny_per_unit"], line, "cny_per_unit")
        if rate <= ZERO:
            raise TableFormatError(f"line {line}, column cny_per_unit: {rate} is not above 0")
        table.add(row["currency"].strip().upper(), valid_from, rate)
    return table


def load_exchange_rates(path: Path | None = None) -> ExchangeRates:
    """Exchange rates from the CSV at ``path``, or the shipped table."""
    if path:
        text = Path(path).read_text("utf-8")
    else:
        text = resources.files("smartcustoms.tax").joinpath("data", "exchange_rates.csv").read_text("utf-8")
    return parse_exchange_rates_csv(text)


# -- storage --------------------------------------------------------------------------------------
def tariff_from_db(session) -> TariffTable:
    """The tariff table stored in the database."""
    from sqlalchemy import select

    from smartcustoms.tax.models import TariffLine

    rows = session.scalars(select(TariffLine)).all()
    return TariffTable.from_rows(TariffRates(
        hs_prefix=r.hs_prefix, description=r.description, duty_type=r.duty_type,
        duty_rate=Decimal(r.duty_rate), duty_specific=Decimal(r.duty_specific), duty_unit=r.duty_unit,
        ct_type=r.ct_type, ct_rate=Decimal(r.ct_rate), ct_specific=Decimal(r.ct_specific), ct_unit=r.ct_unit,
        vat_rate=Decimal(r.vat_rate)) for r in rows)


def replace_tariff(session, rows: list[TariffRates]) -> None:
    """Replace the stored tariff table with ``rows`` (in the caller's transaction)."""
    from sqlalchemy import delete, insert

    from smartcustoms.tax.models import TariffLine

    session.execute(delete(TariffLine))
    if rows:
        session.execute(insert(TariffLine), [
            {"hs_prefix": r.hs_prefix, "description": r.description, "duty_type": r.duty_type,
             "duty_rate": r.duty_rate, "duty_specific": r.duty_specific, "duty_unit": r.duty_unit,
             "ct_type": r.ct_type, "ct_rate": r.ct_rate, "ct_specific": r.ct_specific, "ct_unit": r.ct_unit,
             "vat_rate": r.vat_rate} for r in rows])


def tariff_lines(session, limit: int = 50, offset: int = 0) -> tuple[list[dict], int]:
    """A page of the stored tariff lines (every column, by HS prefix) and how many there are."""
    from sqlalchemy import func, select

    from smartcustoms.tax.models import TariffLine

    table = TariffLine.__table__
    page = select(table).order_by(table.c.hs_prefix).limit(limit).offset(offset)
    rows = [dict(r._mapping) for r in session.execute(page)]
    return rows, int(session.scalar(select(func.count()).select_from(table)) or 0)
