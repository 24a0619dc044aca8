"""Wire shapes of declaration documents: the coded kinds, a document as listed, the trader's answer."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from smartcustoms.core.wire import UtcDateTime


class DocumentKind(StrEnum):
    """What a document is; the codes are those of an officer's request for documents (``request_documents``)."""

    INVOICE = "invoice"
    PACKING_LIST = "packing_list"
    ORIGIN_CERTIFICATE = "origin_certificate"
    LICENCE = "licence"
    CONTRACT = "contract"
    PAYMENT_PROOF = "payment_proof"
    OTHER = "other"


#: each kind in English words (the web shows them in the reader's language)
KIND_NAMES: dict[DocumentKind, str] = {
    DocumentKind.INVOICE: "commercial invoice", DocumentKind.PACKING_LIST: "packing list",
    DocumentKind.ORIGIN_CERTIFICATE: "certificate of origin", DocumentKind.LICENCE: "licence or certificate",
    DocumentKind.CONTRACT: "sales contract", DocumentKind.PAYMENT_PROOF: "proof of payment",
    DocumentKind.OTHER: "other document"}


class DocumentOut(BaseModel):
    """A document attached to a declaration, as listed (its content is at ``href``)."""

    id: int
    declaration_no: str
    kind: DocumentKind
    file_name: str = Field(description="the sent name, sanitised; its extension follows the content")
    content_type: str = Field(description="as the content says: application/pdf, image/png, image/jpeg, image/tiff")
    size: int = Field(description="bytes")
    sha256: str = Field(description="SHA-256 of the content, hex")
    uploaded_by: str
    uploaded_at: UtcDateTime
    provided: bool = Field(False, description="listed in a 'documents provided' answer to customs")
    href: str = Field(description="where to download it")


class DocumentsProvidedIn(BaseModel):
    """The trader's answer to a document check: the documents attached since the last answer are provided."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"note": "certificate of origin (Form A) and the signed sales contract attached"}]})

    note: Annotated[str, StringConstraints(max_length=1000, strip_whitespace=True)] = Field(
        "", description="a word to the officer (optional)")
