"""Live selectivity: rules and model combined into a lane under per-office budgets.

For each batch of newly assessed declarations the engine builds the canonical item frame, computes
point-in-time features from the in-memory :class:`HistoryState` (no rescan of history), scores
them with the live model in one call, matches the rule profiles, and chooses a lane:

1. a mandatory rule (prohibited goods) holds every match;
2. other rules hold their matches at their target rate;
3. the model holds a declaration whose score ranks in the top ``budget × (1 − exploration)`` of
   its office's recent scores, scaled by the importer's credit grade (AEO lower, discredited higher);
4. exploration holds a random share so that inspections keep teaching the model where it does not
   look; everything else is released (green).

Random draws (exploration, a rule's sampling) are a keyed hash of the declaration number
(:func:`keyed_draw`): deciding a declaration again (an amendment) draws the same, and without the
deployment's secret key nobody can tell which declarations a draw picks.

Every decision stores its score, lane, mechanism, human-readable reasons and its *selection
probability*, P(held | its score, rules, draws): 1 for a mandatory rule or the model's top share,
otherwise ``1 - (1 - p_rules)(1 - p_exploration)`` with ``p_rules = 1 - prod(1 - target_rate)`` over
the non-mandatory rules it matched. Training weights each inspected declaration by its inverse
(:func:`smartcustoms.risk.propensity.ipw_weights`); exploration keeps it above zero.
"""

from __future__ import annotations

import hashlib
import threading
from collections import deque
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, cast

import numpy as np
import polars as pl
from sqlalchemy import Table, select
from sqlalchemy.orm import Session, sessionmaker

from smartcustoms.core.clock import utcnow
from smartcustoms.declarations.lifecycle import Lane
from smartcustoms.declarations.service import LaneDecision, LodgedDeclaration
from smartcustoms.risk.features.rowwise import LiveFeatures
from smartcustoms.risk.features.state import ROWWISE_ROWS, HistoryState
from smartcustoms.risk.frame import FULL_SCHEMA
from smartcustoms.risk.offence_model import Ranking, RiskModel
from smartcustoms.risk.targeting.models import RiskDecision, RiskDecisionRule, RiskModelVersion, RiskRule
from smartcustoms.risk.targeting.policy import GRADE_FACTOR, GRADE_WORDS, SelectivityConfig
from smartcustoms.risk.targeting.rules import DECLARATION_FIELDS, CompiledRule, compile_rule, match
from smartcustoms.risk.targeting.service import history_frame, labelled_frame, rule_spec
from smartcustoms.tax.service import TariffTable

#: Declaration-level columns of the live item frame beyond the canonical ones (rule fields).
RULE_EXTRAS: dict[str, pl.DataType] = {
    "currency": pl.Utf8(),
    "credit_grade": pl.Utf8(),
    "declaration_value": pl.Float64(),
    "unit_value": pl.Float64(),
}
_LIVE_SCHEMA = {**FULL_SCHEMA, **RULE_EXTRAS}
_DECISIONS = cast(Table, RiskDecision.__table__)
_INSERT_DECISIONS = _DECISIONS.insert().returning(_DECISIONS.c.id, _DECISIONS.c.declaration_id)
_INSERT_RULE_LINKS = cast(Table, RiskDecisionRule.__table__).insert()


def keyed_draw(key: bytes, declaration_no: str, stream: str) -> float:
    """A uniform number in [0, 1) fixed by the secret ``key``, the declaration and the ``stream`` (what it decides)."""
    digest = hashlib.blake2b(f"{stream}\x00{declaration_no}".encode(), key=key, digest_size=8).digest()
    return int.from_bytes(digest, "big") / 18446744073709551616.0  # 2**64


def item_frame(batch: Sequence[LodgedDeclaration], tariff: TariffTable) -> pl.DataFrame:
    """The canonical item frame (plus rule extras) of lodged declarations, at their lodging time.

    Columns: :data:`~smartcustoms.risk.frame.FULL_SCHEMA` in canonical order (labels null), then
    :data:`RULE_EXTRAS`, with explicit dtypes (no inference, and the feature pipeline's schema
    check passes without a cast: live latency).
    """
    return pl.from_dicts(item_rows(batch, tariff), schema=_LIVE_SCHEMA)


