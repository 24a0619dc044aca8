"""China customs code tables as used in CEB (cross-border e-commerce) messages.

Real CEB messages use China customs' own codes, not ISO: countries as 3-digit customs codes
(116 Japan, 142 China, 502 United States), currencies likewise (142 CNY, 110 HKD, 502 USD),
3-digit measurement units (007 个, 011 件, 035 千克), one-character transport modes (5 air) and
buyer id types (1 resident identity card). Each table maps to ISO where one exists, and the
``*_customs`` functions accept either form on input (``"JP"``, ``"JPN"`` or ``"116"``).

The tables were compiled from public references of the customs code set (JGS-20); codes without an
ISO counterpart (e.g. 199 "other Asia", 207 Canary Islands) map to ``None``.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from importlib import resources

import pycountry


@dataclass(frozen=True, slots=True)
class ChinaCode:
    """One row of a customs code table."""

    code: str
    iso: str | None
    name: str
    name_zh: str


def _rows(filename: str) -> list[dict[str, str]]:
    text = resources.files("smartcustoms.codes").joinpath("data", filename).read_text(encoding="utf-8")
    return list(csv.DictReader(text.splitlines()))


@cache
def countries() -> dict[str, ChinaCode]:
    """Customs country (region) code -> entry, ISO 3166-1 alpha-2 in ``iso``."""
    return {r["code"]: ChinaCode(r["code"], r["iso2"] or None, r["name"], r["name_zh"])
            for r in _rows("china_countries.csv")}


@cache
def currencies() -> dict[str, ChinaCode]:
    """Customs currency code -> entry, ISO 4217 alpha code in ``iso``."""
    return {r["code"]: ChinaCode(r["code"], r["iso"], r["name"], r["name_zh"])
            for r in _rows("china_currencies.csv")}


@cache
def units() -> dict[str, ChinaCode]:
    """Customs measurement unit code -> entry (no ISO counterpart)."""
    return {r["code"]: ChinaCode(r["code"], None, r["name"], r["name_zh"]) for r in _rows("china_units.csv")}


@cache
def transport_modes() -> dict[str, ChinaCode]:
    """Customs transport mode code -> entry, UN/ECE Recommendation 19 code in ``iso`` where one exists."""
    return {r["code"]: ChinaCode(r["code"], r["un_rec19"] or None, r["name"], r["name_zh"])
            for r in _rows("china_transport_modes.csv")}


@cache
def id_types() -> dict[str, ChinaCode]:
    """Buyer / payer identity document types."""
    return {r["code"]: ChinaCode(r["code"], None, r["name"], r["name_zh"]) for r in _rows("china_id_types.csv")}


@cache
def _country_index() -> dict[str, str]:
    index: dict[str, str] = {}
    for code, entry in countries().items():
        index[code] = code
        if entry.iso:
            index[entry.iso] = code
            country = pycountry.countries.get(alpha_2=entry.iso)
            if country is not None:
                index[country.alpha_3] = code
    return index


@cache
def _currency_index() -> dict[str, str]:
    index: dict[str, str] = {}
    for code, entry in currencies().items():
        index[code] = code
        if entry.iso:
            index[entry.iso] = code
    return index


_TRANSPORT_ALIASES = {"WATER": "2", "SEA": "2", "RAIL": "3", "ROAD": "4", "AIR": "5", "POST": "6", "MAIL": "6"}


def country_customs(value: str) -> str | None:
    """The customs country code for a customs, ISO alpha-2 or alpha-3 code; ``None`` if unknown."""
    return _country_index().get(value.strip().upper())


def country_iso(value: str) -> str | None:
    """The ISO alpha-2 code for a customs or ISO country code; ``None`` if unknown or ISO-less."""
    code = country_customs(value)
    return countries()[code].iso if code else None


def currency_customs(value: str) -> str | None:
    """The customs currency code for a customs or ISO 4217 code; ``None`` if unknown."""
    return _currency_index().get(value.strip().upper())


def currency_iso(value: str) -> str | None:
    """The ISO 4217 code for a customs or ISO currency code."""
    code = currency_customs(value)
    return currencies()[code].iso if code else None


def unit_customs(value: str) -> str | None:
    """The 3-digit customs unit code (``"7"`` is read as ``"007"``); ``None`` if unknown."""
    v = value.strip()
    if v.isdigit():
        v = v.zfill(3)
    return v if v in units() else None


def transport_mode_customs(value: str) -> str | None:
    """The customs transport mode code for a code or an English alias (``AIR``); ``None`` if unknown."""
    v = value.strip().upper()
    if v in transport_modes():
        return v
    return _TRANSPORT_ALIASES.get(v)


def id_type_valid(value: str) -> bool:
    """Whether ``value`` is a known Chinese identity-document type code."""
    return value.strip() in id_types()


__all__ = [
    "ChinaCode", "countries", "currencies", "units", "transport_modes", "id_types",
    "country_customs", "country_iso", "currency_customs", "currency_iso", "unit_customs",
    "transport_mode_customs", "id_type_valid",
]
