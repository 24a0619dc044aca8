"""Pre-loading risk assessment of one consignment: a pure function over the consignment, its conveyance and
history aggregates computed before it (point in time), with the analysts' settings.

Outcomes, most severe wins: ``do_not_load`` (prohibited goods words, a denied party), ``request_for_screening``
(dangerous-goods words without a UN number, a high-risk place on the route, weight far from the usual weight
of the goods), ``request_for_information`` (vague goods description, a shipper and consignee never seen
before, a late filing), else ``assessment_complete``. Every rule that fires adds its reason in words.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from smartcustoms.manifests.schemas import (
    SEVERITY,
    Assessment,
    Consignment,
    Conveyance,
    GoodsItem,
    MessageKind,
    Outcome,
    Party,
    TransportMode,
)


class ManifestSettings(BaseSettings):
    """Manifest settings, from ``SMARTCUSTOMS_MANIFESTS_*`` environment variables (lists as JSON)."""

    model_config = SettingsConfigDict(env_prefix="SMARTCUSTOMS_MANIFESTS_", extra="ignore")

    sea_hours_before_loading: float = 24.0  # water: filed at least this long before loading (24-hour rule)
    air_hours_before_departure: float = 0.0  # air: filed before departure
    land_hours_before_arrival: float = 0.0  # rail and road: filed before arrival
    #: UN/LOCODEs (5 characters) or countries (2) whose appearance on the route asks for screening
    high_risk_places: list[str] = Field(default_factory=list)
    denied_parties: list[str] = Field(default_factory=list)  # party IDs or names (case-insensitive)
    do_not_load_words: list[str] = Field(default_factory=lambda: [
        "detonator", "improvised explosive", "explosive device", "blasting cap"])
    dangerous_goods_words: list[str] = Field(default_factory=lambda: [
        "lithium", "battery", "batteries", "flammable", "explosive", "fireworks", "corrosive", "toxic",
        "radioactive", "compressed gas", "aerosol", "peroxide", "acid", "pesticide", "paint", "perfume",
        "alcohol", "ammunition", "oxidizing", "易燃", "爆炸", "腐蚀", "锂电池", "电池", "烟花", "农药"])
    vague_words: list[str] = Field(default_factory=lambda: [
        "general cargo", "fak", "freight all kinds", "said to contain", "stc", "various", "goods",
        "consolidated", "consolidation", "parts", "samples", "gift", "gifts", "merchandise", "household goods",
        "personal effects", "spare parts", "accessories", "products", "items", "普通货物", "杂货", "货物", "样品"])
    weight_z: float = 3.0  # declared kg per package this many standard deviations (log scale) from the usual
    weight_min_history: int = 20  # ... once the goods were declared this many times before
    max_reasons: int = 10
    customs_sender_id: str = Field("CNCUSTOMS", max_length=50)  # SenderID of the MT9999 responses customs sends


@dataclass(frozen=True, slots=True)
class WeightStats:
    """Running mean and sum of squares (Welford) of log kg per package for one goods key."""
    n: int
    mean: float
    m2: float

    def z(self, value: float) -> float:
        """How many standard deviations ``value`` (log kg per package) is from the mean (0 with no spread)."""
        if self.n < 2:
            return 0.0
        sd = math.sqrt(self.m2 / (self.n - 1))
        return 0.0 if sd < 1e-9 else (value - self.mean) / sd


@dataclass(frozen=True, slots=True)
class History:
    """What was filed before this consignment: filings per party key and weight statistics per goods key."""
    party_filings: dict[str, int] = field(default_factory=dict)
    weights: dict[str, WeightStats] = field(default_factory=dict)


_WORD = re.compile(r"[\w\u4e00-\u9fff]+")


def party_key(party: Party | None) -> str | None:
    """A party's history key: its ID, else its name folded to words."""
    if party is None:
        return None
    return _party_key(party.id, party.name)


@lru_cache(maxsize=8192)  # the same parties come back on every manifest (and each is keyed several times)
def _party_key(pid: str | None, name: str | None) -> str | None:
    if pid:
        return "id:" + pid.upper()
    return "name:" + " ".join(_WORD.findall(name.lower())) if name else None


