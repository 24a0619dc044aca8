"""Live selectivity for cross-border e-commerce parcels: the risk engine's policy over parcel features.

The mechanisms and their order are those of declarations (:mod:`smartcustoms.risk.targeting.selectivity`):

1. a mandatory rule (prohibited goods, an alert on a buyer) holds every parcel it matches;
2. other rules hold their matches at their target rate;
3. the parcel risk score holds a parcel that reaches the review threshold when it also ranks in the top
   ``budget × (1 − exploration)`` of its customs office's recent scores; the budget is scaled by the
   credit grade of the e-commerce enterprise (ebcCode): AEO enterprises are held less, discredited ones
   more. Until an office has seen ``MIN_WINDOW`` parcels, the threshold alone decides. The score is the
   live parcel model's offence probability (:mod:`smartcustoms.risk.parcels.model`, promoted through the
   model registry) when there is one, thresholds ``model_review_at`` / ``model_inspect_at``; otherwise the
   indicator score (:func:`~smartcustoms.risk.parcels.scoring.indicators`: split orders, buyer frequency,
   value just under the limit, price against the HS median, platform and logistics rejection rates),
   thresholds ``review_at`` / ``inspect_at``. The indicators are the reasons in words either way;
4. exploration holds a random share for control; everything else is released.

Rules are the analysts' risk profiles of the rule table: a rule applies to parcels when every field it
reads exists for an inventory line (:data:`~smartcustoms.risk.targeting.rules.PARCEL_FIELDS`). Lanes map to
CEB622 statuses: yellow (document check) → 300 manual review; blue (scan) and red (physical) → 500
inspection. Random draws are a hash of the seed and the parcel key, so a parcel decided again after a
crash, or by another writer shard, gets the same draw.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any

import numpy as np

from smartcustoms.codes.china import country_iso
from smartcustoms.core.clock import utcnow
from smartcustoms.risk.parcels.scoring import (
    INSPECTION,
    MANUAL_REVIEW,
    RELEASE,
    ParcelCase,
    ParcelFeatures,
    Selection,
    feature_matrix,
    indicators,
    matrix_scores,
)
from smartcustoms.risk.targeting.policy import GRADE_FACTOR, GRADE_WORDS, SelectivityConfig, draws, key_hashes

if TYPE_CHECKING:  # the rule machinery (Polars) loads only when a rule is in force: each writer shard saves ~30 MB
    from smartcustoms.risk.parcels.model import ParcelModel  # (LightGBM: only when a parcel model is live)
    from smartcustoms.risk.targeting.rules import CompiledRule

LANE_STATUS = {"yellow": MANUAL_REVIEW, "blue": INSPECTION, "red": INSPECTION}
LANE_ORDER = ("yellow", "blue", "red")
LANE_WORDS = {"yellow": "document check", "blue": "scan", "red": "physical inspection"}
MIN_WINDOW = 200


class Window:
    """An office's most recent scores (a ring buffer; their order does not matter for a rank)."""

    __slots__ = ("values", "size", "pos")

    def __init__(self, capacity: int) -> None:
        self.values = np.empty(capacity)
        self.size = 0
        self.pos = 0

    def add(self, scores: np.ndarray) -> None:
        """Add scores, overwriting the oldest beyond the capacity."""
        cap = len(self.values)
        scores = scores[-cap:]
        k = len(scores)
        first = min(k, cap - self.pos)
        self.values[self.pos:self.pos + first] = scores[:first]
        self.values[:k - first] = scores[first:]
        self.pos = (self.pos + k) % cap
        self.size = min(cap, self.size + k)

    def recent(self) -> np.ndarray:
        """The scores held (at most the capacity)."""
        return self.values[:self.size]


def parcel_config() -> SelectivityConfig:
    """Default parcel policy: 5 % of an office's parcels at most held on score, a tenth of it at random."""
    return SelectivityConfig(budget=0.05, exploration=0.10)


