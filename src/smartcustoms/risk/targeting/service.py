"""Live risk operations: history loading, rule profiles, the model registry, hit statistics."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

import numpy as np
import polars as pl
from sqlalchemy import case, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from smartcustoms.audit.service import entries as audit_entries
from smartcustoms.audit.service import record
from smartcustoms.core.clock import utcnow
from smartcustoms.core.errors import Conflict, FieldError, NotFound, ValidationProblem
from smartcustoms.core.security import Principal
from smartcustoms.declarations.models import Declaration, GoodsItem
from smartcustoms.inspection.models import InspectionResult
from smartcustoms.risk.drift import OfficeWeek, ResultRow, ScoreRow, monday, weekly_drift
from smartcustoms.risk.evaluate import metrics_at
from smartcustoms.risk.features.state import build_features
from smartcustoms.risk.offence_model import DEFAULT_ROUNDS, RiskModel
from smartcustoms.risk.propensity import MAX_WEIGHT, ipw_weights, self_normalised
from smartcustoms.risk.targeting.models import RiskDecision, RiskDecisionRule, RiskModelVersion, RiskRule
from smartcustoms.risk.targeting.rules import compile_rule, match, validate_rule
from smartcustoms.risk.targeting.schemas import ModelVersionOut, RuleIn, RuleOut


# -- history as the canonical item frame -----------------------------------------------------------
def _items_query():
    tax_rate = case((GoodsItem.customs_value_cny > 0, GoodsItem.duty_cny * 100 / GoodsItem.customs_value_cny), else_=0)
    return (
        select(
            Declaration.id.label("declaration_id"),
            Declaration.declaration_no,
            GoodsItem.item_no,
            Declaration.lodged_at.label("declared_at"),
            Declaration.office_code,
            Declaration.trade_mode,
            Declaration.transport_mode,
            Declaration.declarant_code,
            Declaration.importer_code,
            Declaration.seller_name.label("seller_code"),
            GoodsItem.hs_code,
            GoodsItem.origin_country,
            Declaration.departure_country,
            tax_rate.label("tax_rate"),
            GoodsItem.net_mass_kg,
            GoodsItem.quantity,
            GoodsItem.customs_value_cny.label("customs_value"),
            GoodsItem.description,
            InspectionResult.outcome,
            InspectionResult.critical,
            InspectionResult.duty_recovered,
            InspectionResult.recorded_at,
        )
        .join(GoodsItem, GoodsItem.declaration_id == Declaration.id)
        .outerjoin(InspectionResult, InspectionResult.declaration_id == Declaration.id)
        .where(Declaration.customs_value_cny.is_not(None))
        .order_by(Declaration.lodged_at, Declaration.id, GoodsItem.item_no)
    )


def labelled_frame(session: Session, declaration_ids: list[int] | None = None,
                   since: datetime | None = None) -> pl.DataFrame:
    """Accepted declarations' items with their inspection outcomes (null when never inspected); only those
    lodged at or after ``since`` when given."""
    q = _items_query()
    if declaration_ids is not None:
        q = q.where(Declaration.id.in_(declaration_ids))
    if since is not None:
        q = q.where(Declaration.lodged_at >= since)
    rows = session.execute(q).all()
    cols = list(q.selected_columns.keys())
    raw = pl.DataFrame([tuple(r) for r in rows], schema=cols, orient="row", infer_schema_length=None)
    if not raw.height:
        return raw
    return (
        raw.with_columns(
            pl.col(c).cast(pl.Float64)
            for c in ("tax_rate", "net_mass_kg", "quantity", "customs_value", "duty_recovered")
        )
        .with_columns(
            pl.when(pl.col("outcome").is_null())
            .then(None)
            .otherwise((pl.col("outcome") == "offence").cast(pl.Int8))
            .alias("offence"),
            pl.when(pl.col("outcome").is_null())
            .then(None)
            .otherwise(pl.when(pl.col("critical")).then(2).when(pl.col("outcome") == "offence").then(1).otherwise(0))
            .cast(pl.Int8)
            .alias("critical"),
            pl.col("recorded_at").alias("outcome_at"),
        )
        .drop("outcome", "recorded_at")
    )


def history_frame(session: Session) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(declarations, outcomes) to warm the live :class:`HistoryState` from the store."""
    frame = labelled_frame(session)
    if not frame.height:
        return frame, frame
    return frame, frame.filter(pl.col("offence").is_not_null())


