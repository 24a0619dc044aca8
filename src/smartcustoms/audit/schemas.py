"""Wire shapes of the audit verification."""

from __future__ import annotations

from pydantic import BaseModel


class ChainBreakOut(BaseModel):
    """The first audit entry at which the hash chain does not hold."""

    entry_id: int
    reason: str


class UntracedOut(BaseModel):
    """A declaration's or parcel's status change that no lifecycle event explains."""

    object_type: str
    object_id: str
    from_status: str | int | None
    to_status: str | int | None
    reason: str


class VerifyOut(BaseModel):
    """The outcome of ``smartcustoms audit verify``: ``ok`` when the chain, the traces and the triggers hold."""

    ok: bool
    entries: int
    chain_break: ChainBreakOut | None
    status_changes: int
    untraced: list[UntracedOut]
    untraced_count: int
    missing_triggers: list[str]
