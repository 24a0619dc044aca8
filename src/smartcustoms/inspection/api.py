"""REST route for inspection results."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from smartcustoms.core.http import get_platform, require
from smartcustoms.core.security import Principal, Role
from smartcustoms.inspection.schemas import InspectionResultIn, InspectionResultOut
from smartcustoms.platform import Platform

router = APIRouter(prefix="/api/v1/declarations", tags=["inspection"])


@router.post("/{declaration_no}/inspection-result", response_model=InspectionResultOut, status_code=201)
def record_result(declaration_no: str, body: InspectionResultIn,
                  who: Principal = Depends(require(Role.OFFICER, Role.ADMIN)),
                  platform: Platform = Depends(get_platform)) -> InspectionResultOut:
    """Record what the inspection found; it feeds the importer's history for the next declaration at once."""
    return platform.inspections.record(who, declaration_no, body)