# -- rule profiles -----------------------------------------------------------------------------
def rule_spec(r: RiskRule) -> RuleIn:
    """A stored rule as its definition."""
    return RuleIn(name=r.name, description=r.description, criteria=r.criteria, lane=r.lane, mandatory=r.mandatory,
                  target_rate=r.target_rate, valid_from=r.valid_from, valid_to=r.valid_to, active=r.active)


def _rule_out(r: RiskRule, stats: dict[int, tuple[int, int, int, int]]) -> RuleOut:
    m, s, i, h = stats.get(r.id, (0, 0, 0, 0))
    return RuleOut(**rule_spec(r).model_dump(), id=r.id, created_by=r.created_by, created_at=r.created_at,
                   updated_at=r.updated_at, matches=m, selected=s, inspected=i, hits=h)


def rule_stats(session: Session) -> dict[int, tuple[int, int, int, int]]:
    """Per rule: matches, declarations it selected, of those inspected, and hits."""
    q = (
        select(
            RiskDecisionRule.rule_id,
            func.count(),
            func.sum(case((RiskDecisionRule.selected, 1), else_=0)),
            func.sum(case((RiskDecisionRule.selected & InspectionResult.id.is_not(None), 1), else_=0)),
            func.sum(case((RiskDecisionRule.selected & (InspectionResult.outcome == "offence"), 1), else_=0)),
        )
        .join(RiskDecision, RiskDecision.id == RiskDecisionRule.decision_id)
        .outerjoin(InspectionResult, InspectionResult.declaration_id == RiskDecision.declaration_id)
        .group_by(RiskDecisionRule.rule_id)
    )
    return {r[0]: (int(r[1]), int(r[2] or 0), int(r[3] or 0), int(r[4] or 0)) for r in session.execute(q)}


def stored_rule(session: Session, rule_id: int) -> RuleIn:
    """The definition of stored rule ``rule_id`` (404 when there is none)."""
    r = session.get(RiskRule, rule_id)
    if r is None:
        raise NotFound(f"no rule {rule_id}")
    return rule_spec(r)


def rule_history(session: Session, rule_id: int, limit: int = 50) -> list[dict]:
    """Every save of a rule, newest first, from the audit log (who, when, and the definition saved)."""
    return [{"at": e.at, "by": e.actor, "role": e.role, "definition": e.detail}
            for e in audit_entries(session, "risk_rule", str(rule_id), limit) if e.action == "risk.rule.save"]


def list_rules(session: Session) -> list[RuleOut]:
    """Every rule with its statistics, by id."""
    stats = rule_stats(session)
    return [_rule_out(r, stats) for r in session.scalars(select(RiskRule).order_by(RiskRule.id))]


def save_rule(session: Session, rule: RuleIn, who: Principal, rule_id: int | None = None) -> RuleOut:
    """Create or replace a rule after validating it; a bad definition saves nothing (422)."""
    errors = validate_rule(rule)
    if errors:
        raise ValidationProblem("the rule definition has errors; nothing was saved", errors,
                                title="The risk rule is not valid")
    now = utcnow()
    values = {**rule.model_dump(mode="python"), "criteria": [c.model_dump(mode="json") for c in rule.criteria]}
    try:
        if rule_id is None:
            r = RiskRule(**values, created_by=who.username, created_at=now, updated_at=now)
            session.add(r)
            session.flush()
        else:
            found = session.get(RiskRule, rule_id)
            if found is None:
                raise NotFound(f"no rule {rule_id}")
            r = found
            for k, v in values.items():
                setattr(r, k, v)
            r.updated_at = now
            session.flush()
    except IntegrityError:
        raise Conflict(f"a rule named {rule.name!r} exists", [FieldError("name", "already used")]) from None
    record(
        session,
        who,
        "risk.rule.save",
        "risk_rule",
        str(r.id),
        values | {"valid_from": str(rule.valid_from), "valid_to": str(rule.valid_to)},
    )
    return _rule_out(r, {})


