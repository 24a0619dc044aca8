"""Manifest lines as scan subjects for the images domain: a transport document's latest filing and its goods;
officers' scan verdicts as steps of the line's screening referral.

The images package (a lower layer) owns the ``SubjectResolver`` protocol and publishes ``ImageVerdict``; the
platform wires both classes here in.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from smartcustoms.audit.service import record
from smartcustoms.core.errors import Conflict, NotFound, ValidationProblem
from smartcustoms.core.security import Principal, Role
from smartcustoms.inspection.images.schemas import DeclaredGoods, ScanSubject
from smartcustoms.manifests.models import ManifestFiling
from smartcustoms.manifests.schemas import DecisionIn, Outcome, ReferralAction

if TYPE_CHECKING:
    from smartcustoms.inspection.images.service import ImageVerdict
    from smartcustoms.manifests.service import ManifestService

log = logging.getLogger(__name__)

#: the screening step an officer's verdict on a scan records on an open request for screening
SCREENING_STEP = {"clear": ReferralAction.SCREENING_CLEAR, "threat": ReferralAction.THREAT_FOUND}


class ManifestLineSubjects:
    """A scan's ``subject_id`` is the transport document number (bill of lading, air waybill, consignment note)."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def resolve(self, who: Principal, subject_id: str) -> ScanSubject | None:
        """The latest, not withdrawn filing of the document with its goods lines; None when none (customs only)."""
        if not who.is_customs:
            return None
        with self.sessions() as s:
            row = s.scalar(select(ManifestFiling).where(ManifestFiling.transport_document_no == subject_id)
                           .order_by(ManifestFiling.id.desc()).limit(1))
        if row is None or row.withdrawn:
            return None
        data = row.data or {}
        goods = [DeclaredGoods(
            hs_code=str(i.get("hs_code") or ""), description=str(i.get("description") or ""),
            quantity=float(i.get("packages") or 0), unit="packages",
            gross_kg=float(i["gross_mass_kg"]) if i.get("gross_mass_kg") is not None else None,
            packages=i.get("packages")) for i in data.get("items", [])]
        consignee = data.get("consignee") or {}
        return ScanSubject("manifest_line", subject_id, None, goods, (consignee.get("id") or None) and
                           str(consignee["id"])[:18])


class ManifestLineVerdicts:
    """An image verdict listener: an officer's verdict on a manifest line's scan works its screening referral.

    When the transport document's latest filing is under an open request for screening, the verdict is recorded
    as the officer's decision on it (:meth:`ManifestService.decide`: ``threat_found`` or ``screening_clear``,
    the reason naming the image; audited, closing the referral, feeding the shipper's and consignee's record).
    Otherwise (no referral, another kind of referral, already decided, withdrawn) nothing is decided from an
    image and the verdict is noted in the audit log (``image.verdict_noted``), so a repeated verdict changes
    nothing. The machine's auto-clearances are not officers' decisions: ignored.
    """

    def __init__(self, sessions: sessionmaker[Session], manifests: Callable[[], ManifestService]) -> None:
        self.sessions = sessions
        self.manifests = manifests

    def __call__(self, verdict: ImageVerdict) -> None:
        """Record the screening step, or the audit note (see the class)."""
        if verdict.subject_kind != "manifest_line" or verdict.decision == "auto_cleared":
            return
        officer = Principal(0, verdict.decided_by, Role.OFFICER)  # only officers review scans
        with self.sessions() as s:
            f = s.scalar(select(ManifestFiling).where(ManifestFiling.transport_document_no == verdict.subject_id)
                         .order_by(ManifestFiling.id.desc()).limit(1))
        if f is None or f.withdrawn:
            return self._noted(officer, verdict, None, "no current filing of this transport document")
        svc = self.manifests()
        try:
            state = svc.referral(f.id, None)
        except NotFound:
            return self._noted(officer, verdict, f.id, "the consignment is not referred")
        if state.closed or state.outcome is not Outcome.REQUEST_FOR_SCREENING:
            return self._noted(officer, verdict, f.id, "no open request for screening "
                                                      f"({'decided' if state.closed else state.outcome.value})")
        reason = (f"X-ray image {verdict.image_id} reviewed: {verdict.verdict} ({verdict.decision})")
        try:
            svc.decide(f.id, DecisionIn(action=SCREENING_STEP[verdict.verdict], reason=reason), officer)
        except (Conflict, NotFound, ValidationProblem) as exc:  # decided or superseded meanwhile
            self._noted(officer, verdict, f.id, exc.detail)

    def _noted(self, officer: Principal, verdict: ImageVerdict, filing_id: int | None, why: str) -> None:
        log.info("image %s verdict not recorded on %s: %s", verdict.image_id, verdict.subject_id, why)
        with self.sessions() as s, s.begin():
            record(s, officer, "image.verdict_noted", "manifest_filing",
                   str(filing_id) if filing_id is not None else verdict.subject_id,
                   {"image_id": verdict.image_id, "verdict": verdict.verdict, "decision": verdict.decision,
                    "transport_document_no": verdict.subject_id, "why": why})
