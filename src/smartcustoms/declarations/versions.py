"""Versions of a declaration and the differences between two of them (header, goods items, taxes).

Each amendment keeps the version it replaces and the new one in ``declaration_versions`` (append-only), as a
plain JSON snapshot. :func:`diff` compares two snapshots field by field; goods items are paired by their HS
code and description (``difflib``), so a removed line reads as removed rather than as every later line changed.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

HEADER_FIELDS = ("declarant_code", "importer_code", "seller_name", "trade_mode", "transport_mode", "office_code",
                 "departure_country", "origin_country", "currency", "incoterm", "freight", "insurance",
                 "gross_mass_kg", "net_mass_kg", "packages", "total_value", "declared_at")
ITEM_FIELDS = ("hs_code", "description", "model_spec", "quantity", "unit", "net_mass_kg", "unit_price",
               "total_value", "origin_country")
ITEM_TAX_FIELDS = ("customs_value_cny", "duty_cny", "consumption_tax_cny", "vat_cny")
TAX_FIELDS = (*ITEM_TAX_FIELDS, "tax_total_cny")
NUMERIC = frozenset({"freight", "insurance", "gross_mass_kg", "net_mass_kg", "packages", "total_value", "quantity",
                     "unit_price", *TAX_FIELDS})


def _text(value: Any) -> str | None:
    """A snapshot value as JSON text: numbers without spurious zeros, times as ISO 8601."""
    if value is None:
        return None
    if isinstance(value, Decimal):
        return f"{value.normalize():f}"
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def snapshot(header: Any, items: Sequence[Any]) -> dict:
    """A declaration's content as JSON (header fields, items, taxes) from its stored header and goods items."""
    return {"header": {f: _text(getattr(header, f)) for f in HEADER_FIELDS},
            "items": [{f: _text(getattr(i, f)) for f in (*ITEM_FIELDS, *ITEM_TAX_FIELDS)} for i in items],
            "tax": {f: _text(getattr(header, f)) for f in TAX_FIELDS}}


def _same(name: str, old: str | None, new: str | None) -> bool:
    if old == new:
        return True
    if name in NUMERIC and old is not None and new is not None:
        try:
            return Decimal(old) == Decimal(new)
        except InvalidOperation:
            return False
    return False


@dataclass(frozen=True, slots=True)
class FieldChange:
    """One field whose value differs between two versions."""

    field: str
    old: str | None
    new: str | None


@dataclass(frozen=True, slots=True)
class ItemChange:
    """A goods item added, removed or changed between two versions (item numbers in each version)."""

    kind: str  # "added" | "removed" | "changed"
    old_item_no: int | None
    new_item_no: int | None
    description: str
    changes: list[FieldChange] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class VersionDiff:
    """What changed from version ``old`` to version ``new``."""

    old: int
    new: int
    header: list[FieldChange]
    items: list[ItemChange]
    tax: list[FieldChange]

    @property
    def empty(self) -> bool:
        """Whether nothing at all changed."""
        return not (self.header or self.items or self.tax)


def _changes(names: Sequence[str], old: dict, new: dict) -> list[FieldChange]:
    return [FieldChange(n, old.get(n), new.get(n)) for n in names if not _same(n, old.get(n), new.get(n))]


def _item_key(item: dict) -> tuple:
    return (item.get("hs_code"), (item.get("description") or "").casefold())


def diff(old_version: int, old: dict, new_version: int, new: dict) -> VersionDiff:
    """Field-by-field differences of two snapshots: header, goods items (added, removed, changed) and taxes."""
    a, b = old.get("items", []), new.get("items", [])
    items: list[ItemChange] = []
    matcher = difflib.SequenceMatcher(a=[_item_key(i) for i in a], b=[_item_key(i) for i in b], autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        # matched lines, and lines rewritten in place (compared in order; the surplus is added or removed)
        pairs = list(zip(range(i1, i2), range(j1, j2), strict=False))
        for i, j in pairs:
            changes = _changes((*ITEM_FIELDS, *ITEM_TAX_FIELDS), a[i], b[j])
            if changes:
                items.append(ItemChange("changed", i + 1, j + 1, b[j].get("description") or "", changes))
        if tag in ("replace", "delete"):
            items += [ItemChange("removed", i + 1, None, a[i].get("description") or "")
                      for i in range(i1 + len(pairs), i2)]
        if tag in ("replace", "insert"):
            items += [ItemChange("added", None, j + 1, b[j].get("description") or "")
                      for j in range(j1 + len(pairs), j2)]
    return VersionDiff(old_version, new_version, _changes(HEADER_FIELDS, old.get("header", {}), new.get("header", {})),
                       items, _changes(TAX_FIELDS, old.get("tax", {}), new.get("tax", {})))
