"""Notices (the inbox) from declaration lifecycle events: what each party is told, and the officer who asked.

:class:`DeclarationNotices` is an :data:`~smartcustoms.declarations.service.EventListener`: the platform wires
it to the declaration service, which calls it in the transaction that appended the events, so a notice
commits with its event or not at all. It posts codes and parameters (:mod:`smartcustoms.notices`), never text:
the inbox renders them in each reader's language. What a trader is told follows
:func:`~smartcustoms.declarations.service.event_for_principal`: the reason and note of a release, a request for
documents or a detention; only which check was ordered (not why); a lane's consequence (no score, no rule).

Not told: a green release at lodging and a rejection at lodging (the lodging's own answer says so), the
steps in between (accepted, assessed at lodging, "inspection started").
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from smartcustoms.declarations.lifecycle import DECISION_REASONS, Decision, Status
from smartcustoms.declarations.models import Declaration, DeclarationEvent
from smartcustoms.enterprises.models import User
from smartcustoms.notices.schemas import NoticeCode
from smartcustoms.notices.service import NoticeDraft, post

HOLD_LANES = frozenset({"yellow", "blue", "red"})
CHECKS = frozenset({Decision.DOCUMENT_CHECK.value, Decision.SCAN.value, Decision.PHYSICAL.value})
#: decisions after which the officer who took them hears of documents provided
ASKING = (Decision.REQUEST_DOCUMENTS.value, Decision.DOCUMENT_CHECK.value)
_SELECTIVITY = "selectivity"
#: the first events of every lodging (lodged, accepted, assessed): an assessment after them is a re-assessment
_LODGING_SEQS = 3


def _note(text: str | None) -> str | None:
    """A person's words (an officer's note, a canceller's reason), bounded."""
    return (text or "").strip()[:2000] or None


def _decision_params(detail: dict) -> dict[str, Any]:
    return {"reason_code": detail.get("reason_code"), "note": _note(detail.get("note"))}


def message(e: dict) -> tuple[NoticeCode, dict[str, Any]] | None:
    """The notice a lifecycle event makes for the declaration's parties, or None (pure: the event row only).

    ``tax_total`` and ``version`` of a re-assessment, and ``by`` of a cancellation, are filled in by the caller.
    """
    to, frm, detail = e["to_status"], e["from_status"], e.get("detail") or {}
    decision = detail.get("decision") if e["actor"] != _SELECTIVITY else None
    if to == Status.LANE_ASSIGNED:
        lane = detail.get("lane")
        return (NoticeCode.HELD, {"lane": lane}) if lane in HOLD_LANES else None
    if to == Status.INSPECTION:
        if decision in CHECKS:
            return NoticeCode.CHECK_ORDERED, {"decision": decision}
        if decision == Decision.REQUEST_DOCUMENTS:
            return NoticeCode.DOCUMENTS_REQUESTED, _decision_params(detail)
        return None  # "inspection started", documents provided (told to the officer), a redirect without decision
    if to == Status.RELEASED:
        if decision == Decision.RELEASE:
            return NoticeCode.RELEASED, _decision_params(detail)
        if frm == Status.RELEASED and "outcome" in detail:  # a post-clearance audit annotates the release
            return NoticeCode.AUDIT_FINDING, {"outcome": detail["outcome"], "offence_type": detail.get("offence_type"),
                                              "duty_recovered": str(detail.get("duty_recovered") or "0")}
        if frm == Status.INSPECTION and detail.get("outcome") == "no_offence":
            return NoticeCode.RELEASED, {"outcome": "no_offence"}
        if e["actor"] != _SELECTIVITY and frm != Status.RELEASED:  # a release by status, with the officer's words
            return NoticeCode.RELEASED, {"note": _note(e.get("reason"))}
        return None  # green at lodging: the lodging's answer says it
    if to == Status.DETAINED:
        if decision == Decision.DETAIN:
            return NoticeCode.DETAINED, _decision_params(detail)
        if "outcome" in detail:  # an inspection found an offence
            return NoticeCode.DETAINED, {"offence_type": detail.get("offence_type"),
                                         "duty_recovered": str(detail.get("duty_recovered") or "0")}
        return NoticeCode.DETAINED, {"note": _note(e.get("reason"))}
    if to == Status.CANCELLED:
        return NoticeCode.CANCELLED, {"reason": _note(e.get("reason"))}
    if to == Status.ASSESSED and e["seq"] > _LODGING_SEQS:
        return NoticeCode.TAX_REASSESSED, {}
    return None


def _documents_provided(e: dict) -> int | None:
    """How many documents a trader's event says were provided (None: not such an event)."""
    n = (e.get("detail") or {}).get("documents_provided")
    if n is None or isinstance(n, bool):
        return None
    try:
        return int(n)
    except (TypeError, ValueError):
        return 1


