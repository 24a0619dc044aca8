"""Recording inspection results: status change, audit, and feedback to risk targeting at once."""

from __future__ import annotations

from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError

from smartcustoms.audit.service import record
from smartcustoms.core.errors import Conflict, Forbidden
from smartcustoms.core.security import Principal, Role
from smartcustoms.declarations.lifecycle import Status
from smartcustoms.declarations.service import DeclarationService
from smartcustoms.inspection.models import InspectionResult
from smartcustoms.inspection.schemas import InspectionResultIn, InspectionResultOut


class InspectionService:
    def __init__(self, declarations: DeclarationService, risk=None) -> None:
        self.declarations = declarations
        self.risk = risk  # a RiskEngine, fed each result

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
        if self.risk is not None:
            from smartcustoms.risk.service import labelled_frame

            with svc.sessions() as session:
                frame = labelled_frame(session, [decl.id])
            self.risk.observe_outcomes(frame)
        return InspectionResultOut(**result.model_dump(), declaration_no=no, recorded_at=now,
                                   officer=who.username, status=status)