@dataclass
class Backtest:
    """What a rule's criteria would have selected among the declarations lodged in the last ``days`` days."""

    days: int
    since: datetime
    declarations: int  # lodged in the window
    matched: int  # of them, those the criteria select (any goods item matching every condition)
    matched_inspected: int  # of the matched, those with an inspection result (any: chosen or audit)
    matched_offences: int  # of the matched, those whose result is an offence
    inspected: int  # every declaration of the window with a result
    offences: int

    @property
    def hit_rate(self) -> float | None:
        """Offences among the matched declarations that were inspected."""
        return self.matched_offences / self.matched_inspected if self.matched_inspected else None

    @property
    def overall_hit_rate(self) -> float | None:
        """Offences among every inspected declaration of the window (the rule's baseline)."""
        return self.offences / self.inspected if self.inspected else None


def backtest_rule(session: Session, rule: RuleIn, days: int = 30, now: datetime | None = None) -> Backtest:
    """Run a rule's criteria over the declarations lodged in the last ``days`` days, as stored.

    The criteria are matched as the live engine matches them (:func:`~.rules.match`, a declaration
    matches when one goods item meets every condition); features are computed point-in-time over the
    whole stored history (only the window is read when the criteria use stored fields alone). Validity
    dates, ``active`` and the target rate are ignored: the question is what the criteria pick. The
    results are those recorded so far (a declaration never inspected counts as matched, not as a miss).
    A bad definition is a 422 naming each wrong field.
    """
    errors = validate_rule(rule)
    if errors:
        raise ValidationProblem("the rule definition has errors", errors, title="The risk rule is not valid")
    now = now or utcnow()
    since = now - timedelta(days=days)
    compiled = compile_rule(0, rule.model_copy(update={"valid_from": None, "valid_to": None}))
    stored = {*_items_query().selected_columns.keys(), "unit_value", "declaration_value", "currency", "credit_grade"}
    # history features need the whole history (point-in-time); the stored fields only the window
    frame = labelled_frame(session, since=None if compiled.columns - stored else since)
    if not frame.height:
        return Backtest(days, since, 0, 0, 0, 0, 0, 0)
    extra = {
        "unit_value": pl.when(pl.col("net_mass_kg") > 0).then(pl.col("customs_value") / pl.col("net_mass_kg")),
        "declaration_value": pl.col("customs_value").sum().over("declaration_id"),
    }
    frame = frame.with_columns(v.alias(k) for k, v in extra.items() if k in compiled.columns)
    if compiled.columns & {"currency", "credit_grade"}:
        parties = pl.DataFrame(
            [tuple(r) for r in session.execute(
                select(Declaration.id, Declaration.currency, RiskDecision.credit_grade)
                .outerjoin(RiskDecision, RiskDecision.declaration_id == Declaration.id))],
            schema={"declaration_id": frame.schema["declaration_id"], "currency": pl.String, "credit_grade": pl.String},
            orient="row",
        ).unique("declaration_id", keep="last")
        frame = frame.join(parties, on="declaration_id", how="left", maintain_order="left")
    wanted = [c for c in compiled.columns if c not in frame.columns]
    if wanted:
        feats, _ = build_features(frame)
        frame = frame.hstack([feats.get_column(c) for c in wanted])
    window = frame.filter(pl.col("declared_at") >= since)
    if not window.height:
        return Backtest(days, since, 0, 0, 0, 0, 0, 0)
    hit = match([compiled], window, now.date())[0]
    per = window.group_by("declaration_id", maintain_order=True).agg(
        pl.col("offence").first().alias("offence")
    ).with_columns(pl.Series("matched", hit))
    inspected = per.filter(pl.col("offence").is_not_null())
    chosen = per.filter(pl.col("matched"))
    chosen_inspected = chosen.filter(pl.col("offence").is_not_null())
    return Backtest(
        days, since, per.height, chosen.height, chosen_inspected.height, int(chosen_inspected["offence"].sum()),
        inspected.height, int(inspected["offence"].sum()),
    )


