"""Attaching documents to declarations, listing and reading them, and the trader's answer to a document check.

* A trader attaches files to a declaration it may see (its own or one it is a party to): PDF, PNG, JPEG or TIFF,
  checked by content (:mod:`.content`), within the size, count and total limits of :class:`DocumentLimits`.
  The bytes go to the :class:`~.storage.DocumentStore` under their SHA-256; the row records name, type, size,
  hash, uploader and time. Rows are append-only: a document once attached stays as evidence.
* "Documents provided" is the trader's answer to a request for documents or a document check: an append-only
  lifecycle event (the status does not change) listing the documents attached since the previous answer, so the
  officer sees what arrived and when.
* Tenant isolation is the declaration's: another enterprise's declaration, and so its documents, is a 404;
  customs roles read every declaration's documents.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session, sessionmaker

from smartcustoms.core.clock import utcnow
from smartcustoms.core.config import Settings
from smartcustoms.core.errors import Conflict, FieldError, Forbidden, NotFound, ValidationProblem
from smartcustoms.core.security import Principal, Role
from smartcustoms.declarations.documents.content import ContentRefused, check_content, safe_file_name
from smartcustoms.declarations.documents.models import DeclarationDocument
from smartcustoms.declarations.documents.schemas import KIND_NAMES, DocumentKind, DocumentOut
from smartcustoms.declarations.documents.storage import DocumentStore, StoredContentMissing, store_for
from smartcustoms.declarations.lifecycle import Decision, Lane, Status
from smartcustoms.declarations.models import Declaration, DeclarationEvent
from smartcustoms.declarations.schemas import EventOut
from smartcustoms.declarations.service import DeclarationService

#: statuses in which nothing more may be attached (the declaration is void)
CLOSED = frozenset({Status.REJECTED, Status.CANCELLED})
#: statuses in which customs hold the goods and a trader may answer with documents
HELD = frozenset({Status.LANE_ASSIGNED, Status.INSPECTION})
#: officers' decisions that ask the trader for documents
ASKING = frozenset({Decision.REQUEST_DOCUMENTS.value, Decision.DOCUMENT_CHECK.value})
PROVIDED_KEY = "documents_provided"  # the detail key of a "documents provided" event: how many


@dataclass(frozen=True, slots=True)
class DocumentLimits:
    """How large one document may be, how many a declaration holds and their total size (bytes)."""

    max_bytes: int = 10 << 20
    max_count: int = 20
    max_total_bytes: int = 50 << 20
    max_pixels: int = 50_000_000  # an image larger than this is refused before it is decoded

    @classmethod
    def from_settings(cls, settings: Settings) -> DocumentLimits:
        """The limits configured as ``SMARTCUSTOMS_MAX_DOCUMENT_BYTES``, ``..._MAX_DOCUMENTS``, ``..._TOTAL_BYTES``."""
        return cls(settings.max_document_bytes, settings.max_documents, settings.max_documents_total_bytes)


class DocumentRefused(ValidationProblem):
    """An upload that is not accepted; ``code`` and ``values`` let a page say why in the reader's language."""

    title = "The document is not accepted"

    def __init__(self, detail: str, errors: list[FieldError], *, code: str, values: dict | None = None) -> None:
        super().__init__(detail, errors)
        self.code = code
        self.values = values or {}


class DocumentTooLarge(DocumentRefused):
    """A document over the size limit (413)."""

    status = 413
    title = "The document is too large"


class TooManyDocuments(DocumentRefused):
    """The declaration holds as many documents, or as many bytes, as it may (409)."""

    status = 409
    title = "The declaration holds too many documents"


class DocumentConflict(Conflict):
    """The declaration's state refuses the action (409); ``code``: ``closed``, ``not_held`` or ``nothing_new``."""

    def __init__(self, detail: str, errors: list[FieldError] | None = None, *, code: str) -> None:
        super().__init__(detail, errors)
        self.code = code


@dataclass(frozen=True, slots=True)
class QueueMark:
    """What the hold queue shows of a declaration's documents."""

    count: int  # documents attached
    answered: bool  # the trader provided documents after the latest officer's decision


