"""Linked legs: one shipment filed again when the goods change mode (sea leg, then rail leg; air, then road).

A later leg's filing names the earlier leg's transport document (CN manifest ``Consignment/PreviousDocument/ID``;
XFWB/XFZB an ``AssociatedReferenceDocument`` whose ``TypeCode`` is a transport document; CUSCAR a ``DOC`` segment
of the consignment with such a code). :func:`related_documents` follows the links both ways (and master/house),
:func:`timeline` makes one leg per transport document, oldest first.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from smartcustoms.manifests.models import ManifestFiling
from smartcustoms.manifests.schemas import Consignment, FilingOut, LegOut, MessageKind, Outcome

#: UN/EDIFACT 1001 document name codes of transport documents: a reference of one of these types on a filing
#: names the earlier leg (703 house waybill, 704 master bill of lading, 705 bill of lading, 706/707 original/copy,
#: 710 sea waybill, 711 inland waterway bill, 714 house bill of lading, 720 rail consignment note, 722 SMGS road
#: list, 730 road consignment note, 740 air waybill, 741 master air waybill, 743 substitute air waybill,
#: 760 multimodal transport document)
TRANSPORT_DOCUMENT_TYPES = frozenset({"703", "704", "705", "706", "707", "710", "711", "714", "720", "722", "730",
                                      "740", "741", "743", "760"})
MAX_DOCUMENTS = 50  # a shipment's legs and houses read at most
MAX_STEPS = 8  # links followed from the document asked for


def related_documents(s: Session, document_no: str, filer_code: str | None) -> set[str]:
    """``document_no`` and the documents of its earlier and later legs, as far as the filings visible to
    ``filer_code`` (None: customs, all) show, up to :data:`MAX_DOCUMENTS` (houses are read with their master
    by the caller)."""
    f = ManifestFiling
    seen = {document_no}
    frontier = {document_no}
    for _ in range(MAX_STEPS):
        if not frontier or len(seen) >= MAX_DOCUMENTS:
            break
        q = select(f.transport_document_no, f.previous_document_no).where(
            or_(f.transport_document_no.in_(frontier), f.previous_document_no.in_(frontier)),
            f.previous_document_no.is_not(None))
        if filer_code is not None:
            q = q.where(f.filer_code == filer_code)
        found: set[str] = set()
        for doc, previous in s.execute(q.limit(5000)):
            found.add(doc)
            if previous:
                found.add(previous)
        frontier = found - seen
        seen |= set(sorted(frontier)[:max(0, MAX_DOCUMENTS - len(seen))])
    return seen


def filing_out(r: ManifestFiling) -> FilingOut:
    """A stored filing as the shipment timeline shows it."""
    return FilingOut(id=r.id, message_id=r.message_id, message_type=r.message_type, kind=r.kind, mode=r.mode,
                     journey_id=r.journey_id, conveyance_id=r.conveyance_id, version=r.version,
                     amended=r.amended, withdrawn=r.withdrawn, late=r.late,
                     outcome=Outcome(r.outcome) if r.outcome else None, reasons=[x["en"] for x in r.reasons],
                     reasons_zh=[x["zh"] for x in r.reasons],
                     received_at=r.received_at, consignment=Consignment.model_validate(r.data))


def timeline(filings: Iterable[FilingOut]) -> list[LegOut]:
    """One leg per transport document that has an original or pre-allocation filing (houses under a master are
    not legs), oldest first; the leg's outcome is its latest filing's, arrival and tally reports mark it."""
    by_doc: dict[str, list[FilingOut]] = defaultdict(list)
    for f in filings:
        by_doc[f.consignment.transport_document_no].append(f)
    legs = []
    for doc, fs in by_doc.items():
        filed = [f for f in fs if f.kind in (MessageKind.ORIGINAL, MessageKind.PRE_ALLOCATION)]
        if not filed or any(f.consignment.master_document_no for f in filed):
            continue
        first, last = min(filed, key=lambda f: f.id), max(filed, key=lambda f: f.id)
        legs.append(LegOut(
            transport_document_no=doc, mode=first.mode,
            previous_document_no=next((f.consignment.previous_document_no for f in reversed(filed)
                                       if f.consignment.previous_document_no), None),
            conveyance_id=last.conveyance_id, journey_id=last.journey_id, filed_at=first.received_at,
            outcome=last.outcome, withdrawn=last.withdrawn,
            arrived=any(f.kind is MessageKind.ARRIVAL for f in fs),
            tallied=any(f.kind is MessageKind.TALLY for f in fs)))
    return _ordered(legs)


def _ordered(legs: list[LegOut]) -> list[LegOut]:
    """Earlier legs before the legs that name them; otherwise by first filing."""
    by_doc = {leg.transport_document_no: leg for leg in legs}

    def depth(leg: LegOut) -> int:
        n, seen = 0, {leg.transport_document_no}
        while leg.previous_document_no in by_doc and leg.previous_document_no not in seen:
            leg = by_doc[leg.previous_document_no]
            seen.add(leg.transport_document_no)
            n += 1
        return n

    return sorted(legs, key=lambda leg: (depth(leg), leg.filed_at, leg.transport_document_no))
