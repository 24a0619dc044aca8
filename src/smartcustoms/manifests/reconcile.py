"""Reconciliation of manifest lines with arrival and tally reports and with goods declarations (pure functions).

The service reads the rows (:class:`Line`, :class:`Report`, :class:`DeclaredDocument`) and this module says what
does not agree, as :class:`Finding` rows with a stable ``key``: the same finding found again has the same key, so
a run opens each discrepancy once however often it runs.

* ``short_landed`` — a manifest line (original or pre-allocation filing, latest version not withdrawn) whose
  conveyance has arrived (its voyage has an arrival or tally report) ``short_landed_hours`` ago, but the line's
  transport document is on no arrival or tally report;
* ``over_landed`` — a transport document on an arrival or tally report that no manifest line files;
* ``packages_difference`` / ``weight_difference`` — the latest tally of a document counts more or fewer packages
  than manifested (beyond ``packages_tolerance``) or weighs more than ``weight_tolerance_pct`` % apart;
* ``unmanifested_goods`` — a declaration names a transport document no manifest message (of any kind) names,
  ``unmanifested_hours`` after it was lodged (goods may be declared before the manifest is filed);
* ``declaration_without_line`` — as long after lodging, a declaration names a document that manifests know only
  from arrival or tally reports or from withdrawn filings: no manifest line stands for it;
* ``never_declared`` — a manifest line still undeclared ``undeclared_days`` after its conveyance arrived (or, with
  no arrival reported, after it was filed). A declaration against any linked leg of a shipment, or against the
  master of a house, declares the line.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from pydantic_settings import BaseSettings, SettingsConfigDict


class ReconcileSettings(BaseSettings):
    """Reconciliation settings, from ``SMARTCUSTOMS_MANIFESTS_*`` environment variables."""

    model_config = SettingsConfigDict(env_prefix="SMARTCUSTOMS_MANIFESTS_", extra="ignore")

    short_landed_hours: float = 24.0  # a line not reported this long after its conveyance arrived is short-landed
    undeclared_days: float = 14.0  # a line not declared this long after arrival is "never declared"
    unmanifested_hours: float = 24.0  # a declaration's document unmanifested this long after lodging is reported
    weight_tolerance_pct: float = 5.0  # tally vs manifest gross mass, percent of the manifested mass
    packages_tolerance: int = 0  # tally vs manifest packages, absolute
    window_days: float = 120.0  # reconcile lines, reports and declarations of this many days back
    reconcile_every_s: float = 900.0  # the serving process's periodic run


class DiscrepancyKind(StrEnum):
    """What does not agree."""
    SHORT_LANDED = "short_landed"
    OVER_LANDED = "over_landed"
    PACKAGES_DIFFERENCE = "packages_difference"
    WEIGHT_DIFFERENCE = "weight_difference"
    UNMANIFESTED_GOODS = "unmanifested_goods"
    DECLARATION_WITHOUT_LINE = "declaration_without_line"
    NEVER_DECLARED = "never_declared"


@dataclass(frozen=True, slots=True)
class Line:
    """The latest filing of a transport document in an original or pre-allocation manifest."""
    filer_code: str
    document_no: str
    mode: str
    conveyance_id: str | None
    journey_id: str | None
    filed_at: datetime
    withdrawn: bool = False
    master_document_no: str | None = None
    previous_document_no: str | None = None
    packages: int | None = None
    gross_mass_kg: Decimal | None = None


@dataclass(frozen=True, slots=True)
class Report:
    """A transport document on an arrival (MT3x01) or tally (MT5x01) report; ``filing_id`` names the report row."""
    filing_id: int
    kind: str  # "arrival" or "tally"
    document_no: str
    conveyance_id: str | None
    journey_id: str | None
    reported_at: datetime
    packages: int | None = None
    gross_mass_kg: Decimal | None = None


@dataclass(frozen=True, slots=True)
class DeclaredDocument:
    """A goods declaration naming a transport document."""
    declaration_no: str
    document_no: str
    lodged_at: datetime


@dataclass(frozen=True, slots=True)
class Finding:
    """One discrepancy found: ``key`` is the same each time the same disagreement is found."""
    key: str
    kind: DiscrepancyKind
    document_no: str
    filer_code: str | None = None
    declaration_no: str | None = None
    mode: str | None = None
    detail: dict = field(default_factory=dict)


def _voyage(conveyance_id: str | None, journey_id: str | None) -> tuple[str, str] | None:
    if not conveyance_id or not journey_id:
        return None
    return conveyance_id.upper(), journey_id.upper()


def linked_groups(lines: Iterable[Line]) -> dict[str, frozenset[str]]:
    """Each document number -> every document of its shipment: earlier and later legs, and master with houses."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(a: str, b: str) -> None:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)

    for ln in lines:
        find(ln.document_no)
        for other in (ln.previous_document_no, ln.master_document_no):
            if other:
                union(ln.document_no, other)
    groups: dict[str, set[str]] = defaultdict(set)
    for doc in list(parent):
        groups[find(doc)].add(doc)
    return {doc: frozenset(groups[find(doc)]) for doc in parent}


