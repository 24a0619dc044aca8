"""REST routes of scan images (thin): upload, read, pixels, heat map, DICOS TDR, review queue, review, TIP scores."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Form, Path, Query, Request, Response, UploadFile
from pydantic import BaseModel, Field

from smartcustoms.core.http import current_principal
from smartcustoms.core.security import Principal
from smartcustoms.core.wire import Id, Limit, Offset
from smartcustoms.inspection.images.schemas import (
    ImageOut,
    ReviewIn,
    ReviewJobOut,
    ReviewResultOut,
    SubjectKind,
    TipOfficerOut,
)
from smartcustoms.inspection.images.service import ImageService

router = APIRouter(prefix="/api/v1/images", tags=["images"])
ImageId = Annotated[Id, Path(description="the image's id")]
_PNG: dict[int | str, dict[str, Any]] = {200: {"description": "an 8-bit grayscale PNG", "content": {"image/png": {
    "schema": {"type": "string", "format": "binary"}}}}}


class DeclaredGoodsOut(BaseModel):
    """One declared goods line of the scanned subject."""

    hs_code: str = Field(description="HS code of the goods")
    description: str = Field(description="description of the goods")
    quantity: float = Field(description="declared quantity")
    unit: str = Field(description="unit of the quantity")
    gross_kg: float | None = Field(description="gross mass in kg (shared by net mass when several lines)")
    net_kg: float | None = Field(description="net mass in kg")
    packages: int | None = Field(description="packages, when known for the line")


class SubjectOut(BaseModel):
    """What a scan is of, with its declared goods as they are now."""

    kind: SubjectKind = Field(description="declaration, parcel or manifest_line")
    id: str = Field(description="id of the subject")
    office: str | None = Field(description="customs office of the subject")
    importer: str | None = Field(description="importer (unified social credit code), when known")
    goods: list[DeclaredGoodsOut] = Field(description="the declared goods lines")


async def get_service(request: Request) -> ImageService:
    """The deployment's image service."""
    return request.app.state.platform.images


@router.post("", response_model=ImageOut, status_code=201, openapi_extra={
    "requestBody": {"content": {"multipart/form-data": {"example": {
        "subject_kind": "declaration", "subject_id": "222020261000000017",
        "file": "(the scan's bytes: a DICOS DX file, or PNG/TIFF)"}}}}})
def upload(file: Annotated[UploadFile, File(description="the scan: DICOS DX/CT (uncompressed or RLE), PNG or TIFF; "
                                                         "a two-frame DICOS DX is dual-energy (high, low)")],
           subject_kind: Annotated[SubjectKind, Form(description="what the scan is of")],
           subject_id: Annotated[str, Form(max_length=64, description="declaration number, parcel waybill "
                                                                       "number or manifest line id")],
           low_energy_file: Annotated[UploadFile | None, File(
               description="optional: the low-energy image of the same scan as a second single-energy file")] = None,
           who: Principal = Depends(current_principal),
           service: ImageService = Depends(get_service)) -> ImageOut:
    """Upload a scan of a declaration, parcel or manifest line (customs officers: scanner operators and their
    scanners' keys). The file is checked by its content (422 naming the field otherwise; 413 over the size
    limit), kept under its SHA-256, assessed by the image model and routed: auto-cleared, or to the review queue."""
    data = file.file.read(service.max_bytes + 1)
    low = low_energy_file.file.read(service.max_bytes + 1) if low_energy_file is not None else None
    return service.upload(who, data, subject_kind, subject_id, low)


@router.get("/queue", response_model=list[ReviewJobOut])
def queue(office: Annotated[str | None, Query(max_length=4, description="only this customs office's images")] = None,
          limit: Annotated[Limit, Query()] = 50, offset: Annotated[Offset, Query()] = 0,
          who: Principal = Depends(current_principal),
          service: ImageService = Depends(get_service)) -> list[ReviewJobOut]:
    """The review queue: images routed to an officer (or not assessed by a model), oldest first."""
    return service.queue(who, office, limit, offset)


