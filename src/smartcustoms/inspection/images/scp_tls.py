"""The DICOM receiver's TLS (DICOM PS3.15 secure transport): the mutual-TLS context, revocation of scanners'
certificates by CRL, and reloading the certificate, key, CA bundle and CRLs without a restart.

The context (``tls_context``): TLS 1.2 or later, our certificate and key, a client certificate required and
checked against the CA bundle (``images_scp_tls_certificate``, ``_key``, ``_ca``). With ``images_scp_tls_crl``
(a PEM or DER CRL file, or a folder of them) OpenSSL also checks each client certificate against its issuer's
CRL (``VERIFY_CRL_CHECK_LEAF``) and fails closed: a revoked certificate, one whose issuer has no CRL here, and
every certificate of an issuer whose CRL is past its next update fail the handshake. Each refused handshake is
logged with OpenSSL's reason. A CRL is checked when read: PEM or DER, signed by a CA of the bundle, with a next
update, one per issuer; at start a CRL that is not is a ValidationProblem (the receiver does not start).

Reload (``ScannerTLS``): the files are looked at (``stat``) on the next association at most every
``images_scp_tls_reload_seconds``, and read at once on SIGHUP (``reload_on_sighup``). When one changed, a new
context is built and the associations that follow use it; open associations keep theirs. New files that do not
load (half written, a key that is not the certificate's, a CRL that is not one) leave the previous context in
use and are logged as an error, once, until the files change again.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import signal
import socket
import ssl
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from smartcustoms.core.config import Settings
from smartcustoms.core.errors import FieldError, ValidationProblem

log = logging.getLogger(__name__)

HANDSHAKE_SECONDS = 30.0  # a TLS connection's handshake and each read are bounded by this
_PEM_CRL = re.compile(rb"-----BEGIN X509 CRL-----.+?-----END X509 CRL-----", re.DOTALL)
#: what an OpenSSL verify result (X509_V_ERR_*) means for the operator, added to a refusal's log line
_HINTS = {3: "no CRL of the certificate's issuer in SMARTCUSTOMS_IMAGES_SCP_TLS_CRL: its scanners are refused",
          12: "every scanner of that CA is refused until a current CRL is put in SMARTCUSTOMS_IMAGES_SCP_TLS_CRL"}
_NOT_STARTED = "The DICOM receiver cannot start"
Signature = tuple[tuple[str, int, int, int], ...]


@dataclass(frozen=True)
class RevocationList:
    """A CRL as loaded: its issuer, when it is due to be replaced, how many certificates it revokes, its file."""

    issuer: str
    next_update: datetime
    revoked: int
    source: Path

    def expired(self, now: datetime | None = None) -> bool:
        """Past its next update: OpenSSL then refuses every certificate of its issuer."""
        return (now or datetime.now(UTC)) >= self.next_update


class _ScannerSocket(ssl.SSLSocket):
    """A scanner's connection: the handshake is done by the first read, in the association's thread, and a
    refused one is logged with its reason (pynetdicom only logs that the connection closed)."""

    _greeted = False  # the handshake was tried (once: pynetdicom may read again after a failure)

    def recv(self, buflen: int = 1024, flags: int = 0) -> bytes:
        if not self._greeted:
            self._greeted = True
            try:
                self.do_handshake()
            except OSError as exc:  # ssl.SSLError, a timeout, a reset
                _log_refused(self, exc)
                raise
        return super().recv(buflen, flags)


def _log_refused(sock: ssl.SSLSocket, exc: OSError) -> None:
    try:
        host, port = sock.getpeername()[:2]
        peer = f"{host}:{port}"
    except OSError:
        peer = "a client"
    if isinstance(exc, ssl.SSLCertVerificationError):
        hint = _HINTS.get(exc.verify_code)
        log.log(logging.ERROR if hint else logging.WARNING, "TLS handshake from %s refused: %s%s", peer,
                exc.verify_message, f" ({hint})" if hint else "")
    elif isinstance(exc, TimeoutError):
        log.warning("TLS handshake from %s not completed in %.0f s: connection dropped", peer, HANDSHAKE_SECONDS)
    else:
        log.warning("TLS handshake from %s failed: %s", peer, exc)


class _ScannerTLS(ssl.SSLContext):
    """The server's TLS context; pynetdicom wraps each accepted socket with it in its accept loop, so the handshake
    is left to the first read (in the association's thread) and bounded, not done there: a client that connects
    and stays silent cannot hold up other scanners."""

    sslsocket_class = _ScannerSocket
    crls: tuple[RevocationList, ...] = ()  # the CRLs it checks client certificates against
    summary = ""  # what it holds, for the log

    def wrap_socket(self, sock: socket.socket, server_side: bool = False, do_handshake_on_connect: bool = True,
                    suppress_ragged_eofs: bool = True, server_hostname: str | bytes | None = None,
                    session: ssl.SSLSession | None = None) -> ssl.SSLSocket:
        sock.settimeout(HANDSHAKE_SECONDS)
        return super().wrap_socket(sock, server_side=server_side, do_handshake_on_connect=False,
                                   suppress_ragged_eofs=suppress_ragged_eofs, server_hostname=server_hostname,
                                   session=session)


def tls_context(settings: Settings) -> _ScannerTLS | None:
    """The receiver's mutual-TLS context from the settings, or None when TLS is not configured (refused when
    ``images_scp_require_tls``); a ValidationProblem naming each missing or unreadable setting."""
    paths: dict[str, Path | None] = {"images_scp_tls_certificate": settings.images_scp_tls_certificate,
                                     "images_scp_tls_key": settings.images_scp_tls_key,
                                     "images_scp_tls_ca": settings.images_scp_tls_ca}
    crl_path = settings.images_scp_tls_crl
    given = {k: v for k, v in paths.items() if v is not None}
    if not given:
        if settings.images_scp_require_tls:
            raise ValidationProblem("TLS is required but not configured", [FieldError(
                k, "a PEM file: TLS is required (images_scp_require_tls)") for k in paths], title=_NOT_STARTED)
        if crl_path is not None:
            raise ValidationProblem("a CRL without TLS", [FieldError(
                "images_scp_tls_crl", "checks scanners' client certificates: set the TLS settings too")],
                title=_NOT_STARTED)
        return None
    errors = [FieldError(k, "a PEM file: the TLS settings go together (certificate, key, CA bundle)")
              for k, v in paths.items() if v is None]
    errors += [FieldError(k, f"cannot read {v}") for k, v in given.items() if not Path(v).is_file()]
    if crl_path is not None and not (crl_path.is_file() or crl_path.is_dir()):
        errors.append(FieldError("images_scp_tls_crl", f"cannot read {crl_path}: a CRL file or a folder of them"))
    if settings.images_scp_tls_reload_seconds < 0:
        errors.append(FieldError("images_scp_tls_reload_seconds", "0 or more seconds"))
    if errors:
        raise ValidationProblem("the DICOM receiver's TLS settings are not valid", errors, title=_NOT_STARTED)
    ctx = _ScannerTLS(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2  # BCP 195 profile of PS3.15: TLS 1.2 or later
    ctx.verify_mode = ssl.CERT_REQUIRED  # mutual authentication: no client certificate, no association
    try:
        ctx.load_cert_chain(str(settings.images_scp_tls_certificate), str(settings.images_scp_tls_key))
    except (ssl.SSLError, OSError) as exc:
        raise ValidationProblem("the DICOM receiver's certificate cannot be used", [FieldError(
            "images_scp_tls_certificate", f"certificate and key do not load together: {exc}")],
            title=_NOT_STARTED) from None
    try:
        ctx.load_verify_locations(cafile=str(settings.images_scp_tls_ca))
    except (ssl.SSLError, OSError) as exc:
        raise ValidationProblem("the scanners' CA bundle cannot be used", [FieldError(
            "images_scp_tls_ca", f"not a PEM CA bundle: {exc}")], title=_NOT_STARTED) from None
    try:  # the CAs again, to check CRLs' signatures with
        cas = x509.load_pem_x509_certificates(Path(str(settings.images_scp_tls_ca)).read_bytes())
    except (OSError, ValueError) as exc:
        if crl_path is not None:
            raise ValidationProblem("the scanners' CA bundle cannot be used", [FieldError(
                "images_scp_tls_ca", f"its certificates do not parse, the CRL cannot be checked: {exc}")],
                title=_NOT_STARTED) from None
        cas = []  # OpenSSL took them: without a CRL nothing more is needed
    if crl_path is not None:
        crls, ctx.crls = read_crls(crl_path, cas)
        with tempfile.NamedTemporaryFile("wb", suffix=".pem") as f:  # the bytes checked, not the file again
            f.write(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in crls))
            f.flush()
            try:
                ctx.load_verify_locations(cafile=f.name)  # a PEM file's CRLs go into the context's store
            except (ssl.SSLError, OSError) as exc:
                raise ValidationProblem("the scanners' CRL cannot be used", [FieldError(
                    "images_scp_tls_crl", f"OpenSSL does not load it: {exc}")], title=_NOT_STARTED) from None
        ctx.verify_flags |= ssl.VERIFY_CRL_CHECK_LEAF  # a scanner's certificate against its issuer's CRL
    ctx.summary = _summary(Path(str(settings.images_scp_tls_certificate)), cas, ctx.crls, crl_path is not None)
    return ctx


def read_crls(path: Path, cas: list[x509.Certificate]) -> tuple[list[x509.CertificateRevocationList],
                                                                 tuple[RevocationList, ...]]:
    """The CRLs in ``path`` (a PEM file with one or more, a DER file, or a folder of such files, hidden ones
    skipped), each checked: signed by a CA in ``cas``, with a next update, one per issuer; a ValidationProblem
    on ``images_scp_tls_crl`` else."""
    def problem(message: str) -> ValidationProblem:
        return ValidationProblem("the scanners' CRL cannot be used", [FieldError("images_scp_tls_crl", message)],
                                 title=_NOT_STARTED)

    try:
        files = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith(".")) \
            if path.is_dir() else [path]
    except OSError as exc:
        raise problem(f"cannot read {path}: {exc}") from None
    if not files:
        raise problem(f"{path} holds no CRL")
    crls: list[x509.CertificateRevocationList] = []
    loaded: dict[str, RevocationList] = {}
    for file in files:
        try:
            data = file.read_bytes()
        except OSError as exc:
            raise problem(f"cannot read {file}: {exc}") from None
        blocks = _PEM_CRL.findall(data)
        try:
            found = [x509.load_pem_x509_crl(b) for b in blocks] if blocks else [x509.load_der_x509_crl(data)]
        except ValueError:
            raise problem(f"{file} is not a CRL (PEM or DER)") from None
        for crl in found:
            issuer = crl.issuer.rfc4514_string()
            if not any(_signed_by(crl, ca) for ca in cas if ca.subject == crl.issuer):
                raise problem(f"{file}: the CRL of {issuer} is not signed by a CA of images_scp_tls_ca")
            if crl.next_update_utc is None:
                raise problem(f"{file}: the CRL of {issuer} has no next update (RFC 5280 requires one): "
                              "it could never be told stale")
            if issuer in loaded:
                raise problem(f"two CRLs of {issuer} ({loaded[issuer].source.name}, {file.name}): keep the "
                              "current one only")
            loaded[issuer] = RevocationList(issuer, crl.next_update_utc, len(list(crl)), file)
            crls.append(crl)
    return crls, tuple(loaded.values())


def _signed_by(crl: x509.CertificateRevocationList, ca: x509.Certificate) -> bool:
    try:
        return crl.is_signature_valid(ca.public_key())  # type: ignore[arg-type]  # a CA's key type signs
    except (TypeError, ValueError):  # a key type that cannot sign a CRL
        return False


def _summary(certificate: Path, cas: list[x509.Certificate], crls: tuple[RevocationList, ...],
             checked: bool) -> str:
    try:
        cert = x509.load_pem_x509_certificates(certificate.read_bytes())[0]
        ours = f"certificate {cert.subject.rfc4514_string()} serial {cert.serial_number:x} valid until " \
               f"{cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC"
    except (OSError, ValueError, IndexError):
        ours = f"certificate {certificate}"
    revocation = "; ".join(f"CRL of {c.issuer}: {c.revoked} revoked, next update {c.next_update:%Y-%m-%d %H:%M} "
                           f"UTC" for c in crls) if checked else "no CRL (revocation not checked)"
    return f"{ours}; {len(cas) or 'the'} CA certificate(s); {revocation}"


def _signature(settings: Settings) -> Signature:
    """What the TLS files look like now (inode, modification time, size): a change means a reload."""
    paths = [settings.images_scp_tls_certificate, settings.images_scp_tls_key, settings.images_scp_tls_ca]
    crl = settings.images_scp_tls_crl
    if crl is not None:
        paths.append(crl)
        if crl.is_dir():
            with contextlib.suppress(OSError):
                paths += sorted(Path(e.path) for e in os.scandir(crl))
    out = []
    for path in paths:
        try:
            st = os.stat(str(path))
            out.append((str(path), st.st_ino, st.st_mtime_ns, st.st_size))
        except OSError:
            out.append((str(path), -1, -1, -1))
    return tuple(out)


class ScannerTLS:
    """The receiver's TLS context, renewed when its files change (see the module's docstring). pynetdicom's server
    calls ``wrap_socket`` for each connection it accepts, the only method of an ``ssl.SSLContext`` it uses."""

    def __init__(self, settings: Settings, context: _ScannerTLS, signature: Signature) -> None:
        self.settings = settings
        self.every = settings.images_scp_tls_reload_seconds
        self._context, self._signature = context, signature
        self._failed: Signature | None = None  # files that did not load (not tried again until they change)
        self._checked = time.monotonic()
        self._lock = threading.Lock()
        log.info("DICOM receiver's TLS: %s", context.summary)
        self._warn_stale()

    @classmethod
    def from_settings(cls, settings: Settings) -> ScannerTLS | None:
        """From the settings; None without TLS; a ValidationProblem when they are not valid (see ``tls_context``)."""
        signature = _signature(settings)  # before reading: a change while reading is seen on the next check
        context = tls_context(settings)
        return None if context is None else cls(settings, context, signature)

    @property
    def context(self) -> _ScannerTLS:
        """The context new connections get."""
        return self._context

    def wrap_socket(self, sock: socket.socket, server_side: bool = False, **kwargs: Any) -> ssl.SSLSocket:
        """A connection accepted: the files are checked first (see ``check``), then wrapped (handshake deferred)."""
        self.check()
        return self._context.wrap_socket(sock, server_side=server_side, **kwargs)

    def check(self) -> bool:
        """Reload when a file changed, looking at most every ``images_scp_tls_reload_seconds``; True if it did."""
        now = time.monotonic()
        if now - self._checked < self.every:
            return False
        self._checked = now
        signature = _signature(self.settings)
        if signature == self._signature or signature == self._failed:
            self._warn_stale()
            return False
        return self.reload()

    def reload(self) -> bool:
        """Read the certificate, key, CA bundle and CRLs now; the next associations use them, or, when they do not
        load, the current context stays and the reason is logged. True when reloaded."""
        with self._lock:
            signature = _signature(self.settings)
            try:
                context = tls_context(self.settings)
            except ValidationProblem as exc:
                self._failed = signature
                log.error("the DICOM receiver's TLS files changed but cannot be used; the previous ones stay in "
                          "use: %s", "; ".join(f"{e.field}: {e.message}" for e in exc.errors))
                return False
            if context is None:  # the settings are the process's; TLS was configured when it started
                raise RuntimeError("TLS settings vanished")
            self._context, self._signature, self._failed = context, signature, None
        log.info("DICOM receiver's TLS reloaded: %s", context.summary)
        self._warn_stale()
        return True

    def _warn_stale(self) -> None:
        for crl in self._context.crls:
            if crl.expired():
                log.error("the CRL of %s (%s) is past its next update %s: every scanner certificate it issued is "
                          "refused until a current CRL is put there", crl.issuer, crl.source,
                          f"{crl.next_update:%Y-%m-%d %H:%M} UTC")


def reload_on_sighup(tls: ScannerTLS) -> Any:
    """SIGHUP reloads ``tls`` at once (in a thread of its own: a signal handler must not wait for the reload's
    lock). Call from the main thread; returns the handler it replaces."""
    def handler(signum: int, frame: FrameType | None) -> None:
        threading.Thread(target=tls.reload, name="scp-tls-reload", daemon=True).start()

    return signal.signal(signal.SIGHUP, handler)
