"""Declaration lists that scale: validated filters, whitelisted sorts, pages of a chosen size, capped exports.

One query shape serves the trader's own list, customs' list of every declaration and the hold queue (the
same filters narrowed to held declarations). Every filter is a range or an equality on an indexed column
(migration ``0010_core``), so a page of 100,000 declarations stays a few index probes away (a page reads its
ids in order first, on narrow index entries where an index covers the filters and the sort, then only its
own rows):

* ``no``: a declaration number prefix (digits), as a range on the unique index;
* ``date_from`` / ``date_to``: the lodging date (UTC, both inclusive), a range on ``lodged_at``;
* ``hs``: an HS code prefix of any goods item, a range on ``goods_items(hs_code, declaration_id)``;
* ``importer``, ``lane``, ``office``, ``status``: equalities.

Sorting is by one whitelisted column, ascending or descending (``-`` first), ties broken by the row id in
the same direction, so pages never repeat or skip a row. Page sizes are a short fixed list (25 to 200).
An export takes every matching row in the same order, up to :data:`EXPORT_MAX_ROWS`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import Session

from smartcustoms.core.errors import FieldError, ValidationProblem, loc_to_path
from smartcustoms.declarations.lifecycle import Lane, Status
from smartcustoms.declarations.models import Declaration, GoodsItem

#: the page sizes a list offers; the first after the default is what a user most often picks
PAGE_SIZES = (25, 50, 100, 200)
DEFAULT_PAGE_SIZE = 50
#: the deepest page a list goes to (with 200 a page, two million rows: past any real search)
MAX_PAGE = 10_000
#: the most rows an export holds (CSV and Excel alike); a larger selection exports its first rows in the list's order
EXPORT_MAX_ROWS = 100_000
#: rows read per query while an export streams
EXPORT_CHUNK = 2_000
#: a date range may span at most this many days
MAX_RANGE_DAYS = 3_660

_D = Declaration
#: the sort keys a list accepts (the URL's ``sort``, ``-`` first for descending) and their columns
SORT_COLUMNS: dict[str, Any] = {
    "declaration_no": _D.declaration_no, "lodged_at": _D.lodged_at, "declared_at": _D.declared_at,
    "status": _D.status, "lane": _D.lane, "risk_score": _D.risk_score, "importer_code": _D.importer_code,
    "office_code": _D.office_code, "total_value": _D.total_value, "tax_total_cny": _D.tax_total_cny,
}
#: sort keys only customs may use (a trader neither reads nor ranks by risk scores)
CUSTOMS_ONLY_SORTS = frozenset({"risk_score"})
DEFAULT_SORT = "-lodged_at"
#: the columns of a list row (and of an export), in their order
ROW_COLUMNS = ("declaration_no", "status", "lane", "risk_score", "declarant_code", "importer_code", "seller_name",
               "office_code", "trade_mode", "total_value", "currency", "tax_total_cny", "declared_at", "lodged_at")
#: the query parameters a list reads (filters, sort, page); others are left alone
PARAMS = ("no", "date_from", "date_to", "hs", "importer", "lane", "office", "status", "sort", "page", "size")
FILTERS = PARAMS[:8]


class ListQueryInvalid(ValidationProblem):
    """A list's filters, sort or page do not parse; each wrong parameter is named (422)."""

    title = "The list's filters are not valid"


