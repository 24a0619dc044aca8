"""Scan files in and out: DICOS (NEMA IIC 1, DICOM-based) DX and CT images, PNG/TIFF, and threat detection reports.

Reading turns a file into a :class:`ScanImage` (transmissions 0..1) or refuses it with an
:class:`ImageRefused` naming the field and the reason. Writing makes a DICOS DX image (one frame per
energy: frame 1 the high energy, frame 2 the low one) and a DICOS Threat Detection Report (TDR) carrying
the machine's (or the officer's) result. pydicom does the DICOM encoding; the DICOS attributes (group
4010) are in the DICOM data dictionary pydicom ships. The SOP class UIDs and attribute meanings are from
NEMA IIC 1 as summarised in docs/images.md (with where they were checked).

CT: a volume is read as its middle slice (not a reconstructed projection); said so in docs/images.md.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
from pydicom import dcmread
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.errors import InvalidDicomError
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import (
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    RLELossless,
    generate_uid,
)

from smartcustoms.core.errors import FieldError, ValidationProblem
from smartcustoms.inspection.images.schemas import Box, ImageFormat, Modality, ScanImage

# DICOS SOP classes (NEMA IIC 1; the 1.2.840.10008.5.1.4.1.1.501 arc of the DICOM UID registry)
DICOS_CT = "1.2.840.10008.5.1.4.1.1.501.1"
DICOS_DX_PRESENTATION = "1.2.840.10008.5.1.4.1.1.501.2.1"
DICOS_DX_PROCESSING = "1.2.840.10008.5.1.4.1.1.501.2.2"
DICOS_TDR = "1.2.840.10008.5.1.4.1.1.501.3"
# plain DICOM (medical) DX and CT storage, which some scanners' export tools write: read the same way
DICOM_DX = ("1.2.840.10008.5.1.4.1.1.1.1", "1.2.840.10008.5.1.4.1.1.1.1.1")
DICOM_CT = ("1.2.840.10008.5.1.4.1.1.2", "1.2.840.10008.5.1.4.1.1.2.1")
DX_CLASSES = (DICOS_DX_PRESENTATION, DICOS_DX_PROCESSING, *DICOM_DX)
CT_CLASSES = (DICOS_CT, *DICOM_CT)

#: transfer syntaxes this server decodes (uncompressed, deflated, RLE Lossless: pydicom's own numpy decoders)
READABLE_SYNTAXES = (ImplicitVRLittleEndian, ExplicitVRLittleEndian, ExplicitVRBigEndian,
                     DeflatedExplicitVRLittleEndian, RLELossless)
MAX_FILE_BYTES = 64 * 1024 * 1024
MAX_SIDE = 4096
MAX_CT_SLICES = 2048
#: our implementation class UID root (a UUID-derived root: pydicom's generate_uid under 2.25)
IMPLEMENTATION_VERSION = "SMARTCUSTOMS1"
_PNG = b"\x89PNG\r\n\x1a\n"
_TIFF = (b"II*\x00", b"MM\x00*")


class ImageRefused(ValidationProblem):
    """A scan file that is not accepted (422, 413 when too large); ``field`` names what is wrong."""

    title = "The scan image is not accepted"

    def __init__(self, reason: str, field: str = "file", *, status: int = 422) -> None:
        super().__init__(reason, [FieldError(field, reason)])
        self.status = status


@dataclass(frozen=True)
class ReadScan:
    """A scan read from a file: the pixels, the file's format and what the file said about itself."""

    image: ScanImage
    source_format: ImageFormat
    sop_instance_uid: str | None = None
    sop_class_uid: str | None = None


def sniff(data: bytes) -> ImageFormat:
    """The file's format from its first bytes (never its name): dicos, png or tiff; refused otherwise."""
    if len(data) >= 132 and data[128:132] == b"DICM":
        return "dicos"
    if data.startswith(_PNG):
        return "png"
    if data[:4] in _TIFF:
        return "tiff"
    raise ImageRefused("not a DICOS/DICOM (DICM preamble), PNG or TIFF file")


