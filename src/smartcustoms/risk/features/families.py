"""The specification of the features: item fields, keyed history families and each family's outputs.

Both paths of the pipeline (:mod:`.columnar` for frames, :mod:`.rowwise` for live micro-batches) read
what a family is keyed by (:data:`KEY_PARTS`, :data:`NUMERIC_KEYS`), which aggregates it keeps
(:data:`DECL_COLS`, :data:`OUT_COLS`) and which features it gives, in which order
(:data:`FAMILY_OUTPUTS`, :func:`family_feature_names`) from here.
"""

from __future__ import annotations

from dataclasses import dataclass

PRIOR_STRENGTH = 5.0  # Bayesian smoothing of offence rates toward the global (point-in-time) rate

TEXT_KEYWORDS = {
    "gift": r"(?i)\bgifts?\b",
    "sample": r"(?i)\bsamples?\b",
    "used": r"(?i)\b(used|second[- ]hand|refurbished)\b",
    "parts": r"(?i)\b(parts?|accessor(y|ies))\b",
    "personal": r"(?i)\bpersonal\b",
    "replica": r"(?i)\b(replica|copy|imitation|brand)\b",
}

#: Aggregate columns kept per family kind: declaration aggregates, then (:data:`HAS_OUTCOMES`) outcome aggregates.
DECL_COLS = {
    "party": ("n", "first", "last", "slv", "slv2", "sluv", "sluv2", "b7", "b30", "nd"),
    "goods": ("n", "first", "last", "slv", "slv2", "sluv", "sluv2", "b30"),
    "place": ("n", "last", "b7", "b30"),
    "pair": ("n", "first", "last"),
    "presence": ("n",),
    "global": ("n",),
}
#: outcome aggregates: inspections, offences, critical offences, duty recovered
OUT_COLS = ("ni", "no", "nc", "dr")
HAS_OUTCOMES = frozenset({"party", "goods", "place", "pair", "global"})


@dataclass(frozen=True)
class Family:
    """A keyed history family: which key, which aggregates, and whose HS diversity it feeds."""

    name: str
    parts: tuple[str, ...]
    kind: str
    diversity_of: str | None = None  # presence/pair family whose novelty counts this party's HS6s

    @property
    def decl_cols(self) -> tuple[str, ...]:
        """The declaration aggregates this family keeps."""
        return DECL_COLS[self.kind]

    @property
    def cols(self) -> tuple[str, ...]:
        """Every aggregate column of the family's table: declaration aggregates, then outcome aggregates."""
        return self.decl_cols + (OUT_COLS if self.kind in HAS_OUTCOMES else ())


FAMILIES: tuple[Family, ...] = (
    Family("global", (), "global"),
    Family("importer_hs6", ("importer", "hs6"), "pair"),
    Family("importer_origin", ("importer", "origin"), "pair"),
    Family("declarant_importer", ("declarant", "importer"), "pair"),
    Family("seller_importer", ("seller", "importer"), "pair"),
    Family("declarant_hs6", ("declarant", "hs6"), "presence"),
    Family("seller_hs6", ("seller", "hs6"), "presence"),
    Family("courier_hs6", ("courier", "hs6"), "presence"),
    Family("importer", ("importer",), "party", "importer_hs6"),
    Family("declarant", ("declarant",), "party", "declarant_hs6"),
    Family("seller", ("seller",), "party", "seller_hs6"),
    Family("courier", ("courier",), "party", "courier_hs6"),
    Family("hs6", ("hs6",), "goods"),
    Family("hs4", ("hs4",), "goods"),
    Family("hs2", ("hs2",), "goods"),
    Family("hs6_origin", ("hs6", "origin"), "goods"),
    Family("hs6_departure", ("hs6", "departure"), "pair"),
    Family("hs6_origin_tax_type", ("hs6", "origin", "tax_type"), "pair"),
    # repeat consignments: same goods at exactly the same declared value / net mass as before
    Family("hs6_value", ("hs6", "value"), "pair"),
    Family("hs6_mass", ("hs6", "mass"), "pair"),
    # the exact triple: whether these goods were declared before at this value and mass (the novel-goods gate)
    Family("hs6_value_mass", ("hs6", "value", "mass"), "pair"),
    Family("value", ("value",), "pair"),
    Family("origin", ("origin",), "place"),
    Family("departure", ("departure",), "place"),
    Family("route", ("departure", "origin"), "place"),
    Family("office", ("office",), "place"),
    Family("tax_type", ("tax_type",), "place"),
)

