"""The pre-loading model in the risk model registry (``risk_model_versions``, ``kind = 'manifest'``).

Training reads the database's own decided referrals: a referred filing whose referral an officer closed is a
labelled row (offence found: ``threat_found`` or ``do_not_load_confirmed``; any other closing decision:
none), weighted by the inverse of the selection probability its pre-loading decision stored
(``manifest_filing.selection_probability``, migration ``0304_manifests``; 1 for filings stored before it). A
filing never referred, or whose referral is still open, contributes no row. Features are point in time: every
filing is replayed in filing order through fresh history aggregates, and a closing decision adds to the
shipper's and consignee's record from the moment it was taken, so each labelled row sees the manifest history
as it was when it was filed (as the live ingest saw it).

The candidate is compared with the live manifest model and with the rules alone on a time-ordered holdout (the
most recent share of the labelled rows); promotion and roll-back are the registry's own
(:func:`~smartcustoms.risk.targeting.service.promote`, ``kind='manifest'``, audited). The live assessment
uses the live registry model (:func:`refresh`), else the file ``<data_dir>/manifest-model.txt``, else the
rules alone.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final, Literal

import numpy as np
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from smartcustoms.audit.service import record
from smartcustoms.core.clock import utcnow
from smartcustoms.core.db import transaction
from smartcustoms.core.errors import ValidationProblem
from smartcustoms.core.security import Principal
from smartcustoms.manifests.model import (
    COLUMN,
    NAMES,
    HistoryStats,
    ManifestModel,
    features,
    history_keys,
    matrix,
    outcome_observations,
    train,
)
from smartcustoms.manifests.models import ManifestFiling, ManifestReferralEvent
from smartcustoms.manifests.rules import ManifestSettings, assess, history_of
from smartcustoms.manifests.schemas import SEVERITY, Assessment, Consignment, Conveyance, MessageKind, Outcome
from smartcustoms.manifests.service import HITS, ManifestService
from smartcustoms.risk.parcels.model import parcel_metrics
from smartcustoms.risk.propensity import MAX_WEIGHT, ipw_weights
from smartcustoms.risk.targeting.models import RiskModelVersion
from smartcustoms.risk.targeting.schemas import ModelVersionOut
from smartcustoms.risk.targeting.service import list_models, promote, rollback, version_out

log = logging.getLogger(__name__)

KIND: Final[Literal["manifest"]] = "manifest"
#: the model file the bench writes (``bench/manifests.py --save-model``): used when the registry has no live model
MODEL_FILE = "manifest-model.txt"


class ManifestModelSettings(BaseSettings):
    """The pre-loading model's training and live use, from ``SMARTCUSTOMS_MANIFESTS_MODEL_*``."""

    model_config = SettingsConfigDict(env_prefix="SMARTCUSTOMS_MANIFESTS_MODEL_", extra="ignore")

    #: the share of consignments neither the rules nor the model refer that a random draw refers (exploration)
    explore_rate: float = Field(0.0, ge=0.0, le=0.2)
    refresh_s: float = Field(60.0, gt=0.0)  # how often a serving process looks for a newly promoted model
    budget: float = Field(0.05, gt=0.0, le=0.5)  # the share of traffic the model's threshold refers
    holdout_share: float = Field(0.2, gt=0.0, lt=0.5)  # the most recent labelled rows kept to compare
    min_labels: int = Field(40, ge=10)  # labelled training rows needed
    min_offences: int = Field(5, ge=1)  # offences among them
    recent_filings: int = Field(20_000, ge=100)  # the latest filings whose scores set the thresholds
    #: every this many hours the serving process trains a candidate from the decided referrals (0: never); it is
    #: recorded in the registry, never promoted: promotion stays an analyst's decision
    retrain_hours: float = Field(0.0, ge=0.0, le=24 * 90)
    retrain_rounds: int = Field(150, ge=10, le=2000)  # boosting rounds of a scheduled candidate


