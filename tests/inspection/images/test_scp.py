"""DICOM network intake (SQLite and PostgreSQL): a real pynetdicom SCU sends a synthetic DICOS DX scan to the
Storage SCP on a free loopback port; registered scanners' scans go through the upload path, anything else is
refused with the right DICOM status or association rejection."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pydicom
import pytest
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import AE
from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]
from sqlalchemy import func, select

from smartcustoms.audit.service import entries
from smartcustoms.core.config import ScannerAE, Settings
from smartcustoms.core.errors import ValidationProblem
from smartcustoms.declarations.lifecycle import Lane
from smartcustoms.declarations.service import LaneDecision
from smartcustoms.inspection.images import dicos, scp
from smartcustoms.inspection.images.models import ScanImageRecord
from smartcustoms.inspection.images.schemas import DeclaredGoods
from smartcustoms.simulate.scans import render_scan
from tests.support import lodge


class RedLane:
    """Holds every declaration on the red lane."""

    def decide(self, session, batch):
        return [LaneDecision(Lane.RED, 0.9, ["test rule"], "rule") for _ in batch]


def scan(subject: str | None, attribute: str = "AccessionNumber") -> pydicom.Dataset:
    """A synthetic dual-energy container scan as a DICOS DX data set naming ``subject`` in ``attribute``."""
    goods = [DeclaredGoods("6907220000", "Glazed ceramic wall tiles", gross_kg=21000)]
    data, _ = dicos.write_dx(render_scan(goods, seed=4, concealment="dense_in_light", size=(64, 128)).image, "scp")
    ds = pydicom.dcmread(pydicom.filebase.DicomBytesIO(data))
    if subject is not None:
        setattr(ds, attribute, subject)
    return ds


@contextmanager
def receiver(world, scanners: dict[str, ScannerAE], settings: Settings | None = None) -> Iterator[int]:
    """The SCP on a free loopback port (its number), with ``scanners`` or the whole ``settings``."""
    settings = settings or Settings(data_dir=world.platform.settings.data_dir, images_scp_scanners=scanners)
    server = scp.ScanReceiver(world.platform.images, settings).start("127.0.0.1", 0)
    assert server is not None
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()


def send(port: int, ds: pydicom.Dataset, calling: str = "PORT1XR", called: str = "SMARTCUSTOMS", tls=None):
    """C-STORE ``ds`` from ``calling`` (over TLS with ``tls``, pynetdicom's ``tls_args``): (associated, status
    code or None)."""
    ae = AE(ae_title=calling)
    ae.acse_timeout = ae.network_timeout = ae.connection_timeout = 10  # (connect and TLS handshake)
    ae.add_requested_context(dicos.DICOS_DX_PRESENTATION, [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
    ae.add_requested_context(Verification)
    assoc = ae.associate("127.0.0.1", port, ae_title=called, tls_args=tls)
    if not assoc.is_established:
        return False, None
    try:
        status = assoc.send_c_store(ds)
        return True, (int(status.Status), str(status.get("ErrorComment", ""))) if status else None
    finally:
        assoc.release()


@pytest.fixture
def declaration(client, world) -> tuple[str, str]:
    """A held declaration's number and office."""
    world.platform.set_selectivity(RedLane())
    world.platform.images.tip_share = 0.0
    r = lodge(client, world)
    assert r.status_code == 201, r.text
    no = r.json()["declaration_no"]
    subject = world.platform.images.resolvers["declaration"].resolve(world.principals["officer"], no)
    return no, subject.office


@pytest.mark.filterwarnings("ignore:The value length \\(18\\) exceeds:UserWarning")  # SH holds 16: see docs
def test_a_registered_scanners_scan_is_stored_assessed_and_queued(world, declaration):
    no, office = declaration
    with receiver(world, {"PORT1XR": ScannerAE(offices=[office])}) as port:
        ok, (status, _) = send(port, scan(no))
    assert ok and status == scp.SUCCESS
    images = world.platform.images
    officer = world.principals["officer"]
    with world.platform.sessions() as s:
        row = s.scalars(select(ScanImageRecord).where(ScanImageRecord.subject_id == no)).one()
        audit = entries(s, "image", str(row.id))
    got = images.get(officer, row.id)
    assert (got.subject_kind, got.source_format, got.width, got.height, got.dual_energy) == \
        ("declaration", "dicos", 128, 64, True)
    assert got.uploaded_by == "scanner:PORT1XR" and len(got.sha256) == 64
    assert [e.actor for e in audit if e.action == "image.upload"] == ["scanner:PORT1XR"]
    if got.assessment is None or got.assessment.routed == "review":  # the same routing as an HTTP upload
        assert row.id in [j.image_id for j in images.queue(officer)]


@pytest.mark.filterwarnings("ignore:The value length \\(18\\) exceeds:UserWarning")
def test_refusals_get_the_right_status(world, declaration):
    no, office = declaration
    other = "0100" if office != "0100" else "0200"
    scanners = {"PORT1XR": ScannerAE(offices=[office]), "OTHERXR": ScannerAE(offices=[other]),
                "OOIXR": ScannerAE(offices=[office], subject_attribute="PatientID")}
    with receiver(world, scanners) as port:
        assert send(port, scan(no), calling="INTRUDER") == (False, None)  # unknown AE: association rejected
        assert send(port, scan(no), called="SOMEONE") == (False, None)  # not called by our title
        ok, (status, comment) = send(port, scan("222020269999999999"))
        assert ok and status == scp.CANNOT_UNDERSTAND and comment.startswith("subject_id")  # no such subject
        assert send(port, scan(None))[1][0] == scp.CANNOT_UNDERSTAND  # the subject is not named
        assert send(port, scan(no), calling="OTHERXR")[1] == (
            scp.CANNOT_UNDERSTAND, "declaration not of this scanner's offices")  # another office's scanner
        assert send(port, scan(no, "PatientID"), calling="OOIXR")[1][0] == scp.SUCCESS  # DICOS OOI ID
        limit = world.platform.images.max_bytes
        world.platform.images.max_bytes = 4000
        try:
            assert send(port, scan(no))[1][0] == scp.OUT_OF_RESOURCES  # over the size limit
        finally:
            world.platform.images.max_bytes = limit
    with world.platform.sessions() as s:
        assert s.scalar(select(func.count()).select_from(ScanImageRecord)) == 1  # only the OOI ID one


def test_the_registration_is_checked_before_listening(world):
    settings = Settings(data_dir=world.platform.settings.data_dir)
    with pytest.raises(ValidationProblem) as none:
        scp.ScanReceiver(world.platform.images, settings)  # no scanner: pynetdicom would accept any AE
    assert [e.field for e in none.value.errors] == ["images_scp_scanners"]
    bad = Settings(data_dir=settings.data_dir, images_scp_scanners={
        "BAD\\AE": ScannerAE(offices=["2201"]), "X": ScannerAE(offices=["22"], subject_kind="box",
                                                              subject_attribute="StationName")})
    with pytest.raises(ValidationProblem) as wrong:
        scp.ScanReceiver(world.platform.images, bad)
    assert sorted(e.field for e in wrong.value.errors) == [
        "images_scp_scanners.BAD\\AE", "images_scp_scanners.X.offices", "images_scp_scanners.X.subject_attribute",
        "images_scp_scanners.X.subject_kind"]