def item_rows(batch: Sequence[LodgedDeclaration], tariff: TariffTable) -> list[dict]:
    """The rows of :func:`item_frame` as dicts (what the row-wise live path reads)."""
    rows = []
    for ld in batch:
        d = ld.data
        for i, it in enumerate(d.items):
            tax = ld.assessment.items[i]
            rates = tariff.rates_for(it.hs_code)
            value = float(tax.customs_value)
            mass = float(it.net_mass_kg)
            rows.append(
                {
                    "declaration_no": ld.declaration_no,
                    "item_no": i + 1,
                    "declared_at": ld.lodged_at,
                    "office_code": d.office_code,
                    "trade_mode": d.trade_mode,
                    "transport_mode": d.transport_mode,
                    "declarant_code": d.declarant_code,
                    "importer_code": d.importer_code,
                    "seller_code": d.seller_name,
                    "hs_code": it.hs_code,
                    "origin_country": it.origin_country,
                    "departure_country": d.departure_country,
                    "tax_rate": float(rates.duty_rate * 100) if rates else 0.0,
                    "net_mass_kg": mass,
                    "quantity": float(it.quantity),
                    "customs_value": value,
                    "description": it.description,
                    "currency": d.currency,
                    "credit_grade": ld.importer.credit_grade,
                    "declaration_value": float(ld.assessment.customs_value),
                    "unit_value": value / mass if mass > 0 else None,
                }
            )
    return rows


def _pct(share: float) -> str:
    """A share in words: 0.09 -> '9%', 0.045 -> '4.5%'."""
    return f"{share * 100:.1f}".removesuffix(".0") + "%"


def _release_words(
    score: float, threshold: float, office: str, office_share: float, model_share: float, ranking: str
) -> str:
    """Why a scored declaration was released: the office's current threshold score and its budget (#18).

    ``office_share`` is the share of scores the office's model budget holds, ``model_share`` that share
    scaled by the importer's credit grade (the threshold is the grade's).
    """
    digits = 2
    while f"{score:.{digits}f}" == f"{threshold:.{digits}f}" and digits < 4 and score != threshold:
        digits += 1
    relation = "is below" if score < threshold else "is not above"
    words = (f"risk score {score:.{digits}f} {relation} office {office}'s current selection threshold "
             f"{threshold:.{digits}f} (the office holds its top {_pct(office_share)} of scores")
    if abs(model_share - office_share) > 1e-9:
        words += f", {_pct(model_share)} at this importer's credit grade"
    if ranking == "probability" and threshold >= 0.5:
        words += "; recent scores are high"
    return words + ")"


def _canonical(frame: pl.DataFrame) -> pl.DataFrame:
    """The canonical columns of a live item frame (a projection: no copy, no expression engine)."""
    names = list(FULL_SCHEMA)
    return frame[names] if frame.width > len(names) and frame.columns[: len(names)] == names else frame


def _rule_frame(
    rules: list[CompiledRule], frame: pl.DataFrame, feats: pl.DataFrame | LiveFeatures, now: datetime
) -> pl.DataFrame:
    """The item frame plus the features that the rules in force refer to (not all ~200 of them)."""
    have = set(frame.columns)
    wanted = {c for r in rules if r.in_force(now.date()) for c in r.columns if c not in have}
    return frame.hstack([feats.get_column(c) for c in feats.columns if c in wanted]) if wanted else frame


def _rule_input(rules: list[CompiledRule], rows: list[dict], now: datetime) -> pl.DataFrame | None:
    """The item-frame columns that the rules in force read (None when no rule is in force)."""
    fields = {c for r in rules if r.in_force(now.date()) for c in r.columns}
    if not fields:
        return None
    names = ["declaration_no", *sorted(c for c in fields if c in _LIVE_SCHEMA and c != "declaration_no")]
    return pl.DataFrame({c: [row.get(c) for row in rows] for c in names}, schema={c: _LIVE_SCHEMA[c] for c in names})


