"""The discrepancy queue: reconciliation runs over the stored rows, opening each finding once; officers resolve.

A run reads the manifest lines, arrival and tally reports and declarations of the last ``window_days``, asks
:mod:`smartcustoms.manifests.reconcile` what disagrees, and inserts each finding whose key is new (an insert that
ignores a key already there, so two runs at once open it once) with an ``opened`` event. An officer resolves an
open discrepancy with a resolution code and a reason: one ``resolved`` event (a unique index allows one) and one
audit entry. Both tables are append-only.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import or_, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from smartcustoms.audit.service import record as audit
from smartcustoms.core.errors import Conflict, NotFound
from smartcustoms.core.security import Principal
from smartcustoms.declarations.models import Declaration
from smartcustoms.manifests import legs
from smartcustoms.manifests.events import ManifestEvent, ManifestEventKind, ManifestListener, emit
from smartcustoms.manifests.models import ManifestDiscrepancy, ManifestDiscrepancyEvent, ManifestFiling
from smartcustoms.manifests.reconcile import (
    DeclaredDocument,
    DiscrepancyKind,
    Finding,
    Line,
    ReconcileSettings,
    Report,
    reconcile,
    reconcile_landing,
)
from smartcustoms.manifests.schemas import (
    DiscrepancyEventOut,
    DiscrepancyOut,
    DiscrepancyResolution,
    DiscrepancyResolutionIn,
    ManifestLineOut,
    MessageKind,
    Outcome,
    ReconcileOut,
    TransportMode,
)

FILED = (MessageKind.ORIGINAL.value, MessageKind.PRE_ALLOCATION.value)
REPORTED = (MessageKind.ARRIVAL.value, MessageKind.TALLY.value)
CHUNK = 500
_F = ManifestFiling
_COLUMNS = (_F.id, _F.filer_code, _F.transport_document_no, _F.master_document_no, _F.previous_document_no,
            _F.kind, _F.mode, _F.conveyance_id, _F.journey_id, _F.withdrawn, _F.received_at, _F.data)


def _decimal(v: Any) -> Decimal | None:
    return Decimal(str(v)) if v is not None else None


def _split(rows: Iterable[Any]) -> tuple[list[Line], list[Report]]:
    """Filing rows as manifest lines (each document's latest original/pre-allocation filing) and reports."""
    latest: dict[tuple[str, str], Any] = {}
    reports = []
    for r in rows:
        if r.kind in FILED:
            k = (r.filer_code, r.transport_document_no)
            if k not in latest or latest[k].id < r.id:
                latest[k] = r
        elif r.kind in REPORTED:
            reports.append(Report(filing_id=r.id, kind=r.kind, document_no=r.transport_document_no,
                                  conveyance_id=r.conveyance_id, journey_id=r.journey_id, reported_at=r.received_at,
                                  packages=r.data.get("packages"), gross_mass_kg=_decimal(r.data.get("gross_mass_kg"))))
    lines = [Line(filer_code=r.filer_code, document_no=r.transport_document_no, mode=r.mode,
                  conveyance_id=r.conveyance_id, journey_id=r.journey_id, filed_at=r.received_at,
                  withdrawn=r.withdrawn, master_document_no=r.master_document_no,
                  previous_document_no=r.previous_document_no, packages=r.data.get("packages"),
                  gross_mass_kg=_decimal(r.data.get("gross_mass_kg"))) for r in latest.values()]
    return lines, reports


class Discrepancies:
    """Reconciliation runs and the officers' discrepancy queue over the deployment's sessions."""

    def __init__(self, sessions: sessionmaker[Session], settings: ReconcileSettings | None = None,
                 clock: Callable[[], datetime] | None = None,
                 listeners: list[ManifestListener] | None = None) -> None:
        from smartcustoms.core.clock import utcnow

        self.sessions = sessions
        self.settings = settings or ReconcileSettings()
        self.clock = clock or utcnow
        #: told of discrepancies opened and resolved, in their transaction (shared with the manifests service)
        self.listeners: list[ManifestListener] = listeners if listeners is not None else []

    # ------------------------------------------------------------------ runs
    def run(self, who: Principal, voyages: Iterable[tuple[str, str]] | None = None) -> ReconcileOut:
        """Reconcile and open new discrepancies. ``voyages`` ((conveyance, journey) pairs): only the landing of
        those voyages (after an arrival or tally report); None: everything of the window, declarations too."""
        now = self.clock()
        since = now - timedelta(days=self.settings.window_days)
        with self.sessions() as s:
            if voyages is None:
                rows = s.execute(select(*_COLUMNS).where(_F.received_at >= since).order_by(_F.id)).all()
                lines, reports = _split(rows)
                declared = [DeclaredDocument(no, doc or "", at) for no, doc, at in s.execute(
                    select(Declaration.declaration_no, Declaration.transport_document_no, Declaration.lodged_at)
                    .where(Declaration.transport_document_no.is_not(None), Declaration.lodged_at >= since))]
                found = reconcile(lines, reports, declared, now, self.settings)
            else:
                found = reconcile_landing(*self._voyage_rows(s, list(voyages)), now, self.settings)
        return self._open(found, who, now)

    @staticmethod
    def _voyage_rows(s: Session, voyages: list[tuple[str, str]]) -> tuple[list[Line], list[Report]]:
        rows: dict[int, Any] = {}
        for i in range(0, len(voyages), CHUNK):
            part = voyages[i:i + CHUNK]
            for r in s.execute(select(*_COLUMNS).where(tuple_(_F.conveyance_id, _F.journey_id).in_(part))):
                rows[r.id] = r
        docs = sorted({r.transport_document_no for r in rows.values() if r.kind in REPORTED})
        for i in range(0, len(docs), CHUNK):  # the lines of reported documents filed under another voyage id
            for r in s.execute(select(*_COLUMNS).where(_F.transport_document_no.in_(docs[i:i + CHUNK]))):
                rows[r.id] = r
        lines, reports = _split(sorted(rows.values(), key=lambda r: r.id))
        return lines, [r for r in reports if (r.conveyance_id, r.journey_id) in set(voyages)]

    def _open(self, found: list[Finding], who: Principal, now: datetime) -> ReconcileOut:
        if not found:
            return ReconcileOut(opened=0, found=0, by_kind={})
        opened: list[tuple[int, Finding]] = []
        with self.sessions() as s, s.begin():
            keys = [f.key for f in found]
            existing: set[str] = set()
            for i in range(0, len(keys), CHUNK):
                existing.update(s.scalars(select(ManifestDiscrepancy.key)
                                          .where(ManifestDiscrepancy.key.in_(keys[i:i + CHUNK]))))
            dialect = s.get_bind().dialect.name
            ins: Any = postgresql.insert if dialect == "postgresql" else sqlite.insert
            for f in found:
                if f.key in existing:
                    continue
                did = s.execute(ins(ManifestDiscrepancy).values(
                    key=f.key, kind=f.kind.value, transport_document_no=f.document_no, filer_code=f.filer_code,
                    declaration_no=f.declaration_no, mode=f.mode, detail=f.detail, opened_at=now,
                ).on_conflict_do_nothing(index_elements=["key"]).returning(ManifestDiscrepancy.id)).scalar()
                if did is not None:  # None: another run opened it meanwhile
                    opened.append((did, f))
            if opened:
                s.add_all([ManifestDiscrepancyEvent(discrepancy_id=did, action="opened", resolution=None,
                                                    text=f"reconciliation: {f.kind.value}", actor=who.username,
                                                    actor_role=str(who.role)[:16], created_at=now)
                           for did, f in opened])
                s.flush()
                emit(self.listeners, s, [ManifestEvent(
                    ManifestEventKind.DISCREPANCY_OPENED, f.filer_code or "", f.document_no, now,
                    {"discrepancy_id": did, "kind": f.kind.value}, f.declaration_no)
                    for did, f in opened if f.filer_code or f.declaration_no])  # the filer, the declarant
                counts = Counter(f.kind.value for _, f in opened)
                audit(s, who, "manifest.discrepancies_opened", "manifest_discrepancy",
                      f"{opened[0][0]}-{opened[-1][0]}", {"opened": len(opened), "by_kind": dict(counts),
                                                          "ids": [d for d, _ in opened][:200]})
        return ReconcileOut(opened=len(opened), found=len(found),
                            by_kind=dict(Counter(f.kind.value for f in found)))

    # ------------------------------------------------------------------ the queue
    def listing(self, *, status: str = "open", kind: DiscrepancyKind | None = None, document_no: str | None = None,
                declaration_no: str | None = None, filer_code: str | None = None, after_id: int = 0,
                limit: int = 100) -> list[DiscrepancyOut]:
        """Discrepancies oldest first (``status``: open, resolved or all), filtered."""
        d, e = ManifestDiscrepancy, ManifestDiscrepancyEvent
        resolved = select(e.id).where(e.discrepancy_id == d.id, e.action == "resolved").exists()
        q = select(d).where(d.id > after_id)
        if status == "open":
            q = q.where(~resolved)
        elif status == "resolved":
            q = q.where(resolved)
        if kind is not None:
            q = q.where(d.kind == kind.value)
        if document_no:
            q = q.where(d.transport_document_no == document_no)
        if declaration_no:
            q = q.where(d.declaration_no == declaration_no)
        if filer_code:
            q = q.where(d.filer_code == filer_code)
        with self.sessions() as s:
            rows = list(s.scalars(q.order_by(d.id).limit(limit)))
            return self._out(s, rows)

    def get(self, discrepancy_id: int) -> DiscrepancyOut:
        """One discrepancy with its steps."""
        with self.sessions() as s:
            row = s.get(ManifestDiscrepancy, discrepancy_id)
            if row is None:
                raise NotFound(f"no discrepancy {discrepancy_id}")
            return self._out(s, [row])[0]

    @staticmethod
    def _out(s: Session, rows: list[ManifestDiscrepancy]) -> list[DiscrepancyOut]:
        events: dict[int, list[DiscrepancyEventOut]] = {r.id: [] for r in rows}
        ids = list(events)
        for i in range(0, len(ids), CHUNK):
            e = ManifestDiscrepancyEvent
            for ev in s.scalars(select(e).where(e.discrepancy_id.in_(ids[i:i + CHUNK])).order_by(e.id)):
                events[ev.discrepancy_id].append(DiscrepancyEventOut(
                    id=ev.id, action=ev.action, resolution=DiscrepancyResolution(ev.resolution) if ev.resolution
                    else None, text=ev.text, actor=ev.actor, created_at=ev.created_at))
        return [DiscrepancyOut(id=r.id, kind=r.kind, transport_document_no=r.transport_document_no,
                               filer_code=r.filer_code, declaration_no=r.declaration_no,
                               mode=TransportMode(r.mode) if r.mode else None, detail=r.detail or {},
                               opened_at=r.opened_at, resolved=any(e.action == "resolved" for e in events[r.id]),
                               events=events[r.id]) for r in rows]

    def resolve(self, discrepancy_id: int, body: DiscrepancyResolutionIn, who: Principal) -> DiscrepancyOut:
        """An officer resolves an open discrepancy with the reason (audited; a second resolution is a 409)."""
        try:
            with self.sessions() as s, s.begin():
                q = select(ManifestDiscrepancy).where(ManifestDiscrepancy.id == discrepancy_id)
                if s.get_bind().dialect.name == "postgresql":
                    q = q.with_for_update()
                row = s.scalar(q)
                if row is None:
                    raise NotFound(f"no discrepancy {discrepancy_id}")
                if s.scalar(select(ManifestDiscrepancyEvent.id).where(
                        ManifestDiscrepancyEvent.discrepancy_id == row.id,
                        ManifestDiscrepancyEvent.action == "resolved")) is not None:
                    raise Conflict("this discrepancy was already resolved")
                s.add(ManifestDiscrepancyEvent(discrepancy_id=row.id, action="resolved",
                                               resolution=body.resolution.value, text=body.reason,
                                               actor=who.username, actor_role=str(who.role)[:16],
                                               created_at=self.clock()))
                s.flush()
                if row.filer_code or row.declaration_no:  # the filer, the declarant
                    emit(self.listeners, s, [ManifestEvent(
                        ManifestEventKind.DISCREPANCY_RESOLVED, row.filer_code or "", row.transport_document_no,
                        self.clock(), {"discrepancy_id": row.id, "kind": row.kind,
                                       "resolution": body.resolution.value, "note": body.reason},
                        row.declaration_no)])
                audit(s, who, "manifest.discrepancy_resolved", "manifest_discrepancy", str(row.id),
                      {"kind": row.kind, "transport_document_no": row.transport_document_no,
                       "declaration_no": row.declaration_no, "resolution": body.resolution.value,
                       "reason": body.reason})
        except IntegrityError as exc:  # another officer's resolution came first
            if "ux_manifest_discrepancy_event_resolved" in str(exc) or "manifest_discrepancy_event" in str(exc):
                raise Conflict("this discrepancy was already resolved") from None
            raise
        return self.get(discrepancy_id)

    # ------------------------------------------------------------------ the declaration's manifest line
    def line_for(self, document_no: str, declaration_no: str | None = None) -> ManifestLineOut | None:
        """The manifest line of a declaration's transport document (its latest original or pre-allocation filing,
        any carrier), with the shipment's legs and the open discrepancies of the document or declaration."""
        with self.sessions() as s:
            f = s.scalar(select(ManifestFiling).where(ManifestFiling.transport_document_no == document_no,
                                                      ManifestFiling.kind.in_(FILED))
                         .order_by(ManifestFiling.id.desc()).limit(1))
            if f is None:
                return None
            docs = legs.related_documents(s, document_no, None)
            rows = list(s.scalars(select(ManifestFiling).where(or_(
                ManifestFiling.transport_document_no.in_(sorted(docs)),
                ManifestFiling.master_document_no.in_(sorted(docs)))).order_by(ManifestFiling.id).limit(5000)))
            d, e = ManifestDiscrepancy, ManifestDiscrepancyEvent
            resolved = select(e.id).where(e.discrepancy_id == d.id, e.action == "resolved").exists()
            where = d.transport_document_no == document_no
            if declaration_no:
                where = or_(where, d.declaration_no == declaration_no)
            open_count = len(s.scalars(select(d.id).where(where, ~resolved).limit(1000)).all())
            return ManifestLineOut(
                transport_document_no=f.transport_document_no, mode=TransportMode(f.mode),
                conveyance_id=f.conveyance_id, journey_id=f.journey_id, filer_code=f.filer_code,
                packages=f.data.get("packages"), gross_mass_kg=_decimal(f.data.get("gross_mass_kg")),
                outcome=Outcome(f.outcome) if f.outcome else None, filed_at=f.received_at,
                legs=legs.timeline(legs.filing_out(r) for r in rows), open_discrepancies=open_count)
