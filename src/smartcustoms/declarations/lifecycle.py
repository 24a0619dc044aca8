"""The declaration lifecycle: statuses and the transitions allowed between them.

lodged → accepted | rejected → assessed (tax) → lane_assigned → (inspection) → released | detained;
a trader may amend (back to accepted, then re-assessed and re-laned) or cancel while the goods are
not yet under inspection or released.
"""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    """Lifecycle status of a customs declaration, from lodgement to release, detention, rejection or cancellation."""
    LODGED = "lodged"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    ASSESSED = "assessed"
    LANE_ASSIGNED = "lane_assigned"
    INSPECTION = "inspection"
    RELEASED = "released"
    DETAINED = "detained"
    CANCELLED = "cancelled"


class Lane(StrEnum):
    """Selectivity outcome (通道)."""

    GREEN = "green"  # release
    YELLOW = "yellow"  # document check
    BLUE = "blue"  # non-intrusive scan
    RED = "red"  # physical inspection


AMENDABLE = frozenset({Status.ACCEPTED, Status.ASSESSED, Status.LANE_ASSIGNED})
CANCELLABLE = AMENDABLE
FINAL = frozenset({Status.REJECTED, Status.RELEASED, Status.CANCELLED})

TRANSITIONS: dict[Status | None, frozenset[Status]] = {
    None: frozenset({Status.LODGED}),
    Status.LODGED: frozenset({Status.ACCEPTED, Status.REJECTED}),
    Status.ACCEPTED: frozenset({Status.ASSESSED, Status.REJECTED, Status.CANCELLED, Status.ACCEPTED}),
    Status.ASSESSED: frozenset({Status.LANE_ASSIGNED, Status.CANCELLED, Status.ACCEPTED}),
    # held on its lane, a declaration stays so when the trader answers with documents (an event, no change)
    Status.LANE_ASSIGNED: frozenset({Status.INSPECTION, Status.RELEASED, Status.CANCELLED, Status.ACCEPTED,
                                     Status.LANE_ASSIGNED}),
    # an officer may redirect an inspection (documents -> scan -> physical) or request documents during it;
    # a trader's "documents provided" is an event that keeps the status
    Status.INSPECTION: frozenset({Status.INSPECTION, Status.RELEASED, Status.DETAINED}),
    Status.DETAINED: frozenset({Status.RELEASED}),
    Status.RELEASED: frozenset({Status.RELEASED}),  # a post-clearance audit finding annotates a release
    Status.REJECTED: frozenset(),
    Status.CANCELLED: frozenset(),
}


class Decision(StrEnum):
    """What an officer decides on a held declaration, with a reason from :data:`DECISION_REASONS`."""

    RELEASE = "release"
    DOCUMENT_CHECK = "document_check"
    SCAN = "scan"
    PHYSICAL = "physical"
    REQUEST_DOCUMENTS = "request_documents"
    DETAIN = "detain"


#: the status each decision leads to
DECISION_STATUS: dict[Decision, Status] = {
    Decision.RELEASE: Status.RELEASED, Decision.DOCUMENT_CHECK: Status.INSPECTION, Decision.SCAN: Status.INSPECTION,
    Decision.PHYSICAL: Status.INSPECTION, Decision.REQUEST_DOCUMENTS: Status.INSPECTION,
    Decision.DETAIN: Status.DETAINED}
#: the reasons an officer chooses from, per decision (code -> English wording); "other" needs a note
DECISION_REASONS: dict[Decision, dict[str, str]] = {
    Decision.RELEASE: {"documents_in_order": "documents in order", "scan_clear": "scan found nothing irregular",
                       "physical_clear": "physical inspection found nothing irregular",
                       "duty_secured": "duty and penalty paid or secured", "other": "other"},
    Decision.DOCUMENT_CHECK: {"valuation_doubt": "declared value in doubt",
                              "classification_doubt": "tariff classification in doubt",
                              "origin_doubt": "origin in doubt", "licence_check": "licence or permit to verify",
                              "risk_profile": "risk profile", "other": "other"},
    Decision.SCAN: {"concealment": "possible concealment", "quantity_doubt": "quantity or weight in doubt",
                    "risk_profile": "risk profile", "other": "other"},
    Decision.PHYSICAL: {"goods_may_differ": "goods may differ from the declaration",
                        "restricted_goods": "possibly prohibited or restricted goods",
                        "ipr": "suspected infringement of intellectual property rights",
                        "scan_anomaly": "anomaly in the scan image", "risk_profile": "risk profile", "other": "other"},
    Decision.REQUEST_DOCUMENTS: {"invoice": "commercial invoice", "contract": "sales contract",
                                 "packing_list": "packing list", "origin_certificate": "certificate of origin",
                                 "licence": "import licence or permit", "payment_proof": "proof of payment",
                                 "other": "other"},
    Decision.DETAIN: {"prohibited_goods": "prohibited or restricted goods found",
                      "goods_differ": "goods differ from the declaration", "undervaluation": "undervaluation",
                      "ipr": "suspected infringement of intellectual property rights",
                      "documents_missing": "requested documents not provided", "other": "other"},
}
#: decisions whose reason and note the trader reads; for the others only that a check was ordered
TOLD_TO_TRADER = frozenset({Decision.RELEASE, Decision.REQUEST_DOCUMENTS, Decision.DETAIN})


def decision_errors(decision: str | None, reason_code: str | None, note: str) -> list[tuple[str, str]]:
    """What is wrong with a decision's reason, as (field, message) pairs; none when it is complete."""
    if decision is None:
        return [("reason_code", "a reason code needs a decision")] if reason_code else []
    if decision not in DECISION_STATUS:
        return [("decision", f"unknown decision {decision}: one of {', '.join(DECISION_STATUS)}")]
    codes = DECISION_REASONS[Decision(decision)]
    if not reason_code:
        return [("reason_code", "choose a reason")]
    if reason_code not in codes:
        return [("reason_code", f"{reason_code} is not a reason for {decision}: one of {', '.join(codes)}")]
    if reason_code == "other" and not note:
        return [("reason", "describe the reason when it is 'other'")]
    return []


def can_transition(current: Status | str | None, target: Status | str) -> bool:
    """Whether a declaration may move from ``current`` to ``target`` status."""
    cur = Status(current) if current is not None else None
    return Status(target) in TRANSITIONS[cur]


def replay(statuses: list[str]) -> Status:
    """The status an event sequence leads to, checking each step; raises ValueError on a bad step."""
    current: Status | None = None
    for s in statuses:
        if not can_transition(current, s):
            raise ValueError(f"illegal transition {current} → {s}")
        current = Status(s)
    if current is None:
        raise ValueError("no events")
    return current
