"""Wire shapes of the inbox, and the codes of the messages it carries."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from smartcustoms.core.wire import Id, UtcDateTime


class NoticeCode(StrEnum):
    """What a message is about; its parameters say the rest (codes, amounts, an officer's note)."""

    HELD = "declaration.held"  # lane
    CHECK_ORDERED = "declaration.check_ordered"  # decision: document_check | scan | physical
    DOCUMENTS_REQUESTED = "declaration.documents_requested"  # reason_code, note
    RELEASED = "declaration.released"  # reason_code, note (an officer's release) | outcome (an inspection)
    DETAINED = "declaration.detained"  # reason_code, note | offence_type, duty_recovered (an inspection)
    CANCELLED = "declaration.cancelled"  # reason (the canceller's words), by: trader | customs
    TAX_REASSESSED = "declaration.tax_reassessed"  # tax_total (CNY), version
    AUDIT_FINDING = "declaration.audit_finding"  # outcome, offence_type, duty_recovered
    DOCUMENTS_PROVIDED = "declaration.documents_provided"  # to the officer who asked: by (enterprise code), count
    # to the filing enterprise of a manifest (document_no: the transport document; filing_id / discrepancy_id)
    MANIFEST_REFERRED = "manifest.referred"  # outcome, reasons, reasons_zh (the assessment's, "; "-joined)
    MANIFEST_DECIDED = "manifest.referral_decided"  # action, outcome, note (the officer's reason)
    DISCREPANCY_OPENED = "manifest.discrepancy_opened"  # kind
    DISCREPANCY_RESOLVED = "manifest.discrepancy_resolved"  # kind, resolution, note (the officer's reason)


#: at most this many ids in one "mark read" request
MAX_MARK = 200

Params = dict[str, str | int | None]


class NoticeOut(BaseModel):
    """One message of the caller's inbox."""

    id: int = Field(description="the message's id (for marking it read)")
    code: NoticeCode = Field(description="what the message is about")
    params: Params = Field(description="the message's particulars as codes and numbers (see `code`)")
    text: str = Field(description="the message in English words")
    declaration_no: str | None = Field(None, description="the declaration the message is about")
    at: UtcDateTime = Field(description="when it happened")
    read: bool = Field(description="whether the caller has read it")


class InboxOut(BaseModel):
    """One page of the caller's inbox, newest first."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "items": [{"id": 42, "code": "declaration.detained",
                   "params": {"reason_code": "goods_differ", "note": "porcelain, not ceramic: see the scan"},
                   "text": "Declaration 224820261000012345 detained: goods differ from the declaration — porcelain, "
                           "not ceramic: see the scan",
                   "declaration_no": "224820261000012345", "at": "2026-12-03T06:20:00Z", "read": False},
                  {"id": 41, "code": "declaration.documents_requested",
                   "params": {"reason_code": "origin_certificate", "note": "send Form A for both items"},
                   "text": "Documents requested for declaration 224820261000012345: certificate of origin — send "
                           "Form A for both items",
                   "declaration_no": "224820261000012345", "at": "2026-12-02T09:05:00Z", "read": True}],
        "total": 2, "unread": 1, "limit": 50, "offset": 0}]})

    items: list[NoticeOut] = Field(description="the page's messages, newest first")
    total: int = Field(description="messages matching the filter (all pages)")
    unread: int = Field(description="the caller's unread messages (counted up to 100)")
    limit: int = Field(description="messages per page")
    offset: int = Field(description="messages skipped")


class MarkReadIn(BaseModel):
    """Messages the caller has read."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"ids": [41, 42]}]})
    ids: Annotated[list[Id], Field(min_length=1, max_length=MAX_MARK, description="ids of the caller's messages",
                                   examples=[[41, 42]])]


class MarkedOut(BaseModel):
    """How many messages turned from unread to read, and what remains unread."""

    marked: int = Field(description="messages that turned from unread to read")
    unread: int = Field(description="the caller's messages still unread (counted up to 100)")