@dataclass(frozen=True, slots=True)
class LabelledFiling:
    """A decided referral as a training row: its features as they were when it was filed."""

    filing_id: int
    received_at: datetime
    features: list[float]
    offence: bool
    selection_probability: float


@dataclass
class TrainingSet:
    """The labelled rows in filing order, the latest filings' features (for the thresholds) and counts."""

    labelled: list[LabelledFiling]
    recent: list[list[float]]
    filings: int  # filings replayed (withdrawals excluded)
    open_or_unreferred: int  # filings without an officer's closing decision (no row)


def _rules_assessment(c: Consignment, mode: str, late: bool, received_at: datetime, agg: HistoryStats,
                      settings: ManifestSettings) -> Assessment:
    """The rules' finding on ``c`` from the rebuilt history; lateness as stored (the conveyance's times are
    not kept on the filing)."""
    a = assess(c, Conveyance(mode=mode), MessageKind.ARRIVAL, received_at, history_of(c, agg.get),
               settings)  # no window check
    if late and SEVERITY[a.outcome] < SEVERITY[Outcome.REQUEST_FOR_INFORMATION]:
        a = Assessment(outcome=Outcome.REQUEST_FOR_INFORMATION, reasons=a.reasons, reasons_zh=a.reasons_zh)
    return Assessment(outcome=a.outcome, reasons=a.reasons, reasons_zh=a.reasons_zh, late=late)


def _filings(s: Session, chunk: int = 2000) -> Iterator[Any]:
    f = ManifestFiling
    last = 0
    while True:
        rows = s.execute(select(f.id, f.received_at, f.mode, f.withdrawn, f.late, f.data, f.selection_probability)
                         .where(f.id > last).order_by(f.id).limit(chunk)).all()
        if not rows:
            return
        yield from rows
        last = rows[-1].id


def training_set(s: Session, settings: ManifestSettings, recent_filings: int = 20_000) -> TrainingSet:
    """Every decided referral as a labelled row with point-in-time features, and the features of the latest
    ``recent_filings`` filings. Reads the whole filing history once, in filing order."""
    e = ManifestReferralEvent
    decided = s.execute(select(e.filing_id, e.action, e.created_at).where(e.closed.is_(True))
                        .order_by(e.created_at, e.id)).all()
    label = {fid: action in {a.value for a in HITS} for fid, action, _ in decided}
    total = s.scalar(select(func.count()).select_from(ManifestFiling).where(ManifestFiling.withdrawn.is_(False))) or 0
    recent_from = max(0, total - recent_filings)  # position (among non-withdrawn filings) where "recent" starts
    filed: dict[int, Consignment] = {}  # decided filings, for the outcome observations
    agg = HistoryStats()
    labelled: list[LabelledFiling] = []
    recent: list[list[float]] = []
    pending = 0  # next closing decision to apply
    early: set[int] = set()  # decided at the same instant as a later filing's receipt, before its own was read
    seen = 0

    def told(fid: int) -> None:  # an officer's decision adds to the parties' record from the moment it was taken
        for key, x in outcome_observations(filed.pop(fid), label[fid]):
            agg.add(key, x)

    for r in _filings(s):
        while pending < len(decided) and decided[pending].created_at <= r.received_at:
            fid = decided[pending].filing_id
            if fid in filed:
                told(fid)
            else:
                early.add(fid)
            pending += 1
        if r.withdrawn:
            continue
        c = Consignment.model_validate(r.data)
        want = r.id in label or seen >= recent_from
        if want:
            a = _rules_assessment(c, r.mode, r.late, r.received_at, agg, settings)
            stats = {k: st for k in history_keys(c) if (st := agg.get(k)) is not None}
            row = features(c, a, stats, settings)
            if r.id in label:
                labelled.append(LabelledFiling(r.id, r.received_at, row, label[r.id],
                                               1.0 if r.selection_probability is None else r.selection_probability))
                filed[r.id] = c
            if seen >= recent_from:
                recent.append(row)
        agg.observe(c)
        if r.id in early:
            told(r.id)
        seen += 1
    return TrainingSet(labelled, recent, seen, seen - len(labelled))


