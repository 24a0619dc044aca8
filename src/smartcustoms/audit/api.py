"""REST route of the audit verification (administrators)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from sqlalchemy.engine import Engine

from smartcustoms.audit.schemas import VerifyOut
from smartcustoms.audit.verify import verify
from smartcustoms.core.http import require
from smartcustoms.core.security import Principal, Role

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])


async def get_engine(request: Request) -> Engine:
    """The deployment's database engine (the verification reads the tables directly)."""
    return request.app.state.platform.engine


@router.get("/verify", response_model=VerifyOut,
            summary="Check the audit log's hash chain and that no status changed behind the services' back")
def verify_audit(who: Principal = Depends(require(Role.ADMIN)),
                 engine: Engine = Depends(get_engine)) -> VerifyOut:
    """What ``smartcustoms audit verify`` reports (200 with ``ok: false`` when something does not hold)."""
    with engine.connect() as conn:
        return VerifyOut.model_validate(verify(conn).as_dict())