# -- model registry ----------------------------------------------------------------------------
def version_out(v: RiskModelVersion) -> ModelVersionOut:
    """A registry row as its wire shape."""
    return ModelVersionOut(
        version=v.version,
        status=v.status,
        created_at=v.created_at,
        trained_by=v.trained_by,
        training_from=v.training_from,
        training_to=v.training_to,
        metrics=v.metrics,
        promoted_by=v.promoted_by,
        promoted_at=v.promoted_at,
        kind=v.kind,
    )


#: what a registry model scores: the declaration offence model, the CBEC parcel model, or the manifests'
#: pre-loading model (trained and loaded by ``smartcustoms.manifests.registry``)
ModelKind = Literal["declaration", "parcel", "manifest"]


def list_models(session: Session, kind: ModelKind = "declaration") -> list[ModelVersionOut]:
    """Every model version of ``kind``, oldest first."""
    q = select(RiskModelVersion).where(RiskModelVersion.kind == kind).order_by(RiskModelVersion.version)
    return [version_out(v) for v in session.scalars(q)]


def live_model(session: Session) -> tuple[int, RiskModel] | None:
    """The live declaration model and its version, or None."""
    row = session.execute(
        select(RiskModelVersion.version, RiskModelVersion.blob).where(
            RiskModelVersion.status == "live", RiskModelVersion.kind == "declaration")
    ).first()
    return (row[0], RiskModel.from_bytes(row[1])) if row else None


MIN_LABELS = 50


def selection_of(session: Session) -> dict[int, tuple[bool, float | None]]:
    """Per declaration id: (held by the selectivity, its selection probability) from its latest decision."""
    q = select(RiskDecision.declaration_id, RiskDecision.lane, RiskDecision.selection_probability).order_by(
        RiskDecision.decided_at, RiskDecision.id
    )
    return {did: (lane != "green", p) for did, lane, p in session.execute(q)}


def training_weights(frame: pl.DataFrame, selection: dict[int, tuple[bool, float | None]]) -> np.ndarray:
    """Per item row of :func:`labelled_frame`: its inverse-propensity training weight (0 = not trained on).

    Only results of declarations the selectivity held count, weighted ``1 / selection_probability``
    (clipped, :func:`~smartcustoms.risk.propensity.ipw_weights`; scaled to average 1 when fitting).
    A released declaration without a result contributes nothing (it is not "clean", its outcome is
    unknown). Post-clearance audits (results of
    released declarations) are excluded too: an audit plan picked them on its own grounds with a
    probability the selectivity does not know, so any weight would be a guess that biases the model;
    exploration is the unbiased sample of what the model releases. Audits still feed the history
    features (the officers know those results). Decisions made before probabilities were recorded
    (revision 0202) count with probability 1, as all results did before.
    """
    ids = frame["declaration_id"].to_list()
    known = frame["offence"].is_not_null().to_numpy()
    held = np.array([selection.get(d, (False, None))[0] for d in ids], dtype=bool)
    p = np.array([selection.get(d, (False, None))[1] for d in ids], dtype=np.float64)  # None -> nan
    p = np.where(np.isnan(p), 1.0, p)
    return ipw_weights(p, known & held)