@dataclass(frozen=True, slots=True)
class DocumentRequest:
    """What customs ask of the trader now, read from the declaration's events (as the trader may see them)."""

    asked: bool  # customs wait for documents (a request, a document check, a yellow lane)
    decision: str | None = None  # request_documents, document_check, or None for a yellow lane
    reason_code: str | None = None  # the kind requested (a request for documents tells the trader which)
    note: str = ""  # the officer's words to the trader
    at: datetime | None = None  # when it was asked
    answered_at: datetime | None = None  # the trader's latest "documents provided" since
    can_answer: bool = False  # the declaration is held: a "documents provided" answer is possible


def document_request(status: str, lane: str | None, events: Sequence[EventOut]) -> DocumentRequest:
    """The latest request for documents among ``events`` and whether it was answered; a later check of another
    kind (a scan, a physical inspection) or a release or detention ends it."""
    asked: EventOut | None = None
    answered: datetime | None = None
    for e in events:
        detail = e.detail or {}
        decision = detail.get("decision") if e.actor != "selectivity" else None
        if e.to_status == Status.LANE_ASSIGNED and e.actor == "selectivity":
            asked, answered = (e, None) if (detail.get("lane") or lane) == Lane.YELLOW else (None, None)
        elif decision in ASKING:
            asked, answered = e, None
        elif decision is not None or e.to_status in (Status.RELEASED, Status.DETAINED, Status.CANCELLED):
            asked, answered = None, None
        elif detail.get(PROVIDED_KEY) is not None:
            answered = e.at
    can_answer = status in HELD and not (status == Status.LANE_ASSIGNED and lane == Lane.GREEN)
    if asked is None or status not in HELD:
        return DocumentRequest(False, answered_at=answered if asked else None, can_answer=can_answer)
    detail = asked.detail or {}
    decision = detail.get("decision") if asked.actor != "selectivity" else None
    return DocumentRequest(True, decision, detail.get("reason_code") if decision == Decision.REQUEST_DOCUMENTS
                           else None, str(detail.get("note") or ""), asked.at, answered, can_answer)


