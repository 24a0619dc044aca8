"""The declaration lists' shared page work and their exports.

``/declarations`` (a trader's own, every declaration for customs) and ``/queue`` (held declarations) read
the same filters, sorts and page sizes (``declarations.listing``); each has a CSV and an Excel export of
what it shows: ``/declarations.csv``, ``/declarations.xlsx``, ``/queue.csv``, ``/queue.xlsx``.
"""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import Request
from fastapi.responses import Response

from smartcustoms.core.clock import utcnow
from smartcustoms.core.security import Principal, Role
from smartcustoms.declarations import holds, listing
from smartcustoms.declarations.lifecycle import Lane, Status
from smartcustoms.web.i18n import language_of, translator
from smartcustoms.web.lists import ListView, csv_response, export_columns, read_query, xlsx_response
from smartcustoms.web.pages.base import CUSTOMS, login, page_router, platform_of

router = page_router()

#: the hold queue: what it lists, and its first order (the highest score first)
QUEUE_STATUSES = holds.HELD_STATUSES
QUEUE_DEFAULTS = {"sort": "-risk_score"}


def list_view(request: Request, who: Principal, base: str, defaults: dict[str, str] | None = None) -> ListView:
    """The list query of the request's URL; a wrong parameter is named in the reader's language and left out."""
    t = translator(language_of(request))
    params = dict(request.query_params)
    order = params.pop("order", None)  # the queue's older links: ?order=lodged_at
    if order and "sort" not in params and order.removeprefix("-") in listing.SORT_COLUMNS:
        params["sort"] = order
    return read_query(params, base, lambda f, _m: t(f"lists.err.{f}"), defaults, customs=who.is_customs)


def queue_view(request: Request, who: Principal) -> ListView:
    """The hold queue's list query (highest score first unless the URL says otherwise)."""
    return list_view(request, who, "/queue", QUEUE_DEFAULTS)


async def _export(request: Request, who: Principal, view: ListView, fmt: str, name: str,
                  statuses: Sequence[str] | None) -> Response:
    platform = platform_of(request)
    t = translator(language_of(request))
    chunks, shown, total = platform.declarations.export_rows(who, view.query, statuses)
    columns = export_columns(who.is_customs)
    headers, keys = [t(h) for _, h in columns], [k for k, _ in columns]

    def word(kind: str, value: str) -> str:
        return t(f"{kind}.{value}")

    filename = f"{name}-{utcnow():%Y%m%d-%H%M}.{fmt}"
    extra = {"X-Export-Rows": str(shown), "X-Export-Total": str(total),
             "X-Export-Truncated": "true" if shown < total else "false"}
    if fmt == "csv":
        return csv_response(filename, headers, keys, chunks, word, extra)
    return await xlsx_response(filename, t(f"lists.sheet.{name}"), headers, keys, chunks, word, extra)


@router.get("/declarations.csv")
async def declarations_csv(request: Request) -> Response:
    """The declaration list as the user filtered and sorted it, every page, as CSV (a trader's own rows only)."""
    who = login(request)
    return await _export(request, who, list_view(request, who, "/declarations"), "csv", "declarations", None)


@router.get("/declarations.xlsx")
async def declarations_xlsx(request: Request) -> Response:
    """The declaration list as the user filtered and sorted it, every page, as an Excel workbook."""
    who = login(request)
    return await _export(request, who, list_view(request, who, "/declarations"), "xlsx", "declarations", None)


@router.get("/queue.csv")
async def queue_csv(request: Request) -> Response:
    """The hold queue as the officer filtered and sorted it, every page, as CSV."""
    who = login(request, *CUSTOMS)
    return await _export(request, who, queue_view(request, who), "csv", "hold-queue", QUEUE_STATUSES)


@router.get("/queue.xlsx")
async def queue_xlsx(request: Request) -> Response:
    """The hold queue as the officer filtered and sorted it, every page, as an Excel workbook."""
    who = login(request, *CUSTOMS)
    return await _export(request, who, queue_view(request, who), "xlsx", "hold-queue", QUEUE_STATUSES)


def list_context(request: Request, who: Principal) -> dict:
    """What the list templates need besides the rows: choices for the filter form and the export cap."""
    codes = platform_of(request).codes
    return {"page_sizes": listing.PAGE_SIZES, "export_cap": listing.EXPORT_MAX_ROWS,
            "all_statuses": [s.value for s in Status], "all_lanes": [ln.value for ln in Lane],
            "all_offices": sorted(codes.customs_offices), "customs_list": who.role != Role.TRADER}
