"""REST route for inspection results."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from smartcustoms.core.http import require
from smartcustoms.core.security import Principal, Role
from smartcustoms.inspection.schemas import InspectionResultIn, InspectionResultOut
from smartcustoms.inspection.service import InspectionService

router = APIRouter(prefix="/api/v1/declarations", tags=["inspection"])


async def get_service(request: Request) -> InspectionService:
    """The deployment's inspection service."""
    return request.app.state.platform.inspections


@router.post("/{declaration_no}/inspection-result", response_model=InspectionResultOut, status_code=201)
def record_result(declaration_no: str, body: InspectionResultIn,
                  who: Principal = Depends(require(Role.OFFICER, Role.ADMIN)),
                  service: InspectionService = Depends(get_service)) -> InspectionResultOut:
    """Record what the inspection found; it feeds the importer's history for the next declaration at once."""
    return service.record(who, declaration_no, body)