def _scores_of(model: ManifestModel | None, x: np.ndarray) -> np.ndarray | None:
    try:
        return model.score(x) if model is not None else None
    except Exception:  # noqa: BLE001 - a live model that cannot score these rows is left out of the comparison
        log.warning("the live manifest model could not score the holdout", exc_info=True)
        return None


def live_manifest_model(s: Session) -> tuple[int, ManifestModel] | None:
    """The live manifest model and its registry version, or None (none promoted, or made for other features)."""
    row = s.execute(select(RiskModelVersion.version, RiskModelVersion.blob).where(
        RiskModelVersion.status == "live", RiskModelVersion.kind == KIND)).first()
    if row is None:
        return None
    try:
        return row[0], ManifestModel.from_bytes(row[1])
    except ValueError:
        log.error("manifest model %s in the registry cannot be read; it is not used", row[0])
        return None


def train_manifest_candidate(s: Session, who: Principal, *, settings: ManifestSettings | None = None,
                             model_settings: ManifestModelSettings | None = None, rounds: int = 150,
                             now: datetime | None = None) -> ModelVersionOut:
    """Train a manifest-model candidate from the decided referrals and compare it with the live manifest model
    and the rules on the most recent ``holdout_share`` of them (time-ordered; 422 when there are too few)."""
    ms = model_settings or ManifestModelSettings()
    data = training_set(s, settings or ManifestSettings(), ms.recent_filings)
    rows = data.labelled
    cut = int(len(rows) * (1 - ms.holdout_share))
    train_rows, held = rows[:cut], rows[cut:]
    hits = sum(r.offence for r in train_rows)
    if len(train_rows) < ms.min_labels or hits < ms.min_offences or hits == len(train_rows):
        raise ValidationProblem(
            f"not enough decided referrals to train: {len(train_rows)} before the holdout with {hits} offences "
            f"found (need {ms.min_labels} with at least {ms.min_offences} offences and one without)")
    x = matrix([r.features for r in train_rows])
    y = np.array([float(r.offence) for r in train_rows])
    p = np.array([r.selection_probability for r in train_rows])
    recent = matrix(data.recent) if data.recent else x
    span = f"{train_rows[0].received_at:%Y-%m-%d %H:%M} to {train_rows[-1].received_at:%Y-%m-%d %H:%M}"
    model = train(x, y, p, recent=recent, budget=ms.budget, rounds=rounds,
                  trained_on=f"{len(train_rows)} decided referrals filed {span}")
    weights = ipw_weights(p, np.ones(len(p), dtype=bool))
    metrics: dict[str, Any] = {
        "kind": KIND, "n_filings": data.filings, "n_labelled": len(rows), "n_train": len(train_rows),
        "n_without_decision_ignored": data.open_or_unreferred, "train_offence_rate": float(y.mean()),
        "weighting": {"scheme": "inverse selection probability", "max_weight": MAX_WEIGHT,
                      "mean_weight": float(weights.mean()), "clipped": int((weights >= MAX_WEIGHT).sum()),
                      "explored": int((p < 1).sum())},
        "thresholds": {"budget": ms.budget, "information": model.threshold_information,
                       "screening": model.threshold_screening, "recent_filings": len(data.recent)},
        "n_holdout": len(held),
    }
    if held:
        hx = matrix([r.features for r in held])
        hy = np.array([float(r.offence) for r in held])
        metrics["holdout_from"] = held[0].received_at.isoformat()
        metrics["candidate"] = parcel_metrics(model.score(hx), hy)
        metrics["rules"] = parcel_metrics(hx[:, COLUMN["rule_severity"]], hy)
        live = live_manifest_model(s)
        if live is not None and (scores := _scores_of(live[1], hx)) is not None:
            metrics["live"] = parcel_metrics(scores, hy)
            metrics["live_version"] = live[0]
    version = (s.scalar(select(func.max(RiskModelVersion.version))) or 0) + 1
    v = RiskModelVersion(version=version, kind=KIND, status="candidate", created_at=now or utcnow(),
                         trained_by=who.username, training_from=train_rows[0].received_at,
                         training_to=train_rows[-1].received_at, metrics=metrics, features=list(NAMES),
                         blob=model.to_bytes())
    s.add(v)
    s.flush()
    record(s, who, "risk.model.train", "risk_model", str(version), {"kind": KIND, "metrics": metrics})
    return version_out(v)