def train_candidate(
    session: Session,
    who: Principal,
    *,
    holdout_days: int = 14,
    num_boost_round: int | None = None,
    now: datetime | None = None,
) -> ModelVersionOut:
    """Train a candidate on inspected declarations before the holdout window and compare it with the
    live model on the most recent ``holdout_days`` (the same point-in-time features for both)."""
    now = now or utcnow()
    frame = labelled_frame(session)
    labelled = frame.filter(pl.col("offence").is_not_null()) if frame.height else frame
    if labelled.height < MIN_LABELS or labelled["offence"].sum() < 5:
        raise ValidationProblem(
            f"not enough inspection results to train: {labelled.height} labelled items "
            f"(need {MIN_LABELS} with at least 5 offences)"
        )
    weights = training_weights(frame, selection_of(session))
    chosen = weights > 0  # results of declarations the selectivity held (see training_weights)
    if chosen.sum() < MIN_LABELS or np.nansum(frame["offence"].to_numpy()[chosen]) < 5:
        raise ValidationProblem(
            f"not enough inspection results of held declarations to train: {int(chosen.sum())} items "
            f"(need {MIN_LABELS} with at least 5 offences; post-clearance audits do not count)"
        )
    feats, _ = build_features(frame)
    y = frame["offence"].to_numpy()
    cutoff = now - timedelta(days=holdout_days)
    t = frame["declared_at"].to_numpy()
    train = chosen & (t < np.datetime64(cutoff))
    test = chosen & ~train
    if train.sum() < MIN_LABELS:
        train, test = chosen, np.zeros_like(chosen)
    model = RiskModel(seed=0, num_boost_round=num_boost_round or DEFAULT_ROUNDS)
    tr_idx = np.flatnonzero(train)
    window = (str(frame["declared_at"][int(tr_idx[0])]), str(frame["declared_at"][int(tr_idx[-1])]))
    model.fit(feats[tr_idx.tolist()], y[train].astype(np.float64), training_window=window,
              weights=self_normalised(weights[train]))
    metrics: dict = {
        "n_train": int(train.sum()),
        "weighting": {"scheme": "inverse selection probability", "max_weight": MAX_WEIGHT,
                      "mean_weight": float(weights[train].mean()), "clipped": int((weights[train] >= MAX_WEIGHT).sum()),
                      "audits_excluded": int((frame["offence"].is_not_null().to_numpy() & ~chosen).sum())},
        "train_offence_rate": float(y[train].astype(float).mean()),
        "holdout_days": holdout_days,
        "n_holdout": int(test.sum()),
    }
    if test.sum() >= 20:
        te = np.flatnonzero(test).tolist()
        metrics["candidate"] = metrics_at(model.predict_proba(feats[te]), y[test].astype(float), ks=(5, 10, 20))
        live = live_model(session)
        if live is not None:
            metrics["live"] = metrics_at(live[1].predict_proba(feats[te]), y[test].astype(float), ks=(5, 10, 20))
            metrics["live_version"] = live[0]
    model.metadata["metrics"] = metrics
    version = (session.scalar(select(func.max(RiskModelVersion.version))) or 0) + 1
    v = RiskModelVersion(
        version=version,
        status="candidate",
        created_at=now,
        trained_by=who.username,
        training_from=datetime.fromisoformat(window[0]),
        training_to=datetime.fromisoformat(window[1]),
        metrics=metrics,
        features=list(model.features),
        blob=model.to_bytes(),
    )
    session.add(v)
    session.flush()
    record(session, who, "risk.model.train", "risk_model", str(version), {"metrics": metrics})
    return version_out(v)


def promote(session: Session, version: int, who: Principal, kind: ModelKind = "declaration") -> ModelVersionOut:
    """Make ``version`` the live model of its kind; the previous live one of that kind is retired."""
    v = session.get(RiskModelVersion, version)
    if v is None or v.kind != kind:
        raise NotFound(f"no {kind} model version {version}")
    if v.status == "live":
        return version_out(v)
    session.execute(update(RiskModelVersion).where(RiskModelVersion.status == "live", RiskModelVersion.kind == kind)
                    .values(status="retired"))
    v.status, v.promoted_by, v.promoted_at = "live", who.username, utcnow()
    session.flush()
    record(session, who, "risk.model.promote", "risk_model", str(version), {"kind": kind})
    return version_out(v)


