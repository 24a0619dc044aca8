"""DICOM over TLS with mutual authentication for the C-STORE receiver (SQLite and PostgreSQL): a real pynetdicom
SCU on loopback with certificates made here (``cryptography``): our CA's certificate naming the scanner stores
a scan; no client certificate, another CA's certificate, a plaintext association, or our CA's certificate of
another scanner store nothing. The TLS settings are checked before listening."""

from __future__ import annotations

import ipaddress
import socket
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pydicom
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from sqlalchemy import func, select

from smartcustoms.core.config import ScannerAE, Settings
from smartcustoms.core.errors import ValidationProblem
from smartcustoms.inspection.images import scp
from smartcustoms.inspection.images.models import ScanImageRecord
from tests.inspection.images.test_scp import declaration, scan  # noqa: F401 - the fixture is used by name
from tests.inspection.images.test_scp import receiver as plain_receiver
from tests.inspection.images.test_scp import send as plain_send

NOW = datetime.now(UTC)


@dataclass
class Issued:
    """A key and certificate (PEM files)."""

    cert: Path
    key: Path


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Test customs"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _write(folder: Path, stem: str, key: ec.EllipticCurvePrivateKey, cert: x509.Certificate) -> Issued:
    (folder / f"{stem}.key").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                           serialization.PrivateFormat.PKCS8,
                                                           serialization.NoEncryption()))
    (folder / f"{stem}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return Issued(folder / f"{stem}.pem", folder / f"{stem}.key")


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

    def issue(self, cn: str, *, server: bool = False) -> Issued:
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
        return _write(self.folder, f"{issuer}-{cn}-{'server' if server else 'client'}", key,
                      builder.sign(self.key, hashes.SHA256()))


@dataclass
class Pki:
    ca: CA
    server: Issued
    scanner: Issued  # our CA, CN PORT1XR
    other_scanner: Issued  # our CA, CN OTHERXR (registered, another office)
    foreign: Issued  # another CA, CN PORT1XR


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Pki:
    folder = tmp_path_factory.mktemp("pki")
    ca, rogue = CA(folder, "Customs scanner CA"), CA(folder, "Someone else's CA")
    return Pki(ca, ca.issue("smartcustoms", server=True), ca.issue("PORT1XR"), ca.issue("OTHERXR"),
               rogue.issue("PORT1XR"))


def tls_settings(world, pki: Pki, scanners: dict[str, ScannerAE], **extra: object) -> Settings:
    return Settings(data_dir=world.platform.settings.data_dir, images_scp_scanners=scanners,
                    images_scp_tls_certificate=pki.server.cert, images_scp_tls_key=pki.server.key,
                    images_scp_tls_ca=pki.ca.pem, **extra)  # type: ignore[arg-type]


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
    assert scp.tls_context(base) is None  # TLS is optional unless required
    with pytest.raises(ValidationProblem) as e:
        scp.ScanReceiver(world.platform.images, base.model_copy(update={"images_scp_require_tls": True}))
    assert {x.field for x in e.value.errors} == {"images_scp_tls_certificate", "images_scp_tls_key",
                                                 "images_scp_tls_ca"}
    with pytest.raises(ValidationProblem) as e:  # the three go together
        scp.tls_context(base.model_copy(update={"images_scp_tls_certificate": pki.server.cert}))
    assert {x.field for x in e.value.errors} == {"images_scp_tls_key", "images_scp_tls_ca"}
    with pytest.raises(ValidationProblem) as e:
        scp.tls_context(tls_settings(world, pki, scanners).model_copy(update={"images_scp_tls_ca": tmp_path / "no"}))
    assert [x.field for x in e.value.errors] == ["images_scp_tls_ca"]
    with pytest.raises(ValidationProblem) as e:  # a key that is not the certificate's
        scp.tls_context(tls_settings(world, pki, scanners).model_copy(update={"images_scp_tls_key": pki.scanner.key}))
    assert [x.field for x in e.value.errors] == ["images_scp_tls_certificate"]
    with pytest.raises(ValidationProblem) as e:
        scp.scanners_from({"PORT1XR": ScannerAE(offices=["2201"], certificate_cn=" ")})
    assert [x.field for x in e.value.errors] == ["images_scp_scanners.PORT1XR.certificate_cn"]
    ctx = scp.tls_context(tls_settings(world, pki, scanners))
    assert ctx is not None and ctx.verify_mode == ssl.CERT_REQUIRED and ctx.minimum_version >= ssl.TLSVersion.TLSv1_2
