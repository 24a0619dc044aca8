"""The parcel-scoring interface risk targeting consumes, and the parcel risk score.

CBEC (:mod:`smartcustoms.cbec`) computes each complete, consistent parcel's :class:`ParcelFeatures` and
hands :class:`ParcelCase` s to the parcel selectivity (:mod:`smartcustoms.risk.parcels.selectivity`),
which answers with a :class:`Selection` per case. :func:`indicators` is the parcel risk score: weighted
indicators over the features, with the words of each one that fired.

Outcome and selection codes are the CEB status numbers (CEB622 inventory return statuses), so CBEC passes
them through unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple, Protocol

import numpy as np

#: selection codes (CEB622 statuses): released, held for manual (document) review, held for inspection
RELEASE, MANUAL_REVIEW, INSPECTION = 800, 300, 500
#: officers' outcomes of a held parcel (CEB status numbers): an offence found (detained: clearance,
#: anti-smuggling, legal, other)
HIT_STATUSES = frozenset({501, 502, 503, 599})
#: ... or nothing found (released after the check)
CLEAN_STATUSES = frozenset({800})


class ParcelFeatures(NamedTuple):
    """A parcel's point-in-time features (computed before the parcel itself is counted)."""

    buyer_parcels_year: int
    buyers_at_address: int
    buyers_at_phone: int
    value_ratio: float           # dutiable value / single-transaction limit
    min_price_ratio: float       # lowest (unit price / HS median) over the lines; 1.0 when unknown
    platform_reject_rate: float
    logistics_reject_rate: float
    enterprise_hit_rate: float   # offences found / parcels inspected, of the e-commerce enterprise (ebcCode);
    #                              0.0 until MIN_INSPECTED of its parcels have an outcome


class Inventory(Protocol):
    """What parcel selectivity reads of an inventory: CEB field name -> normalised string value."""

    @property
    def head(self) -> Mapping[str, str]:
        """The inventory head (customsCode, ebcCode, ebpCode, tradeMode, ...)."""

    @property
    def lines(self) -> Sequence[Mapping[str, str]]:
        """The goods lines (gcode, gname, country, totalPrice, qty, ...)."""


class ParcelCase(NamedTuple):
    """A complete, consistent parcel waiting for selectivity."""

    key: tuple[str, str]         # (ebpCode, orderNo)
    inventory: Inventory
    features: ParcelFeatures
    dutiable: float              # CNY


class Selection(NamedTuple):
    """Selectivity's answer for one parcel."""

    status: int                  # RELEASE 800, MANUAL_REVIEW 300, INSPECTION 500
    score: float
    reasons: tuple[str, ...]     # why held; for a release, only what an officer should know (AEO, a flag)


#: The parcel risk indicators: (feature, test, weight, words). A test takes a number or a NumPy column.
INDICATORS: tuple[tuple[str, Callable[[Any], Any], float, Callable[[ParcelFeatures], str]], ...] = (
    ("buyers_at_address", lambda x: x >= 5, 0.35,
     lambda f: f"{f.buyers_at_address} different buyers at one delivery address (split orders?)"),
    ("buyers_at_phone", lambda x: x >= 3, 0.35,
     lambda f: f"{f.buyers_at_phone} different buyers with one telephone number"),
    ("buyer_parcels_year", lambda x: x >= 40, 0.2,
     lambda f: f"buyer's {f.buyer_parcels_year + 1}th parcel this year"),
    ("value_ratio", lambda x: (x >= 0.9) & (x <= 1.0), 0.25,
     lambda f: f"value {f.value_ratio:.0%} of the 5,000 CNY limit (just under)"),
    ("min_price_ratio", lambda x: x < 0.3, 0.3,
     lambda f: f"unit price {f.min_price_ratio:.0%} of the median for its HS subheading"),
    ("platform_reject_rate", lambda x: x > 0.2, 0.15,
     lambda f: f"platform rejection rate {f.platform_reject_rate:.0%}"),
    ("logistics_reject_rate", lambda x: x > 0.2, 0.15,
     lambda f: f"logistics firm rejection rate {f.logistics_reject_rate:.0%}"),
    ("enterprise_hit_rate", lambda x: x > 0.2, 0.35,
     lambda f: f"offences found in {f.enterprise_hit_rate:.0%} of this e-commerce enterprise's inspected parcels"),
)
_COLUMN = {name: i for i, name in enumerate(ParcelFeatures._fields)}


def indicators(f: ParcelFeatures) -> tuple[float, list[str]]:
    """The parcel risk score in [0, 1] (weighted indicators summed) and the words of those that fired."""
    score = 0.0
    reasons: list[str] = []
    for name, test, weight, words in INDICATORS:
        if test(f[_COLUMN[name]]):
            score += weight
            reasons.append(words(f))
    return min(round(score, 4), 1.0), reasons


def feature_matrix(features: Sequence[ParcelFeatures]) -> np.ndarray:
    """Parcels' features as a float matrix, a column per :class:`ParcelFeatures` field."""
    return np.array(features, dtype=np.float64).reshape(len(features), len(_COLUMN))


def indicator_scores(features: Sequence[ParcelFeatures]) -> np.ndarray:
    """:func:`indicators`' scores of many parcels at once (a column per feature)."""
    return matrix_scores(feature_matrix(features))


def matrix_scores(m: np.ndarray) -> np.ndarray:
    """:func:`indicator_scores` of a :func:`feature_matrix`."""
    score = np.zeros(len(m))
    for name, test, weight, _words in INDICATORS:
        score += weight * test(m[:, _COLUMN[name]])
    return np.minimum(np.round(score, 4), 1.0)