class DocumentService:
    """Documents of declarations over the declaration service's database and a document store."""

    def __init__(self, declarations: DeclarationService, store: DocumentStore, limits: DocumentLimits | None = None,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.declarations = declarations
        self.sessions: sessionmaker[Session] = declarations.sessions
        self.store = store
        self.limits = limits or DocumentLimits()
        self.clock = clock

    @classmethod
    def from_settings(cls, declarations: DeclarationService, settings: Settings) -> DocumentService:
        """Documents under ``<data_dir>/documents`` (or ``SMARTCUSTOMS_DOCUMENTS_DIR``), or in the object store when
        ``SMARTCUSTOMS_OBJECT_STORE_URL`` is set, with the settings' limits."""
        root = settings.documents_dir or settings.data_dir / "documents"
        return cls(declarations, store_for(settings, "documents", root), DocumentLimits.from_settings(settings))

    # -- attaching -------------------------------------------------------------------------------
    def check(self, kind: str, file_name: str | None, data: bytes) -> tuple[DocumentKind, str, str]:
        """The kind, the content type and the sanitised name of an upload; :class:`DocumentRefused` if it is not
        accepted (every check that needs no database: run it before the transaction)."""
        if kind not in DocumentKind.__members__.values():
            raise DocumentRefused(f"unknown document kind {kind!r}", [FieldError(
                "kind", f"one of {', '.join(DocumentKind)}")], code="kind")
        size, limit = len(data), self.limits.max_bytes
        if size > limit:
            raise DocumentTooLarge(f"the document has {size:,} bytes; at most {limit:,} are accepted",
                                   [FieldError("file", f"larger than {limit:,} bytes")], code="too_large",
                                   values={"size": size, "max_mb": _mb(limit)})
        try:
            content_type = check_content(data, self.limits.max_pixels)
        except ContentRefused as exc:
            raise DocumentRefused(exc.message, [FieldError("file", exc.message)], code=exc.code,
                                  values=exc.values) from None
        return DocumentKind(kind), content_type, safe_file_name(file_name, content_type)

    def attach(self, who: Principal, no: str, kind: str, file_name: str | None, data: bytes) -> DocumentOut:
        """Attach a file to declaration ``no`` (a trader who may see it); checked, stored, recorded."""
        if who.role != Role.TRADER:
            raise Forbidden("documents are attached by the declarant or the importer")
        doc_kind, content_type, name = self.check(kind, file_name, data)
        digest = hashlib.sha256(data).hexdigest()
        now = self.clock()
        with self.sessions() as session, session.begin():
            decl = self.declarations.load_visible(session, who, no)
            if decl.status in CLOSED:
                raise DocumentConflict(f"declaration {no} is {decl.status}: nothing more can be attached to it",
                                       code="closed")
            # one upload at a time per declaration (PostgreSQL: the row lock; SQLite writes one at a time)
            session.execute(select(Declaration.id).where(Declaration.id == decl.id).with_for_update())
            count, total = session.execute(select(func.count(), func.coalesce(func.sum(DeclarationDocument.size), 0))
                                           .where(DeclarationDocument.declaration_id == decl.id)).one()
            lim = self.limits
            if count >= lim.max_count:
                raise TooManyDocuments(f"declaration {no} holds {count} documents, the most it may",
                                       [FieldError("file", f"at most {lim.max_count} documents a declaration")],
                                       code="too_many", values={"max": lim.max_count})
            if total + len(data) > lim.max_total_bytes:
                raise TooManyDocuments(
                    f"declaration {no}'s documents would total {total + len(data):,} bytes; at most "
                    f"{lim.max_total_bytes:,}", [FieldError("file", f"documents total over {lim.max_total_bytes:,} "
                                                                    "bytes")],
                    code="too_much", values={"max_mb": _mb(lim.max_total_bytes)})
            # the bytes first: content under its hash without a row (a rolled-back upload) is harmless
            self.store.put(digest, data)
            doc_id = session.execute(insert(DeclarationDocument).values(
                declaration_id=decl.id, kind=doc_kind.value, file_name=name, content_type=content_type,
                size=len(data), sha256=digest, uploaded_by=who.username, enterprise_code=who.enterprise_code,
                uploaded_at=now).returning(DeclarationDocument.id)).scalar_one()
            row = session.get(DeclarationDocument, doc_id)
            assert row is not None
            return _out(row, no, False)

    # -- reading ---------------------------------------------------------------------------------
    def list_documents(self, who: Principal, no: str) -> list[DocumentOut]:
        """The documents of a declaration the caller may see, oldest first."""
        with self.sessions() as session:
            decl = self.declarations.load_visible(session, who, no)
            return self._list(session, decl)

    def _list(self, session: Session, decl: Declaration) -> list[DocumentOut]:
        rows = session.scalars(select(DeclarationDocument).where(DeclarationDocument.declaration_id == decl.id)
                               .order_by(DeclarationDocument.id)).all()
        provided = _provided_ids(session, decl.id)
        return [_out(r, decl.declaration_no, r.id in provided) for r in rows]

    def read(self, who: Principal, no: str, document_id: int) -> tuple[DocumentOut, bytes]:
        """One document of a declaration the caller may see, with its content (NotFound otherwise)."""
        with self.sessions() as session:
            decl = self.declarations.load_visible(session, who, no)
            row = session.scalar(select(DeclarationDocument).where(DeclarationDocument.id == document_id,
                                                                   DeclarationDocument.declaration_id == decl.id))
            if row is None:
                raise NotFound(f"declaration {no} has no document {document_id}")
            out = _out(row, no, row.id in _provided_ids(session, decl.id))
        try:
            return out, self.store.get(out.sha256)
        except StoredContentMissing as exc:
            raise NotFound(f"the content of document {document_id} is not in the document store ({exc})") from None

    def queue_marks(self, session: Session, declaration_nos: Sequence[str]) -> dict[str, QueueMark]:
        """For a page of the hold queue: how many documents each declaration holds and whether the trader's latest
        "documents provided" came after the latest officer's decision (two queries; declarations with neither
        documents nor an answer are left out)."""
        if not declaration_nos:
            return {}
        d, doc, e = Declaration, DeclarationDocument, DeclarationEvent
        counts = dict(session.execute(select(d.declaration_no, func.count(doc.id)).join(
            doc, doc.declaration_id == d.id).where(d.declaration_no.in_(list(declaration_nos)))
            .group_by(d.declaration_no)).all())
        answered: dict[str, bool] = {}
        for no, detail in session.execute(select(d.declaration_no, e.detail).join(e, e.declaration_id == d.id).where(
                d.declaration_no.in_(list(declaration_nos)), e.to_status.in_([s.value for s in HELD]),
                e.detail.is_not(None)).order_by(e.declaration_id, e.seq)):
            if isinstance(detail, dict) and detail.get(PROVIDED_KEY) is not None:
                answered[no] = True
            elif isinstance(detail, dict) and detail.get("decision"):
                answered[no] = False
        return {no: QueueMark(counts.get(no, 0), answered.get(no, False))
                for no in declaration_nos if counts.get(no) or answered.get(no)}

    # -- the trader's answer ---------------------------------------------------------------------
    def provide(self, who: Principal, no: str, note: str = "") -> EventOut:
        """Tell customs the documents are provided: an event (the status stays) listing those attached since the
        trader's previous answer; the declaration must be held, and at least one document new."""
        if who.role != Role.TRADER:
            raise Forbidden("documents are provided by the declarant or the importer")
        note = note.strip()
        if len(note) > 1000:
            raise ValidationProblem("the note is too long", [FieldError("note", "at most 1000 characters")])
        with self.sessions() as session, session.begin():
            decl = self.declarations.load_visible(session, who, no)
            if decl.status not in HELD or (decl.status == Status.LANE_ASSIGNED and decl.lane == Lane.GREEN):
                raise DocumentConflict(f"declaration {no} is {decl.status}: customs are not waiting for documents",
                                       [FieldError("documents", "not held for a check")], code="not_held")
            provided = _provided_ids(session, decl.id)
            rows = session.execute(select(DeclarationDocument.id, DeclarationDocument.kind).where(
                DeclarationDocument.declaration_id == decl.id).order_by(DeclarationDocument.id)).all()
            new = [(i, k) for i, k in rows if i not in provided]
            if not new:
                raise DocumentConflict("attach the documents first: none has been attached since the last answer",
                                       [FieldError("documents", "no new document attached")], code="nothing_new")
            kinds = sorted({k for _, k in new})
            words = ", ".join(KIND_NAMES.get(DocumentKind(k), k) for k in kinds)
            reason = f"documents provided: {len(new)} ({words})" + (f"; {note}" if note else "")
            detail = {PROVIDED_KEY: len(new), "documents": [i for i, _ in new], "kinds": kinds, "note": note}
            seq = self.declarations.append_event(session, decl, Status(decl.status), who.username, reason, detail)
            ev = session.scalar(select(DeclarationEvent).where(DeclarationEvent.declaration_id == decl.id,
                                                               DeclarationEvent.seq == seq))
            assert ev is not None
            return EventOut(seq=ev.seq, at=ev.at, actor=ev.actor, from_status=ev.from_status, to_status=ev.to_status,
                            reason=ev.reason, detail=ev.detail)


def _provided_ids(session: Session, declaration_id: int) -> set[int]:
    """The documents listed in the declaration's "documents provided" events."""
    details = session.scalars(select(DeclarationEvent.detail).where(
        DeclarationEvent.declaration_id == declaration_id, DeclarationEvent.from_status == DeclarationEvent.to_status,
        DeclarationEvent.to_status.in_([s.value for s in HELD]))).all()
    return {int(i) for d in details if isinstance(d, dict) and d.get(PROVIDED_KEY) is not None
            for i in d.get("documents") or () if isinstance(i, int)}


def _mb(n: int) -> str:
    return f"{n / (1 << 20):g}"


def _out(row: DeclarationDocument, no: str, provided: bool) -> DocumentOut:
    return DocumentOut(id=row.id, declaration_no=no, kind=DocumentKind(row.kind), file_name=row.file_name,
                       content_type=row.content_type, size=row.size, sha256=row.sha256, uploaded_by=row.uploaded_by,
                       uploaded_at=row.uploaded_at, provided=provided,
                       href=f"/api/v1/declarations/{no}/documents/{row.id}")
