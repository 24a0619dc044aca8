"""Notices (the inbox) from manifest events: the filing enterprise's users hear that a consignment was referred
(with the assessment's reasons), that an officer decided the referral (with the officer's reason), and that a
discrepancy on its filing was opened (with what to do about it) or resolved. The declarant of a goods declaration
linked to a discrepancy (the one it names, else those lodged against its transport document) hears of it too,
with what a declarant does about it (``role``: ``filer`` or ``declarant``; one notice per enterprise, the filer's
when the filer is also the declarant).

:class:`ManifestNotices` is a :data:`~smartcustoms.manifests.events.ManifestListener` the platform wires to the
manifests service: it posts in the transaction that recorded the step. Codes and parameters only, never text
(the inbox words them in each reader's language; :func:`english` gives the API's English). A filer that is not
a registered enterprise has no users to tell: nothing is posted for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from smartcustoms.declarations.models import Declaration
from smartcustoms.enterprises.models import Enterprise
from smartcustoms.manifests.events import ManifestEvent, ManifestEventKind
from smartcustoms.notices.schemas import NoticeCode
from smartcustoms.notices.service import NoticeDraft, post

#: enterprise codes are at most this long (``enterprises.code``)
CODE_MAX = 18
#: a parameter's words (reasons, an officer's reason), bounded
TEXT_MAX = 1000
CHUNK = 500  # numbers per IN list

CODES = {ManifestEventKind.REFERRED: NoticeCode.MANIFEST_REFERRED,
         ManifestEventKind.REFERRAL_DECIDED: NoticeCode.MANIFEST_DECIDED,
         ManifestEventKind.DISCREPANCY_OPENED: NoticeCode.DISCREPANCY_OPENED,
         ManifestEventKind.DISCREPANCY_RESOLVED: NoticeCode.DISCREPANCY_RESOLVED}


DISCREPANCY = (ManifestEventKind.DISCREPANCY_OPENED, ManifestEventKind.DISCREPANCY_RESOLVED)


def _bounded(v: Any) -> Any:
    return v[:TEXT_MAX] if isinstance(v, str) else v


class ManifestNotices:
    """The manifests listener that posts the filers' notices (one query and one insert per batch)."""

    def __call__(self, session: Session, events: Sequence[ManifestEvent]) -> None:
        """Post a notice to the filer's users for each of ``events`` and, for a discrepancy, to the users of the
        declarant of each declaration linked to it, in the caller's transaction."""
        conn = session.connection()  # Core: no ORM autoflush of the service's loaded objects
        linked = self._declarations(conn, [e for e in events if e.kind in DISCREPANCY])
        codes = sorted({c for c in (*(e.filer_code for e in events),
                                    *(code for ds in linked.values() for _, code in ds)) if c and len(c) <= CODE_MAX})
        if not codes:
            return
        known = set(conn.scalars(select(Enterprise.code).where(Enterprise.code.in_(codes))))
        drafts = []
        for e in events:
            params = {"document_no": e.transport_document_no, **{k: _bounded(v) for k, v in e.params.items()}}
            if e.kind not in DISCREPANCY:
                if e.filer_code in known:
                    drafts.append(NoticeDraft(CODES[e.kind], params, e.at, e.declaration_no,
                                              enterprise_code=e.filer_code))
                continue
            if e.filer_code in known:
                drafts.append(NoticeDraft(CODES[e.kind], {**params, "role": "filer", **(
                    {"declaration_no": e.declaration_no} if e.declaration_no else {})}, e.at, e.declaration_no,
                    enterprise_code=e.filer_code))
            told = {e.filer_code}
            for declaration_no, declarant in linked.get(e.declaration_no or e.transport_document_no, []):
                if declarant in known and declarant not in told:  # one notice per declarant, its first declaration
                    told.add(declarant)
                    drafts.append(NoticeDraft(CODES[e.kind], {**params, "role": "declarant",
                                                              "declaration_no": declaration_no},
                                              e.at, declaration_no, enterprise_code=declarant))
        post(session, drafts)

    @staticmethod
    def _declarations(conn: Connection, events: Sequence[ManifestEvent]) -> dict[str, list[tuple[str, str]]]:
        """The declarations linked to each discrepancy: the one it names (keyed by its number), else those lodged
        against its transport document (keyed by the document); as (declaration number, declarant) pairs."""
        named = sorted({e.declaration_no for e in events if e.declaration_no})
        docs = sorted({e.transport_document_no for e in events if not e.declaration_no
                       and e.params.get("kind") != "never_declared"})  # never declared: no declaration by definition
        d = Declaration
        out: dict[str, list[tuple[str, str]]] = {}
        for i in range(0, len(named), CHUNK):
            for no, code in conn.execute(select(d.declaration_no, d.declarant_code)
                                         .where(d.declaration_no.in_(named[i:i + CHUNK]))):
                out[no] = [(no, code)]
        for i in range(0, len(docs), CHUNK):
            for no, doc, code in conn.execute(select(d.declaration_no, d.transport_document_no, d.declarant_code)
                                              .where(d.transport_document_no.in_(docs[i:i + CHUNK]))
                                              .order_by(d.declaration_no)):
                out.setdefault(doc or "", []).append((no, code))
        return out