class DeclarationNotices:
    """The event listener that posts the inbox's notices for declaration events (one query and one insert
    per batch of events, only when one of them tells someone something)."""

    def __call__(self, session: Session, events: Sequence[dict]) -> None:
        """Post the notices ``events`` make, in the caller's transaction."""
        told = [(e, m) for e in events if (m := message(e)) is not None]
        provided = [(e, n) for e in events if (n := _documents_provided(e)) is not None]
        if not (told or provided):
            return
        conn = session.connection()  # Core on the connection: no ORM autoflush of the service's loaded objects
        d = Declaration
        ids = sorted({e["declaration_id"] for e, _ in told} | {e["declaration_id"] for e, _ in provided})
        decls = {r.id: r for r in conn.execute(select(
            d.id, d.declaration_no, d.declarant_code, d.importer_code, d.lodged_by, d.tax_total_cny, d.version)
            .where(d.id.in_(ids)))}
        drafts: list[NoticeDraft] = []
        actors = {e["actor"] for e, (code, _) in told if code == NoticeCode.CANCELLED}
        traders = _trader_usernames(conn, actors) if actors else set()
        for e, (code, params) in told:
            row = decls.get(e["declaration_id"])
            if row is None:
                continue
            params = dict(params)
            if code == NoticeCode.TAX_REASSESSED:
                params.update(tax_total=_money(row.tax_total_cny), version=row.version)
            elif code == NoticeCode.CANCELLED:
                params["by"] = "trader" if e["actor"] in traders else "customs"
            for party in sorted({row.declarant_code, row.importer_code, row.lodged_by}):
                drafts.append(NoticeDraft(code, params, e["at"], row.declaration_no, enterprise_code=party))
        for e, n in provided:
            row = decls.get(e["declaration_id"])
            officer = _asking_officer(conn, e["declaration_id"]) if row is not None else None
            if row is not None and officer is not None:
                drafts.append(NoticeDraft(NoticeCode.DOCUMENTS_PROVIDED, {"count": n, "by": _by(conn, e["actor"])},
                                          e["at"], row.declaration_no, user_id=officer))
        post(session, drafts)


def _money(v: Decimal | None) -> str | None:
    return None if v is None else f"{v:.2f}"


def _trader_usernames(conn: Any, usernames: set[str]) -> set[str]:
    return set(conn.scalars(select(User.username).where(User.username.in_(sorted(usernames)), User.role == "trader")))


def _by(conn: Any, username: str) -> str:
    """The enterprise a trader acts for (its username when it has none)."""
    from smartcustoms.enterprises.models import Enterprise

    code = conn.scalar(select(Enterprise.code).join(User, User.enterprise_id == Enterprise.id)
                       .where(User.username == username))
    return code or username


def _asking_officer(conn: Any, declaration_id: int) -> int | None:
    """The user id of the officer whose latest decision on the declaration asked for documents, if any."""
    ev = DeclarationEvent
    rows = conn.execute(select(ev.actor, ev.detail).where(ev.declaration_id == declaration_id,
                                                          ev.to_status == Status.INSPECTION.value)
                        .order_by(ev.seq.desc()).limit(20)).all()
    for actor, detail in rows:
        if isinstance(detail, dict) and detail.get("decision"):
            if detail["decision"] not in ASKING:
                return None
            return conn.scalar(select(User.id).where(User.username == actor, User.role != "trader"))
    return None


# -- English words (the API's ``text``; the web renders the same codes in the reader's language) ---------------
_LANE_WORDS = {"yellow": "a document check", "blue": "a non-intrusive scan", "red": "a physical inspection"}
_CHECK_WORDS = {"document_check": "a document check", "scan": "a non-intrusive scan",
                "physical": "a physical inspection"}
_OFFENCE_WORDS = {"undervaluation": "undervaluation", "misclassification": "misclassification",
                  "false_origin": "false origin", "quantity": "quantity", "prohibited": "prohibited goods",
                  "other": "other"}


def _reason(decision: Decision, params: dict) -> str:
    words = DECISION_REASONS[decision].get(params.get("reason_code") or "", "")
    note = params.get("note")
    return f"{words} — {note}" if words and note else words or note or ""


def english(code: str, params: dict) -> str:
    """A notice in English words (a declaration's number is beside it, not in it)."""
    p = params
    if code == NoticeCode.HELD:
        return f"Held for {_LANE_WORDS.get(p.get('lane') or '', 'a customs check')}."
    if code == NoticeCode.CHECK_ORDERED:
        return f"Customs sent the goods for {_CHECK_WORDS.get(p.get('decision') or '', 'a check')}."
    if code == NoticeCode.DOCUMENTS_REQUESTED:
        return f"Documents requested: {_reason(Decision.REQUEST_DOCUMENTS, p)}."
    if code == NoticeCode.RELEASED:
        if p.get("outcome") == "no_offence":
            return "Released: the inspection found nothing irregular."
        return f"Released: {_reason(Decision.RELEASE, p)}."
    if code == NoticeCode.DETAINED:
        if p.get("offence_type"):
            return (f"Detained: offence found ({_OFFENCE_WORDS.get(p['offence_type'], p['offence_type'])}), "
                    f"duty recovered {p.get('duty_recovered') or '0'} CNY.")
        return f"Detained: {_reason(Decision.DETAIN, p)}."
    if code == NoticeCode.CANCELLED:
        who = "the declarant" if p.get("by") == "trader" else "customs"
        return f"Cancelled by {who}" + (f": {p['reason']}." if p.get("reason") else ".")
    if code == NoticeCode.TAX_REASSESSED:
        return f"Tax assessed again after amendment (version {p.get('version')}): {p.get('tax_total')} CNY in total."
    if code == NoticeCode.AUDIT_FINDING:
        if p.get("outcome") == "offence":
            return (f"Post-clearance audit: offence found "
                    f"({_OFFENCE_WORDS.get(p.get('offence_type') or '', p.get('offence_type'))}), "
                    f"duty recovered {p.get('duty_recovered') or '0'} CNY.")
        return "Post-clearance audit: nothing irregular found."
    if code == NoticeCode.DOCUMENTS_PROVIDED:
        return f"{p.get('by')} provided {p.get('count')} document(s) you asked for."
    return code
