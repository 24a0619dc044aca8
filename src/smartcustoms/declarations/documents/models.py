"""The table of documents attached to declarations (append-only: a document once attached stays as evidence)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from smartcustoms.core.db import Base


class DeclarationDocument(Base):
    """One file attached to a declaration; its bytes are in the document store under ``sha256``."""

    __tablename__ = "declaration_documents"

    id: Mapped[int] = mapped_column(primary_key=True)
    declaration_id: Mapped[int] = mapped_column(ForeignKey("declarations.id"), index=True)
    kind: Mapped[str] = mapped_column(String(30))  # a DocumentKind
    file_name: Mapped[str] = mapped_column(String(120))  # sanitised; its extension follows the content
    content_type: Mapped[str] = mapped_column(String(50))  # as the content says (never the sender's claim)
    size: Mapped[int] = mapped_column(Integer)  # bytes
    sha256: Mapped[str] = mapped_column(String(64))
    uploaded_by: Mapped[str] = mapped_column(String(100))  # username
    enterprise_code: Mapped[str | None] = mapped_column(String(18))  # the uploader's enterprise
    uploaded_at: Mapped[datetime] = mapped_column(DateTime)
