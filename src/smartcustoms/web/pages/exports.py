"""CSV and Excel exports of the lists that are not declaration lists: held CBEC parcels, the manifest referral
queue and the administrator's lists (users, API keys, enterprises, the tariff table).

Each export holds what its list shows on every page: the same filter (the parcels' ``status``, the referrals'
``outcome``, the enterprises' search ``q``) and order, headed and worded in the reader's language, at most
``declarations.listing.EXPORT_MAX_ROWS`` rows. They are written by the declaration lists' helpers
(``web.lists``: formula-safe CSV with a byte-order mark, constant-memory XlsxWriter) and read the domains in
batches, so a long list is never held whole. ``X-Export-Rows`` says how many rows were written where the count
is known before streaming, with ``X-Export-Total`` and ``X-Export-Truncated``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from smartcustoms.cbec import service as cbec
from smartcustoms.core.clock import utcnow
from smartcustoms.core.errors import NotFound
from smartcustoms.core.security import Principal, Role
from smartcustoms.declarations.listing import EXPORT_MAX_ROWS
from smartcustoms.enterprises import service as enterprises
from smartcustoms.manifests.schemas import Outcome
from smartcustoms.manifests.service import REFERRED
from smartcustoms.tax import service as tax_service
from smartcustoms.web.i18n import language_of, translator
from smartcustoms.web.lists import csv_response, xlsx_response
from smartcustoms.web.messages import Localiser
from smartcustoms.web.pages.base import CUSTOMS, login, page_router, platform_of

router = page_router()

#: rows read from the database at a time
BATCH = 2000
#: the held-parcel list's selections (``/parcels?status=``): held, one held status, decided, one outcome
PARCEL_FILTERS: dict[str, tuple[int, ...]] = {
    "held": cbec.PARCEL_HELD, "300": (300,), "500": (500,), "decided": cbec.PARCEL_OUTCOMES,
    **{str(s): (s,) for s in cbec.PARCEL_OUTCOMES}}
FORMATS = ("csv", "xlsx")

Rows = Iterator[list[dict]]


async def table_export(request: Request, fmt: str, name: str, columns: list[tuple[str, str]], chunks: Rows,
                       total: int | None = None) -> Response:
    """The download of ``chunks`` (lists of row dicts, already worded) with ``columns`` = (key, header text)."""
    if fmt not in FORMATS:
        raise NotFound(f"no export as {fmt}: csv or xlsx")
    t = translator(language_of(request))
    headers, keys = [h for _, h in columns], [k for k, _ in columns]
    filename = f"{name}-{utcnow():%Y%m%d-%H%M}.{fmt}"
    extra = {} if total is None else {"X-Export-Rows": str(min(total, EXPORT_MAX_ROWS)),
                                      "X-Export-Total": str(total),
                                      "X-Export-Truncated": "true" if total > EXPORT_MAX_ROWS else "false"}

    def word(_kind: str, value: str) -> str:  # the rows come worded: no status or lane key to translate
        return value

    capped = _capped(chunks)
    if fmt == "csv":
        return csv_response(filename, headers, keys, capped, word, extra)
    return await xlsx_response(filename, t(f"lists.sheet.{name}"), headers, keys, capped, word, extra)


def _capped(chunks: Rows) -> Rows:
    """The chunks up to ``EXPORT_MAX_ROWS`` rows in all (the rest is never read)."""
    left = EXPORT_MAX_ROWS
    for rows in chunks:
        if left <= 0:
            return
        yield rows[:left]
        left -= len(rows)


def _paged(read: Callable[[int, int], list[dict]]) -> Rows:
    """Batches of ``read(limit, offset)`` until a short one."""
    offset = 0
    while True:
        rows = read(BATCH, offset)
        if rows:
            yield rows
        if len(rows) < BATCH or offset + BATCH >= EXPORT_MAX_ROWS:
            return
        offset += BATCH


# -- held CBEC parcels --------------------------------------------------------------------------------------
@router.get("/parcels.{fmt}")
async def parcels_export(fmt: str, request: Request, status: str = "held") -> Response:
    """The held parcels (or the recent outcomes) as ``/parcels`` selects and orders them, every page."""
    login(request, *CUSTOMS)
    platform = platform_of(request)
    t, say = translator(language_of(request)), Localiser(language_of(request))
    statuses = PARCEL_FILTERS.get(status, cbec.PARCEL_HELD)

    def chunks() -> Rows:
        after: str | None = None
        read = 0
        while read < EXPORT_MAX_ROWS:
            with platform.sessions() as s:
                q = cbec.parcel_queue(s, statuses, after=after, limit=BATCH)
            yield [{**r, "status": f"{r['status']} {t('parcel_status.' + str(r['status']))}",
                    "risk_reasons": "; ".join(say.reason(x) for x in r["risk_reasons"])} for r in q.rows]
            read += len(q.rows)
            if q.next_after is None:
                return
            after = q.next_after

    columns = [("ebp_code", t("parcel.ebp")), ("order_no", t("parcel.order_no")), ("ebc_code", t("parcel.ebc")),
               ("status", t("parcel.status")), ("risk_score", t("decl.score")),
               ("risk_reasons", t("parcel.reasons")), ("note", t("parcel.officer_note")),
               ("dutiable_cny", t("parcel.dutiable")), ("tax_cny", t("parcel.tax")),
               ("decided_at", t("parcel.decided_at"))]
    return await table_export(request, fmt, "parcels", columns, chunks())


# -- the manifest referral queue ----------------------------------------------------------------------------
@router.get("/manifests/referrals.{fmt}")
async def referrals_export(fmt: str, request: Request, outcome: str = "") -> Response:
    """The open manifest referrals as ``/manifests/referrals`` filters and orders them (oldest first), every page."""
    login(request, *CUSTOMS)
    svc = platform_of(request).manifests
    lang = language_of(request)
    t = translator(lang)
    wanted = next((o for o in REFERRED if o.value == outcome), None)

    def chunks() -> Rows:
        after, read = 0, 0
        while read < EXPORT_MAX_ROWS:
            rows = svc.referrals(after_id=after, limit=BATCH, outcome=wanted)
            yield [_referral_row(r.model_dump(), t, lang == "zh") for r in rows]
            read += len(rows)
            if len(rows) < BATCH:
                return
            after = rows[-1].id

    columns = [("transport_document_no", t("manifests.consignment")), ("filer_code", t("manifests.carrier")),
               ("conveyance_id", t("manifests.conveyance")), ("mode", t("manifests.mode")),
               ("message_type", t("manifests.message_type")), ("outcome", t("manifests.outcome")),
               ("assessed_outcome", t("manifests.assessed_outcome")), ("answered", t("manifests.answered")),
               ("reasons", t("manifests.reasons")), ("received_at", t("manifests.filed_at"))]
    return await table_export(request, fmt, "referrals", columns, chunks())


def _referral_row(r: dict[str, Any], t: Callable[..., str], zh: bool) -> dict[str, Any]:
    def outcome(o: Outcome | str | None) -> str:
        return t(f"manifest_outcome.{Outcome(o).value}") if o else ""

    return {**r, "mode": t(f"manifest_mode.{r['mode']}"), "outcome": outcome(r["outcome"]),
            "assessed_outcome": outcome(r["assessed_outcome"]), "answered": t("yes") if r["answered"] else t("no"),
            "reasons": "; ".join(r["reasons_zh"] if zh else r["reasons"])}


# -- the administrator's lists ------------------------------------------------------------------------------
def _admin(request: Request) -> Principal:
    return login(request, Role.ADMIN)


@router.get("/admin/users.{fmt}")
async def users_export(fmt: str, request: Request) -> Response:
    """Every user account as the admin page lists it (no secrets)."""
    _admin(request)
    t = translator(language_of(request))
    with platform_of(request).sessions() as s:
        total, _ = enterprises.count_users_and_keys(s)
        users = enterprises.list_users(s, limit=EXPORT_MAX_ROWS)
    rows = [{**u.model_dump(), "role": t(f"role.{u.role}"), "active": t("yes") if u.active else t("no")}
            for u in users]
    columns = [("username", t("login.username")), ("display_name", t("admin.display_name")),
               ("role", t("admin.role")), ("enterprise_code", t("admin.enterprise")), ("active", t("admin.active"))]
    return await table_export(request, fmt, "users", columns, iter([rows]), total=total)


@router.get("/admin/keys.{fmt}")
async def keys_export(fmt: str, request: Request) -> Response:
    """Every API key (latest first) with its owner, label, dates and last use: never the key or its digest."""
    _admin(request)
    t = translator(language_of(request))
    with platform_of(request).sessions() as s:
        _, total = enterprises.count_users_and_keys(s)
        keys = enterprises.list_api_keys(s, limit=EXPORT_MAX_ROWS)
    rows = [{**k, "role": t(f"role.{k['role']}")} for k in keys]
    columns = [("prefix", t("admin.prefix")), ("username", t("login.username")), ("role", t("admin.role")),
               ("label", t("admin.key_label")), ("created_at", t("admin.created")),
               ("last_used_at", t("admin.last_used")), ("revoked_at", t("admin.revoked"))]
    return await table_export(request, fmt, "api-keys", columns, iter([rows]), total=total)


@router.get("/admin/enterprises.{fmt}")
async def enterprises_export(fmt: str, request: Request, q: str = "") -> Response:
    """The enterprises the admin page's search ``q`` finds (all when empty), by code."""
    _admin(request)
    platform = platform_of(request)
    t = translator(language_of(request))
    q = q.strip()[:100]

    def read(limit: int, offset: int) -> list[dict]:
        with platform.sessions() as s:
            rows, _ = enterprises.search_enterprises(s, q, limit=limit, offset=offset)
        return [{**e, "roles": "、".join(t(f"erole.{r}") for r in e["roles"].split(",") if r),
                 "credit_grade": t(f"grade.{e['credit_grade']}")} for e in rows]

    with platform.sessions() as s:
        _, total = enterprises.search_enterprises(s, q, limit=0)
    columns = [("code", t("admin.code")), ("name", t("admin.name")), ("roles", t("admin.roles")),
               ("credit_grade", t("admin.grade"))]
    return await table_export(request, fmt, "enterprises", columns, _paged(read), total=total)


@router.get("/admin/tariff.{fmt}")
async def tariff_export(fmt: str, request: Request) -> Response:
    """The stored tariff table, every column as the admin page shows it, by HS prefix."""
    _admin(request)
    platform = platform_of(request)

    def read(limit: int, offset: int) -> list[dict]:
        with platform.sessions() as s:
            return tax_service.tariff_lines(s, limit=limit, offset=offset)[0]

    with platform.sessions() as s:
        first, total = tax_service.tariff_lines(s, limit=1)
    columns = [(k, k) for k in (first[0].keys() if first else ())]
    return await table_export(request, fmt, "tariff", columns, _paged(read), total=total)
