"""REST routes of live risk targeting: rules, model registry, statistics."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Annotated, Any, Protocol

from fastapi import APIRouter, Depends, Path, Query, Request
from sqlalchemy.orm import Session, sessionmaker

from smartcustoms.core.db import transaction
from smartcustoms.core.http import require
from smartcustoms.core.security import Principal, Role
from smartcustoms.core.wire import Id
from smartcustoms.risk.targeting import service
from smartcustoms.risk.targeting.schemas import BacktestOut, DriftOut, ModelVersionOut, RuleIn, RuleOut
from smartcustoms.risk.targeting.selectivity import RiskEngine
from smartcustoms.risk.targeting.service import ModelKind

router = APIRouter(prefix="/api/v1/risk", tags=["risk"])
analyst = require(Role.ANALYST, Role.ADMIN)
customs = require(Role.OFFICER, Role.ANALYST, Role.ADMIN)


class LiveTargeting(Protocol):
    """What these routes use of the deployment (the platform provides it)."""

    sessions: sessionmaker[Session]
    risk: RiskEngine

    def rules_changed(self) -> None:
        """Let every live engine match with the new rule set at once."""
        ...


async def get_targeting(request: Request) -> LiveTargeting:
    """The deployment's live targeting: sessions, engine and the rule-change signal."""
    return request.app.state.platform


@router.get("/rules", response_model=list[RuleOut])
def list_rules(who: Principal = Depends(customs), platform: LiveTargeting = Depends(get_targeting)):
    """The targeting rules (customs staff)."""
    with platform.sessions() as s:
        return service.list_rules(s)


@router.post("/rules", response_model=RuleOut, status_code=201)
def create_rule(body: RuleIn, who: Principal = Depends(analyst), platform: LiveTargeting = Depends(get_targeting)):
    """Add a risk profile; a bad definition is a 422 naming each wrong field, and nothing is saved."""
    return _save_rule(platform, body, who, None)


@router.put("/rules/{rule_id}", response_model=RuleOut)
def replace_rule(
    rule_id: Annotated[Id, Path()], body: RuleIn, who: Principal = Depends(analyst),
    platform: LiveTargeting = Depends(get_targeting),
):
    """Replace a targeting rule with a new version (analyst)."""
    return _save_rule(platform, body, who, rule_id)


def _save_rule(platform: LiveTargeting, body: RuleIn, who: Principal, rule_id: int | None) -> RuleOut:
    """Save (validated, audited), then let the live engine match with the new rule set at once."""
    with transaction(platform.sessions) as s:
        out = service.save_rule(s, body, who, rule_id)
    platform.rules_changed()
    return out


@router.get("/rules/{rule_id}/backtest", response_model=BacktestOut)
def backtest_stored_rule(
    rule_id: Annotated[Id, Path()], days: Annotated[int, Query(ge=1, le=366)] = 30,
    who: Principal = Depends(analyst), platform: LiveTargeting = Depends(get_targeting),
):
    """What a stored rule's criteria would have selected in the last ``days`` days, and the offences among them."""
    with platform.sessions() as s:
        return _backtest_out(service.backtest_rule(s, service.stored_rule(s, rule_id), days))


@router.post("/rules/backtest", response_model=BacktestOut)
def backtest_rule(body: RuleIn, days: Annotated[int, Query(ge=1, le=366)] = 30,
                  who: Principal = Depends(analyst), platform: LiveTargeting = Depends(get_targeting)):
    """A rule definition (not saved) run over the last ``days`` days' declarations; nothing is written."""
    with platform.sessions() as s:
        return _backtest_out(service.backtest_rule(s, body, days))


def _backtest_out(b: service.Backtest) -> BacktestOut:
    return BacktestOut(days=b.days, since=b.since, declarations=b.declarations, matched=b.matched,
                       matched_inspected=b.matched_inspected, matched_offences=b.matched_offences,
                       hit_rate=b.hit_rate, inspected=b.inspected, offences=b.offences,
                       overall_hit_rate=b.overall_hit_rate)


@router.post("/models/train", response_model=ModelVersionOut, status_code=201)
def train(holdout_days: Annotated[int, Query(ge=1, le=3650)] = 14,
          who: Principal = Depends(analyst), platform: LiveTargeting = Depends(get_targeting)):
    """Train a candidate and compare it with the live model on the most recent period."""
    with transaction(platform.sessions) as s:
        return service.train_candidate(s, who, holdout_days=holdout_days)


def add_registry_routes(router: APIRouter, path: str, kind: ModelKind, noun: str,
                        reload: Callable[[Any], None]) -> tuple[Callable[..., Any], ...]:
    """Add the list, promote and roll-back routes of one kind of model in the registry under ``path``
    (customs staff read, analysts promote and roll back) and return the three route functions (the web pages
    call them); ``reload`` makes the live engines use the new live model at once. Training differs per kind
    (its own route beside these)."""

    @router.get(path, response_model=list[ModelVersionOut], name=f"list_{kind}_models",
                summary=f"List the {noun} versions")
    def list_versions(who: Principal = Depends(customs), platform: Any = Depends(get_targeting)):
        """The trained versions, oldest first, with their hold-out comparison and status (customs staff)."""
        with platform.sessions() as s:
            return service.list_models(s, kind)

    @router.post(f"{path}/{{version}}/promote", response_model=ModelVersionOut, name=f"promote_{kind}_model",
                 summary=f"Make a {noun} version the live one")
    def promote(version: Annotated[Id, Path()], who: Principal = Depends(analyst),
                platform: Any = Depends(get_targeting)):
        """Promote a version (audited; the previous live one is retired) and reload the live engines (analyst)."""
        with transaction(platform.sessions) as s:
            out = service.promote(s, version, who, kind)
        reload(platform)
        return out

    @router.post(f"{path}/rollback", response_model=ModelVersionOut, name=f"rollback_{kind}_model",
                 summary=f"Go back to the previously live {noun}")
    def rollback(who: Principal = Depends(analyst), platform: Any = Depends(get_targeting)):
        """Bring back the version promoted before the live one (audited) and reload the live engines (analyst)."""
        with transaction(platform.sessions) as s:
            out = service.rollback(s, who, kind)
        reload(platform)
        return out

    return list_versions, promote, rollback


def _reload_declaration_model(platform: LiveTargeting) -> None:
    with platform.sessions() as s:
        platform.risk.reload_model(s)


list_models, promote, rollback = add_registry_routes(router, "/models", "declaration", "risk model",
                                                     _reload_declaration_model)


@router.get("/drift", response_model=list[DriftOut])
def drift(weeks: Annotated[int, Query(ge=1, le=52)] = 8, who: Principal = Depends(analyst),
          platform: LiveTargeting = Depends(get_targeting)):
    """Per office and week (oldest first): the score PSI against the office's previous 4 weeks, the hit-rate
    change with its significance, and whether either is an alert (analyst)."""
    with platform.sessions() as s:
        return [DriftOut(**{**asdict(w), "reasons": list(w.reasons)}) for w in service.drift(s, weeks)]


@router.get("/stats")
def stats(who: Principal = Depends(customs), platform: LiveTargeting = Depends(get_targeting)) -> dict:
    """Hit rates per mechanism (exploration is the random baseline) and lane shares per office."""
    with platform.sessions() as s:
        return {
            "hit_rates": service.hit_rates(s),
            "lane_shares": service.lane_shares(s),
            "budget": platform.risk.config.budget,
            "exploration": platform.risk.config.exploration,
        }