def retrain(sessions: sessionmaker[Session], who: Principal, *, settings: ManifestSettings | None = None,
            model_settings: ManifestModelSettings | None = None, now: datetime | None = None
            ) -> ModelVersionOut | None:
    """The scheduled retraining (``retrain_hours``): a candidate trained from the decided referrals and recorded
    in the registry (audited), never promoted; None, and nothing stored, when no referral was closed since the
    newest manifest-model version was trained or when there are too few decided referrals (logged)."""
    ms = model_settings or ManifestModelSettings()
    with transaction(sessions) as s:
        last = s.scalar(select(func.max(RiskModelVersion.created_at)).where(RiskModelVersion.kind == KIND))
        decided = s.scalar(select(func.max(ManifestReferralEvent.created_at))
                           .where(ManifestReferralEvent.closed.is_(True)))
        if decided is None or (last is not None and decided <= last):
            log.info("manifest model retraining: no referral decided since version trained at %s", last)
            return None
        try:
            v = train_manifest_candidate(s, who, settings=settings, model_settings=ms, rounds=ms.retrain_rounds,
                                         now=now)
        except ValidationProblem as exc:
            log.info("manifest model retraining skipped: %s", exc)
            return None
    log.info("manifest model retraining: candidate version %s recorded (not promoted)", v.version)
    return v


def list_manifest_models(s: Session) -> list[ModelVersionOut]:
    """Every manifest-model version, oldest first."""
    return list_models(s, KIND)


def promote_manifest_model(s: Session, version: int, who: Principal) -> ModelVersionOut:
    """Make manifest-model ``version`` the live one (audited); the previous live one is retired."""
    return promote(s, version, who, KIND)


def rollback_manifest_model(s: Session, who: Principal) -> ModelVersionOut:
    """Bring back the manifest model promoted before the live one (audited)."""
    return rollback(s, who, KIND)


def refresh(service: ManifestService, sessions: sessionmaker[Session], fallback: Path | None = None) -> int | None:
    """Point ``service`` at the live registry model when it changed (one indexed query otherwise); with none
    live, the model saved at ``fallback``, else the rules alone. The live version (None: none)."""
    with sessions() as s:
        version = s.scalar(select(RiskModelVersion.version).where(RiskModelVersion.status == "live",
                                                                  RiskModelVersion.kind == KIND))
        if version is not None and version == service.model_version:
            return version
        live = live_manifest_model(s) if version is not None else None
    if live is not None:
        service.use_model(live[1], live[0])
        log.info("pre-loading assessment uses manifest model %s from the registry", live[0])
        return live[0]
    if service.model_version is not None or service.model is None:  # nothing live: the file, else rules only
        service.use_model(ManifestModel.load(fallback) if fallback is not None else None)
    return None


__all__ = ["KIND", "MODEL_FILE", "LabelledFiling", "ManifestModelSettings", "TrainingSet", "list_manifest_models",
           "live_manifest_model", "promote_manifest_model", "refresh", "retrain", "rollback_manifest_model",
           "train_manifest_candidate", "training_set"]
