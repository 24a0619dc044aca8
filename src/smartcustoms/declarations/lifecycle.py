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
    Status.LANE_ASSIGNED: frozenset({Status.INSPECTION, Status.RELEASED, Status.CANCELLED, Status.ACCEPTED}),
    Status.INSPECTION: frozenset({Status.RELEASED, Status.DETAINED}),
    Status.DETAINED: frozenset({Status.RELEASED}),
    Status.RELEASED: frozenset({Status.RELEASED}),  # a post-clearance audit finding annotates a release
    Status.REJECTED: frozenset(),
    Status.CANCELLED: frozenset(),
}


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
