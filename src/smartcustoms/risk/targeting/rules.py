"""Rule profiles: validation (every problem with its field path) and vectorised matching.

A rule's conditions all hold for one goods item; a declaration matches when any of its items does.
Fields are the item frame's columns, a few declaration-level extras and every model feature. The same
rules apply to cross-border e-commerce parcels (one row per inventory line) when every field they read
exists for parcels (:data:`PARCEL_FIELDS`): the shared item fields and the parcel features.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import polars as pl
from pydantic import ValidationError

from smartcustoms.core.errors import FieldError
from smartcustoms.risk.features.families import FEATURE_NAMES
from smartcustoms.risk.targeting.schemas import Condition, RuleIn

TEXT_FIELDS = frozenset(
    {
        "hs_code",
        "origin_country",
        "departure_country",
        "office_code",
        "trade_mode",
        "transport_mode",
        "importer_code",
        "declarant_code",
        "seller_code",
        "currency",
        "credit_grade",
        "description",
    }
)
#: The parcel features a rule may read: the fields of ``ParcelFeatures`` (risk/parcels/scoring.py, which sits
#: above targeting; tests/cbec/test_risk.py holds the two equal).
PARCEL_FEATURE_NAMES = frozenset(
    {
        "buyer_parcels_year",
        "buyers_at_address",
        "buyers_at_phone",
        "value_ratio",
        "min_price_ratio",
        "platform_reject_rate",
        "logistics_reject_rate",
        "enterprise_hit_rate",
    }
)
NUMBER_FIELDS = (
    frozenset({"customs_value", "declaration_value", "net_mass_kg", "quantity", "unit_value", "tax_rate"})
    | frozenset(FEATURE_NAMES)
    | PARCEL_FEATURE_NAMES
)
RULE_FIELDS = TEXT_FIELDS | NUMBER_FIELDS
#: what a declaration's item rows carry (a rule reading anything else does not apply to declarations)
DECLARATION_FIELDS = RULE_FIELDS - PARCEL_FEATURE_NAMES
#: what a parcel's inventory-line rows carry
PARCEL_FIELDS = (
    frozenset({"hs_code", "origin_country", "office_code", "trade_mode", "transport_mode", "importer_code",
               "declarant_code", "seller_code", "currency", "credit_grade", "description", "customs_value",
               "declaration_value", "quantity"})
    | PARCEL_FEATURE_NAMES
)
TEXT_OPS = frozenset({"eq", "ne", "in", "not_in", "prefix"})
NUMBER_OPS = frozenset({"eq", "ne", "gt", "ge", "lt", "le", "between", "in", "not_in"})


def validate_rule(rule: RuleIn) -> list[FieldError]:
    """Every problem of a rule definition, each naming its field (``criteria[1].value`` ...)."""
    errs: list[FieldError] = []
    for i, c in enumerate(rule.criteria):
        errs.extend(_condition_problems(c, f"criteria[{i}]"))
    if rule.valid_from and rule.valid_to and rule.valid_to < rule.valid_from:
        errs.append(FieldError("valid_to", "is before valid_from"))
    return errs


def criteria_problems(criteria: object, skip: set[str] | frozenset[str] = frozenset()) -> list[FieldError]:
    """The problems of a raw rule's criteria that parse, for a rule whose wire validation failed elsewhere.

    A condition with a wire error of its own (a path in ``skip``) is left out: its problems are known. So a
    form reports an unknown field together with a missing name, in one round.
    """
    if not isinstance(criteria, list):
        return []
    errs: list[FieldError] = []
    for i, raw in enumerate(criteria):
        p = f"criteria[{i}]"
        if any(s == p or s.startswith(p + ".") for s in skip):
            continue
        try:
            c = Condition.model_validate(raw)
        except ValidationError:
            continue
        errs.extend(_condition_problems(c, p))
    return errs


def _condition_problems(c: Condition, p: str) -> list[FieldError]:
    if c.field not in RULE_FIELDS:
        return [FieldError(f"{p}.field", f"unknown field {c.field!r}; use a declaration field or a feature")]
    numeric = c.field in NUMBER_FIELDS and c.field not in TEXT_FIELDS
    ops = NUMBER_OPS if numeric else TEXT_OPS
    if c.op not in ops:
        return [FieldError(f"{p}.op", f"{c.op!r} does not apply to {'number' if numeric else 'text'} "
                                      f"field {c.field}; use one of {', '.join(sorted(ops))}")]
    return [FieldError(f"{p}.value", m) for m in _value_problems(c, numeric)]


def _is_number(v) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _value_problems(c: Condition, numeric: bool) -> list[str]:
    v = c.value
    if c.op in ("in", "not_in", "prefix"):
        if not isinstance(v, list) or not v:
            return [f"{c.op} needs a non-empty list"]
        bad = [x for x in v if not (_is_number(x) if numeric else isinstance(x, str))]
        return [f"every element must be a {'number' if numeric else 'string'}"] if bad else []
    if c.op == "between":
        if not (isinstance(v, list) and len(v) == 2 and all(_is_number(x) for x in v)):
            return ["between needs [low, high] numbers"]
        return ["low is above high"] if v[0] > v[1] else []
    if numeric and not _is_number(v):
        return [f"{c.op} on {c.field} needs a number"]
    if not numeric and not isinstance(v, str):
        return [f"{c.op} on {c.field} needs a string"]
    return []


def _expr(c: Condition) -> pl.Expr:
    col = pl.col(c.field)
    v = c.value
    match c.op:
        case "eq":
            return col == v
        case "ne":
            return col != v
        case "in":
            return col.is_in(v)
        case "not_in":
            return ~col.is_in(v)
        case "prefix":
            out = col.str.starts_with(v[0])
            for p in v[1:]:
                out = out | col.str.starts_with(p)
            return out
        case "gt":
            return col > v
        case "ge":
            return col >= v
        case "lt":
            return col < v
        case "le":
            return col <= v
        case "between":
            return col.is_between(v[0], v[1])
    raise ValueError(c.op)


@dataclass(frozen=True, slots=True)
class CompiledRule:
    """A rule ready to match: its definition and the Polars expression of its criteria."""

    id: int
    name: str
    description: str
    lane: str
    mandatory: bool
    target_rate: float
    valid_from: date | None
    valid_to: date | None
    expr: pl.Expr
    columns: frozenset[str] = frozenset()  # the fields the criteria read

    def applies_to(self, fields: frozenset[str]) -> bool:
        """Whether every field the rule reads exists in rows with ``fields``."""
        return self.columns <= fields

    def in_force(self, on: date) -> bool:
        """Whether the rule's validity period covers ``on``."""
        return (self.valid_from is None or self.valid_from <= on) and (self.valid_to is None or on <= self.valid_to)