class DeclarationQuery(BaseModel):
    """What a declaration list shows: its filters, its sort and the page (all optional, validated)."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    no: str | None = Field(None, pattern=r"^[0-9]{1,18}$", description="declaration number or its first digits")
    date_from: date | None = Field(None, description="lodged on or after this day (UTC)")
    date_to: date | None = Field(None, description="lodged on or before this day (UTC)")
    hs: str | None = Field(None, pattern=r"^[0-9]{2,10}$", description="HS code or its first 2 to 10 digits")
    importer: str | None = Field(None, pattern=r"^([0-9A-Z]{10}|[0-9A-Z]{18})$",
                                 description="importer's customs code (10) or unified social credit code (18)")
    lane: Lane | None = None
    office: str | None = Field(None, pattern=r"^[0-9]{4}$", description="customs office code")
    status: Status | None = None
    sort: str = Field(DEFAULT_SORT, description="a sort key, '-' first for descending")
    page: int = Field(1, ge=1, le=MAX_PAGE)
    size: int = DEFAULT_PAGE_SIZE

    @field_validator("importer", mode="before")
    @classmethod
    def _upper(cls, v: object) -> object:
        return v.strip().upper() if isinstance(v, str) else v

    @field_validator("sort")
    @classmethod
    def _known_sort(cls, v: str) -> str:
        if v.removeprefix("-") not in SORT_COLUMNS:
            raise ValueError(f"sort by one of {', '.join(SORT_COLUMNS)} ('-' first for descending)")
        return v

    @field_validator("size")
    @classmethod
    def _offered_size(cls, v: int) -> int:
        if v not in PAGE_SIZES:
            raise ValueError(f"page size is one of {', '.join(map(str, PAGE_SIZES))}")
        return v

    @model_validator(mode="after")
    def _range(self) -> DeclarationQuery:
        if self.date_from and self.date_to:
            if self.date_from > self.date_to:
                raise ValueError("date_to: the range ends before it starts")
            if (self.date_to - self.date_from).days > MAX_RANGE_DAYS:
                raise ValueError(f"date_to: a range spans at most {MAX_RANGE_DAYS} days")
        return self

    @classmethod
    def parse(cls, params: Mapping[str, Any]) -> DeclarationQuery:
        """The query of a URL's parameters (blank ones left out); ListQueryInvalid names each wrong one."""
        raw = {k: v for k in PARAMS if (v := params.get(k)) is not None and str(v).strip() != ""}
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            errors = []
            for e in exc.errors():
                loc = tuple(e["loc"])
                field, msg = loc_to_path(loc) if loc else "", str(e["msg"]).removeprefix("Value error, ")
                if not field and ":" in msg:  # a cross-field check names its field first
                    field, msg = (x.strip() for x in msg.split(":", 1))
                errors.append(FieldError(field or "query", msg))
            raise ListQueryInvalid("the list's filters are not valid", errors) from None

    @property
    def filters(self) -> dict[str, str]:
        """The filters in force, as URL parameters."""
        return {k: str(v) for k in FILTERS if (v := getattr(self, k)) is not None}

    @property
    def descending(self) -> bool:
        """Whether the sort is descending."""
        return self.sort.startswith("-")

    @property
    def sort_key(self) -> str:
        """The sort's column name (without the direction)."""
        return self.sort.removeprefix("-")


@dataclass(frozen=True)
class DeclarationPage:
    """One page of a declaration list: its rows, the matching total and where the page is."""

    rows: list[dict]
    total: int
    page: int
    size: int

    @property
    def pages(self) -> int:
        """The number of pages (at least one, for an empty list)."""
        return max(1, math.ceil(self.total / self.size))

    @property
    def first(self) -> int:
        """The 1-based position of the page's first row (0 for an empty page)."""
        return (self.page - 1) * self.size + 1 if self.rows else 0

    @property
    def last(self) -> int:
        """The 1-based position of the page's last row (0 for an empty page)."""
        return (self.page - 1) * self.size + len(self.rows)


def _prefix_range(col: Any, prefix: str) -> list[ColumnElement[bool]]:
    """``col`` starts with the digits ``prefix``, as an index range (no LIKE, whatever the collation)."""
    cond = [col >= prefix]
    if prefix.strip("9"):  # the next prefix of the same length: 6907 -> 6908, 0199 -> 0200
        cond.append(col < str(int(prefix) + 1).zfill(len(prefix)))
    return cond


