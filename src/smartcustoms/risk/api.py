"""REST routes of live risk targeting: rules, model registry, statistics."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from smartcustoms.core.db import transaction
from smartcustoms.core.http import get_platform, require
from smartcustoms.core.security import Principal, Role
from smartcustoms.core.wire import Id
from smartcustoms.platform import Platform
from smartcustoms.risk import service
from smartcustoms.risk.schemas import ModelVersionOut, RuleIn, RuleOut

router = APIRouter(prefix="/api/v1/risk", tags=["risk"])
analyst = require(Role.ANALYST, Role.ADMIN)
customs = require(Role.OFFICER, Role.ANALYST, Role.ADMIN)


@router.get("/rules", response_model=list[RuleOut])
def list_rules(who: Principal = Depends(customs), platform: Platform = Depends(get_platform)):
    with platform.sessions() as s:
        return service.list_rules(s)


@router.post("/rules", response_model=RuleOut, status_code=201)
def create_rule(body: RuleIn, who: Principal = Depends(analyst), platform: Platform = Depends(get_platform)):
    """Add a risk profile; a bad definition is a 422 naming each wrong field, and nothing is saved."""
    return _save_rule(platform, body, who, None)


@router.put("/rules/{rule_id}", response_model=RuleOut)
def replace_rule(
    rule_id: Annotated[Id, Path()], body: RuleIn, who: Principal = Depends(analyst),
    platform: Platform = Depends(get_platform),
):
    return _save_rule(platform, body, who, rule_id)


def _save_rule(platform: Platform, body: RuleIn, who: Principal, rule_id: int | None) -> RuleOut:
    """Save (validated, audited), then let the live engine match with the new rule set at once."""
    with transaction(platform.sessions) as s:
        out = service.save_rule(s, body, who, rule_id)
    platform.rules_changed()
    return out


@router.get("/models", response_model=list[ModelVersionOut])
def list_models(who: Principal = Depends(customs), platform: Platform = Depends(get_platform)):
    with platform.sessions() as s:
        return service.list_models(s)


@router.post("/models/train", response_model=ModelVersionOut, status_code=201)
def train(holdout_days: Annotated[int, Query(ge=1, le=3650)] = 14,
          who: Principal = Depends(analyst), platform: Platform = Depends(get_platform)):
    """Train a candidate and compare it with the live model on the most recent period."""
    with transaction(platform.sessions) as s:
        return service.train_candidate(s, who, holdout_days=holdout_days)


@router.post("/models/{version}/promote", response_model=ModelVersionOut)
def promote(version: Annotated[Id, Path()], who: Principal = Depends(analyst),
            platform: Platform = Depends(get_platform)):
    with transaction(platform.sessions) as s:
        out = service.promote(s, version, who)
    with platform.sessions() as s:
        platform.risk.reload_model(s)
    return out


@router.post("/models/rollback", response_model=ModelVersionOut)
def rollback(who: Principal = Depends(analyst), platform: Platform = Depends(get_platform)):
    with transaction(platform.sessions) as s:
        out = service.rollback(s, who)
    with platform.sessions() as s:
        platform.risk.reload_model(s)
    return out


@router.get("/stats")
def stats(who: Principal = Depends(customs), platform: Platform = Depends(get_platform)) -> dict:
    """Hit rates per mechanism (exploration is the random baseline) and lane shares per office."""
    with platform.sessions() as s:
        return {
            "hit_rates": service.hit_rates(s),
            "lane_shares": service.lane_shares(s),
            "budget": platform.risk.config.budget,
            "exploration": platform.risk.config.exploration,
        }
