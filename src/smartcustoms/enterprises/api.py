"""REST routes for enterprises, credit grades, users and API keys (administrators)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel
from sqlalchemy import select

from smartcustoms.db import transaction
from smartcustoms.enterprises import service
from smartcustoms.enterprises.models import User
from smartcustoms.enterprises.schemas import (
    ApiKeyOut,
    EnterpriseIn,
    EnterpriseOut,
    GradeChangeIn,
    GradeChangeOut,
    UserIn,
    UserOut,
)
from smartcustoms.errors import NotFound
from smartcustoms.platform import Platform
from smartcustoms.security import Principal, Role
from smartcustoms.web.deps import current_principal, get_platform, require

router = APIRouter(prefix="/api/v1", tags=["enterprises"])
admin = require(Role.ADMIN)
customs = require(Role.OFFICER, Role.ANALYST, Role.ADMIN)


@router.get("/me")
def me(who: Principal = Depends(current_principal)) -> dict:
    return {"username": who.username, "role": who.role.value, "enterprise_code": who.enterprise_code}


@router.post("/enterprises", response_model=EnterpriseOut, status_code=201)
def create_enterprise(body: EnterpriseIn, who: Principal = Depends(admin),
                      platform: Platform = Depends(get_platform)) -> EnterpriseOut:
    with transaction(platform.sessions) as s:
        return service.create_enterprise(s, body, who)


@router.get("/enterprises", response_model=list[EnterpriseOut])
def list_enterprises(limit: int = 500, offset: int = 0, who: Principal = Depends(customs),
                     platform: Platform = Depends(get_platform)):
    with platform.sessions() as s:
        return service.list_enterprises(s, limit, offset)


@router.get("/enterprises/{code}", response_model=EnterpriseOut)
def read_enterprise(code: str, who: Principal = Depends(current_principal),
                    platform: Platform = Depends(get_platform)) -> EnterpriseOut:
    if who.role == Role.TRADER and who.enterprise_code != code:
        raise NotFound(f"no enterprise {code}")
    with platform.sessions() as s:
        return service.enterprise_out(service.get_enterprise(s, code))


@router.put("/enterprises/{code}/credit-grade", response_model=list[GradeChangeOut])
def change_grade(code: str, body: GradeChangeIn, who: Principal = Depends(admin),
                 platform: Platform = Depends(get_platform)):
    with transaction(platform.sessions) as s:
        service.set_credit_grade(s, code, body.grade, body.reason, who)
    with platform.sessions() as s:
        return [GradeChangeOut.model_validate(c) for c in service.grade_history(s, code)]


@router.get("/enterprises/{code}/credit-grade", response_model=list[GradeChangeOut])
def grade_history(code: str, who: Principal = Depends(customs), platform: Platform = Depends(get_platform)):
    with platform.sessions() as s:
        return [GradeChangeOut.model_validate(c) for c in service.grade_history(s, code)]


@router.post("/users", response_model=UserOut, status_code=201)
def create_user(body: UserIn, who: Principal = Depends(admin), platform: Platform = Depends(get_platform)):
    with transaction(platform.sessions) as s:
        return service.create_user(s, body, who)


@router.get("/users", response_model=list[UserOut])
def list_users(who: Principal = Depends(admin), platform: Platform = Depends(get_platform)):
    with platform.sessions() as s:
        return service.list_users(s)


class KeyIn(BaseModel):
    label: str = ""


@router.post("/users/{username}/api-keys", response_model=ApiKeyOut, status_code=201)
def create_key(username: str, body: KeyIn, who: Principal = Depends(admin),
               platform: Platform = Depends(get_platform)) -> ApiKeyOut:
    """Make an API key; it is shown in this response only."""
    with transaction(platform.sessions) as s:
        key = service.create_api_key(s, username, body.label, who)
        role = s.scalar(select(User.role).where(User.username == username))
    return ApiKeyOut(api_key=key, prefix=key.split("_")[1], username=username, role=role)


@router.delete("/api-keys/{prefix}", status_code=204)
def revoke_key(prefix: str, request: Request, who: Principal = Depends(admin),
               platform: Platform = Depends(get_platform)) -> None:
    with transaction(platform.sessions) as s:
        service.revoke_api_key(s, prefix, who)
    request.app.state.key_cache.clear()