@dataclass
class ParcelRiskEngine:
    """The risk engine's selectivity for parcels (a :class:`~smartcustoms.cbec.seams.ParcelSelectivity`)."""

    config: SelectivityConfig = field(default_factory=parcel_config)
    review_at: float = 0.35      # indicator score from which a parcel is worth holding
    inspect_at: float = 0.6      # ... and from which it is inspected rather than reviewed on documents
    model_review_at: float = 0.10   # with a live parcel model: the offence probability worth a hold
    model_inspect_at: float = 0.50  # ... and from which an offence is more likely than not: inspection
    model: ParcelModel | None = None   # the live parcel model (registry, kind 'parcel'), re-read by ``refresh``
    model_version: int | None = None
    refresh_s: float = 30.0      # how often rules and credit grades are re-read
    rules: dict[int, CompiledRule] = field(default_factory=dict)  # active rules that apply to parcels, by id
    grades: dict[str, str] = field(default_factory=dict)
    windows: dict[str, Window] = field(default_factory=dict)
    _loaded_at: float = -1e18

    # -- what officers change while it runs ------------------------------------------------------
    def refresh(self, store: Any, force: bool = False) -> None:
        """Re-read the parcel rules in force and the enterprises' credit grades (every ``refresh_s``)."""
        now = time.monotonic()
        if not force and now - self._loaded_at < self.refresh_s:
            return
        self._loaded_at = now
        rules = []
        rows = store.execute(
            "SELECT id, name, description, criteria, lane, mandatory, target_rate, valid_from, valid_to "
            "FROM risk_rules WHERE active = ? ORDER BY id", (True,)).fetchall()
        if rows:
            from smartcustoms.risk.targeting.rules import PARCEL_FIELDS, compile_rule
            from smartcustoms.risk.targeting.schemas import RuleIn
        for rid, name, desc, criteria, lane, mandatory, rate, vfrom, vto in rows:
            spec = RuleIn(name=name, description=desc or "", lane=lane, mandatory=bool(mandatory), target_rate=rate,
                          criteria=json.loads(criteria) if isinstance(criteria, str | bytes) else criteria,
                          valid_from=vfrom, valid_to=vto)
            rule = compile_rule(rid, spec)
            if rule.applies_to(PARCEL_FIELDS):
                rules.append(rule)
        self.rules = {r.id: r for r in rules}
        self.grades = {c: g for c, g in store.execute("SELECT code, credit_grade FROM enterprises").fetchall()
                       if g != "general"}
        self._load_model(store)

    def _load_model(self, store: Any) -> None:
        """Take the live parcel model of the registry (kind 'parcel') when its version changed; none: indicators."""
        row = store.execute("SELECT version FROM risk_model_versions WHERE status = ? AND kind = ?",
                            ("live", "parcel")).fetchone()
        version = int(row[0]) if row else None
        if version == self.model_version:
            return
        model = None
        if version is not None:
            from smartcustoms.risk.parcels.model import ParcelModel

            blob = store.execute("SELECT blob FROM risk_model_versions WHERE version = ?", (version,)).fetchone()[0]
            model = ParcelModel.from_bytes(bytes(blob))
        self.model, self.model_version = model, version
        self.windows.clear()  # an office's recent scores were another scale's: ranks restart with the new one

    # -- the batch --------------------------------------------------------------------------------
    def select(self, cases: Sequence[ParcelCase]) -> list[Selection]:
        """One selection per parcel of the batch, in order: rules, then score within budget, then exploration."""
        n = len(cases)
        if not n:
            return []
        cfg = self.config
        keys = key_hashes([f"{e}\x1f{o}".encode() for e, o in (c.key for c in cases)])
        m = feature_matrix([c.features for c in cases])
        indicator = matrix_scores(m)
        model = self.model
        if model is None:
            score, review_at, inspect_at = indicator, self.review_at, self.inspect_at
        else:  # one booster call for the batch; the indicator score is one of its inputs
            score = model.predict(np.column_stack([m, indicator]))
            review_at, inspect_at = self.model_review_at, self.model_inspect_at
        heads = [c.inventory.head for c in cases]
        offices = [h.get("customsCode", "") for h in heads]
        grades = self.grades
        grade = [grades.get(h.get("ebcCode", ""), "general") for h in heads] if grades else ["general"] * n
        if grades or cfg.office_budget:
            memo: dict[tuple[str, str], float] = {}
            for og in zip(offices, grade, strict=True):
                if og not in memo:
                    memo[og] = min(0.9, cfg.budget_for(og[0]) * GRADE_FACTOR.get(og[1], 1.0))
            budget = np.fromiter((memo[og] for og in zip(offices, grade, strict=True)), np.float64, n)
        else:
            budget = np.full(n, min(0.9, cfg.budget))
        explore = budget * cfg.exploration
        explored = draws(cfg.seed, 1, keys) < explore / np.maximum(1e-9, 1 - (budget - explore))
        # indicator scores tie often: a jitter far below their 0.05 steps ranks a tie at random, so that an
        # office's budget is met exactly (a share of the tied parcels) instead of all or none of them
        percentile, ranked = self._percentiles(offices, score + draws(cfg.seed, 2, keys) * 1e-6,
                                               score >= review_at)
        chosen = (score >= review_at) & (~ranked | (percentile >= 1 - budget * (1 - cfg.exploration)))
        matched = self._match(cases, grade)
        sampled_by = {rid: m & (draws(cfg.seed, 100 + rid, keys) < self.rules[rid].target_rate)
                      for rid, m in matched.items() if not self.rules[rid].mandatory}
        loud = (indicator > 0) | (score >= review_at) | explored
        for hit_rule in matched.values():
            loud |= hit_rule
        # the common case: nothing to say (a grade is mentioned only with a flag); a model's probability is kept
        out: list[Selection] = ([Selection(RELEASE, 0.0, ())] * n if model is None
                                else [Selection(RELEASE, p, ()) for p in score.tolist()])
        what = "risk score" if model is None else f"offence probability (parcel model v{self.model_version})"
        for i in np.flatnonzero(loud).tolist():
            s = float(score[i])
            g = grade[i]
            words = indicators(cases[i].features)[1] if indicator[i] else []
            grade_words = (GRADE_WORDS[g],) if g in GRADE_WORDS else ()
            hit = [self.rules[rid] for rid, m in matched.items() if m[i]]
            mandatory = [r for r in hit if r.mandatory]
            sampled = [r for r in hit if not r.mandatory and sampled_by[r.id][i]]
            if mandatory:
                r = mandatory[0]
                out[i] = (Selection(LANE_STATUS[r.lane], s, (
                    f"mandatory hold, rule '{r.name}' ({LANE_WORDS[r.lane]}): {r.description}".rstrip(": "), *words)))
            elif sampled:
                r = max(sampled, key=lambda r: LANE_ORDER.index(r.lane))
                out[i] = (Selection(LANE_STATUS[r.lane], s, (
                    *(f"rule '{x.name}' ({LANE_WORDS[x.lane]}): {x.description}".rstrip(": ") for x in sampled),
                    *words)))
            elif chosen[i]:
                rank = (f", in the top {max(1 - percentile[i], 0.001):.1%} at customs office {offices[i]}"
                        if ranked[i] else f" (too few parcels yet at customs office {offices[i]} to rank it)")
                status = INSPECTION if s >= inspect_at else MANUAL_REVIEW
                out[i] = (Selection(status, s, (f"{what} {s:.2f}{rank}", *words, *grade_words)))
            elif explored[i]:
                out[i] = (Selection(INSPECTION, s, (
                    "chosen at random for control: random checks measure what the risk rules miss", *words)))
            elif s >= review_at:
                why = f" ({'; '.join(words)})" if words else ""
                out[i] = (Selection(RELEASE, s, (
                    f"{what} {s:.2f} below the selection threshold at customs office {offices[i]}{why}",
                    *grade_words)))
            else:
                out[i] = (Selection(RELEASE, s, grade_words if words else ()))
        return out

    def _percentiles(self, offices: list[str], score: np.ndarray,
                     wanted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The rank of each ``wanted`` parcel among its office's recent scores (this batch included) and
        whether there were enough to rank it; every score of the batch then joins its office's window."""
        n = len(score)
        percentile = np.zeros(n)
        ranked = np.zeros(n, dtype=bool)
        if offices.count(offices[0]) == n:  # one office per batch, as a rule
            groups = {offices[0]: np.arange(n)}
        else:
            by_office: dict[str, list[int]] = {}
            for i, o in enumerate(offices):
                by_office.setdefault(o, []).append(i)
            groups = {o: np.array(idx) for o, idx in by_office.items()}
        for office, idx in groups.items():
            window = self.windows.get(office)
            if window is None:
                window = self.windows[office] = Window(self.config.window)
            mine = score[idx]
            recent = window.recent()
            total = len(recent) + len(mine)
            for j in np.flatnonzero(wanted[idx]).tolist():
                x = mine[j]
                percentile[idx[j]] = (np.count_nonzero(recent < x) + np.count_nonzero(mine < x)) / total
            ranked[idx] = total >= MIN_WINDOW
            window.add(mine)
        return percentile, ranked

    def _match(self, cases: Sequence[ParcelCase], grade: list[str]) -> dict[int, np.ndarray]:
        """Per rule in force, whether each parcel matches it (any of its lines)."""
        today = utcnow().date()  # the UTC day, as the declarations' rules reckon it
        rules = [r for r in self.rules.values() if r.in_force(today)]
        if not rules:
            return {}
        pairs = [(i, ln) for i, c in enumerate(cases) for ln in (c.inventory.lines or [{}])]
        columns: dict[str, list[Any]] = {"declaration_no": [i for i, _ln in pairs]}
        for f in sorted({c for r in rules for c in r.columns}):
            columns[f] = _column(f, pairs, cases, grade)
        import polars as pl

        from smartcustoms.risk.targeting.rules import TEXT_FIELDS, match

        schema = {f: pl.Utf8() if f in TEXT_FIELDS else pl.Float64() for f in columns} | {"declaration_no": pl.Int64()}
        frame = pl.DataFrame(columns, schema=schema)
        return match(rules, frame, today)


#: rule fields read from an inventory line, from the inventory head
_LINE_FIELDS = {"hs_code": "gcode", "description": "gname"}
_HEAD_FIELDS = {"office_code": "customsCode", "trade_mode": "tradeMode", "transport_mode": "trafMode",
                "importer_code": "ebcCode", "declarant_code": "agentCode", "seller_code": "ebpCode"}
_FEATURE_INDEX = {name: i for i, name in enumerate(ParcelFeatures._fields)}


def _number(v: str | None) -> float | None:
    try:
        return float(v) if v else None
    except ValueError:
        return None


@cache
def _iso_country(code: str | None) -> str | None:
    return country_iso(code) if code else None


def _column(field: str, pairs: list[tuple[int, Mapping[str, str]]], cases: Sequence[ParcelCase],
            grade: list[str]) -> list[Any]:
    """One rule field over the inventory lines of a batch (customs codes mapped to the ISO forms of declarations)."""
    if field in _LINE_FIELDS:
        key = _LINE_FIELDS[field]
        return [ln.get(key) for _i, ln in pairs]
    if field in _HEAD_FIELDS:
        key = _HEAD_FIELDS[field]
        return [cases[i].inventory.head.get(key) for i, _ln in pairs]
    if field in _FEATURE_INDEX:
        k = _FEATURE_INDEX[field]
        return [cases[i].features[k] for i, _ln in pairs]
    match field:
        case "origin_country":
            return [_iso_country(ln.get("country")) for _i, ln in pairs]
        case "currency":
            return ["CNY"] * len(pairs)  # the inventory's currency is checked to be 142 before selectivity
        case "credit_grade":
            return [grade[i] for i, _ln in pairs]
        case "customs_value":
            return [_number(ln.get("totalPrice")) for _i, ln in pairs]
        case "quantity":
            return [_number(ln.get("qty")) for _i, ln in pairs]
        case "declaration_value":
            return [cases[i].dutiable for i, _ln in pairs]
    raise KeyError(f"{field} is not a parcel rule field")
