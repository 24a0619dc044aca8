"""DICOM over TLS with mutual authentication for the C-STORE receiver (SQLite and PostgreSQL): a real pynetdicom
SCU on loopback with certificates and CRLs made here (``cryptography``): our CA's certificate naming the scanner
stores a scan; no client certificate, another CA's certificate, a plaintext association, our CA's certificate of
another scanner, a revoked certificate, or any certificate while the CRL is stale store nothing. Changed TLS
files are picked up without a restart (open associations go on; broken files keep the old ones), also on
SIGHUP. The TLS settings are checked before listening."""

from __future__ import annotations

import ipaddress
import logging
import os
import signal
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pydicom
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import AE
from sqlalchemy import func, select

from smartcustoms.core.config import ScannerAE, Settings
from smartcustoms.core.errors import ValidationProblem
from smartcustoms.inspection.images import dicos, scp, scp_tls
from smartcustoms.inspection.images.models import ScanImageRecord
from tests.inspection.images.test_scp import declaration, scan  # noqa: F401 - the fixture is used by name
from tests.inspection.images.test_scp import receiver as plain_receiver
from tests.inspection.images.test_scp import send as plain_send

NOW = datetime.now(UTC)


@dataclass
class Issued:
    """A key and certificate (PEM files) and the certificate's serial number."""

    cert: Path
    key: Path
    serial: int = 0


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Test customs"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _write(folder: Path, stem: str, key: ec.EllipticCurvePrivateKey, cert: x509.Certificate) -> Issued:
    (folder / f"{stem}.key").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                           serialization.PrivateFormat.PKCS8,
                                                           serialization.NoEncryption()))
    (folder / f"{stem}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return Issued(folder / f"{stem}.pem", folder / f"{stem}.key", cert.serial_number)


def replace(path: Path, data: bytes) -> Path:
    """Write ``path`` as an operator should: a new file renamed over the old one."""
    path.with_name(f".{path.name}.new").write_bytes(data)
    os.replace(path.with_name(f".{path.name}.new"), path)
    return path


class CA:
    """A test certificate authority issuing server and client certificates into ``folder``."""

    def __init__(self, folder: Path, cn: str) -> None:
        self.folder, self.key = folder, ec.generate_private_key(ec.SECP256R1())
        self.name = _name(cn)
        self.cert = (x509.CertificateBuilder().subject_name(self.name).issuer_name(self.name)
                     .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                     .not_valid_before(NOW - timedelta(hours=1)).not_valid_after(NOW + timedelta(days=1))
                     .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                     .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                                    critical=True)
                     .sign(self.key, hashes.SHA256()))
        self.pem = _write(folder, cn.replace(" ", "_"), self.key, self.cert).cert

    def issue(self, cn: str, *, server: bool = False, tag: str = "") -> Issued:
        """A certificate naming ``cn`` (``tag``: a second one of the same name gets its own files)."""
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(self.name)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(NOW - timedelta(hours=1)).not_valid_after(NOW + timedelta(days=1))
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                   .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH if server
                                                         else ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False))
        if server:
            builder = builder.add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        issuer = str(self.name.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value).replace(" ", "_")
        return _write(self.folder, f"{issuer}-{cn}-{'server' if server else 'client'}{tag}", key,
                      builder.sign(self.key, hashes.SHA256()))

    def crl(self, path: Path, revoked: list[Issued], *, next_update: datetime | None = None,
            der: bool = False) -> Path:
        """A CRL of this CA revoking ``revoked``, written to ``path`` (PEM, or DER)."""
        builder = (x509.CertificateRevocationListBuilder().issuer_name(self.name)
                   .last_update(NOW - timedelta(hours=1)).next_update(next_update or NOW + timedelta(days=1)))
        for issued in revoked:
            builder = builder.add_revoked_certificate(x509.RevokedCertificateBuilder().serial_number(issued.serial)
                                                      .revocation_date(NOW - timedelta(minutes=30)).build())
        encoding = serialization.Encoding.DER if der else serialization.Encoding.PEM
        return replace(path, builder.sign(self.key, hashes.SHA256()).public_bytes(encoding))