def _pct(manifested: Decimal, found: Decimal) -> float:
    return float(abs(found - manifested) / manifested * 100) if manifested else float("inf")


def reconcile_landing(lines: Iterable[Line], reports: Iterable[Report], now: datetime,
                      s: ReconcileSettings) -> list[Finding]:
    """Manifest lines against arrival and tally reports: short- and over-landed documents, tally differences."""
    lines = list(lines)
    reports = list(reports)
    by_doc = {ln.document_no: ln for ln in lines}
    reported: dict[str, list[Report]] = defaultdict(list)
    arrived: dict[tuple[str, str], datetime] = {}
    for r in reports:
        reported[r.document_no].append(r)
        v = _voyage(r.conveyance_id, r.journey_id)
        if v is not None:
            arrived[v] = min(arrived.get(v, r.reported_at), r.reported_at)
    out: list[Finding] = []
    grace = timedelta(hours=s.short_landed_hours)
    for ln in lines:
        if ln.withdrawn or ln.document_no in reported or (ln.master_document_no or "") in reported:
            continue  # a house is landed with its master when the report names the master
        v = _voyage(ln.conveyance_id, ln.journey_id)
        at = arrived.get(v) if v else None
        if v is not None and at is not None and now - at >= grace:
            out.append(Finding(
                key=f"short_landed:{ln.filer_code}:{ln.document_no}:{v[0]}:{v[1]}",
                kind=DiscrepancyKind.SHORT_LANDED, document_no=ln.document_no, filer_code=ln.filer_code,
                mode=ln.mode, detail={"conveyance_id": ln.conveyance_id, "journey_id": ln.journey_id,
                                      "arrived_at": at.isoformat(), "hours": s.short_landed_hours}))
    for doc, rs in sorted(reported.items()):
        filed = by_doc.get(doc)
        if filed is None or filed.withdrawn:
            first = min(rs, key=lambda r: r.filing_id)
            out.append(Finding(key=f"over_landed:{doc}", kind=DiscrepancyKind.OVER_LANDED, document_no=doc,
                               detail={"report": first.kind, "report_filing_id": first.filing_id,
                                       "conveyance_id": first.conveyance_id, "journey_id": first.journey_id}))
            continue
        tallies = [r for r in rs if r.kind == "tally"]
        if not tallies:
            continue
        t = max(tallies, key=lambda r: r.filing_id)  # the latest tally counts
        if (t.packages is not None and filed.packages is not None
                and abs(t.packages - filed.packages) > s.packages_tolerance):
            out.append(Finding(key=f"packages_difference:{doc}:{t.filing_id}",
                               kind=DiscrepancyKind.PACKAGES_DIFFERENCE, document_no=doc, filer_code=filed.filer_code,
                               mode=filed.mode, detail={"manifested": filed.packages, "tallied": t.packages,
                                                     "tally_filing_id": t.filing_id}))
        if t.gross_mass_kg is not None and filed.gross_mass_kg is not None:
            pct = _pct(filed.gross_mass_kg, t.gross_mass_kg)
            if pct > s.weight_tolerance_pct:
                out.append(Finding(key=f"weight_difference:{doc}:{t.filing_id}",
                                   kind=DiscrepancyKind.WEIGHT_DIFFERENCE, document_no=doc, filer_code=filed.filer_code,
                                   mode=filed.mode, detail={"manifested_kg": str(filed.gross_mass_kg),
                                                         "tallied_kg": str(t.gross_mass_kg),
                                                         "difference_pct": round(pct, 2) if pct != float("inf")
                                                         else None, "tolerance_pct": s.weight_tolerance_pct,
                                                         "tally_filing_id": t.filing_id}))
    return out


