"""REST routes of the manifest (pre-loading) model registry, beside the declaration and parcel models'.

The same roles: customs staff read, analysts train, promote and roll back (each step audited). Training reads
the decided referrals from the database (:func:`~smartcustoms.manifests.registry.train_manifest_candidate`);
after a promotion or a roll-back this process's pre-loading assessment uses the new live model at once, other
serving processes within ``SMARTCUSTOMS_MANIFESTS_MODEL_REFRESH_S``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from smartcustoms.core.db import transaction
from smartcustoms.core.http import require
from smartcustoms.core.security import Principal, Role
from smartcustoms.manifests import registry
from smartcustoms.manifests.registry import ManifestModelSettings
from smartcustoms.risk.targeting.api import add_registry_routes, get_targeting
from smartcustoms.risk.targeting.schemas import ModelVersionOut

router = APIRouter(prefix="/api/v1/risk", tags=["risk"])
analyst = require(Role.ANALYST, Role.ADMIN)


@router.post("/manifest-models/train", response_model=ModelVersionOut, status_code=201)
def train_manifest_model(holdout_share: Annotated[float, Query(gt=0.0, lt=0.5)] = 0.2,
                         who: Principal = Depends(analyst), platform: Any = Depends(get_targeting)):
    """Train a manifest-model candidate from officers' decided referrals, compared with the live manifest model
    and the rules on the most recent ``holdout_share`` of them (too few decided referrals: 422)."""
    settings = ManifestModelSettings(holdout_share=holdout_share)
    with transaction(platform.sessions) as s:
        return registry.train_manifest_candidate(s, who, settings=platform.manifests.settings,
                                                 model_settings=settings)


def _reload_manifest_model(platform: Any) -> None:
    platform.refresh_manifest_model()


add_registry_routes(router, "/manifest-models", "manifest", "manifest model", _reload_manifest_model)