@dataclass
class Pki:
    ca: CA
    server: Issued
    scanner: Issued  # our CA, CN PORT1XR
    other_scanner: Issued  # our CA, CN OTHERXR (registered, another office)
    foreign: Issued  # another CA, CN PORT1XR
    revoked: Issued  # our CA, CN PORT1XR: the scanner's earlier certificate, revoked by the CRLs below
    rogue: CA  # the other CA


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Pki:
    folder = tmp_path_factory.mktemp("pki")
    ca, rogue = CA(folder, "Customs scanner CA"), CA(folder, "Someone else's CA")
    return Pki(ca, ca.issue("smartcustoms", server=True), ca.issue("PORT1XR"), ca.issue("OTHERXR"),
               rogue.issue("PORT1XR"), ca.issue("PORT1XR", tag="-stolen"), rogue)


def tls_settings(world, pki: Pki, scanners: dict[str, ScannerAE], **extra: object) -> Settings:
    """The receiver's settings with our CA's server certificate (``extra`` sets or replaces any)."""
    values: dict[str, object] = {"images_scp_tls_certificate": pki.server.cert, "images_scp_tls_key": pki.server.key,
                                 "images_scp_tls_ca": pki.ca.pem, **extra}
    return Settings(data_dir=world.platform.settings.data_dir, images_scp_scanners=scanners,
                    **values)  # type: ignore[arg-type]


def receiver(world, settings: Settings):
    """The SCP with ``settings`` on a free loopback port (its number)."""
    return plain_receiver(world, settings.images_scp_scanners, settings)


def client_tls(pki: Pki, issued: Issued | None) -> tuple[ssl.SSLContext, str]:
    """The scanner's TLS: it checks our certificate against the CA and shows ``issued`` (None: no certificate)."""
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(pki.ca.pem))
    if issued is not None:
        ctx.load_cert_chain(str(issued.cert), str(issued.key))
    return ctx, "localhost"


def send(port: int, ds: pydicom.Dataset, tls: tuple[ssl.SSLContext, str] | None, calling: str = "PORT1XR"):
    """C-STORE ``ds`` (over TLS with ``tls``): (associated, status code or None)."""
    return plain_send(port, ds, calling=calling, tls=tls)


def stored(world) -> int:
    with world.platform.sessions() as s:
        return int(s.scalar(select(func.count()).select_from(ScanImageRecord)))


@pytest.mark.filterwarnings("ignore:The value length \\(18\\) exceeds:UserWarning")  # SH holds 16: see docs
def test_a_scanner_with_its_certificate_stores_over_tls_and_nothing_else_gets_in(world, declaration, pki):  # noqa: F811
    no, office = declaration
    other = "0100" if office != "0100" else "0200"
    scanners = {"PORT1XR": ScannerAE(offices=[office]), "OTHERXR": ScannerAE(offices=[other])}
    with receiver(world, tls_settings(world, pki, scanners)) as port:
        assert send(port, scan(no), None) == (False, None)  # plaintext: refused
        assert send(port, scan(no), client_tls(pki, None)) == (False, None)  # no client certificate
        assert send(port, scan(no), client_tls(pki, pki.foreign)) == (False, None)  # another CA's certificate
        assert stored(world) == 0
        ok, (status, comment) = send(port, scan(no), client_tls(pki, pki.other_scanner))  # our CA, other scanner
        assert ok and (status, comment) == (scp.CANNOT_UNDERSTAND, "client certificate does not name this scanner")
        assert stored(world) == 0
        with socket.create_connection(("127.0.0.1", port)):  # a connection that stays silent holds up no one
            ok, (status, _) = send(port, scan(no), client_tls(pki, pki.scanner))
        assert ok and status == scp.SUCCESS
    assert stored(world) == 1
    with world.platform.sessions() as s:
        image_id = s.scalar(select(ScanImageRecord.id))
    got = world.platform.images.get(world.principals["officer"], image_id)
    assert got.uploaded_by == "scanner:PORT1XR" and got.subject_id == no


