"""Recording inspection results: status change and audit; the result is then published to listeners.

Risk targeting learns each result at once through a listener the platform registers (this package
imports no risk code)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from sqlalchemy import and_, case, func, insert, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from smartcustoms.audit.service import record
from smartcustoms.core.errors import Conflict, Forbidden
from smartcustoms.core.security import Principal, Role
from smartcustoms.declarations.lifecycle import Status
from smartcustoms.declarations.models import Declaration, GoodsItem
from smartcustoms.declarations.service import DeclarationService
from smartcustoms.inspection.models import InspectionResult
from smartcustoms.inspection.schemas import InspectionResultIn, InspectionResultOut

#: called with the declaration id after an inspection result was committed
ResultListener = Callable[[int], None]


class InspectionService:
    """Records inspection results and tells the registered listeners (e.g. risk history) about each."""

    def __init__(self, declarations: DeclarationService, listeners: Iterable[ResultListener] = ()) -> None:
        self.declarations = declarations
        self.listeners: list[ResultListener] = list(listeners)

    def record(self, who: Principal, no: str, result: InspectionResultIn) -> InspectionResultOut:
        """Record what an inspection found. A held declaration is released (no offence) or detained
        (offence); a released one takes the result as a post-clearance audit. One result each."""
        if who.role not in (Role.OFFICER, Role.ADMIN):
            raise Forbidden("only customs officers record inspection results")
        svc = self.declarations
        now = svc.clock()
        with svc.sessions() as session, session.begin():
            decl = svc.load_visible(session, who, no)
            if decl.status not in (Status.LANE_ASSIGNED, Status.INSPECTION, Status.RELEASED):
                raise Conflict(f"declaration {no} is {decl.status}: there is nothing to inspect")
            try:
                session.execute(insert(InspectionResult).values(
                    declaration_id=decl.id, recorded_at=now, officer=who.username, outcome=result.outcome,
                    offence_type=result.offence_type, critical=result.critical,
                    duty_recovered=result.duty_recovered, notes=result.notes))
            except IntegrityError:
                raise Conflict(f"declaration {no} already has an inspection result") from None
            detail = result.model_dump(mode="json")
            words = "no offence found" if result.outcome == "no_offence" else \
                f"offence found: {result.offence_type}, duty recovered {result.duty_recovered} CNY"
            if decl.status == Status.LANE_ASSIGNED:
                svc.append_event(session, decl, Status.INSPECTION, who.username, "inspection started", None, now)
            if decl.status == Status.INSPECTION:
                to = Status.RELEASED if result.outcome == "no_offence" else Status.DETAINED
                svc.append_event(session, decl, to, who.username, words, detail, now)
            else:  # already released: a post-clearance audit finding annotates the release
                svc.append_event(session, decl, Status.RELEASED, who.username, f"post-clearance audit: {words}", detail,
                            now)
            record(session, who, "inspection.result", "declaration", no, detail)
            status = decl.status
        for listener in self.listeners:
            listener(decl.id)
        return InspectionResultOut(**result.model_dump(), declaration_no=no, recorded_at=now,
                                   officer=who.username, status=status)


# -- an officer's view of a declaration: its result, the importer's record, similar cases -------------------
def result_for(session: Session, declaration_no: str) -> InspectionResult | None:
    """The inspection (or post-clearance audit) result of a declaration, if one was recorded."""
    return session.scalar(select(InspectionResult).join(Declaration, Declaration.id == InspectionResult.declaration_id)
                          .where(Declaration.declaration_no == declaration_no))


@dataclass
class ImporterRecord:
    """An importer's record: declarations, holds, inspections, offences, duty recovered, the latest ones."""

    declarations: int = 0
    held: int = 0
    inspected: int = 0
    offences: int = 0
    duty_recovered: float = 0.0
    recent: list[dict] = field(default_factory=list)

    @property
    def hit_rate(self) -> float | None:
        """Offences per inspection (None before any inspection)."""
        return self.offences / self.inspected if self.inspected else None


def importer_record(session: Session, importer: str, exclude_no: str | None = None,
                    recent: int = 10) -> ImporterRecord:
    """An importer's record over its declarations (but ``exclude_no``), with its latest ``recent`` ones."""
    d, ir = Declaration, InspectionResult
    where = [d.importer_code == importer]
    if exclude_no is not None:
        where.append(d.declaration_no != exclude_no)
    held = func.sum(case((d.lane.in_(("yellow", "blue", "red")), 1), else_=0))
    n, n_held = session.execute(select(func.count(), held).where(*where)).one()
    h = ImporterRecord(declarations=int(n), held=int(n_held or 0))
    row = session.execute(select(func.count(), func.sum(case((ir.outcome == "offence", 1), else_=0)),
                                 func.sum(ir.duty_recovered))
                          .select_from(d).join(ir, ir.declaration_id == d.id).where(*where)).one()
    h.inspected, h.offences, h.duty_recovered = int(row[0]), int(row[1] or 0), float(row[2] or 0)
    q = (select(d.declaration_no, d.status, d.lane, d.risk_score, d.lodged_at, d.total_value, d.currency,
                ir.outcome, ir.offence_type)
         .select_from(d).outerjoin(ir, ir.declaration_id == d.id).where(*where))
    h.recent = [dict(r._mapping) for r in session.execute(q.order_by(d.lodged_at.desc()).limit(recent))]
    return h


def similar_cases(session: Session, declaration_no: str, hs_codes: list[str], origin: str,
                  limit: int = 10) -> list[dict]:
    """Past declarations with goods of the same HS subheading and origin, inspected ones first."""
    d, g, ir = Declaration, GoodsItem, InspectionResult
    hs6 = sorted({h[:6] for h in hs_codes})
    if not hs6:
        return []
    this = select(d.id).where(d.declaration_no == declaration_no).scalar_subquery()
    # a range per subheading keeps the hs_code index usable (digits sort before ":")
    same_hs = or_(*[and_(g.hs_code >= h, g.hs_code < h + ":") for h in hs6])
    ids = (select(g.declaration_id).where(same_hs, g.origin_country == origin, g.declaration_id != this)
           .distinct().scalar_subquery())
    q = (select(d.declaration_no, d.importer_code, d.status, d.lane, d.risk_score, d.lodged_at, d.total_value,
                d.currency, ir.outcome, ir.offence_type, ir.duty_recovered)
         .select_from(d).outerjoin(ir, ir.declaration_id == d.id)
         .where(d.id.in_(ids)).order_by(case((ir.id.is_(None), 1), else_=0), d.lodged_at.desc()))
    return [dict(r._mapping) for r in session.execute(q.limit(limit))]
