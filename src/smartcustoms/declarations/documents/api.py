"""REST routes of declaration documents (thin): attach (multipart), list, download, and "documents provided"."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Path, Request, Response, UploadFile

from smartcustoms.core.http import current_principal
from smartcustoms.core.security import Principal
from smartcustoms.core.wire import Id
from smartcustoms.declarations.documents.content import EXTENSIONS, content_disposition
from smartcustoms.declarations.documents.schemas import DocumentKind, DocumentOut, DocumentsProvidedIn
from smartcustoms.declarations.documents.service import DocumentService
from smartcustoms.declarations.schemas import EventOut

router = APIRouter(prefix="/api/v1/declarations", tags=["documents"])
DeclarationNo = Annotated[str, Path(max_length=18, description="the declaration's number")]


async def get_service(request: Request) -> DocumentService:
    """The deployment's document service."""
    return request.app.state.platform.documents


@router.post("/{declaration_no}/documents", response_model=DocumentOut, status_code=201, openapi_extra={
    "requestBody": {"content": {"multipart/form-data": {"example": {
        "kind": "origin_certificate", "file": "(the file's bytes: form-a-2026-0412.pdf, application/pdf)"}}}}})
def attach(declaration_no: DeclarationNo, response: Response,
           file: Annotated[UploadFile, File(description="a PDF, PNG, JPEG or TIFF file (checked by its content)")],
           kind: Annotated[DocumentKind, Form(description="what the document is")],
           who: Principal = Depends(current_principal),
           service: DocumentService = Depends(get_service)) -> DocumentOut:
    """Attach a document to a declaration the trader may see (multipart form: ``file`` and ``kind``).

    The content decides the type, whatever the file's name or declared type: a PDF must open, an image must
    decode (422 naming ``file`` otherwise). Over the size limit is a 413; a declaration already holding the
    most documents (count or total size) a 409, both naming ``file``. Another enterprise's declaration is a 404.
    """
    data = file.file.read(service.limits.max_bytes + 1)  # one byte over the limit is enough to refuse
    out = service.attach(who, declaration_no, kind, file.filename, data)
    response.headers["Location"] = out.href
    return out


@router.get("/{declaration_no}/documents", response_model=list[DocumentOut])
def list_documents(declaration_no: DeclarationNo, who: Principal = Depends(current_principal),
                   service: DocumentService = Depends(get_service)) -> list[DocumentOut]:
    """The documents attached to a declaration (its parties; customs see every declaration's), oldest first."""
    return service.list_documents(who, declaration_no)


@router.get("/{declaration_no}/documents/{document_id}", response_class=Response, responses={200: {
    "description": "the document's content, as an attachment",
    "content": {kind: {"schema": {"type": "string", "format": "binary"}} for kind in EXTENSIONS}}})
def download(declaration_no: DeclarationNo, document_id: Annotated[Id, Path()],
             who: Principal = Depends(current_principal),
             service: DocumentService = Depends(get_service)) -> Response:
    """Download one document: its content type, ``Content-Disposition: attachment`` and ``nosniff``."""
    out, data = service.read(who, declaration_no, document_id)
    return Response(data, media_type=out.content_type, headers={
        "Content-Disposition": content_disposition(out.file_name), "X-Content-Type-Options": "nosniff",
        "Cache-Control": "private, no-store", "ETag": f'"{out.sha256}"'})


@router.post("/{declaration_no}/documents/provided", response_model=EventOut, status_code=201)
def provided(declaration_no: DeclarationNo, body: DocumentsProvidedIn, who: Principal = Depends(current_principal),
             service: DocumentService = Depends(get_service)) -> EventOut:
    """The trader's answer to a request for documents or a document check: the documents attached since its last
    answer are provided (an event on the declaration's history; the status stays). 409 when the declaration is not
    held or no document is new."""
    return service.provide(who, declaration_no, body.note)
