"""REST routes for the tariff table."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter, Depends, Request
from sqlalchemy.orm import Session, sessionmaker

from smartcustoms.core.db import transaction
from smartcustoms.core.errors import NotFound, ValidationProblem
from smartcustoms.core.http import current_principal, get_sessions, require
from smartcustoms.core.security import Principal, Role
from smartcustoms.tax.schemas import TariffLineOut
from smartcustoms.tax.service import (
    TableFormatError,
    TariffTable,
    parse_tariff_csv,
    replace_tariff,
    table_field_errors,
)

router = APIRouter(prefix="/api/v1/tariff", tags=["tax"])


async def get_tariff(request: Request) -> TariffTable:
    """The deployment's tariff table (the one lodging assesses with)."""
    return request.app.state.platform.tariff


class TariffRefused(ValidationProblem):
    """An uploaded tariff table was refused (422)."""
    title = "The tariff table is not valid"


@router.get("/{hs_code}", response_model=TariffLineOut)
def tariff_line(hs_code: str, who: Principal = Depends(current_principal),
                tariff: TariffTable = Depends(get_tariff)) -> TariffLineOut:
    """The tariff line that applies to ``hs_code`` (longest prefix)."""
    rates = tariff.rates_for(hs_code)
    if rates is None:
        raise NotFound(f"no tariff line for HS {hs_code}")
    return TariffLineOut(**asdict(rates))


@router.put("", status_code=200)
async def upload_tariff(request: Request, who: Principal = Depends(require(Role.ADMIN)),
                        tariff: TariffTable = Depends(get_tariff),
                        sessions: sessionmaker[Session] = Depends(get_sessions)) -> dict:
    """Replace the tariff table with a CSV body (format in docs/tax.md); all or nothing."""
    text = (await request.body()).decode("utf-8-sig", errors="replace")
    try:
        rows = parse_tariff_csv(text)
    except TableFormatError as exc:
        raise TariffRefused(str(exc), table_field_errors(exc)) from None
    from smartcustoms.audit.service import record

    with transaction(sessions) as s:
        replace_tariff(s, rows)
        record(s, who, "tariff.replace", "tariff", "all", {"lines": len(rows)})
    tariff.lines = TariffTable.from_rows(rows).lines
    return {"lines": len(rows)}