@pytest.mark.filterwarnings("ignore:The value length \\(18\\) exceeds:UserWarning")
def test_the_certificate_name_can_differ_from_the_ae_title(world, declaration, pki):  # noqa: F811
    no, office = declaration
    scanners = {"PORT2XR": ScannerAE(offices=[office], certificate_cn="PORT1XR")}
    with receiver(world, tls_settings(world, pki, scanners)) as port:
        ok, (status, _) = send(port, scan(no), client_tls(pki, pki.scanner), calling="PORT2XR")
    assert ok and status == scp.SUCCESS


def test_the_tls_settings_are_checked_before_listening(world, pki, tmp_path):
    scanners = {"PORT1XR": ScannerAE(offices=["2201"])}
    base = Settings(data_dir=tmp_path, images_scp_scanners=scanners)
    assert scp_tls.tls_context(base) is None  # TLS is optional unless required
    with pytest.raises(ValidationProblem) as e:
        scp.ScanReceiver(world.platform.images, base.model_copy(update={"images_scp_require_tls": True}))
    assert {x.field for x in e.value.errors} == {"images_scp_tls_certificate", "images_scp_tls_key",
                                                 "images_scp_tls_ca"}
    with pytest.raises(ValidationProblem) as e:  # the three go together
        scp_tls.tls_context(base.model_copy(update={"images_scp_tls_certificate": pki.server.cert}))
    assert {x.field for x in e.value.errors} == {"images_scp_tls_key", "images_scp_tls_ca"}
    good = tls_settings(world, pki, scanners)
    with pytest.raises(ValidationProblem) as e:
        scp_tls.tls_context(good.model_copy(update={"images_scp_tls_ca": tmp_path / "no"}))
    assert [x.field for x in e.value.errors] == ["images_scp_tls_ca"]
    with pytest.raises(ValidationProblem) as e:  # a key that is not the certificate's
        scp_tls.tls_context(good.model_copy(update={"images_scp_tls_key": pki.scanner.key}))
    assert [x.field for x in e.value.errors] == ["images_scp_tls_certificate"]
    with pytest.raises(ValidationProblem) as e:
        scp.scanners_from({"PORT1XR": ScannerAE(offices=["2201"], certificate_cn=" ")})
    assert [x.field for x in e.value.errors] == ["images_scp_scanners.PORT1XR.certificate_cn"]
    ctx = scp_tls.tls_context(tls_settings(world, pki, scanners))
    assert ctx is not None and ctx.verify_mode == ssl.CERT_REQUIRED and ctx.minimum_version >= ssl.TLSVersion.TLSv1_2