def compile_rule(rule_id: int, rule: RuleIn) -> CompiledRule:
    """A validated rule definition compiled to a Polars expression."""
    expr = _expr(rule.criteria[0])
    for c in rule.criteria[1:]:
        expr = expr & _expr(c)
    return CompiledRule(
        rule_id,
        rule.name,
        rule.description,
        rule.lane,
        rule.mandatory,
        rule.target_rate,
        rule.valid_from,
        rule.valid_to,
        expr.fill_null(False),
        frozenset(c.field for c in rule.criteria),
    )


def match(rules: list[CompiledRule], frame: pl.DataFrame, on: date) -> dict[int, np.ndarray]:
    """For each rule in force, a boolean per declaration (rows of a declaration are contiguous, in order)."""
    active = [r for r in rules if r.in_force(on)]
    if not active:
        return {}
    hits = frame.select(*[r.expr.alias(f"r{r.id}") for r in active])
    # declarations are contiguous runs of rows: any() per run
    no = frame["declaration_no"].to_numpy()
    starts = np.flatnonzero(np.r_[True, no[1:] != no[:-1]]) if len(no) else np.empty(0, np.int64)
    if len(starts) == len(no):
        return {r.id: hits[f"r{r.id}"].to_numpy() for r in active}
    return {r.id: np.logical_or.reduceat(hits[f"r{r.id}"].to_numpy(), starts) for r in active}