# -- English words (the API's ``text``; the web renders the same codes in the reader's language, in the same
# English words: tests/web/test_inbox_words.py holds them together) ----------------------------------------------
NO_REASON = "no reason given"
_OUTCOME = {"assessment_complete": "Assessment complete", "request_for_information": "Request for information",
            "request_for_screening": "Request for screening", "do_not_load": "Do not load"}
_ACTION = {"screening_clear": "screening found nothing: the goods may be loaded",
           "threat_found": "screening found a threat: the goods are not to be loaded",
           "do_not_load_confirmed": "do not load confirmed", "do_not_load_lifted": "do not load lifted",
           "information_complete": "the information suffices: assessment complete",
           "information_escalated": "the information does not suffice: request for screening"}
_KIND = {"short_landed": "Short-landed", "over_landed": "Over-landed",
         "packages_difference": "Packages differ from the tally", "weight_difference": "Weight differs from the tally",
         "unmanifested_goods": "Unmanifested goods", "declaration_without_line": "Declaration without a manifest line",
         "never_declared": "Manifested, never declared"}
_RESOLUTION = {"explained": "Explained", "corrected": "Corrected by an amendment",
               "short_shipped": "Short-shipped (not loaded)", "penalty": "Violation: case opened",
               "no_action": "No action needed"}


#: what to do about a discrepancy, per recipient (``role``) and kind (web keys ``notice.discrepancy_todo.*``)
TODO: dict[str, dict[str, str]] = {
    "filer": {
        "short_landed": "Fewer goods were landed than manifested: explain the shortage to customs, or amend the "
                        "manifest line if the goods were short-shipped.",
        "over_landed": "More goods were landed than manifested: amend the manifest to carry them, or explain the "
                       "difference to customs.",
        "packages_difference": "The tally counted other packages than the manifest line: amend the line or "
                               "explain the difference to customs.",
        "weight_difference": "The tally weighed the goods otherwise than the manifest line: amend the line or "
                             "explain the difference to customs.",
        "unmanifested_goods": "Goods were declared under this transport document without a manifest line: file "
                              "the missing line (an amendment) or tell customs the document number is wrong.",
        "declaration_without_line": "A goods declaration names this transport document, which no manifest line "
                                    "carries: file the line or tell customs the document number is wrong.",
        "never_declared": "The goods were manifested but never declared: have them declared, or tell customs "
                          "they stay in transit or were not landed.",
    },
    "declarant": {
        "short_landed": "Fewer goods were landed than manifested: check the quantity you declared and correct "
                        "the declaration if fewer goods arrived.",
        "over_landed": "More goods were landed than manifested: check that your declaration covers all the goods "
                       "and declare the rest.",
        "packages_difference": "The tally counted other packages than the manifest: check the packages you "
                               "declared and correct the declaration if needed.",
        "weight_difference": "The tally's weight differs from the manifest: check the weight you declared and "
                             "correct the declaration if needed.",
        "unmanifested_goods": "The transport document of your declaration has no manifest line: ask the carrier "
                              "or forwarder to file it, or correct the document number in the declaration.",
        "declaration_without_line": "No manifest line carries the transport document your declaration names: "
                                    "check the document number and correct the declaration, or ask the carrier "
                                    "to file the manifest.",
        "never_declared": "The goods were manifested but not declared: lodge the declaration.",
    },
}


def english(code: str, params: dict) -> str | None:
    """A manifest notice in English words (None: not a manifest notice)."""
    p, doc = params, params.get("document_no") or ""
    kind = _KIND.get(p.get("kind") or "", str(p.get("kind")))
    role, declaration = p.get("role"), p.get("declaration_no")
    between = role == "declarant" and declaration
    if code == NoticeCode.DISCREPANCY_OPENED and role in TODO:
        todo = TODO[role].get(p.get("kind") or "", "")
        if between:
            return f"Discrepancy between consignment {doc} and declaration {declaration}: {kind}. {todo}"
        return f"Discrepancy on consignment {doc}: {kind}. {todo}"
    if code == NoticeCode.DISCREPANCY_RESOLVED and between:
        resolution = _RESOLUTION.get(p.get("resolution") or "", str(p.get("resolution")))
        return (f"Discrepancy between consignment {doc} and declaration {declaration} ({kind}) resolved: "
                f"{resolution} — {p.get('note') or NO_REASON}.")
    if code == NoticeCode.MANIFEST_REFERRED:
        return (f"Consignment {doc}: {_OUTCOME.get(p.get('outcome') or '', str(p.get('outcome')))} — "
                f"{p.get('reasons') or NO_REASON}.")
    if code == NoticeCode.MANIFEST_DECIDED:
        return (f"Consignment {doc}: {_ACTION.get(p.get('action') or '', str(p.get('action')))} — "
                f"{p.get('note') or NO_REASON}.")
    if code == NoticeCode.DISCREPANCY_OPENED:
        return f"Discrepancy on consignment {doc}: {kind}."
    if code == NoticeCode.DISCREPANCY_RESOLVED:
        resolution = _RESOLUTION.get(p.get("resolution") or "", str(p.get("resolution")))
        return f"Discrepancy on consignment {doc} ({kind}) resolved: {resolution} — {p.get('note') or NO_REASON}."
    return None
