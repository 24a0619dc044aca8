"""Parcel features and the seam through which parcels meet the risk engine's selectivity.

:class:`ParcelHistory` keeps incrementally maintained, point-in-time aggregates (a parcel's features are
computed before the parcel itself is counted): buyer frequency, distinct buyers per address and per
phone (split orders), value against the 5,000 CNY limit, unit price against a streaming median per HS
subheading, the rejection rates of the platform and the logistics firm, and what officers found when they
inspected the e-commerce enterprise's parcels (:meth:`ParcelHistory.observe_outcome`: the loop through
which the parcel score learns from inspection results).

:class:`ParcelSelectivity` is what the engine calls once per batch of complete, consistent parcels;
the risk engine implements it (:class:`smartcustoms.risk.parcels.selectivity.ParcelRiskEngine`: rules, budgets,
credit grades, exploration). The parcel-scoring interface (:class:`ParcelFeatures`, :class:`ParcelCase`,
:class:`Selection`, the outcome statuses and the indicators) is risk's: :mod:`smartcustoms.risk.parcels.scoring`.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any, Protocol

from smartcustoms.cbec.ceb.spec import Document
from smartcustoms.cbec.ceb.statuses import REJECTED
from smartcustoms.risk.parcels.scoring import CLEAN_STATUSES, HIT_STATUSES, ParcelCase, ParcelFeatures, Selection

_new = tuple.__new__  # _new(ParcelFeatures, (...)) is ParcelFeatures(...) without the Python-level __new__ call

CAP = 8  # distinct buyers remembered per address / phone
MIN_INSPECTED = 10


class ParcelSelectivity(Protocol):
    """What the risk engine provides for parcels."""

    def refresh(self, store: Any, force: bool = False) -> None:
        """Reload what officers change while the pipeline runs (rules, credit grades) when due."""

    def select(self, cases: Sequence[ParcelCase]) -> list[Selection]:
        """One call per batch; a selection per case, in order."""


def _add_buyer(index: dict[int, int | list[int]], key: str, buyer: int) -> None:
    """Note a distinct buyer (hash) for an address or telephone (hash): one int, or a list past one."""
    k = hash(key)
    seen = index.get(k)
    if seen is None:
        index[k] = buyer
    elif type(seen) is int:
        if seen != buyer:
            index[k] = [seen, buyer]
    elif buyer not in seen and len(seen) < CAP:  # type: ignore[operator, arg-type]
        seen.append(buyer)  # type: ignore[union-attr]


def _buyers(index: dict[int, int | list[int]], key: str | None) -> int:
    seen = index.get(hash(key or ""))
    return 0 if seen is None else 1 if type(seen) is int else len(seen)  # type: ignore[arg-type]


class ParcelHistory:
    """Point-in-time aggregates over decided parcels.

    Buyers, addresses and telephones are kept as hashes (64-bit; a collision would merge two of them in a
    count): with every parcel of a year in memory, strings would cost several hundred bytes a parcel.
    """

    def __init__(self) -> None:
        self.buyer_year: dict[int, int] = {}                # hash((buyer id, year)) -> parcels
        self.address: dict[int, int | list[int]] = {}       # hash(address) -> distinct buyer hash(es)
        self.phone: dict[int, int | list[int]] = {}
        self.hs_median: dict[str, list[float]] = {}   # hs6 -> [estimate, n]
        self.platform: dict[str, list[int]] = {}      # code -> [parcels, rejected]
        self.logistics: dict[str, list[int]] = {}
        self.inspected: dict[str, list[int]] = {}     # ebcCode -> [parcels with an outcome, offences found]

    @staticmethod
    def _rate(counts: list[int] | None) -> float:
        if not counts or counts[0] < 50:
            return 0.0
        return counts[1] / counts[0]

    def features(self, inventory: Document, dutiable: Decimal, year: int, single_limit: Decimal) -> ParcelFeatures:
        """Risk features of a CBEC inventory from the history of its buyer, address, phone, prices and traders."""
        h = inventory.head
        buyer = h.get("buyerIdNumber", "")
        ratio = 1.0
        for line in inventory.lines:
            m = self.hs_median.get(line.get("gcode", "")[:6])
            if m is not None and m[1] >= 20 and m[0] > 0:
                ratio = min(ratio, float(line.get("price", "0")) / m[0])
        return _new(ParcelFeatures, (  # ParcelFeatures(...) without the NamedTuple's Python-level __new__ call
            self.buyer_year.get(hash((buyer, year)), 0),
            _buyers(self.address, h.get("consigneeAddress")),
            _buyers(self.phone, h.get("buyerTelephone")),
            float(dutiable / single_limit),
            ratio,
            self._rate(self.platform.get(h.get("ebpCode", ""))),
            self._rate(self.logistics.get(h.get("logisticsCode", ""))),
            self._hit_rate(self.inspected.get(h.get("ebcCode", ""))),
        ))

    @staticmethod
    def _hit_rate(counts: list[int] | None) -> float:
        return counts[1] / counts[0] if counts and counts[0] >= MIN_INSPECTED else 0.0

    def observe_outcome(self, enterprise: str | None, status: int) -> None:
        """An officer's result for a held parcel of ``enterprise`` (ebcCode): offence found or not."""
        if status in HIT_STATUSES or status in CLEAN_STATUSES:
            c = self.inspected.setdefault(enterprise or "", [0, 0])
            c[0] += 1
            c[1] += status in HIT_STATUSES

    def observe(self, inventory: Document, year: int, status: int) -> None:
        """Count a decided inventory into the buyer, address, phone, price and platform/logistics histories."""
        h = inventory.head
        buyer = h.get("buyerIdNumber", "")
        rejected = int(status == REJECTED)
        if not rejected:
            self._count(buyer, year, h.get("consigneeAddress"), h.get("buyerTelephone"))
            for line in inventory.lines:
                self._update_median(line.get("gcode", "")[:6], float(line.get("price", "0")))
        c = self.platform.setdefault(h.get("ebpCode") or "", [0, 0])
        c[0] += 1
        c[1] += rejected
        c = self.logistics.setdefault(h.get("logisticsCode") or "", [0, 0])
        c[0] += 1
        c[1] += rejected

    def _count(self, buyer: str, year: int, address: str | None, phone: str | None) -> None:
        by = hash((buyer, year))
        self.buyer_year[by] = self.buyer_year.get(by, 0) + 1
        bh = hash(buyer)
        if address:
            _add_buyer(self.address, address, bh)
        if phone:
            _add_buyer(self.phone, phone, bh)

    def _update_median(self, hs6: str, x: float) -> None:
        """Frugal streaming median: step towards each new observation by 1.5 % of the estimate."""
        m = self.hs_median.get(hs6)
        if m is None:
            self.hs_median[hs6] = [x, 1]
            return
        step = max(m[0] * 0.015, 0.01)
        if x > m[0]:
            m[0] += step
        elif x < m[0]:
            m[0] -= step
        m[1] += 1

    def observe_row(self, buyer: str, year: int, address: str | None, phone: str | None, platform: str,
                    logistics: str | None, status: int) -> None:
        """Rebuild from a stored parcel row after a restart (no line prices: medians re-learn)."""
        rejected = int(status == REJECTED)
        if not rejected:
            self._count(buyer, year, address, phone)
        for index, k in ((self.platform, platform), (self.logistics, logistics)):
            c = index.setdefault(k or "", [0, 0])
            c[0] += 1
            c[1] += rejected
