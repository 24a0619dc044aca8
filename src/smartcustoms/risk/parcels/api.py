"""REST routes of the parcel model registry, beside the declaration model's (``/api/v1/risk/models``).

The same roles as the declaration registry: customs staff read, analysts train, promote and roll back.
Training reads officers' parcel results from CBEC through the platform (:meth:`ParcelTargeting.parcel_results`);
after a promotion or a roll-back the CBEC writer of this process re-reads the live parcel model at once
(other writer processes within their refresh interval).
"""

from __future__ import annotations

from typing import Annotated, Protocol

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy.orm import Session, sessionmaker

from smartcustoms.core.db import transaction
from smartcustoms.core.http import require
from smartcustoms.core.security import Principal, Role
from smartcustoms.risk.parcels import registry
from smartcustoms.risk.parcels.model import ParcelResult
from smartcustoms.risk.targeting.api import add_registry_routes
from smartcustoms.risk.targeting.schemas import ModelVersionOut

router = APIRouter(prefix="/api/v1/risk", tags=["risk"])
analyst = require(Role.ANALYST, Role.ADMIN)


class ParcelTargeting(Protocol):
    """What these routes use of the deployment (the platform provides it)."""

    sessions: sessionmaker[Session]

    def parcel_results(self) -> list[ParcelResult]:
        """Officers' parcel results with the parcels' features and selection probabilities, in decision order."""
        ...

    def rules_changed(self) -> None:
        """Let the live engines re-read what analysts changed (the CBEC writer: rules and the parcel model)."""
        ...


async def get_targeting(request: Request) -> ParcelTargeting:
    """The deployment (sessions, CBEC results, the change signal)."""
    return request.app.state.platform


@router.post("/parcel-models/train", response_model=ModelVersionOut, status_code=201)
def train_parcel_model(holdout_share: Annotated[float, Query(gt=0.0, lt=0.5)] = 0.2,
                       who: Principal = Depends(analyst), platform: ParcelTargeting = Depends(get_targeting)):
    """Train a parcel-model candidate from officers' parcel results; compared with the live parcel model and
    the indicator score on the most recent ``holdout_share`` of inspected parcels (too few results: 422)."""
    results = platform.parcel_results()
    with transaction(platform.sessions) as s:
        return registry.train_parcel_candidate(s, who, results, holdout_share=holdout_share)


def _reload_parcel_model(platform: ParcelTargeting) -> None:
    platform.rules_changed()


add_registry_routes(router, "/parcel-models", "parcel", "parcel model", _reload_parcel_model)