#: Text key parts: the source column and how many leading characters of it make the key (None: all of it).
KEY_PARTS: dict[str, tuple[str, int | None]] = {
    "importer": ("importer_code", None),
    "declarant": ("declarant_code", None),
    "seller": ("seller_code", None),
    "courier": ("courier_code", None),
    "hs6": ("hs_code", 6),
    "hs4": ("hs_code", 4),
    "hs2": ("hs_code", 2),
    "origin": ("origin_country", None),
    "departure": ("departure_country", None),
    "office": ("office_code", None),
    "tax_type": ("tax_type", None),
}
#: Numeric key parts: the value rounded to a grid (cents, grams), hashed as an integer with
#: :func:`~smartcustoms.risk.features.table.combine` so that NumPy and plain Python give the same key
#: (:func:`~smartcustoms.risk.features.table.numeric_key`).
NUMERIC_KEYS: dict[str, tuple[str, float, int]] = {
    "value": ("customs_value", 100.0, 0x76616C7565),
    "mass": ("net_mass_kg", 1000.0, 0x6D617373),
}

CATEGORICAL_FEATURES: tuple[str, ...] = (
    "cat_office",
    "cat_trade_mode",
    "cat_transport_mode",
    "cat_process_type",
    "cat_import_type",
    "cat_import_use",
    "cat_payment_type",
    "cat_origin_indicator",
    "cat_tax_type",
    "cat_origin",
    "cat_departure",
    "cat_hs2",
)
#: source column of each categorical feature but ``cat_hs2`` (the HS code's first two digits)
CAT_SOURCES = {
    "cat_office": "office_code",
    "cat_trade_mode": "trade_mode",
    "cat_transport_mode": "transport_mode",
    "cat_process_type": "process_type",
    "cat_import_type": "import_type",
    "cat_import_use": "import_use",
    "cat_payment_type": "payment_type",
    "cat_origin_indicator": "origin_indicator",
    "cat_tax_type": "tax_type",
    "cat_origin": "origin_country",
    "cat_departure": "departure_country",
}
#: Context columns carried in the feature frame for reasons and joins; not model inputs.
CONTEXT_COLUMNS: tuple[str, ...] = (
    "declaration_no",
    "item_no",
    "hs6",
    "hs4",
    "origin_country",
    "duty_at_stake",
)

#: Features of the declaration's own fields (no history), in model order.
ITEM_FEATURES: tuple[str, ...] = (
    "value",
    "log_value",
    "net_mass",
    "log_mass",
    "log_unit_value",
    "tax_rate",
    "log_duty_at_stake",
    "quantity",
    "log_value_per_unit",
    "hs6_number",
    "hs4_number",
    "hs2_number",
    "day_of_week",
    "month",
    "day_of_month",
    "hour",
    "is_weekend",
    "origin_is_departure",
    "has_seller",
    "has_courier",
    "has_description",
    "description_length",
    "description_words",
) + tuple(f"description_mentions_{k}" for k in TEXT_KEYWORDS)


#: Each family kind's features, in model order: a family ``p`` gives ``f"{p}_{output}"`` for each output.
#: The one specification both paths follow (the columnar path by name, the row-wise one by position).
FAMILY_OUTPUTS: dict[str, tuple[str, ...]] = {
    "global": ("offence_rate", "inspections"),
    "presence": (),
    "party": (
        "count",
        "age_days",
        "days_since_last",
        "value_mean",
        "value_std",
        "value_z",
        "unit_value_mean",
        "unit_value_z",
        "burst_7d",
        "burst_30d",
        "inspections",
        "offences",
        "offence_rate",
        "critical_rate",
        "log_duty_recovered",
        "hs_diversity",
        "hs_diversity_ratio",
    ),
    "goods": (
        "count",
        "age_days",
        "burst_30d",
        "unit_value_median",
        "unit_value_deviation",
        "unit_value_z",
        "value_deviation",
        "inspections",
        "offences",
        "offence_rate",
        "critical_rate",
    ),
    "place": ("count", "burst_7d", "burst_30d", "inspections", "offence_rate", "critical_rate"),
    "pair": ("count", "is_new", "age_days", "inspections", "offences", "offence_rate"),
}
assert set(FAMILY_OUTPUTS) == set(DECL_COLS)


def family_feature_names(fam: Family) -> tuple[str, ...]:
    """The features a family gives, in model order (:data:`FAMILY_OUTPUTS` of its kind)."""
    return tuple(f"{fam.name}_{s}" for s in FAMILY_OUTPUTS[fam.kind])


NUMERIC_FEATURES: tuple[str, ...] = ITEM_FEATURES + tuple(n for fam in FAMILIES for n in family_feature_names(fam))
#: Every model input, in model order: numeric features then categorical (string) features.
FEATURE_NAMES: tuple[str, ...] = NUMERIC_FEATURES + CATEGORICAL_FEATURES
