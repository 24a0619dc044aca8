"""Code-list lookups for forms and clients."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request

from smartcustoms.codes.service import CodeLists
from smartcustoms.core.http import current_principal
from smartcustoms.core.security import Principal

router = APIRouter(prefix="/api/v1/codes", tags=["codes"])


async def get_codes(request: Request) -> CodeLists:
    """The deployment's code lists."""
    return request.app.state.platform.codes


@router.get("/hs")
def search_hs(q: str = Query(..., min_length=1, max_length=100), limit: int = Query(20, ge=1, le=100),
              who: Principal = Depends(current_principal), codes: CodeLists = Depends(get_codes)):
    """HS subheadings by code prefix or by words of the description."""
    return [{"code": e.code, "description": e.description} for e in codes.search_hs(q, limit)]


@router.get("/{name}")
def code_list(name: str, who: Principal = Depends(current_principal), codes: CodeLists = Depends(get_codes)):
    """One reference code list (countries, currencies, units, ...) by name."""
    c = codes
    lists = {
        "countries": lambda: [{"code": k, "name": v} for k, v in sorted(c.countries.items())],
        "currencies": lambda: [{"code": k, "name": v} for k, v in sorted(c.currencies.items())],
        "trade-modes": lambda: [vars_(x) for x in c.trade_modes.values()],
        "transport-modes": lambda: [vars_(x) for x in c.transport_modes.values()],
        "units": lambda: [vars_(x) for x in c.units.values()],
        "customs-offices": lambda: [vars_(x) for x in c.customs_offices.values()],
    }
    if name not in lists:
        from smartcustoms.core.errors import NotFound

        raise NotFound(f"no code list {name}; try one of {', '.join(lists)}")
    return lists[name]()


def vars_(code) -> dict:
    """A code-list entry as a JSON dict of code, name and Chinese name."""
    return {"code": code.code, "name": code.name, "name_zh": code.name_zh}
