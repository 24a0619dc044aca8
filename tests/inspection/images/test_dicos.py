"""DICOS in and out: DX round trips (one and two energies), the TDR, PNG/TIFF input, refused files."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.encaps import encapsulate
from pydicom.uid import JPEGBaseline8Bit

from smartcustoms.inspection.images import dicos
from smartcustoms.inspection.images.schemas import Box, ScanImage


def _scan(h: int = 48, w: int = 80, seed: int = 0, dual: bool = True) -> ScanImage:
    rng = np.random.default_rng(seed)
    high = rng.uniform(0.05, 1.0, (h, w)).astype(np.float32)
    low = (high ** 1.4).astype(np.float32) if dual else high
    return ScanImage(high, low, pixel_mm=4.5)


def test_a_dual_energy_dx_round_trips_pixels_and_attributes():
    image = _scan()
    data, uid = dicos.write_dx(image, "declaration:222020261000000017")
    ds = pydicom.dcmread(io.BytesIO(data))
    assert ds.SOPClassUID == dicos.DICOS_DX_PRESENTATION == "1.2.840.10008.5.1.4.1.1.501.2.1"
    assert ds.SOPClassUID.name == "DICOS Digital X-Ray Image Storage - For Presentation"  # pydicom's UID registry
    assert ds.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
    assert (ds.Modality, ds.Rows, ds.Columns, int(ds.NumberOfFrames), ds.BitsStored) == ("DX", 48, 80, 2, 16)
    assert ds.PatientID == "declaration:222020261000000017" and ds.OOIType == "CARGO"
    read = dicos.read_scan(data)
    assert read.source_format == "dicos" and read.sop_instance_uid == uid and read.image.dual_energy
    assert read.image.pixel_mm == pytest.approx(4.5) and read.image.modality == "DX"
    # 16-bit quantisation: within half a step; written again, the same 16-bit values exactly
    assert np.abs(read.image.high - image.high).max() <= 0.5 / 65535 + 1e-7
    assert np.abs(read.image.low - image.low).max() <= 0.5 / 65535 + 1e-7
    again, _ = dicos.write_dx(read.image, "x")
    assert pydicom.dcmread(io.BytesIO(again)).PixelData == ds.PixelData


def test_a_single_energy_dx_has_one_frame_and_reads_low_as_high():
    data, _ = dicos.write_dx(_scan(dual=False), "parcel:SF1234567890", for_processing=True)
    ds = pydicom.dcmread(io.BytesIO(data))
    assert ds.SOPClassUID == dicos.DICOS_DX_PROCESSING and int(ds.NumberOfFrames) == 1
    read = dicos.read_scan(data)
    assert not read.image.dual_energy and np.array_equal(read.image.high, read.image.low)


def test_two_single_energy_files_make_one_dual_energy_scan():
    image = _scan()
    high, _ = dicos.write_dx(ScanImage(image.high, image.high, 4.5), "a")
    low, _ = dicos.write_dx(ScanImage(image.low, image.low, 4.5), "a")
    read = dicos.read_dual(high, low)
    assert read.image.dual_energy
    assert np.abs(read.image.low - image.low).max() < 1e-4
    small, _ = dicos.write_dx(_scan(10, 10, dual=False), "a")
    with pytest.raises(dicos.ImageRefused) as e:
        dicos.read_dual(high, small)
    assert e.value.errors[0].field == "low_energy_file"


def test_the_tdr_carries_alarm_score_region_and_the_officers_verdict():
    image = _scan()
    _, uid = dicos.write_dx(image, "declaration:1")
    content = dicos.TdrContent(uid, dicos.DICOS_DX_PRESENTATION, "declaration:1", 0.83, True, Box(5, 7, 20, 30),
                               4.5, "cnn 2026.12", reasons=["mean density 2.7 g/cm3 where 0.5 is predicted"])
    data = dicos.write_tdr(content)
    ds = pydicom.dcmread(io.BytesIO(data))
    assert ds.SOPClassUID == dicos.DICOS_TDR == "1.2.840.10008.5.1.4.1.1.501.3" and ds.Modality == "TDR"
    got = dicos.read_tdr(data)
    assert (got["tdr_type"], got["alarm"], got["referenced"], got["operator"]) == ("MACHINE", "ALARM", uid, None)
    (pto,) = got["objects"]
    assert pto["box"] == Box(5, 7, 20, 30) and pto["probability"] == pytest.approx(0.83, abs=1e-6)
    assert pto["flag"] == "THREAT" and "2.7 g/cm3" in pto["description"]
    assert list(ds.ThreatSequence[0].PTORepresentationSequence[0].BoundingPolygon) == pytest.approx(
        [7 * 4.5, 5 * 4.5, 0, 37 * 4.5, 25 * 4.5, 0])
    cleared = dicos.read_tdr(dicos.write_tdr(dicos.TdrContent(
        uid, dicos.DICOS_DX_PRESENTATION, "declaration:1", 0.83, True, Box(5, 7, 20, 30), 4.5, "cnn",
        officer="officer", officer_verdict="clear")))
    assert (cleared["tdr_type"], cleared["alarm"], cleared["operator"]) == ("OPERATOR", "CLEAR", "officer")
    assert cleared["objects"][0]["flag"] == "NO_THREAT"
    with pytest.raises(dicos.ImageRefused):  # a TDR is no image
        dicos.read_scan(data)


@pytest.mark.parametrize("fmt", ["PNG", "TIFF"])
def test_png_and_tiff_are_read_as_single_energy(fmt):
    gray = (np.arange(64 * 32).reshape(32, 64) % 256).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(gray, mode="L").save(buf, format=fmt)
    read = dicos.read_scan(buf.getvalue())
    assert read.source_format == fmt.lower() and read.image.shape == (32, 64) and not read.image.dual_energy
    assert np.allclose(read.image.high, gray / 255.0, atol=1e-6)


def test_a_16_bit_png_keeps_its_depth():
    values = np.linspace(0, 65535, 40 * 20).reshape(20, 40).astype(np.uint16)
    buf = io.BytesIO()
    Image.fromarray(values).save(buf, format="PNG")
    read = dicos.read_scan(buf.getvalue())
    assert np.allclose(read.image.high, values / 65535.0, atol=1e-6)


def _refused(data: bytes, field: str | None = "file", status: int = 422) -> str:
    with pytest.raises(dicos.ImageRefused) as e:
        dicos.read_scan(data)
    assert e.value.status == status and e.value.errors[0].field == (field or e.value.errors[0].field)
    return e.value.detail


def test_malformed_files_are_refused_naming_the_field():
    assert "not a DICOS" in _refused(b"hello, this is no scan" * 10)
    assert _refused(b"")
    good, _ = dicos.write_dx(_scan(), "x")
    _refused(good[:400], None)  # cut inside the header: whatever is missing first is named
    _refused(good[:-100], "PixelData")  # cut inside the pixels
    png = io.BytesIO()
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(png, format="PNG")
    _refused(png.getvalue()[:30])  # a truncated PNG
    ds = pydicom.dcmread(io.BytesIO(good))
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.4"  # MR image storage
    buf = io.BytesIO()
    ds.save_as(buf)
    _refused(buf.getvalue(), "SOPClassUID")
    ds = pydicom.dcmread(io.BytesIO(good))
    del ds.PixelData
    buf = io.BytesIO()
    ds.save_as(buf)
    _refused(buf.getvalue(), "PixelData")


def test_compressed_transfer_syntaxes_that_cannot_be_decoded_are_refused():
    ds = pydicom.dcmread(io.BytesIO(dicos.write_dx(_scan(), "x")[0]))
    ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    ds.PixelData = encapsulate([b"\xff\xd8\xff\xd9"])  # a JPEG frame's markers (never decoded: refused first)
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    assert "JPEG" in _refused(buf.getvalue(), "TransferSyntaxUID")


def test_rle_lossless_is_decoded():
    image = _scan(dual=False)
    ds = pydicom.dcmread(io.BytesIO(dicos.write_dx(image, "x")[0]))
    ds.compress(pydicom.uid.RLELossless)
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    read = dicos.read_scan(buf.getvalue())
    assert np.abs(read.image.high - image.high).max() <= 0.5 / 65535 + 1e-7


def test_oversized_files_and_images_are_refused():
    _refused(b"\0" * (dicos.MAX_FILE_BYTES + 1), status=413)
    big = io.BytesIO()
    Image.new("L", (dicos.MAX_SIDE + 1, 2)).save(big, format="PNG")
    assert "4096" in _refused(big.getvalue())
    ds = pydicom.dcmread(io.BytesIO(dicos.write_dx(_scan(), "x")[0]))
    ds.Rows = 5000  # a header that claims more than the limit is refused before any pixel is decoded
    buf = io.BytesIO()
    ds.save_as(buf)
    _refused(buf.getvalue(), "Rows")


def test_a_ct_volume_is_read_as_its_middle_slice():
    rng = np.random.default_rng(3)
    vol = rng.integers(0, 4000, (5, 16, 24)).astype(np.uint16)
    vol[2, 4:8, 4:8] = 4000  # dense block in the middle slice
    vol[2, 0, 0] = 0
    ds = pydicom.dcmread(io.BytesIO(dicos.write_dx(_scan(16, 24, dual=False), "x")[0]))
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = dicos.DICOS_CT
    ds.Modality = "CT"
    ds.NumberOfFrames = 5
    ds.PixelData = vol.tobytes()
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    read = dicos.read_scan(buf.getvalue())
    assert read.image.modality == "CT" and read.image.shape == (16, 24)
    assert np.allclose(read.image.high[4:8, 4:8], 0.0) and read.image.high[0, 0] == pytest.approx(1.0)


def test_real_files_from_another_producer_are_read_or_refused_by_name():
    """Files we did not write: pydicom's bundled test data (a CT slice from a real scanner; the same CT class
    compressed with JPEG 2000, which needs a plug-in not installed here)."""
    from pydicom.data import get_testdata_file

    ct = get_testdata_file("CT_small.dcm")
    j2k = get_testdata_file("693_J2KI.dcm")
    if ct is None or j2k is None:
        pytest.skip("pydicom's bundled test files are not installed")
    real = pydicom.dcmread(ct)
    read = dicos.read_scan(Path(ct).read_bytes())
    assert read.sop_class_uid == real.SOPClassUID == dicos.DICOM_CT[0]
    assert read.image.high.shape == (real.Rows, real.Columns)
    assert float(read.image.high.min()) >= 0.0 and float(read.image.high.max()) <= 1.0
    assert float(read.image.high.std()) > 0.05  # the slice's structure survives, not a flat image
    with pytest.raises(dicos.ImageRefused) as refused:
        dicos.read_scan(Path(j2k).read_bytes())
    assert refused.value.errors[0].field == "TransferSyntaxUID"
    assert "JPEG 2000" in refused.value.errors[0].message
