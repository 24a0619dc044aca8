"""E-commerce parcels as scan subjects for the images domain, and officers' scan verdicts as parcel results.

The images package (a lower layer) owns the ``SubjectResolver`` protocol and publishes ``ImageVerdict``; the
platform wires both classes here in. A parcel is found by its waybill (logistics) number; its declared goods are
the lines of its CEB621 inventory (``gcode``, ``gname``, ``qty``, ``unit``), with the head's gross and net weight
shared over the lines by their declared value (``totalPrice``): the inventory gives no weight per line.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from smartcustoms.audit.service import record
from smartcustoms.cbec.ceb.parse import document_from_json
from smartcustoms.cbec.ceb.spec import INVENTORY, Document
from smartcustoms.cbec.ceb.statuses import DETAINED_OTHER, INSPECTION, MANUAL_REVIEW, RELEASED
from smartcustoms.cbec.models import CbecMessage, CbecParcel
from smartcustoms.core.errors import Conflict, NotFound
from smartcustoms.core.security import Principal, Role
from smartcustoms.inspection.images.schemas import DeclaredGoods, ScanSubject

if TYPE_CHECKING:
    from smartcustoms.cbec.service import CbecService
    from smartcustoms.inspection.images.service import ImageVerdict

log = logging.getLogger(__name__)

#: a parcel an officer's scan verdict can decide: held for a document check (300) or an inspection (500)
HELD = (MANUAL_REVIEW, INSPECTION)
#: the officer's result a scan verdict becomes: nothing found -> released (800, a clean result for the parcel
#: model); threat -> other detention (599, a hit) pending the physical examination the image calls for
VERDICT_STATUS = {"clear": RELEASED, "threat": DETAINED_OTHER}
MAX_LINES = 100  # an inventory has at most 99 lines (gnum); more is not read


class ParcelSubjects:
    """A scan's ``subject_id`` is the parcel's waybill (logistics) number."""

    def __init__(self, sessions: sessionmaker[Session], cbec: Callable[[], CbecService] | None = None) -> None:
        """``cbec`` gives the CBEC writer, whose message log holds the inventories when they are not in the
        ``cbec_message`` table (an SQLite file store keeps them in segment files); None: the table only."""
        self.sessions = sessions
        self.cbec = cbec

    def resolve(self, who: Principal, subject_id: str) -> ScanSubject | None:
        """The parcel with this waybill number (the latest when a number was reused) with its declared goods;
        None when none (customs only)."""
        if not who.is_customs:
            return None
        with self.sessions() as s:
            row = s.execute(select(CbecParcel.ebc_code, CbecParcel.inventory_guid)
                            .where(CbecParcel.logistics_no == subject_id)
                            .order_by(CbecParcel.id.desc()).limit(1)).first()
        if row is None:
            return None
        inv = self.inventory(row.inventory_guid) if row.inventory_guid else None
        if inv is None:
            return ScanSubject("parcel", subject_id, None, [], row.ebc_code)
        return ScanSubject("parcel", subject_id, inv.head.get("customsCode") or None, declared_goods(inv),
                           row.ebc_code)

    def inventory(self, guid: str) -> Document | None:
        """The logged CEB621 inventory ``guid``: from the ``cbec_message`` table, else the writer's log."""
        with self.sessions() as s:
            found = s.execute(select(CbecMessage.payload)
                              .where(CbecMessage.msg_type == INVENTORY, CbecMessage.guid == guid)
                              .order_by(CbecMessage.id.desc()).limit(1)).first()
        if found is not None:
            return document_from_json(bytes(found.payload))
        if self.cbec is None:
            return None
        svc = self.cbec()
        with svc.lock:
            return svc.engine.log.document(INVENTORY, guid)


def _dec(value: str | None) -> Decimal | None:
    try:
        return Decimal(value) if value not in (None, "") else None
    except InvalidOperation:
        return None


def declared_goods(inv: Document) -> list[DeclaredGoods]:
    """An inventory's lines as declared goods: HS code, name, quantity and unit as declared; the head's gross
    and net weight shared over the lines by declared value (``totalPrice``), the packages when one line."""
    lines = inv.lines[:MAX_LINES]
    values = [_dec(x.get("totalPrice")) or Decimal(0) for x in lines]
    total = sum(values, Decimal(0))
    gross, net = _dec(inv.head.get("grossWeight")), _dec(inv.head.get("netWeight"))
    packages = _dec(inv.head.get("packNo"))
    out = []
    for line, value in zip(lines, values, strict=True):
        share = value / total if total > 0 else Decimal(1) / len(lines)
        out.append(DeclaredGoods(
            hs_code=line.get("gcode", ""), description=(line.get("gname") or line.get("itemName") or "")[:250],
            quantity=float(_dec(line.get("qty")) or 0), unit=line.get("unit", ""),
            gross_kg=float(gross * share) if gross is not None else None,
            net_kg=float(net * share) if net is not None else None,
            packages=int(packages) if packages is not None and len(lines) == 1 else None))
    return out


class ParcelVerdicts:
    """An image verdict listener: an officer's verdict on a held parcel's scan becomes the parcel's officer result.

    Clear releases the parcel (800), threat detains it (599), through :meth:`CbecService.set_status` as an
    officer's decision in the parcel queue is recorded (a parcel event by the officer, audited, a CEB622 receipt;
    the parcel model's labels read it). Only a parcel still held (300/500) is decided, with the status seen as
    the expected one: a repeated verdict, or one on a parcel already decided, changes nothing and is noted in the
    audit log (``image.verdict_not_applied``). The machine's auto-clearances are not officers' results: ignored.
    """

    def __init__(self, sessions: sessionmaker[Session], cbec: Callable[[], CbecService]) -> None:
        self.sessions = sessions
        self.cbec = cbec

    def __call__(self, verdict: ImageVerdict) -> None:
        """Decide the scanned parcel after an officer's verdict (see the class)."""
        if verdict.subject_kind != "parcel" or verdict.decision == "auto_cleared":
            return
        with self.sessions() as s:
            row = s.execute(select(CbecParcel.ebp_code, CbecParcel.order_no, CbecParcel.status)
                            .where(CbecParcel.logistics_no == verdict.subject_id)
                            .order_by(CbecParcel.id.desc()).limit(1)).first()
        if row is None:
            return self._not_applied(verdict, verdict.subject_id, "no parcel has this waybill number")
        key = f"{row.ebp_code}/{row.order_no}"
        if row.status not in HELD:
            return self._not_applied(verdict, key, f"the parcel is not held (status {row.status})")
        info = (f"X-ray image {verdict.image_id}: {verdict.verdict} ({verdict.decision}) "
                f"by {verdict.decided_by}")
        try:
            self.cbec().set_status(row.ebp_code, row.order_no, VERDICT_STATUS[verdict.verdict], info,
                                   verdict.decided_by, expected=row.status, role=str(Role.OFFICER))
        except (Conflict, NotFound) as exc:  # decided meanwhile by another officer or verdict
            self._not_applied(verdict, key, exc.detail)

    def _not_applied(self, verdict: ImageVerdict, key: str, why: str) -> None:
        log.info("image %s verdict not applied to parcel %s: %s", verdict.image_id, key, why)
        with self.sessions() as s, s.begin():
            record(s, Principal(0, verdict.decided_by, Role.OFFICER), "image.verdict_not_applied", "cbec_parcel",
                   key, {"image_id": verdict.image_id, "verdict": verdict.verdict, "decision": verdict.decision,
                         "waybill": verdict.subject_id, "why": why})