@router.get("/tip/officers", response_model=list[TipOfficerOut])
def tip_officers(who: Principal = Depends(current_principal),
                 service: ImageService = Depends(get_service)) -> list[TipOfficerOut]:
    """Threat image projection scores: per officer, projected threats shown, found and missed (analysts and
    administrators)."""
    return service.tip_officers(who)


@router.get("/{image_id}", response_model=ImageOut)
def get_image(image_id: ImageId, who: Principal = Depends(current_principal),
              service: ImageService = Depends(get_service)) -> ImageOut:
    """One image: what it is of, the stored file's hash, the model's assessment and officers' reviews."""
    return service.get(who, image_id)


@router.get("/{image_id}/subject", response_model=SubjectOut)
def subject(image_id: ImageId, who: Principal = Depends(current_principal),
            service: ImageService = Depends(get_service)) -> SubjectOut:
    """What the image is of, with the declared goods to set beside it."""
    s = service.subject(who, image_id)
    return SubjectOut(kind=s.kind, id=s.id, office=s.office, importer=s.importer,  # type: ignore[arg-type]
                      goods=[DeclaredGoodsOut(**vars(g)) for g in s.goods])


@router.get("/{image_id}/previous", response_model=list[ImageOut])
def previous(image_id: ImageId, limit: Annotated[int, Query(ge=1, le=50, description="images at most")] = 10,
             who: Principal = Depends(current_principal),
             service: ImageService = Depends(get_service)) -> list[ImageOut]:
    """Earlier images of the same subject, or of the same importer with goods of a shared HS heading."""
    return service.previous(who, image_id, limit)


@router.get("/{image_id}/pixels.png", response_class=Response, responses=_PNG)
def pixels(image_id: ImageId,
           energy: Annotated[Literal["high", "low", "material"], Query(
               description="high or low energy transmission, or the dual-energy material ratio")] = "high",
           contrast: Annotated[float, Query(ge=0.1, le=10.0, description="gamma: above 1 brightens dark goods")] = 1.0,
           lo: Annotated[float, Query(ge=0.0, lt=1.0, description="transmission shown black")] = 0.0,
           hi: Annotated[float, Query(gt=0.0, le=1.0, description="transmission shown white")] = 1.0,
           who: Principal = Depends(current_principal),
           service: ImageService = Depends(get_service)) -> Response:
    """The scan as an 8-bit PNG for the review page, windowed and with the contrast asked for."""
    return Response(service.pixels_png(who, image_id, energy, contrast, lo, hi), media_type="image/png",
                    headers={"Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"})


@router.get("/{image_id}/heatmap.png", response_class=Response, responses=_PNG)
def heatmap(image_id: ImageId, who: Principal = Depends(current_principal),
            service: ImageService = Depends(get_service)) -> Response:
    """The model's heat map as an 8-bit PNG (white = most suspect), the size of the scan."""
    return Response(service.heatmap_png(who, image_id), media_type="image/png",
                    headers={"Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"})


@router.get("/{image_id}/tdr", response_class=Response, responses={200: {
    "description": "a DICOS Threat Detection Report (SOP class 1.2.840.10008.5.1.4.1.1.501.3)",
    "content": {"application/dicom": {"schema": {"type": "string", "format": "binary"}}}}})
def tdr(image_id: ImageId, who: Principal = Depends(current_principal),
        service: ImageService = Depends(get_service)) -> Response:
    """The image's result as a DICOS Threat Detection Report: the officer's verdict when reviewed, else the
    model's, with the suspect region as a bounding box."""
    return Response(service.tdr(who, image_id), media_type="application/dicom", headers={
        "Content-Disposition": f'attachment; filename="image-{image_id}-tdr.dcm"',
        "Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"})


@router.post("/{image_id}/review", response_model=ReviewResultOut, status_code=201)
def review(image_id: ImageId, body: ReviewIn, who: Principal = Depends(current_principal),
           service: ImageService = Depends(get_service)) -> ReviewResultOut:
    """An officer's decision on an image: confirm or override the machine's call. On a declaration it becomes the
    inspection result (the risk history learns it); on a threat-image-projection job it is scored instead."""
    return service.review(who, image_id, body)