def wait_for(condition: Callable[[], bool], seconds: float = 10.0) -> bool:
    """Whether ``condition`` holds within ``seconds`` (the receiver logs from its own threads)."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def server_certificate(port: int, pki: Pki) -> bytes:
    """The certificate (DER) the receiver shows a scanner now."""
    ctx, host = client_tls(pki, pki.scanner)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, \
            ctx.wrap_socket(raw, server_hostname=host) as tls:
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return der


def der(issued: Issued) -> bytes:
    return x509.load_pem_x509_certificate(issued.cert.read_bytes()).public_bytes(serialization.Encoding.DER)


@pytest.mark.filterwarnings("ignore:The value length \\(18\\) exceeds:UserWarning")
def test_a_revoked_certificate_fails_the_handshake_and_a_good_one_stores(world, declaration, pki, tmp_path,  # noqa: F811
                                                                         caplog):
    no, office = declaration
    crl = pki.ca.crl(tmp_path / "scanner-ca.crl", [pki.revoked], der=True)  # DER, as CAs often publish
    settings = tls_settings(world, pki, {"PORT1XR": ScannerAE(offices=[office])}, images_scp_tls_crl=crl)
    caplog.set_level(logging.INFO, logger="smartcustoms.inspection.images.scp_tls")
    with receiver(world, settings) as port:
        assert send(port, scan(no), client_tls(pki, pki.revoked)) == (False, None)  # same name, but revoked
        assert wait_for(lambda: "refused: certificate revoked" in caplog.text)
        ok, (status, _) = send(port, scan(no), client_tls(pki, pki.scanner))
        assert ok and status == scp.SUCCESS
        assert send(port, scan(no), client_tls(pki, pki.foreign)) == (False, None)  # still only our CA
    assert stored(world) == 1
    assert "CRL of CN=Customs scanner CA,O=Test customs: 1 revoked" in caplog.text  # the start-up line


def test_a_stale_crl_or_an_issuer_without_one_refuses_every_scanner(world, pki, tmp_path, caplog):
    scanners = {"PORT1XR": ScannerAE(offices=["2201"])}
    caplog.set_level(logging.INFO, logger="smartcustoms.inspection.images.scp_tls")
    stale = pki.ca.crl(tmp_path / "stale.pem", [], next_update=NOW - timedelta(minutes=1))
    with receiver(world, tls_settings(world, pki, scanners, images_scp_tls_crl=stale)) as port:  # starts, and says
        assert "is past its next update" in caplog.text and "every scanner certificate it issued is refused" \
            in caplog.text
        assert send(port, scan("x"), client_tls(pki, pki.scanner)) == (False, None)  # fail closed
        assert wait_for(lambda: "refused: CRL has expired (every scanner of that CA is refused" in caplog.text)
    bundle = replace(tmp_path / "bundle.pem", pki.ca.pem.read_bytes() + pki.rogue.pem.read_bytes())
    folder = tmp_path / "crls"
    folder.mkdir()
    pki.rogue.crl(folder / "rogue.crl", [])  # a CRL for the other CA only
    settings = tls_settings(world, pki, scanners, images_scp_tls_ca=bundle, images_scp_tls_crl=folder)
    with receiver(world, settings) as port:
        assert send(port, scan("x"), client_tls(pki, pki.scanner)) == (False, None)  # no CRL of its issuer
        assert wait_for(lambda: "refused: unable to get certificate CRL" in caplog.text)


def test_the_crl_settings_are_checked_before_listening(pki, tmp_path):
    base = Settings(data_dir=tmp_path, images_scp_scanners={"PORT1XR": ScannerAE(offices=["2201"])},
                    images_scp_tls_certificate=pki.server.cert, images_scp_tls_key=pki.server.key,
                    images_scp_tls_ca=pki.ca.pem)
    (tmp_path / "empty").mkdir()
    (tmp_path / "two").mkdir()
    pki.ca.crl(tmp_path / "two" / "a.crl", [])
    pki.ca.crl(tmp_path / "two" / "b.crl", [pki.revoked])
    wrong = {
        "not a CRL": replace(tmp_path / "cert.crl", pki.server.cert.read_bytes()),
        "not signed by a CA of images_scp_tls_ca": pki.rogue.crl(tmp_path / "rogue.crl", []),
        "holds no CRL": tmp_path / "empty",
        "two CRLs of": tmp_path / "two",
        "cannot read": tmp_path / "missing.crl"}
    for reason, path in wrong.items():
        with pytest.raises(ValidationProblem) as e:
            scp_tls.tls_context(base.model_copy(update={"images_scp_tls_crl": path}))
        assert [x.field for x in e.value.errors] == ["images_scp_tls_crl"] and reason in e.value.errors[0].message
    with pytest.raises(ValidationProblem) as e:  # a CRL without TLS
        scp_tls.tls_context(Settings(data_dir=tmp_path, images_scp_tls_crl=tmp_path / "two" / "a.crl"))
    assert [x.field for x in e.value.errors] == ["images_scp_tls_crl"]
    with pytest.raises(ValidationProblem) as e:
        scp_tls.tls_context(base.model_copy(update={"images_scp_tls_reload_seconds": -1}))
    assert [x.field for x in e.value.errors] == ["images_scp_tls_reload_seconds"]
    pem = pki.ca.crl(tmp_path / "ok.pem", [pki.revoked])
    ctx = scp_tls.tls_context(base.model_copy(update={"images_scp_tls_crl": pem}))
    assert ctx is not None and ctx.verify_flags & ssl.VERIFY_CRL_CHECK_LEAF and ctx.cert_store_stats()["crl"] == 1
    assert [(c.revoked, c.expired()) for c in ctx.crls] == [(1, False)]


@pytest.mark.filterwarnings("ignore:The value length \\(18\\) exceeds:UserWarning")
def test_changed_tls_files_are_loaded_without_a_restart_or_dropping_associations(world, declaration, pki,  # noqa: F811
                                                                                 tmp_path, caplog):
    no, office = declaration
    live = tmp_path / "live"
    live.mkdir()
    cert = replace(live / "scp.pem", pki.server.cert.read_bytes())
    key = replace(live / "scp.key", pki.server.key.read_bytes())
    crl = pki.ca.crl(live / "scanner-ca.crl", [])  # nothing revoked yet
    settings = tls_settings(world, pki, {"PORT1XR": ScannerAE(offices=[office])}, images_scp_tls_certificate=cert,
                            images_scp_tls_key=key, images_scp_tls_crl=crl, images_scp_tls_reload_seconds=0)
    caplog.set_level(logging.INFO, logger="smartcustoms.inspection.images.scp_tls")
    with receiver(world, settings) as port:
        assert send(port, scan(no), client_tls(pki, pki.revoked))[1][0] == scp.SUCCESS  # not revoked yet
        assert server_certificate(port, pki) == der(pki.server)
        ae = AE(ae_title="PORT1XR")  # an association that stays open meanwhile
        ae.add_requested_context(dicos.DICOS_DX_PRESENTATION, [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
        ctx, host = client_tls(pki, pki.scanner)
        open_assoc = ae.associate("127.0.0.1", port, ae_title="SMARTCUSTOMS", tls_args=(ctx, host))
        assert open_assoc.is_established
        try:
            renewed = pki.ca.issue("smartcustoms", server=True, tag="-renewed")
            replace(cert, renewed.cert.read_bytes())
            replace(key, renewed.key.read_bytes())
            pki.ca.crl(crl, [pki.revoked])  # the stolen certificate revoked
            assert send(port, scan(no), client_tls(pki, pki.revoked)) == (False, None)
            assert server_certificate(port, pki) == der(renewed)
            assert "TLS reloaded" in caplog.text
            replace(crl, b"-----BEGIN X509 CRL-----\nhalf written")  # a broken file: the loaded ones stay
            assert send(port, scan(no), client_tls(pki, pki.revoked)) == (False, None)
            assert send(port, scan(no), client_tls(pki, pki.scanner))[1][0] == scp.SUCCESS
            assert "TLS files changed but cannot be used; the previous ones stay in use: images_scp_tls_crl" \
                in caplog.text
            assert int(open_assoc.send_c_store(scan(no)).Status) == scp.SUCCESS  # opened before: goes on
        finally:
            open_assoc.release()
    assert stored(world) == 3


def test_sighup_reloads_the_tls_files_at_once(pki, tmp_path):
    crl = pki.ca.crl(tmp_path / "scanner-ca.crl", [])
    settings = Settings(data_dir=tmp_path, images_scp_tls_certificate=pki.server.cert,
                        images_scp_tls_key=pki.server.key, images_scp_tls_ca=pki.ca.pem, images_scp_tls_crl=crl)
    tls = scp_tls.ScannerTLS.from_settings(settings)
    assert tls is not None and tls.every == 60 and [c.revoked for c in tls.context.crls] == [0]
    pki.ca.crl(crl, [pki.revoked])
    assert not tls.check()  # looked at no more than once a minute
    previous = scp_tls.reload_on_sighup(tls)
    try:
        os.kill(os.getpid(), signal.SIGHUP)
        assert wait_for(lambda: [c.revoked for c in tls.context.crls] == [1])
    finally:
        signal.signal(signal.SIGHUP, previous)
