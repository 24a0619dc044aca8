"""What each field a risk rule may read means, in the reader's language, for the rule editor.

Declaration fields, the item features and the parcel features have their own text; a history family's
features are described from the family's key (``importer_hs6`` → "the importer and the HS subheading")
and the output (``offence_rate``), so a new family or output needs only its words in the catalogues.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from smartcustoms.risk.features.families import CAT_SOURCES, FAMILIES, FAMILY_OUTPUTS, TEXT_KEYWORDS
from smartcustoms.risk.targeting.rules import NUMBER_FIELDS, PARCEL_FEATURE_NAMES, RULE_FIELDS, TEXT_FIELDS

Translate = Callable[..., str]
_FAMILY = {f"{fam.name}_{out}": (fam, out) for fam in FAMILIES for out in FAMILY_OUTPUTS[fam.kind]}
_BASE = TEXT_FIELDS | {"customs_value", "declaration_value", "net_mass_kg", "quantity", "unit_value", "tax_rate"}


@dataclass(frozen=True)
class RuleField:
    """A field of the rule editor: its name, group (declaration, feature, parcel), kind and meaning."""

    name: str
    group: str
    numeric: bool
    description: str


def describe(name: str, t: Translate) -> str:
    """What ``name`` means, in the language of ``t`` (empty when there are no words for it)."""
    if name in _FAMILY:
        fam, out = _FAMILY[name]
        key = f" {t('field.and')} ".join(t(f"field.part.{p}") for p in fam.parts) if fam.parts else \
            t("field.part.global")
        return t(f"field.out.{out}", who=key)
    if name.startswith("description_mentions_") and name.removeprefix("description_mentions_") in TEXT_KEYWORDS:
        return t("field.description_mentions", word=name.removeprefix("description_mentions_"))
    if name == "cat_hs2":
        return t("field.cat", source=t("field.part.hs2"))
    if name in CAT_SOURCES:
        source = CAT_SOURCES[name]
        return t("field.cat", source=t(f"field.{source}") if source in _BASE else t(f"field.src.{source}"))
    text = t(f"field.{name}")
    return "" if text == f"field.{name}" else text


def catalogue(t: Translate) -> list[RuleField]:
    """Every field a rule may read, declaration fields first, then model features, then parcel features."""
    def group(name: str) -> str:
        return "parcel" if name in PARCEL_FEATURE_NAMES else "declaration" if name in _BASE else "feature"

    order = {"declaration": 0, "feature": 1, "parcel": 2}
    names = sorted(RULE_FIELDS, key=lambda n: (order[group(n)], n))
    return [RuleField(n, group(n), n in NUMBER_FIELDS and n not in TEXT_FIELDS, describe(n, t)) for n in names]
