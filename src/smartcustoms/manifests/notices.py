"""Notices (the inbox) from manifest events: the filing enterprise's users hear that a consignment was referred
(with the assessment's reasons), that an officer decided the referral (with the officer's reason), and that a
discrepancy on its filing was opened or resolved.

:class:`ManifestNotices` is a :data:`~smartcustoms.manifests.events.ManifestListener` the platform wires to the
manifests service: it posts in the transaction that recorded the step. Codes and parameters only, never text
(the inbox words them in each reader's language; :func:`english` gives the API's English). A filer that is not
a registered enterprise has no users to tell: nothing is posted for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from smartcustoms.enterprises.models import Enterprise
from smartcustoms.manifests.events import ManifestEvent, ManifestEventKind
from smartcustoms.notices.schemas import NoticeCode
from smartcustoms.notices.service import NoticeDraft, post

#: enterprise codes are at most this long (``enterprises.code``)
CODE_MAX = 18
#: a parameter's words (reasons, an officer's reason), bounded
TEXT_MAX = 1000

CODES = {ManifestEventKind.REFERRED: NoticeCode.MANIFEST_REFERRED,
         ManifestEventKind.REFERRAL_DECIDED: NoticeCode.MANIFEST_DECIDED,
         ManifestEventKind.DISCREPANCY_OPENED: NoticeCode.DISCREPANCY_OPENED,
         ManifestEventKind.DISCREPANCY_RESOLVED: NoticeCode.DISCREPANCY_RESOLVED}


def _bounded(v: Any) -> Any:
    return v[:TEXT_MAX] if isinstance(v, str) else v


class ManifestNotices:
    """The manifests listener that posts the filers' notices (one query and one insert per batch)."""

    def __call__(self, session: Session, events: Sequence[ManifestEvent]) -> None:
        """Post a notice to the filer's users for each of ``events``, in the caller's transaction."""
        filers = sorted({e.filer_code for e in events if e.filer_code and len(e.filer_code) <= CODE_MAX})
        if not filers:
            return
        conn = session.connection()  # Core: no ORM autoflush of the service's loaded objects
        known = set(conn.scalars(select(Enterprise.code).where(Enterprise.code.in_(filers))))
        drafts = [NoticeDraft(CODES[e.kind], {"document_no": e.transport_document_no,
                                               **{k: _bounded(v) for k, v in e.params.items()}},
                              e.at, e.declaration_no, enterprise_code=e.filer_code)
                  for e in events if e.filer_code in known]
        post(session, drafts)


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


def english(code: str, params: dict) -> str | None:
    """A manifest notice in English words (None: not a manifest notice)."""
    p, doc = params, params.get("document_no") or ""
    kind = _KIND.get(p.get("kind") or "", str(p.get("kind")))
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