def read_scan(data: bytes) -> ReadScan:
    """Read a DICOS DX or CT file, or a PNG/TIFF (single energy), into transmissions 0..1."""
    if len(data) > MAX_FILE_BYTES:
        raise ImageRefused(f"larger than {MAX_FILE_BYTES:,} bytes", status=413)
    if not data:
        raise ImageRefused("the file is empty")
    kind = sniff(data)
    if kind == "dicos":
        return _read_dicom(data)
    return ReadScan(_read_raster(data), kind)


def read_dual(high: bytes, low: bytes) -> ReadScan:
    """Two single-energy DX files of one scan (high, low energy) as one dual-energy image."""
    a, b = read_scan(high), read_scan(low)
    if a.image.shape != b.image.shape:
        raise ImageRefused(f"the low-energy image is {b.image.shape}, the high-energy one {a.image.shape}",
                           field="low_energy_file")
    if a.image.dual_energy or b.image.dual_energy:
        raise ImageRefused("send either one dual-energy file or two single-energy files", field="low_energy_file")
    return ReadScan(ScanImage(a.image.high, b.image.high, a.image.pixel_mm, a.image.modality), a.source_format,
                    a.sop_instance_uid, a.sop_class_uid)


# -- raster (PNG / TIFF) ----------------------------------------------------------------------------------
def _read_raster(data: bytes) -> ScanImage:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as im:
            w, h = im.size
            if w > MAX_SIDE or h > MAX_SIDE or w < 1 or h < 1:
                raise ImageRefused(f"{w}x{h} pixels: at most {MAX_SIDE}x{MAX_SIDE}")
            if im.mode in ("I;16", "I;16B", "I;16L", "I"):
                arr = np.asarray(im, dtype=np.float64)
                full = 65535.0
            elif im.mode == "F":
                arr = np.asarray(im, dtype=np.float64)
                full = 1.0
            else:
                arr = np.asarray(im.convert("L"), dtype=np.float64)
                full = 255.0
    except ImageRefused:
        raise
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise ImageRefused(f"the image does not decode: {exc}") from None
    t = np.clip(arr / full, 0.0, 1.0).astype(np.float32)
    return ScanImage(t, t)


# -- DICOS / DICOM ----------------------------------------------------------------------------------------
def _read_dicom(data: bytes) -> ReadScan:
    try:
        ds = dcmread(io.BytesIO(data), force=False)
    except (InvalidDicomError, EOFError, ValueError, KeyError, TypeError, OverflowError) as exc:
        raise ImageRefused(f"not a readable DICOS file: {exc}") from None
    sop_class = str(ds.get("SOPClassUID", ""))
    if sop_class == DICOS_TDR:
        raise ImageRefused("a DICOS threat detection report carries no image", field="SOPClassUID")
    if sop_class not in DX_CLASSES + CT_CLASSES:
        raise ImageRefused(f"SOP class {sop_class or '(none)'} is not a DICOS DX or CT image", field="SOPClassUID")
    syntax = ds.file_meta.get("TransferSyntaxUID") if "file_meta" in dir(ds) else None
    if syntax is None or syntax not in READABLE_SYNTAXES:
        name = getattr(syntax, "name", str(syntax))
        raise ImageRefused(f"transfer syntax {name} is not decoded here (send it uncompressed or RLE Lossless)",
                           field="TransferSyntaxUID")
    rows, cols = int(ds.get("Rows", 0) or 0), int(ds.get("Columns", 0) or 0)
    if not (0 < rows <= MAX_SIDE and 0 < cols <= MAX_SIDE):
        raise ImageRefused(f"{cols}x{rows} pixels: between 1x1 and {MAX_SIDE}x{MAX_SIDE}", field="Rows")
    if int(ds.get("SamplesPerPixel", 1)) != 1:
        raise ImageRefused("only grayscale (one sample per pixel) scans are read", field="SamplesPerPixel")
    bits = int(ds.get("BitsAllocated", 0) or 0)
    if bits not in (8, 16):
        raise ImageRefused(f"{bits} bits allocated: 8 or 16 are read", field="BitsAllocated")
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    modality: Modality = "CT" if sop_class in CT_CLASSES else "DX"
    limit = MAX_CT_SLICES if modality == "CT" else 2
    if not 1 <= frames <= limit:
        raise ImageRefused(f"{frames} frames: a {modality} image here has 1 to {limit}", field="NumberOfFrames")
    if "PixelData" not in ds:
        raise ImageRefused("the file has no pixel data", field="PixelData")
    try:
        pixels = np.asarray(ds.pixel_array, dtype=np.float32)  # 16-bit values are exact in float32
    except Exception as exc:  # noqa: BLE001 - pydicom raises many kinds for damaged pixel data
        raise ImageRefused(f"the pixel data does not decode: {exc}", field="PixelData") from None
    if frames == 1:
        pixels = pixels[None, ...]
    stored = int(ds.get("BitsStored", bits) or bits)
    signed = int(ds.get("PixelRepresentation", 0) or 0) == 1
    pixel_mm = _pixel_mm(ds)
    if modality == "CT":
        t = _ct_middle_slice(pixels)
        return ReadScan(ScanImage(t, t, pixel_mm, "CT"), "dicos", str(ds.get("SOPInstanceUID", "")) or None,
                        sop_class)
    lo_value = -(2 ** (stored - 1)) if signed else 0
    full = (2 ** (stored - 1) - 1) if signed else (2 ** stored - 1)
    t32 = pixels if lo_value == 0 else pixels - np.float32(lo_value)
    t32 *= np.float32(1.0 / (full - lo_value))
    np.clip(t32, 0.0, 1.0, out=t32)
    if str(ds.get("PhotometricInterpretation", "MONOCHROME2")) == "MONOCHROME1":
        t32 = 1.0 - t32  # MONOCHROME1: the lowest value is white (full transmission shows dark)
    high = t32[0]
    low = t32[1] if frames == 2 else high
    return ReadScan(ScanImage(high, low, pixel_mm, "DX"), "dicos", str(ds.get("SOPInstanceUID", "")) or None,
                    sop_class)


