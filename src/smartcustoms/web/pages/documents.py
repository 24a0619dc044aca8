"""Documents on the declaration page: a trader attaches files and answers a document check; everyone who may see
the declaration downloads them (customs: every declaration's). The page itself is the officer module's
``/declarations/{no}``: it adds :func:`documents_context` to what it renders."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from smartcustoms.core.errors import NotFound, ValidationProblem
from smartcustoms.core.security import Principal, Role
from smartcustoms.core.wire import INT32_MAX
from smartcustoms.declarations.documents.content import content_disposition
from smartcustoms.declarations.documents.schemas import DocumentKind
from smartcustoms.declarations.documents.service import CLOSED, DocumentConflict, DocumentRefused, document_request
from smartcustoms.declarations.schemas import DeclarationOut, EventOut
from smartcustoms.platform import Platform
from smartcustoms.web.i18n import language_of, translator
from smartcustoms.web.pages.base import checked_form, flash, form_int, login, page_router, platform_of

router = page_router()
FORM_KEY = "documents_form"  # a refused upload comes back with its kind and its errors


def documents_context(request: Request, platform: Platform, who: Principal, d: DeclarationOut,
                      events: list[EventOut]) -> dict[str, Any]:
    """What the declaration page's documents card shows: the documents, what customs ask, the upload form."""
    sent = request.session.pop(FORM_KEY, None) if "session" in request.scope else None
    limits = platform.documents.limits
    req = document_request(d.status, d.lane, events)
    kind = (sent or {}).get("kind") if sent and sent.get("no") == d.declaration_no else None
    if not kind and req.reason_code in DocumentKind.__members__.values():
        kind = req.reason_code  # the kind requested comes chosen
    return {"documents": platform.documents.list_documents(who, d.declaration_no), "doc_request": req,
            "doc_kinds": [k.value for k in DocumentKind], "doc_kind": kind or "",
            "doc_errors": (sent or {}).get("errors", {}) if sent and sent.get("no") == d.declaration_no else {},
            "doc_can_attach": who.role == Role.TRADER and d.status not in CLOSED,
            "doc_max_mb": f"{limits.max_bytes / (1 << 20):g}", "doc_max_count": limits.max_count}


def _back(no: str) -> RedirectResponse:
    return RedirectResponse(f"/declarations/{no}#documents", status_code=303)


@router.post("/declarations/{no}/documents")
async def attach_document(no: str, request: Request) -> Response:
    """A trader attaches a file (PDF, PNG, JPEG, TIFF) to its declaration; a refused one comes back with why."""
    who = login(request, Role.TRADER)
    form = await checked_form(request)
    platform = platform_of(request)
    t = translator(language_of(request))
    kind, upload = str(form.get("kind") or ""), form.get("file")
    errors: dict[str, list[str]] = {}
    if not kind:
        errors["kind"] = [t("documents.error.kind")]
    if not isinstance(upload, UploadFile) or not upload.filename:
        errors["file"] = [t("documents.error.nofile")]
    if not errors and isinstance(upload, UploadFile):
        data = await upload.read(platform.documents.limits.max_bytes + 1)
        try:
            out = await run_in_threadpool(platform.documents.attach, who, no, kind, upload.filename, data)
        except DocumentRefused as exc:
            field = exc.errors[0].field if exc.errors else "file"
            errors[field] = [t(f"documents.error.{exc.code}", **exc.values)]
        except DocumentConflict as exc:
            flash(request, f"documents.conflict.{exc.code}", "error")
            return _back(no)
        else:
            flash(request, "documents.attached", name=out.file_name, doc=t(f"doc_kind.{out.kind.value}"))
            return _back(no)
    request.session[FORM_KEY] = {"no": no, "kind": kind, "errors": errors}
    flash(request, "documents.invalid", "error")
    return _back(no)


@router.post("/declarations/{no}/documents/provided")
async def documents_provided(no: str, request: Request) -> Response:
    """A trader tells customs the documents are provided (an event on the declaration's history)."""
    who = login(request, Role.TRADER)
    form = await checked_form(request)
    note = str(form.get("note") or "").strip()
    try:
        await run_in_threadpool(platform_of(request).documents.provide, who, no, note)
    except DocumentConflict as exc:
        flash(request, f"documents.conflict.{exc.code}", "error")
        return _back(no)
    except ValidationProblem:
        flash(request, "documents.note_too_long", "error")
        return _back(no)
    flash(request, "documents.provided_done", no=no)
    return RedirectResponse(f"/declarations/{no}#events", status_code=303)


@router.get("/declarations/{no}/documents/{document_id}")
def download_document(no: str, document_id: str, request: Request) -> Response:
    """A document's content as an attachment (its type by content, ``nosniff``)."""
    who = login(request)
    doc_id = form_int(document_id)
    if doc_id is None or not 1 <= doc_id <= INT32_MAX:
        raise NotFound(f"declaration {no} has no document {document_id}")
    out, data = platform_of(request).documents.read(who, no, doc_id)
    return Response(data, media_type=out.content_type, headers={
        "Content-Disposition": content_disposition(out.file_name), "X-Content-Type-Options": "nosniff",
        "Cache-Control": "private, no-store"})