def reconcile_declarations(lines: Iterable[Line], reports: Iterable[Report], declared: Iterable[DeclaredDocument],
                           now: datetime, s: ReconcileSettings, known_documents: Iterable[str] = ()
                           ) -> list[Finding]:
    """Manifest lines against goods declarations: unmanifested goods, declarations without a standing manifest
    line, lines never declared. ``known_documents``: every document any manifest message names (withdrawn
    filings and reports included), beyond those of ``lines`` and ``reports``."""
    lines = list(lines)
    reports = list(reports)
    declared = list(declared)
    standing = {ln.document_no: ln for ln in lines if not ln.withdrawn}
    known = set(known_documents) | {ln.document_no for ln in lines} | {r.document_no for r in reports}
    groups = linked_groups(lines)
    out: list[Finding] = []
    declared_docs: set[str] = set()
    grace = timedelta(hours=s.unmanifested_hours)  # goods may be declared before the manifest is filed
    for d in declared:
        declared_docs.add(d.document_no)
        if d.document_no in standing or now - d.lodged_at < grace:
            continue
        if d.document_no in known:
            out.append(Finding(key=f"declaration_without_line:{d.declaration_no}:{d.document_no}",
                               kind=DiscrepancyKind.DECLARATION_WITHOUT_LINE, document_no=d.document_no,
                               declaration_no=d.declaration_no,
                               detail={"lodged_at": d.lodged_at.isoformat()}))
        else:
            out.append(Finding(key=f"unmanifested_goods:{d.declaration_no}:{d.document_no}",
                               kind=DiscrepancyKind.UNMANIFESTED_GOODS, document_no=d.document_no,
                               declaration_no=d.declaration_no, detail={"lodged_at": d.lodged_at.isoformat()}))
    covered: set[str] = set()
    for doc in declared_docs:
        covered |= groups.get(doc, frozenset({doc}))
    arrived: dict[tuple[str, str], datetime] = {}
    for r in reports:
        v = _voyage(r.conveyance_id, r.journey_id)
        if v is not None:
            arrived[v] = min(arrived.get(v, r.reported_at), r.reported_at)
    limit = timedelta(days=s.undeclared_days)
    for ln in standing.values():
        if ln.document_no in covered:
            continue
        v = _voyage(ln.conveyance_id, ln.journey_id)
        since = (arrived.get(v) if v else None) or ln.filed_at
        if now - since >= limit:
            out.append(Finding(key=f"never_declared:{ln.filer_code}:{ln.document_no}",
                               kind=DiscrepancyKind.NEVER_DECLARED, document_no=ln.document_no,
                               filer_code=ln.filer_code, mode=ln.mode,
                               detail={"since": since.isoformat(), "days": s.undeclared_days,
                                       "arrived": v in arrived if v else False}))
    return out


def reconcile(lines: Iterable[Line], reports: Iterable[Report], declared: Iterable[DeclaredDocument], now: datetime,
              s: ReconcileSettings, known_documents: Iterable[str] = ()) -> list[Finding]:
    """Every finding of both reconciliations, in a stable order (by key)."""
    lines, reports = list(lines), list(reports)
    found = reconcile_landing(lines, reports, now, s) + reconcile_declarations(lines, reports, declared, now, s,
                                                                             known_documents)
    unique: Mapping[str, Finding] = {f.key: f for f in found}
    return [unique[k] for k in sorted(unique)]
