"""What happened to a filing that its filer may hear of: referred, a referral decided, a discrepancy opened or
resolved. The manifests service calls its listeners (wired by the platform) in the transaction that recorded
the step, so whatever they write commits with it or not at all."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy.orm import Session


class ManifestEventKind(StrEnum):
    """The step a listener hears of."""

    REFERRED = "referred"  # params: outcome, filing_id, reasons, reasons_zh
    REFERRAL_DECIDED = "referral_decided"  # params: action, outcome, filing_id, note
    DISCREPANCY_OPENED = "discrepancy_opened"  # params: kind, discrepancy_id
    DISCREPANCY_RESOLVED = "discrepancy_resolved"  # params: kind, resolution, note, discrepancy_id


@dataclass(frozen=True, slots=True)
class ManifestEvent:
    """One step on a filer's consignment (``filer_code``: the carrier's or forwarder's enterprise code; ``""`` for a
    discrepancy no filing explains, e.g. a declaration without a manifest line, whose notice goes to the declarant)."""

    kind: ManifestEventKind
    filer_code: str
    transport_document_no: str
    at: datetime
    params: dict[str, Any] = field(default_factory=dict)
    declaration_no: str | None = None


#: ``listener(session, events)``: called in the transaction that recorded ``events``
ManifestListener = Callable[[Session, Sequence[ManifestEvent]], None]


def emit(listeners: Sequence[ManifestListener], session: Session, events: Sequence[ManifestEvent]) -> None:
    """Tell every listener of ``events`` (nothing when there are none)."""
    if events:
        for listener in listeners:
            listener(session, events)