def goods_key(item: GoodsItem) -> str | None:
    """An item's goods key for the usual weight: its HS subheading (6 digits), else its description's words."""
    if item.hs_code:
        return "hs:" + item.hs_code[:6]
    words = _WORD.findall(item.description.lower())
    return "desc:" + " ".join(words[:4]) if words else None


def history_of(c: Consignment, stats: Callable[[str], WeightStats | None]) -> History:
    """The rules' history of ``c``: filings per party key and weight statistics per goods key, each read through
    ``stats`` (the stored aggregates with a transaction's new observations, or in-memory ones)."""
    return History(
        party_filings={k: st.n for k in filter(None, (party_key(c.shipper), party_key(c.consignee)))
                       if (st := stats(k)) is not None},
        weights={k: st for it in c.items if (k := goods_key(it)) is not None if (st := stats(k)) is not None})


def log_kg_per_package(item: GoodsItem) -> float | None:
    """log(gross kg per package) of an item that gives both, else None."""
    if not item.packages or item.gross_mass_kg is None or item.gross_mass_kg <= 0:
        return None
    return math.log(float(item.gross_mass_kg) / item.packages)


@lru_cache(maxsize=4096)
def _folded(text: str) -> str:
    return " " + " ".join(_WORD.findall(text.lower())) + " "


@lru_cache(maxsize=16)
def _needles(words: tuple[str, ...]) -> tuple[tuple[str, bool, str], ...]:
    """Each word with whether it is ASCII and what to look for (`` word `` in the folded text, else itself)."""
    return tuple((w, wl.isascii(), f" {wl} " if wl.isascii() else wl) for w in words for wl in (w.lower(),))


def _has(text: str, words: list[str]) -> str | None:
    low = _folded(text)
    for w, ascii_word, needle in _needles(tuple(words)):
        if needle in (low if ascii_word else text):
            return w
    return None


@lru_cache(maxsize=16)
def _phrases(words: tuple[str, ...]) -> frozenset[str]:
    return frozenset({" ".join(_WORD.findall(w.lower())) for w in words} | {w for w in words if not w.isascii()})


def _is_vague(description: str, words: list[str]) -> bool:
    """Vague when the whole description is one of the vague phrases, or starts with 'said to contain' / STC."""
    folded = " ".join(_WORD.findall(description.lower()))
    vague = _phrases(tuple(words))
    return (folded in vague or description.strip() in vague or folded.startswith("said to contain")
            or folded.startswith("stc ") or len(folded) < 3)


def filing_deadline(c: Consignment, conveyance: Conveyance, s: ManifestSettings) -> datetime | None:
    """When the mode's window closes: sea N h before loading, air before departure, rail/road before arrival."""
    mode = conveyance.mode
    if mode is TransportMode.WATER:
        at = c.loading_at or conveyance.departure_at
        return at - timedelta(hours=s.sea_hours_before_loading) if at else None
    if mode is TransportMode.AIR:
        return conveyance.departure_at - timedelta(hours=s.air_hours_before_departure) \
            if conveyance.departure_at else None
    return conveyance.arrival_at - timedelta(hours=s.land_hours_before_arrival) if conveyance.arrival_at else None


ROLES_ZH = {"shipper": "发货人", "consignee": "收货人", "notify party": "通知人"}
PLACES_ZH = {"loading place": "装货地", "discharge place": "卸货地", "transshipment place": "中转地",
             "routing country": "途经国家"}
MODES_ZH = {TransportMode.WATER: "水路", TransportMode.AIR: "航空", TransportMode.RAIL: "铁路",
            TransportMode.ROAD: "公路"}