def conditions(q: DeclarationQuery, visible: ColumnElement[bool] | None,
               statuses: Sequence[str] | None = None) -> list[ColumnElement[bool]]:
    """The WHERE terms of ``q`` for a caller who sees ``visible`` (None: everything), within ``statuses``."""
    cond: list[ColumnElement[bool]] = [] if visible is None else [visible]
    if statuses is not None:
        cond.append(_D.status.in_(list(statuses)))
    if q.no:
        cond += _prefix_range(_D.declaration_no, q.no)
    if q.date_from:
        cond.append(_D.lodged_at >= datetime.combine(q.date_from, time.min))
    if q.date_to:
        cond.append(_D.lodged_at < datetime.combine(q.date_to + timedelta(days=1), time.min))
    if q.hs:
        cond.append(_D.id.in_(select(GoodsItem.declaration_id).where(*_prefix_range(GoodsItem.hs_code, q.hs))))
    if q.importer:
        cond.append(_D.importer_code == q.importer)
    if q.lane:
        cond.append(_D.lane == q.lane.value)
    if q.office:
        cond.append(_D.office_code == q.office)
    if q.status:
        cond.append(_D.status == q.status.value)
    return cond


def check_sort(q: DeclarationQuery, customs: bool) -> None:
    """Refuse a customs-only sort key (the risk score) to a trader."""
    if not customs and q.sort_key in CUSTOMS_ONLY_SORTS:
        raise ListQueryInvalid("the list's filters are not valid",
                               [FieldError("sort", f"{q.sort_key} is not a sort key of your list")])


#: sort keys whose column may be empty: their empties come last either way (SQLite and PostgreSQL differ)
_NULLABLE = frozenset({"lane", "risk_score", "tax_total_cny"})


def _ordered(stmt: Select, q: DeclarationQuery) -> Select:
    col = SORT_COLUMNS[q.sort_key]
    key = col.desc() if q.descending else col.asc()
    if q.sort_key in _NULLABLE:  # NULLS LAST, not an IS NULL term: an index on the column still serves the sort
        key = key.nulls_last()
    return stmt.order_by(key, _D.id.desc() if q.descending else _D.id.asc())


_ROW = [getattr(_D, c) for c in ROW_COLUMNS]


def _row(r: Any, customs: bool) -> dict:
    row = dict(r._mapping)
    if not customs:
        row["risk_score"] = None
    return row


def page(session: Session, q: DeclarationQuery, visible: ColumnElement[bool] | None, *, customs: bool,
         statuses: Sequence[str] | None = None) -> DeclarationPage:
    """The page ``q`` asks for (a page past the end is the last page), with the total of matching rows."""
    check_sort(q, customs)
    cond = conditions(q, visible, statuses)
    total = int(session.scalar(select(func.count()).select_from(_D).where(*cond)) or 0)
    number = min(q.page, max(1, math.ceil(total / q.size)))
    # the page's ids first (sorted on narrow index entries where an index covers the sort), then their rows
    ids = list(session.scalars(_ordered(select(_D.id).where(*cond), q).limit(q.size)
                               .offset((number - 1) * q.size)))
    return DeclarationPage(rows_of(session, ids, customs=customs), total, number, q.size)


def export_ids(session: Session, q: DeclarationQuery, visible: ColumnElement[bool] | None, *, customs: bool,
               statuses: Sequence[str] | None = None, cap: int = EXPORT_MAX_ROWS) -> tuple[list[int], int]:
    """The ids of every row ``q`` matches in its order, up to ``cap``, and how many match in all."""
    check_sort(q, customs)
    cond = conditions(q, visible, statuses)
    total = int(session.scalar(select(func.count()).select_from(_D).where(*cond)) or 0)
    ids = list(session.scalars(_ordered(select(_D.id).where(*cond), q).limit(cap)))
    return ids, total


def rows_of(session: Session, ids: Sequence[int], *, customs: bool) -> list[dict]:
    """The list rows of ``ids``, in the order of ``ids``."""
    by_id = {r.id: _row(r, customs) for r in session.execute(select(*_ROW, _D.id).where(_D.id.in_(list(ids))))}
    return [by_id[i] for i in ids if i in by_id]


def chunks(ids: Sequence[int], size: int = EXPORT_CHUNK) -> Iterator[Sequence[int]]:
    """``ids`` in slices of ``size``."""
    for i in range(0, len(ids), size):
        yield ids[i:i + size]
