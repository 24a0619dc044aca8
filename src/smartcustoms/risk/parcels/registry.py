"""The parcel model in the risk model registry (``risk_model_versions``, ``kind = 'parcel'``).

Training takes officers' parcel results as :class:`~smartcustoms.risk.parcels.model.ParcelResult` s: CBEC,
above risk in the layers, reads them from its tables and passes them down (risk never imports CBEC).
Promotion and roll-back are the declaration registry's own (:func:`~smartcustoms.risk.targeting.service.promote`,
:func:`~smartcustoms.risk.targeting.service.rollback` with ``kind='parcel'``); the CBEC writer's
:class:`~smartcustoms.risk.parcels.selectivity.ParcelRiskEngine` reads the live parcel model when it refreshes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from smartcustoms.audit.service import record
from smartcustoms.core.clock import utcnow
from smartcustoms.core.errors import ValidationProblem
from smartcustoms.core.security import Principal
from smartcustoms.risk.parcels.model import (
    PARCEL_INPUTS,
    PARCEL_ROUNDS,
    ParcelModel,
    ParcelResult,
    parcel_matrix,
    parcel_metrics,
    parcel_weights,
)
from smartcustoms.risk.propensity import MAX_WEIGHT
from smartcustoms.risk.targeting.models import RiskModelVersion
from smartcustoms.risk.targeting.schemas import ModelVersionOut
from smartcustoms.risk.targeting.service import list_models, promote, rollback, version_out

MIN_PARCEL_RESULTS = 100


def live_parcel_model(session: Session) -> tuple[int, ParcelModel] | None:
    """The live parcel model and its version, or None (the parcel engine then scores by indicators)."""
    row = session.execute(
        select(RiskModelVersion.version, RiskModelVersion.blob).where(
            RiskModelVersion.status == "live", RiskModelVersion.kind == "parcel")
    ).first()
    return (row[0], ParcelModel.from_bytes(row[1])) if row else None


def train_parcel_candidate(
    session: Session,
    who: Principal,
    results: Sequence[ParcelResult],
    *,
    holdout_share: float = 0.2,
    num_boost_round: int | None = None,
    now: datetime | None = None,
) -> ModelVersionOut:
    """Train a parcel-model candidate from officers' parcel results (time-ordered; CBEC passes them down)
    and compare it with the live parcel model and the indicator score on the most recent ``holdout_share``
    of the inspected parcels.

    Training weights each inspected parcel by ``1 / selection probability`` (:func:`parcel_weights`); parcels
    never inspected contribute nothing. The comparison is on inspected parcels only, unweighted: held
    parcels are the high-risk end, so precisions there are not the traffic's.
    """
    now = now or utcnow()
    inspected = [r for r in results if r.offence is not None]
    hits = sum(bool(r.offence) for r in inspected)
    if len(inspected) < MIN_PARCEL_RESULTS or hits < 5:
        raise ValidationProblem(
            f"not enough parcel inspection results to train: {len(inspected)} inspected parcels with {hits} "
            f"offences (need {MIN_PARCEL_RESULTS} with at least 5 offences)")
    cut = int(len(inspected) * (1 - holdout_share))
    held_out = inspected[cut:]
    last_train = inspected[cut - 1]
    # the training rows: every result up to the last inspected training parcel (uninspected ones weigh 0)
    upto = next(i for i, r in enumerate(results) if r is last_train) + 1
    model = ParcelModel(num_boost_round=num_boost_round or PARCEL_ROUNDS).fit(results[:upto])
    y = np.array([float(bool(r.offence)) for r in held_out])
    x = parcel_matrix([r.features for r in held_out])
    weights = parcel_weights([r.selection_probability for r in results[:upto]],
                             [r.offence is not None for r in results[:upto]])
    metrics: dict = {
        "kind": "parcel",
        "n_results": len(results),
        "n_train": model.metadata["n_train"],
        "n_uninspected_ignored": model.metadata["n_uninspected_ignored"],
        "weighting": {"scheme": "inverse selection probability", "max_weight": MAX_WEIGHT,
                      "mean_weight": float(weights[weights > 0].mean()),
                      "clipped": int((weights >= MAX_WEIGHT).sum())},
        "train_offence_rate": model.metadata["train_offence_rate"],
        "calibrated": model.metadata["calibrated"],
        "n_holdout": len(held_out),
    }
    if len(held_out) >= 20:
        metrics["candidate"] = parcel_metrics(model.predict(x), y)
        metrics["indicators"] = parcel_metrics(x[:, -1], y)
        live = live_parcel_model(session)
        if live is not None:
            metrics["live"] = parcel_metrics(live[1].predict(x), y)
            metrics["live_version"] = live[0]
    model.metadata["metrics"] = metrics
    window = model.metadata["training_window"]
    version = (session.scalar(select(func.max(RiskModelVersion.version))) or 0) + 1
    v = RiskModelVersion(
        version=version,
        kind="parcel",
        status="candidate",
        created_at=now,
        trained_by=who.username,
        training_from=datetime.fromisoformat(window[0]) if window else None,
        training_to=datetime.fromisoformat(window[1]) if window else None,
        metrics=metrics,
        features=list(PARCEL_INPUTS),
        blob=model.to_bytes(),
    )
    session.add(v)
    session.flush()
    record(session, who, "risk.model.train", "risk_model", str(version), {"metrics": metrics})
    return version_out(v)


def list_parcel_models(session: Session) -> list[ModelVersionOut]:
    """Every parcel-model version, oldest first."""
    return list_models(session, "parcel")


def promote_parcel_model(session: Session, version: int, who: Principal) -> ModelVersionOut:
    """Make parcel-model ``version`` the live one (audited); the previous live parcel model is retired."""
    return promote(session, version, who, "parcel")


def rollback_parcel_model(session: Session, who: Principal) -> ModelVersionOut:
    """Bring back the parcel model promoted before the live one (audited)."""
    return rollback(session, who, "parcel")


__all__ = ["MIN_PARCEL_RESULTS", "list_parcel_models", "live_parcel_model", "promote_parcel_model",
           "rollback_parcel_model", "train_parcel_candidate"]
