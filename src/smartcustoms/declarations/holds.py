"""The hold queue: declarations held for customs (lane assigned or under inspection), as officers work them."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from smartcustoms.declarations.lifecycle import Status
from smartcustoms.declarations.models import Declaration, DeclarationEvent

#: statuses of a declaration waiting for customs: a lane other than green was assigned, or inspection began
HELD_STATUSES = (Status.LANE_ASSIGNED.value, Status.INSPECTION.value)
#: lanes that hold a declaration, least intrusive first
HOLD_LANES = ("yellow", "blue", "red")
#: the queue's orderings: highest (or lowest) score, oldest (or newest) lodging
ORDERS = ("-risk_score", "risk_score", "lodged_at", "-lodged_at")
DEFAULT_ORDER = "-risk_score"


@dataclass
class HoldQueue:
    """One page of the hold queue, with the held declarations counted per office and lane."""

    rows: list[dict]
    counts: dict[tuple[str, str | None], int]  # (office, lane) -> held declarations
    total: int  # held declarations matching the filters (all pages)


def hold_queue(session: Session, *, lane: str | None = None, office: str | None = None,
               order: str = DEFAULT_ORDER, limit: int = 100, offset: int = 0) -> HoldQueue:
    """Held declarations of a lane and office (all when None), highest score or oldest first by ``order``.

    An unknown ``order`` falls back to the highest score first; ties keep the lodging order (by id).
    """
    d = Declaration
    if order not in ORDERS:
        order = DEFAULT_ORDER
    cond: list[ColumnElement[bool]] = [d.status.in_(HELD_STATUSES)]
    if lane:
        cond.append(d.lane == lane)
    if office:
        cond.append(d.office_code == office)
    col = d.risk_score if order.lstrip("-") == "risk_score" else d.lodged_at
    ordering = col.desc() if order.startswith("-") else col.asc()
    q = (select(d.declaration_no, d.status, d.lane, d.risk_score, d.importer_code, d.office_code,
                d.total_value, d.currency, d.lodged_at, d.tax_total_cny)
         .where(*cond).order_by(ordering, d.id).limit(limit).offset(max(offset, 0)))
    rows = [dict(r._mapping) for r in session.execute(q)]
    counts = {(o, ln): int(n) for o, ln, n in session.execute(
        select(d.office_code, d.lane, func.count()).where(d.status.in_(HELD_STATUSES))
        .group_by(d.office_code, d.lane))}
    total = sum(n for (o, ln), n in counts.items() if (not lane or ln == lane) and (not office or o == office))
    return HoldQueue(rows, counts, total)


def latest_decisions(session: Session, declaration_nos: list[str]) -> dict[str, dict]:
    """The latest officer's decision (its event detail: decision, reason code, note) of each declaration
    among ``declaration_nos`` that has one; one query for a page of the queue."""
    if not declaration_nos:
        return {}
    d, e = Declaration, DeclarationEvent
    # by number alone in SQL (its unique index: the planner would otherwise walk the held statuses), held in Python
    q = (select(d.declaration_no, d.status, e.detail).join(e, e.declaration_id == d.id)
         .where(d.declaration_no.in_(declaration_nos), e.to_status == Status.INSPECTION.value,
                e.detail.is_not(None))
         .order_by(e.declaration_id, e.seq))
    out: dict[str, dict] = {}
    for no, status, detail in session.execute(q):
        if status in HELD_STATUSES and isinstance(detail, dict) and detail.get("decision"):
            out[no] = detail  # later events overwrite earlier ones
    return out
