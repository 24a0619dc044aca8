"""Retail-import tax for CBEC parcels (跨境电商零售进口税收政策), in Decimal, rounded to fen.

Dutiable price = goods + freight + insurance actually paid (order-level freight and insurance are
allocated to the goods items in proportion to their value). Within the limits (single transaction
≤ 5,000 CNY, annual total ≤ 26,000 CNY) the tariff is 0 and consumption tax and import VAT are charged
at 70 %::

    consumption tax = price / (1 - ct rate) * ct rate
    VAT             = (price + consumption tax) * VAT rate
    tax due         = (consumption tax + VAT) * 0.7

A single indivisible item (one line, quantity 1) above 5,000 CNY pays full general-trade tax (tariff +
full consumption tax + full VAT); any other parcel above 5,000 CNY is over the single-transaction limit.
Item amounts are summed exactly and each tax component is rounded half-up to the fen once per parcel.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

FEN = Decimal("0.01")
SINGLE_LIMIT = Decimal("5000")
ANNUAL_LIMIT = Decimal("26000")
CBEC_SHARE = Decimal("0.7")
ZERO = Decimal(0)
ONE = Decimal(1)
HUNDRED = Decimal(100)


def to_fen(amount: Decimal) -> int:
    """Amount in CNY -> integer fen (half-up)."""
    return int(amount.quantize(FEN, ROUND_HALF_UP) * HUNDRED)


def fen(amount: Decimal) -> Decimal:
    """Round an amount to the fen, half up."""
    return amount.quantize(FEN, ROUND_HALF_UP)


@dataclass(frozen=True, slots=True)
class Rates:
    """Tariff (MFN), consumption tax and VAT rates of one commodity."""

    tariff: Decimal = Decimal("0.10")
    consumption: Decimal = ZERO
    vat: Decimal = Decimal("0.13")


# Longest-prefix defaults; the deployment's full tariff replaces them (``RateTable.from_csv``).
DEFAULT_RATES: dict[str, Rates] = {
    "3303": Rates(Decimal("0.03"), Decimal("0.15")),   # perfumes
    "3304": Rates(Decimal("0.01"), Decimal("0.15")),   # beauty / make-up / skin care
    "2204": Rates(Decimal("0.14"), Decimal("0.10")),   # wine
    "2208": Rates(Decimal("0.10"), Decimal("0.20")),   # spirits
    "7113": Rates(Decimal("0.08"), Decimal("0.10")),   # jewellery
    "7116": Rates(Decimal("0.08"), Decimal("0.10")),   # articles of pearls / precious stones
    "9101": Rates(Decimal("0.08"), Decimal("0.20")),   # watches, precious-metal case
    "9102": Rates(Decimal("0.08"), Decimal("0.20")),   # other wrist-watches
    "0401": Rates(Decimal("0.15"), ZERO, Decimal("0.09")),  # milk
    "0402": Rates(Decimal("0.10"), ZERO, Decimal("0.09")),  # milk powder
    "4901": Rates(ZERO, ZERO, Decimal("0.09")),        # books
}


class RateTable:
    """Rates by longest matching HS-code prefix, with a default for everything else."""

    def __init__(self, rates: dict[str, Rates] | None = None, default: Rates | None = None) -> None:
        self.rates = dict(DEFAULT_RATES if rates is None else rates)
        self.default = default or Rates()
        self._lengths = sorted({len(k) for k in self.rates}, reverse=True)
        self.lookup = lru_cache(maxsize=65536)(self._lookup)

    def _lookup(self, hs: str) -> Rates:
        for n in self._lengths:
            r = self.rates.get(hs[:n])
            if r is not None:
                return r
        return self.default

    @classmethod
    def from_csv(cls, path: Path) -> RateTable:
        """CSV with columns ``hs_prefix,tariff,consumption,vat`` (rates as fractions)."""
        with path.open(encoding="utf-8") as fh:
            rows = {r["hs_prefix"].strip(): Rates(Decimal(r["tariff"]), Decimal(r["consumption"]), Decimal(r["vat"]))
                    for r in csv.DictReader(fh)}
        return cls(rows)


class TaxItem(NamedTuple):
    """One goods line of a CBEC retail order for the tax: HS code, line value in CNY and quantity."""
    hs: str
    value: Decimal  # line total price, CNY
    qty: Decimal


class TaxAssessment(NamedTuple):
    """Parcel tax; ``regime`` is ``cbec`` (70 %), ``general`` (full) or ``over_limit`` (not allowed)."""

    regime: str
    dutiable: Decimal
    tariff: Decimal
    consumption: Decimal
    vat: Decimal
    total: Decimal


def allocate(values: Sequence[Decimal], extra: Decimal) -> list[Decimal]:
    """Item dutiable prices: each value plus its value-proportional share of ``extra`` (exact)."""
    if len(values) <= 1:  # one item takes all of it (v + extra * v / v is exactly v + extra)
        return [values[0] + extra] if values else []
    total = sum(values, ZERO)
    if total == 0:
        return [v + (extra if i == 0 else ZERO) for i, v in enumerate(values)]
    return [v + extra * v / total for v in values]


def assess(items: Sequence[TaxItem], freight: Decimal, insurance: Decimal, table: RateTable,
           single_limit: Decimal = SINGLE_LIMIT) -> TaxAssessment:
    """Tax of one parcel under the retail-import policy (see module docstring)."""
    prices = allocate([it.value for it in items], freight + insurance)
    dutiable = fen(sum(prices, ZERO))
    if dutiable <= single_limit:
        regime, share = "cbec", CBEC_SHARE
    elif len(items) == 1 and items[0].qty == 1:
        regime, share = "general", ONE
    else:
        regime, share = "over_limit", ONE
    tariff = ct = vat = ZERO
    for it, p in zip(items, prices, strict=True):
        r = table.lookup(it.hs)
        if regime != "cbec":
            t = p * r.tariff
            tariff += t
            p += t
        if r.consumption:  # (no consumption tax: most goods)
            c = p * r.consumption / (1 - r.consumption)
            ct += c
            p += c
        vat += p * r.vat
    tariff, ct, vat = fen(tariff), fen(ct * share), fen(vat * share)
    # TaxAssessment(...) without the NamedTuple's Python-level __new__ call (the CBEC writer's hot path)
    return tuple.__new__(TaxAssessment, (regime, dutiable, tariff, ct, vat, tariff + ct + vat))