def rollback(session: Session, who: Principal, kind: ModelKind = "declaration") -> ModelVersionOut:
    """Retire the live model of ``kind`` and bring back the one of that kind promoted before it."""
    live = session.scalar(select(RiskModelVersion).where(RiskModelVersion.status == "live",
                                                         RiskModelVersion.kind == kind))
    if live is None:
        raise Conflict(f"no live {kind} model to roll back")
    previous = session.scalar(
        select(RiskModelVersion)
        .where(
            RiskModelVersion.status == "retired",
            RiskModelVersion.kind == kind,
            RiskModelVersion.promoted_at.is_not(None),
            RiskModelVersion.version != live.version,
        )
        .order_by(RiskModelVersion.promoted_at.desc())
        .limit(1)
    )
    if previous is None:
        raise Conflict(f"model {live.version} has no predecessor to roll back to")
    live.status = "rolled_back"
    previous.status, previous.promoted_by, previous.promoted_at = "live", who.username, utcnow()
    session.flush()
    record(session, who, "risk.model.rollback", "risk_model", str(live.version), {"to": previous.version, "kind": kind})
    return version_out(previous)



# -- statistics --------------------------------------------------------------------------------
#: The hit-rate definition, the one every report uses. The selectivity *chose* a declaration when it held
#: it (any lane but green); its mechanism (rule, model, exploration, mandatory) is credited with the
#: inspection and, when the result is an offence, with a hit. The result of a green (released)
#: declaration is a post-clearance audit: counted apart (``audited``, ``audit_hits``), never as an
#: inspection of a mechanism. Exploration holds at random: its hit rate is the baseline the others are
#: measured by.
CHOSEN = RiskDecision.lane != "green"
HIT = InspectionResult.outcome == "offence"


def hit_rate(hits: int, inspected: int) -> float:
    """Hits among the inspections the selectivity chose (0.0 when there were none)."""
    return hits / inspected if inspected else 0.0


def decision_counts(session: Session, since: datetime | None = None) -> dict[str, tuple[int, int]]:
    """Per mechanism: decisions and how many of them the selectivity chose (held); one pass over decisions."""
    q = select(RiskDecision.mechanism, func.count(), func.sum(case((CHOSEN, 1), else_=0))).group_by(
        RiskDecision.mechanism
    )
    if since is not None:
        q = q.where(RiskDecision.decided_at >= since)
    return {m: (int(n), int(held or 0)) for m, n, held in session.execute(q)}


def result_counts_by_grade(
    session: Session, since: datetime | None = None
) -> dict[tuple[str, str], tuple[int, int, int, int]]:
    """Per (mechanism, credit grade): inspected (of those held), hits, audited and audit hits; one pass over the
    inspection results (summing over grades gives :func:`hit_rates`' result counts)."""
    q = (
        select(
            RiskDecision.mechanism,
            RiskDecision.credit_grade,
            func.sum(case((CHOSEN, 1), else_=0)),
            func.sum(case((CHOSEN & HIT, 1), else_=0)),
            func.sum(case((~CHOSEN, 1), else_=0)),
            func.sum(case((~CHOSEN & HIT, 1), else_=0)),
        )
        .select_from(InspectionResult)
        .join(RiskDecision, RiskDecision.declaration_id == InspectionResult.declaration_id)
        .group_by(RiskDecision.mechanism, RiskDecision.credit_grade)
    )
    if since is not None:
        q = q.where(RiskDecision.decided_at >= since)
    out: dict[tuple[str, str], tuple[int, int, int, int]] = {}
    for m, g, *rest in session.execute(q):
        a, b, c, d = (int(x or 0) for x in rest)
        out[(m, g)] = (a, b, c, d)
    return out


