"""One pass over a declaration that does not parse: the code-list checks of every field that is well formed.

Wire validation (Pydantic) stops before the code-list checks of :func:`service.validate` when any field is
wrong, so a trader would learn of an unknown HS code only once the other fields were fixed. These checks
run on the raw payload beside the wire errors, on each field the wire validation did not already flag:
every problem is reported in one round. Cross-field checks (sums, gross ≥ net) need the whole declaration
and still wait for it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pydantic import ValidationError

from smartcustoms.codes.service import CodeLists
from smartcustoms.core.errors import FieldError, loc_to_path

INCOTERMS = ("EXW", "FCA", "FAS", "FOB", "CFR", "CIF", "CPT", "CIP", "DAP", "DPU", "DDP")


def _header_checks(codes: CodeLists) -> dict[str, tuple[Callable[[str], bool], str]]:
    """Field → (is valid, message with ``{}`` for the value): as :func:`service.validate` words them."""
    return {
        "trade_mode": (codes.is_valid_trade_mode, "unknown trade mode {}"),
        "transport_mode": (codes.is_valid_transport_mode, "unknown transport mode {}"),
        "office_code": (codes.is_valid_office, "unknown customs office {}"),
        "departure_country": (lambda v: codes.country_alpha2(v.upper()) is not None, "unknown country {}"),
        "origin_country": (lambda v: codes.country_alpha2(v.upper()) is not None, "unknown country {}"),
        "currency": (lambda v: codes.is_valid_currency(v.upper()), "unknown currency {}"),
        "incoterm": (lambda v: v.upper() in INCOTERMS, "unknown incoterm {}"),
    }


def _item_checks(codes: CodeLists) -> dict[str, tuple[Callable[[str], bool], str]]:
    return {
        "hs_code": (codes.is_valid_hs, "{} is not a valid HS 2022 subheading"),
        "unit": (codes.is_valid_unit, "unknown unit {}"),
        "origin_country": (lambda v: codes.country_alpha2(v.upper()) is not None, "unknown country {}"),
    }


def code_list_errors(obj: Mapping[str, Any], codes: CodeLists, skip: set[str] | frozenset[str] = frozenset()
                     ) -> list[FieldError]:
    """Code-list problems of the raw payload's fields, except those named in ``skip`` (already wrong)."""
    errors: list[FieldError] = []
    for name, (ok, message) in _header_checks(codes).items():
        value = obj.get(name)
        if name not in skip and isinstance(value, str) and value.strip() and not ok(value.strip()):
            errors.append(FieldError(name, message.format(value.strip())))
    items = obj.get("items")
    if isinstance(items, list):
        checks = _item_checks(codes)
        for i, item in enumerate(items):
            if not isinstance(item, Mapping):
                continue
            for name, (ok, message) in checks.items():
                path, value = f"items[{i}].{name}", item.get(name)
                if path not in skip and isinstance(value, str) and value.strip() and not ok(value.strip()):
                    errors.append(FieldError(path, message.format(value.strip())))
    return errors


def wire_errors(exc: ValidationError) -> list[FieldError]:
    """A Pydantic validation error as field errors (paths like ``items[0].hs_code``, plain messages)."""
    return [FieldError(loc_to_path(tuple(e["loc"])), e["msg"].removeprefix("Value error, ")) for e in exc.errors()]


def all_errors(exc: ValidationError, obj: Mapping[str, Any], codes: CodeLists | None) -> list[FieldError]:
    """The wire errors of ``obj`` and, with ``codes``, the code-list problems of its other fields."""
    errors = wire_errors(exc)
    if codes is not None:
        errors += code_list_errors(obj, codes, {e.field for e in errors})
    return errors