class RiskEngine:
    """The live :class:`~smartcustoms.declarations.service.Selectivity` of a deployment."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        tariff: TariffTable,
        config: SelectivityConfig | None = None,
        clock: Callable[[], datetime] = utcnow,
        draw_key: bytes | None = None,
    ) -> None:
        self.sessions = sessions
        self.tariff = tariff
        self.config = config or SelectivityConfig()
        self.clock = clock
        self.state = HistoryState()
        self.model: RiskModel | None = None
        self.model_version: int | None = None
        self.rules: list[CompiledRule] = []
        self.windows: dict[str, deque[float]] = {}
        # a deployment passes its secret; without one the key follows the seed (reproducible replays and tests)
        self.draw_key = hashlib.blake2b(draw_key or f"smartcustoms-seed-{self.config.seed}".encode(),
                                        digest_size=32).digest()
        self.lock = threading.RLock()

    # -- loading -------------------------------------------------------------------------------
    def load(self) -> RiskEngine:
        """Load the live model, the rules and the history aggregates from the database."""
        with self.sessions() as s:
            self.reload_model(s)
            self.reload_rules(s)
            declarations, outcomes = history_frame(s)
        with self.lock:
            if declarations.height:
                self.state.observe_declarations(declarations)
            if outcomes.height:
                self.state.observe_outcomes(outcomes)
        return self

    def reload_model(self, session: Session) -> None:
        """Load the live model when it changed (score windows restart with a new model)."""
        row = session.execute(
            select(RiskModelVersion.version, RiskModelVersion.blob).where(
                RiskModelVersion.status == "live", RiskModelVersion.kind == "declaration")
        ).first()
        with self.lock:
            if row is None:
                self.model, self.model_version = None, None
                self.windows.clear()
            elif row[0] != self.model_version:
                self.model, self.model_version = RiskModel.from_bytes(row[1]), row[0]
                self.windows.clear()  # thresholds come from the scores of the model in force

    def reload_rules(self, session: Session) -> None:
        """Load the active rules that apply to declarations."""
        rules = []
        for r in session.scalars(select(RiskRule).where(RiskRule.active.is_(True))):
            rule = compile_rule(r.id, rule_spec(r))
            if rule.applies_to(DECLARATION_FIELDS):  # a rule over parcel features is for parcels only
                rules.append(rule)
        with self.lock:
            self.rules = rules

    # -- scoring -------------------------------------------------------------------------------
    def score(self, frame: pl.DataFrame, observe: bool = False) -> tuple[np.ndarray, pl.DataFrame, np.ndarray]:
        """Per-declaration score, the item features, and the index of each declaration's riskiest item.

        With ``observe`` the rows are folded into the history in the same pass (after their features).
        """
        canonical = _canonical(frame)
        feats = self.state.score_and_observe(canonical) if observe else self.state.features_for(canonical)
        return self._per_declaration(frame["declaration_no"].to_list(), feats)

    def score_rows(self, rows: list[dict]) -> tuple[np.ndarray, LiveFeatures, np.ndarray]:
        """:meth:`score` with ``observe`` for a few item rows, on the row-wise path (no frames)."""
        feats = self.state.score_rows(rows, observe=True)
        return self._per_declaration([r["declaration_no"] for r in rows], feats)

    def _per_declaration(self, numbers: list[str], feats) -> tuple[np.ndarray, Any, np.ndarray]:
        """Model scores of item rows; per declaration (contiguous rows) the riskiest item's score and row."""
        ranking = cast(Ranking, self.config.ranking)
        p = self.model.rank_scores(feats, ranking) if self.model is not None else np.zeros(len(numbers))
        best: list[int] = []
        score: list[float] = []
        for i, (no, v) in enumerate(zip(numbers, p.tolist(), strict=True)):
            if i == 0 or no != numbers[i - 1]:
                best.append(i)
                score.append(v)
            elif v > score[-1]:
                score[-1], best[-1] = v, i
        return np.array(score, dtype=np.float64), feats, np.array(best, dtype=np.int64)

    def decide(self, session: Session, batch: Sequence[LodgedDeclaration]) -> list[LaneDecision]:
        """Lanes for a lodged batch, stored with their reasons and rule links in ``session``."""
        now = self.clock()
        decisions, matched = self.assign(batch, now)
        self._store(session, batch, decisions, matched, now)
        return decisions

    def rehearse(self, session: Session, batch: Sequence[LodgedDeclaration]) -> list[LaneDecision]:
        """:meth:`decide`'s work without its effects on the engine (a server's warm-up, rolled back).

        Features (the history state untouched), model scores and reasons, rule matching, and the decision
        rows written in the caller's transaction; no lane is chosen (budget windows and random draws are
        not touched): every decision comes back green.
        """
        now = self.clock()
        rows = item_rows(batch, self.tariff)
        with self.lock:
            feats = self.state.score_rows(rows, observe=False)
            score, feats, best = self._per_declaration([r["declaration_no"] for r in rows], feats)
            frame = _rule_input(self.rules, rows, now)
            matched = {} if frame is None else match(self.rules, _rule_frame(self.rules, frame, feats, now), now.date())
            if self.model is not None:
                self.model.explain(feats[best.tolist()], top=self.config.reasons)
        decisions = [
            LaneDecision(Lane.GREEN, float(max(s, 0.0)), [], "none", {"rules": [r for r, m in matched.items() if m[i]]})
            for i, s in enumerate(score.tolist())
        ]
        self._store(session, batch, decisions, matched, now)
        return decisions

    def assign(
        self, batch: Sequence[LodgedDeclaration], now: datetime
    ) -> tuple[list[LaneDecision], dict[int, np.ndarray]]:
        """Lanes of a batch (features, model, rules, budgets) with the history updated; nothing stored.

        Returns the decisions and, per rule in force, which declarations matched it.
        """
        rows = item_rows(batch, self.tariff)
        feats: pl.DataFrame | LiveFeatures
        with self.lock:
            if len(rows) <= ROWWISE_ROWS:  # live micro-batches: the row-wise path, no feature frame
                score, feats, best = self.score_rows(rows)
                frame = _rule_input(self.rules, rows, now)
            else:
                frame = pl.from_dicts(rows, schema=_LIVE_SCHEMA)
                score, feats, best = self.score(frame, observe=True)
            matched = {} if frame is None else match(self.rules, _rule_frame(self.rules, frame, feats, now), now.date())
            decisions = self._choose(batch, score, matched, feats, best)
        return decisions, matched

    def _choose(self, batch, score, matched, feats, best) -> list[LaneDecision]:
        cfg = self.config
        rules = {r.id: r for r in self.rules}
        explain_rows: list[int] = []
        out: list[LaneDecision | None] = [None] * len(batch)
        percentile = np.zeros(len(batch))
        by_office: dict[str, list[int]] = {}
        refs: dict[str, np.ndarray] = {}
        for i, ld in enumerate(batch):
            by_office.setdefault(ld.data.office_code, []).append(i)
        for office, idx in by_office.items():
            window = self.windows.setdefault(office, deque(maxlen=cfg.window))
            ref = refs[office] = np.sort(np.concatenate([np.fromiter(window, float), score[idx]]))
            percentile[idx] = np.searchsorted(ref, score[idx], side="left") / max(len(ref), 1)
            if self.model is not None:
                window.extend(score[idx].tolist())
        for i, ld in enumerate(batch):
            grade = ld.importer.credit_grade
            factor = GRADE_FACTOR.get(grade, 1.0)
            budget = min(0.9, cfg.budget_for(ld.data.office_code) * factor)
            model_share = budget * (1 - cfg.exploration)
            hit_rules = [rules[rid] for rid, m in matched.items() if m[i]]
            mandatory = [r for r in hit_rules if r.mandatory]
            no = ld.declaration_no
            sampled = [r for r in hit_rules
                       if not r.mandatory and keyed_draw(self.draw_key, no, f"rule-{r.id}") < r.target_rate]
            in_top = self.model is not None and percentile[i] >= 1 - model_share
            explore = budget * cfg.exploration if self.model is not None else budget
            p_explore = min(1.0, explore / max(1e-9, 1 - (budget - explore)))
            if mandatory or in_top:
                p_held = 1.0
            else:  # a rule's sampling draw, else the exploration draw: independent keyed draws
                p_released = 1.0 - p_explore
                for r in hit_rules:
                    p_released *= 1.0 - min(1.0, max(0.0, r.target_rate))
                p_held = 1.0 - p_released
            detail = {
                "model_version": self.model_version,
                "percentile": round(float(percentile[i]), 4),
                "rules": [r.id for r in hit_rules],
                "selected_rules": [r.id for r in mandatory + sampled],
                "credit_grade": grade,
                "selection_probability": round(p_held, 6),
            }
            s = float(max(score[i], 0.0))
            if mandatory:
                r = mandatory[0]
                words = f"mandatory hold, rule '{r.name}': {r.description}".rstrip(": ")
                out[i] = LaneDecision(Lane(r.lane), s, [words], "mandatory", detail)
            elif sampled:
                r = max(sampled, key=lambda r: ["yellow", "blue", "red"].index(r.lane))
                out[i] = LaneDecision(
                    Lane(r.lane), s, [f"rule '{x.name}': {x.description}".rstrip(": ") for x in sampled], "rule", detail
                )
            elif in_top:
                top = 1 - percentile[i]
                lane = Lane.RED if top <= model_share * 0.3 else Lane.BLUE if top <= model_share * 0.6 else Lane.YELLOW
                out[i] = LaneDecision(
                    lane,
                    s,
                    [f"risk score {s:.2f}, in the top {max(top, 0.001):.1%} at office {ld.data.office_code}"],
                    "model",
                    detail,
                )
                explain_rows.append(i)
            else:
                if keyed_draw(self.draw_key, ld.declaration_no, "exploration") < p_explore:
                    out[i] = LaneDecision(
                        Lane.RED,
                        s,
                        ["chosen at random for control: exploration keeps the model learning where it does not look"],
                        "exploration",
                        detail,
                    )
                else:
                    if self.model:
                        ref = refs[ld.data.office_code]
                        k = min(len(ref), max(1, int(np.ceil((1 - model_share) * len(ref)))))
                        office = ld.data.office_code
                        office_share = min(0.9, cfg.budget_for(office)) * (1 - cfg.exploration)
                        release = [_release_words(s, float(ref[k - 1]), office, office_share, model_share,
                                                  cfg.ranking)]
                    else:
                        release = ["no live model yet: released unless a rule or random control selects it"]
                    if grade in GRADE_WORDS:
                        release.append(GRADE_WORDS[grade])
                    out[i] = LaneDecision(Lane.GREEN, s, release, "model" if self.model else "none", detail)
        if explain_rows and self.model is not None:
            rows = feats[best[explain_rows].tolist()]
            for i, reasons in zip(explain_rows, self.model.explain(rows, top=self.config.reasons), strict=True):
                dec = cast(LaneDecision, out[i])
                dec.reasons.extend(r.text for r in reasons)
                if batch[i].importer.credit_grade in GRADE_WORDS:
                    dec.reasons.append(GRADE_WORDS[batch[i].importer.credit_grade])
        return out  # type: ignore[return-value]

    def _store(self, session, batch, decisions, matched, now) -> None:
        rows = [
            {
                "declaration_id": ld.id,
                "decided_at": now,
                "office_code": ld.data.office_code,
                "importer_code": ld.data.importer_code,
                "credit_grade": ld.importer.credit_grade,
                "score": d.score,
                "lane": d.lane.value,
                "mechanism": d.mechanism,
                "reasons": d.reasons,
                "model_version": self.model_version,
                "selection_probability": d.detail.get("selection_probability"),
            }
            for ld, d in zip(batch, decisions, strict=True)
        ]
        conn = session.connection()
        # one multi-row INSERT ... RETURNING; ids matched by declaration (no per-row statements for ordering)
        id_of = {declaration_id: did for did, declaration_id in conn.execute(_INSERT_DECISIONS, rows)}
        ids = [id_of[ld.id] for ld in batch]
        links: list[dict[str, Any]] = []
        for did, d in zip(ids, decisions, strict=True):
            chosen = set(d.detail.get("selected_rules", []))
            links.extend(
                {"decision_id": did, "rule_id": rid, "selected": rid in chosen} for rid in d.detail.get("rules", [])
            )
        if links:
            conn.execute(_INSERT_RULE_LINKS, links)

    # -- feedback ------------------------------------------------------------------------------
    def observe_outcomes(self, frame: pl.DataFrame) -> None:
        """Inspection results (item rows with labels) enter the history aggregates at once."""
        with self.lock:
            self.state.observe_outcomes(frame)

    def observe_inspection(self, declaration_id: int) -> None:
        """An inspection result was recorded for a declaration: its labelled items enter the history at once.

        The inspection-result listener the platform registers (inspection publishes, risk listens).
        """
        with self.sessions() as session:
            frame = labelled_frame(session, [declaration_id])
        self.observe_outcomes(frame)