def hit_rates(
    session: Session, since: datetime | None = None, decisions: dict[str, tuple[int, int]] | None = None,
    results_by_grade: dict[tuple[str, str], tuple[int, int, int, int]] | None = None,
) -> dict[str, dict[str, float]]:
    """Per mechanism: decisions, held, inspected (of those held), hits, hit rate, audited and audit hits.

    See :data:`CHOSEN` for the definition. ``decisions`` (from :func:`decision_counts`, same ``since``)
    may be passed in when already known: then only the inspection results are read; so may
    ``results_by_grade`` (from :func:`result_counts_by_grade`, same ``since``).
    """
    decisions = decision_counts(session, since) if decisions is None else decisions
    if results_by_grade is None:
        results_by_grade = result_counts_by_grade(session, since)
    results: dict[str, tuple[int, int, int, int]] = {}
    for (m, _), (i, h, a, ah) in results_by_grade.items():
        i0, h0, a0, ah0 = results.get(m, (0, 0, 0, 0))
        results[m] = (i0 + i, h0 + h, a0 + a, ah0 + ah)
    out = {}
    for mech in [*decisions, *(m for m in results if m not in decisions)]:
        n, held = decisions.get(mech, (0, 0))
        inspected, hits, audited, audit_hits = results.get(mech, (0, 0, 0, 0))
        out[mech] = {
            "decisions": n,
            "held": held,
            "inspected": inspected,
            "hits": hits,
            "hit_rate": hit_rate(hits, inspected),
            "audited": audited,
            "audit_hits": audit_hits,
        }
    return out


@dataclass
class GradeCounts:
    """Decisions by the importer's credit grade (AEO and the others): how many, which mechanism held them, and
    the held ones' inspections and hits. Credit grade is not a mechanism: it scales the model's share."""

    decisions: dict[str, int]  # grade -> decisions
    held: dict[str, dict[str, int]]  # grade -> mechanism -> held
    inspected: dict[str, int]  # grade -> inspections of held declarations (as :data:`CHOSEN` counts them)
    hits: dict[str, int]


def decision_counts_by_grade(session: Session) -> dict[tuple[str, str], tuple[int, int]]:
    """Per (mechanism, credit grade): decisions and held; one pass over decisions (summing over grades gives
    :func:`decision_counts`)."""
    q = select(RiskDecision.mechanism, RiskDecision.credit_grade, func.count(),
               func.sum(case((CHOSEN, 1), else_=0))).group_by(RiskDecision.mechanism, RiskDecision.credit_grade)
    return {(m, g): (int(n), int(held or 0)) for m, g, n, held in session.execute(q)}


def grade_counts(session: Session, by_grade: dict[tuple[str, str], tuple[int, int]] | None = None,
                 results_by_grade: dict[tuple[str, str], tuple[int, int, int, int]] | None = None) -> GradeCounts:
    """:class:`GradeCounts`; ``by_grade`` (from :func:`decision_counts_by_grade`) and ``results_by_grade`` (from
    :func:`result_counts_by_grade`) may be passed in when known."""
    by_grade = decision_counts_by_grade(session) if by_grade is None else by_grade
    results_by_grade = result_counts_by_grade(session) if results_by_grade is None else results_by_grade
    decisions: dict[str, int] = {}
    held: dict[str, dict[str, int]] = {}
    for (mech, grade), (n, h) in by_grade.items():
        decisions[grade] = decisions.get(grade, 0) + n
        if h:
            held.setdefault(grade, {})[mech] = h
    inspected: dict[str, int] = {}
    hits: dict[str, int] = {}
    for (_, grade), (n, h, _a, _ah) in results_by_grade.items():
        inspected[grade] = inspected.get(grade, 0) + n
        hits[grade] = hits.get(grade, 0) + h
    return GradeCounts(decisions, held, inspected, hits)


@dataclass
class WeeklyHitRates:
    """Hit rates per mechanism and week (by the date the result was recorded), oldest week first."""

    weeks: list[str]  # the Mondays, ISO dates
    rates: dict[str, list[float | None]]  # mechanism -> hit rate per week (None: nothing inspected)
    inspected: dict[str, list[int]]  # mechanism -> inspections the selectivity chose, per week
    hits: dict[str, list[int]]


