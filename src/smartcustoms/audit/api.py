"""REST route of the audit verification (administrators)."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from smartcustoms.audit.schemas import VerifyOut
from smartcustoms.audit.verify import verify
from smartcustoms.core.http import get_platform, require
from smartcustoms.core.security import Principal, Role
from smartcustoms.platform import Platform

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])


@router.get("/verify", response_model=VerifyOut,
            summary="Check the audit log's hash chain and that no status changed behind the services' back")
def verify_audit(who: Principal = Depends(require(Role.ADMIN)),
                 platform: Platform = Depends(get_platform)) -> VerifyOut:
    """What ``smartcustoms audit verify`` reports (200 with ``ok: false`` when something does not hold)."""
    with platform.engine.connect() as conn:
        return VerifyOut.model_validate(verify(conn).as_dict())