def assess(c: Consignment, conveyance: Conveyance, kind: MessageKind, received_at: datetime, history: History,
           s: ManifestSettings) -> Assessment:
    """The pre-loading decision on ``c`` with its reasons in English and Chinese (pure: no clock, no database)."""
    found: list[tuple[Outcome, str, str]] = []
    # do not load
    for it in c.items:
        w = _has(it.description, s.do_not_load_words)
        if w:
            found.append((Outcome.DO_NOT_LOAD, f"item {it.sequence}: goods description names {w!r}",
                          f"第{it.sequence}项：货物描述含有禁止装载词语“{w}”"))
    denied = {d.upper() for d in s.denied_parties}
    for role, p in (("shipper", c.shipper), ("consignee", c.consignee), ("notify party", c.notify)):
        if p and ((p.id and p.id.upper() in denied) or (p.name and p.name.upper() in denied)):
            found.append((Outcome.DO_NOT_LOAD, f"the {role} is on the denied-party list",
                          f"{ROLES_ZH[role]}在禁止交易方名单上"))
    # screening
    for it in c.items:
        w = _has(it.description, s.dangerous_goods_words)
        if w and not it.un_number:
            found.append((Outcome.REQUEST_FOR_SCREENING,
                          f"item {it.sequence}: dangerous-goods word {w!r} without a UN number",
                          f"第{it.sequence}项：含危险品词语“{w}”，但未申报联合国危险货物编号"))
    risky = {p.upper() for p in s.high_risk_places}
    route = [("loading place", c.loading_place), ("discharge place", c.discharge_place),
             *(("transshipment place", p) for p in c.transit_places),
             *(("routing country", p) for p in c.routing_countries)]
    for what, place in route:
        if place and (place.upper() in risky or (len(place) == 5 and place[:2].upper() in risky)):
            found.append((Outcome.REQUEST_FOR_SCREENING, f"{what} {place} is on the high-risk route list",
                          f"{PLACES_ZH[what]}{place}在高风险航线名单上"))
    for it in c.items:
        key, value = goods_key(it), log_kg_per_package(it)
        stats = history.weights.get(key) if key else None
        if value is not None and stats is not None and stats.n >= s.weight_min_history:
            z = stats.z(value)
            if abs(z) >= s.weight_z:
                usual, kg = math.exp(stats.mean), math.exp(value)
                found.append((Outcome.REQUEST_FOR_SCREENING,
                              f"item {it.sequence}: {kg:.1f} kg per package, usual for these goods "
                              f"{usual:.1f} kg ({'heavier' if z > 0 else 'lighter'}, {abs(z):.1f} sd)",
                              f"第{it.sequence}项：每件毛重{kg:.1f}千克，该类货物通常为{usual:.1f}千克"
                              f"（{'偏重' if z > 0 else '偏轻'}，{abs(z):.1f}个标准差）"))
    # information
    for it in c.items:
        if _is_vague(it.description, s.vague_words):
            found.append((Outcome.REQUEST_FOR_INFORMATION,
                          f"item {it.sequence}: goods description {it.description!r} is too vague",
                          f"第{it.sequence}项：货物描述“{it.description}”过于笼统"))
    sk, ck = party_key(c.shipper), party_key(c.consignee)
    if sk and ck and not history.party_filings.get(sk) and not history.party_filings.get(ck):
        found.append((Outcome.REQUEST_FOR_INFORMATION, "shipper and consignee have never filed before",
                      "发货人和收货人此前均无舱单申报记录"))
    late = False
    if kind in (MessageKind.ORIGINAL, MessageKind.PRE_ALLOCATION):
        deadline = filing_deadline(c, conveyance, s)
        if deadline is not None and received_at > deadline:
            late = True
            hours = (received_at - deadline).total_seconds() / 3600
            found.append((Outcome.REQUEST_FOR_INFORMATION,
                          f"filed {hours:.1f} h after the {conveyance.mode} filing window closed",
                          f"晚于{MODES_ZH[conveyance.mode]}舱单申报时限{hours:.1f}小时申报"))
    outcome = max((f[0] for f in found), key=SEVERITY.__getitem__, default=Outcome.ASSESSMENT_COMPLETE)
    ordered = sorted(found, key=lambda f: -SEVERITY[f[0]])[:s.max_reasons]
    return Assessment(outcome=outcome, reasons=[f[1] for f in ordered], reasons_zh=[f[2] for f in ordered],
                      late=late)