def weekly_hit_rates(session: Session, weeks: int = 12, now: datetime | None = None) -> WeeklyHitRates:
    """:func:`hit_rates`' inspections and hits per week over the last ``weeks`` weeks (Monday to Sunday, UTC)."""
    first = ((now or utcnow()) - timedelta(weeks=weeks - 1)).date()
    first -= timedelta(days=first.weekday())
    start = datetime.combine(first, datetime.min.time())
    q = (
        select(RiskDecision.mechanism, InspectionResult.recorded_at, InspectionResult.outcome)
        .select_from(InspectionResult)
        .join(RiskDecision, RiskDecision.declaration_id == InspectionResult.declaration_id)
        .where(CHOSEN, InspectionResult.recorded_at >= start)
    )
    inspected: dict[str, list[int]] = {}
    hits: dict[str, list[int]] = {}
    for mech, at, outcome in session.execute(q):
        k = (at - start).days // 7
        if 0 <= k < weeks:
            inspected.setdefault(mech, [0] * weeks)[k] += 1
            hits.setdefault(mech, [0] * weeks)[k] += outcome == "offence"
    return WeeklyHitRates(
        [(first + timedelta(weeks=i)).isoformat() for i in range(weeks)],
        {m: [hit_rate(h, n) if n else None for n, h in zip(ns, hits[m], strict=True)] for m, ns in inspected.items()},
        inspected,
        hits,
    )


def drift(session: Session, weeks: int = 8, reference_weeks: int = 4, now: datetime | None = None) -> list[OfficeWeek]:
    """Score PSI and hit-rate change per office for the last ``weeks`` weeks (Monday to Sunday, UTC), each
    against the office's previous ``reference_weeks`` weeks; see :mod:`smartcustoms.risk.drift`.

    Scores are the decisions' (by decision date); hit rates count :func:`hit_rates`' inspections (the
    selectivity chose the declaration) by the date the result was recorded, as :func:`weekly_hit_rates` does.
    """
    last = monday((now or utcnow()).date())
    shown = [last - timedelta(weeks=k) for k in range(weeks - 1, -1, -1)]
    start = datetime.combine(shown[0] - timedelta(weeks=reference_weeks), datetime.min.time())
    scores = [
        ScoreRow(o, at, float(sc), v)
        for o, at, sc, v in session.execute(
            select(RiskDecision.office_code, RiskDecision.decided_at, RiskDecision.score, RiskDecision.model_version)
            .where(RiskDecision.decided_at >= start)
        )
    ]
    results = [
        ResultRow(o, at, outcome == "offence")
        for o, at, outcome in session.execute(
            select(RiskDecision.office_code, InspectionResult.recorded_at, InspectionResult.outcome)
            .select_from(InspectionResult)
            .join(RiskDecision, RiskDecision.declaration_id == InspectionResult.declaration_id)
            .where(CHOSEN, InspectionResult.recorded_at >= start)
        )
    ]
    return weekly_drift(scores, results, shown, reference_weeks=reference_weeks)


def lane_shares(session: Session, since: datetime | None = None) -> list[dict]:
    """Per office: decisions, share per lane, and the held share."""
    q = select(RiskDecision.office_code, RiskDecision.lane, func.count()).group_by(
        RiskDecision.office_code, RiskDecision.lane
    )
    if since is not None:
        q = q.where(RiskDecision.decided_at >= since)
    per: dict[str, dict[str, int]] = {}
    for office, lane, n in session.execute(q):
        per.setdefault(office, {})[lane] = int(n)
    out = []
    for office, lanes in sorted(per.items()):
        total = sum(lanes.values())
        out.append(
            {
                "office_code": office,
                "decisions": total,
                **{f"{k}_share": lanes.get(k, 0) / total for k in ("green", "yellow", "blue", "red")},
                "held_share": 1 - lanes.get("green", 0) / total,
            }
        )
    return out