def _pixel_mm(ds: Dataset) -> float:
    for keyword in ("PixelSpacing", "ImagerPixelSpacing"):
        v = ds.get(keyword)
        if v is not None:
            try:
                mm = float(v[0])
            except (TypeError, ValueError, IndexError):
                continue
            if 0 < mm < 1000:
                return mm
    return 5.0


def _ct_middle_slice(volume: np.ndarray) -> np.ndarray:
    """The middle slice of a CT volume, min-max scaled and inverted: dense (high values) dark, like a radiograph."""
    sl = volume[volume.shape[0] // 2]
    lo, hi = float(sl.min()), float(sl.max())
    scaled = (sl - lo) / (hi - lo) if hi > lo else np.zeros_like(sl)
    return (1.0 - scaled).astype(np.float32)


# -- writing ----------------------------------------------------------------------------------------------
def _now() -> tuple[str, str]:
    now = datetime.now(UTC)
    return now.strftime("%Y%m%d"), now.strftime("%H%M%S")


def _file_meta(sop_class: str, sop_instance: str) -> FileMetaDataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(sop_class)
    meta.MediaStorageSOPInstanceUID = UID(sop_instance)
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationVersionName = IMPLEMENTATION_VERSION
    return meta


def _common(ds: Dataset, sop_class: str, sop_instance: str, modality: str, object_id: str, study_uid: str,
            series_uid: str) -> None:
    """SOP common, OOI (object of inspection), study and series attributes every DICOS object carries."""
    date, time = _now()
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_instance
    ds.Modality = modality
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = date
    ds.StudyTime = ds.SeriesTime = ds.ContentTime = time
    ds.InstanceCreationDate, ds.InstanceCreationTime = date, time
    ds.StudyID = "1"
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1
    ds.Manufacturer = "smartcustoms"
    # DICOS "Object of Inspection": DICOM's patient attributes carry the OOI's id and type
    ds.PatientID = object_id[:64]
    ds.PatientName = ""
    ds.OOIType = "CARGO"


def write_dx(image: ScanImage, object_id: str, *, study_uid: str | None = None,
             for_processing: bool = False) -> tuple[bytes, str]:
    """A DICOS DX image of ``image`` (16-bit, frame 1 high energy, frame 2 low when dual-energy); (bytes, SOP UID)."""
    h, w = image.shape
    if h > MAX_SIDE or w > MAX_SIDE:
        raise ValueError(f"{w}x{h} pixels: at most {MAX_SIDE}x{MAX_SIDE}")
    sop_class = DICOS_DX_PROCESSING if for_processing else DICOS_DX_PRESENTATION
    uid = generate_uid()
    ds = Dataset()
    ds.file_meta = _file_meta(sop_class, uid)
    _common(ds, sop_class, uid, "DX", object_id, study_uid or generate_uid(), generate_uid())
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    ds.PresentationIntentType = "FOR PROCESSING" if for_processing else "FOR PRESENTATION"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = h, w
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    ds.PixelSpacing = ds.ImagerPixelSpacing = [f"{image.pixel_mm:.6g}", f"{image.pixel_mm:.6g}"]
    frames = [image.high, image.low] if image.dual_energy else [image.high]
    ds.NumberOfFrames = len(frames)
    if len(frames) == 2:
        ds.ImageComments = "dual energy: frame 1 high energy, frame 2 low energy; values are transmission x 65535"
    else:
        ds.ImageComments = "single energy; values are transmission x 65535"
    stack = np.stack([np.clip(f, 0.0, 1.0) for f in frames])
    ds.PixelData = np.rint(stack * 65535.0).astype("<u2").tobytes()
    return _encode(ds), uid


#: an officer's threat category as a DICOS Threat Category (4010,1012) defined term. The terms are from a public
#: description of NEMA IIC 1 v04-2023 (ANOMALY, CONTRABAND, EXPLOSIVE, PHARMACEUTICAL, OTHER, ...), not the
#: standard's text; our own category is kept in the Threat Category Description (see docs/images.md)
DICOS_THREAT_CATEGORY = {"drugs": "PHARMACEUTICAL", "weapons": "CONTRABAND", "explosives": "EXPLOSIVE",
                         "currency": "CONTRABAND", "undeclared_goods": "ANOMALY", "other": "OTHER"}
#: how an operator-assessed potential threat object's description starts (``read_tdr`` tells them apart by it)
OPERATOR_PTO = "operator-assessed: "


@dataclass(frozen=True)
class OperatorMark:
    """A region an officer marked as a threat: our category (``schemas.THREAT_CATEGORIES``) and the pixel box."""

    category: str
    box: Box


@dataclass(frozen=True)
class TdrContent:
    """What a threat detection report says about one scan."""

    referenced_sop_instance: str
    referenced_sop_class: str
    object_id: str
    anomaly_score: float
    alarm: bool
    region: Box | None
    pixel_mm: float
    algorithm: str
    officer: str | None = None
    officer_verdict: str | None = None  # clear | threat (an OPERATOR report when set)
    reasons: Sequence[str] = ()
    operator_marks: Sequence[OperatorMark] = ()  # the officer's threat regions (an OPERATOR report)


def write_tdr(content: TdrContent) -> bytes:
    """A DICOS Threat Detection Report: the alarm decision and, when the heat map has a suspect region, one
    potential threat object (Threat Sequence item) with its ATD assessment (probability = the anomaly score)
    and its place in the referenced image: Threat ROI Base/Extents in pixels (x = column, y = row, z = 0)
    and a Bounding Polygon of the two corners in mm. Each region the officer marked follows as an
    operator-assessed potential threat object: its DICOS Threat Category, ``ATDAssessmentFlag`` THREAT, no
    probability, the description ``operator-assessed: <category>`` and its box the same way."""
    uid = generate_uid()
    ds = Dataset()
    ds.file_meta = _file_meta(DICOS_TDR, uid)
    _common(ds, DICOS_TDR, uid, "TDR", content.object_id, generate_uid(), generate_uid())
    operator = content.officer_verdict is not None
    alarm = (content.officer_verdict == "threat") if operator else content.alarm
    ds.TDRType = "OPERATOR" if operator else "MACHINE"
    ds.AlarmDecision = "ALARM" if alarm else "CLEAR"
    ds.AlarmDecisionTime = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    ds.ThreatDetectionAlgorithmAndVersion = content.algorithm[:64]
    marks = list(content.operator_marks) if operator else []
    machine_objects = 1 if content.region is not None else 0
    ds.NumberOfAlarmObjects = (machine_objects if alarm else 0) + len(marks)
    ds.NumberOfTotalObjects = machine_objects + len(marks)
    if operator:
        ds.OperatorsName = content.officer or ""
    ref = Dataset()
    ref.ReferencedSOPClassUID = UID(content.referenced_sop_class)
    ref.ReferencedSOPInstanceUID = UID(content.referenced_sop_instance)
    ds.ReferencedInstanceSequence = DicomSequence([ref])
    ptos: list[Dataset] = []
    if content.region is not None:
        assess = Dataset()
        assess.ThreatCategory = "ANOMALY"
        assess.ThreatCategoryDescription = "; ".join(content.reasons)[:10240] or "anomaly in the scan"
        assess.ATDAbilityAssessment = "NO_INTERFERENCE"
        assess.ATDAssessmentFlag = "THREAT" if alarm else "NO_THREAT"
        assess.ATDAssessmentProbability = float(content.anomaly_score)
        ptos.append(_pto(len(ptos) + 1, assess, content.region, content.pixel_mm, ref))
    for mark in marks:
        assess = Dataset()
        assess.ThreatCategory = DICOS_THREAT_CATEGORY.get(mark.category, "OTHER")
        assess.ThreatCategoryDescription = OPERATOR_PTO + mark.category
        assess.ATDAbilityAssessment = "NO_INTERFERENCE"
        assess.ATDAssessmentFlag = "THREAT"
        ptos.append(_pto(len(ptos) + 1, assess, mark.box, content.pixel_mm, ref))
    ds.ThreatSequence = DicomSequence(ptos)
    return _encode(ds)


def _pto(number: int, assess: Dataset, b: Box, mm: float, ref: Dataset) -> Dataset:
    """A Threat Sequence item: the assessment and the box in the referenced image (pixels and mm)."""
    roi = Dataset()
    roi.ThreatROIBase = [float(b.left), float(b.top), 0.0]
    roi.ThreatROIExtents = [float(b.width), float(b.height), 1.0]
    rep = Dataset()
    rep.ReferencedInstanceSequence = DicomSequence([ref])
    rep.ThreatROIVoxelSequence = DicomSequence([roi])
    rep.BoundingPolygon = [b.left * mm, b.top * mm, 0.0, (b.left + b.width) * mm, (b.top + b.height) * mm, 0.0]
    pto = Dataset()
    pto.PotentialThreatObjectID = number
    pto.ATDAssessmentSequence = DicomSequence([assess])
    pto.PTORepresentationSequence = DicomSequence([rep])
    return pto


def read_tdr(data: bytes) -> dict:
    """The main fields of a TDR as :func:`write_tdr` writes them (alarm, type, referenced image, objects)."""
    try:
        ds = dcmread(io.BytesIO(data))
    except (InvalidDicomError, EOFError, ValueError, KeyError, TypeError) as exc:
        raise ImageRefused(f"not a readable DICOS file: {exc}") from None
    if str(ds.get("SOPClassUID", "")) != DICOS_TDR:
        raise ImageRefused(f"SOP class {ds.get('SOPClassUID')} is not a DICOS TDR", field="SOPClassUID")
    out: dict = {"tdr_type": str(ds.get("TDRType", "")), "alarm": str(ds.get("AlarmDecision", "")),
                 "algorithm": str(ds.get("ThreatDetectionAlgorithmAndVersion", "")),
                 "referenced": str(ds.ReferencedInstanceSequence[0].ReferencedSOPInstanceUID),
                 "operator": str(ds.get("OperatorsName", "")) or None, "objects": []}
    for pto in ds.get("ThreatSequence", []):
        a = pto.ATDAssessmentSequence[0]
        roi = pto.PTORepresentationSequence[0].ThreatROIVoxelSequence[0]
        base, ext = roi.ThreatROIBase, roi.ThreatROIExtents
        description = str(a.get("ThreatCategoryDescription", ""))
        operator = description.startswith(OPERATOR_PTO) and "ATDAssessmentProbability" not in a
        probability = a.get("ATDAssessmentProbability")
        out["objects"].append({
            "id": int(pto.PotentialThreatObjectID), "category": str(a.ThreatCategory),
            "flag": str(a.ATDAssessmentFlag), "probability": None if probability is None else float(probability),
            "box": Box(int(base[1]), int(base[0]), int(ext[1]), int(ext[0])), "description": description,
            "source": "operator" if operator else "machine",
            "marked_as": description[len(OPERATOR_PTO):] if operator else None})
    return out


def _encode(ds: Dataset) -> bytes:
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()
