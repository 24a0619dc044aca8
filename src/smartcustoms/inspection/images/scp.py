"""DICOM network intake: a Storage SCP (C-STORE) that scanners send their DICOS/DICOM images to (``pynetdicom``).

Only registered scanners are heard: their calling AE titles are the setting ``images_scp_scanners`` (each with
the customs offices whose subjects it may scan, what its scans are of and the attribute naming the subject);
an association from any other AE title, or to another called AE title, is rejected, and the server does not
start with no scanner registered (pynetdicom would then accept every AE). An AE title is not a credential:
run it on a closed scanner network (see docs/security.md).

Each object received goes through ``ImageService.upload`` (size limit, reading, SHA-256, store, model,
routing, audit) as an internal officer principal ``scanner:<AE title>``, tied to its subject by the registered
attribute (``AccessionNumber`` by default). The answer is a DICOM status: 0x0000 success; 0xA700 refused, out
of resources (over the size limit, or the image store cannot keep it); 0xC000 cannot understand (no or
unknown subject, a subject of an office the scanner is not registered for, an unreadable or unsupported
image), with an Error Comment saying why; 0x0110 processing failure for anything unexpected (logged).

Over TLS (DICOM PS3.15 secure transport; settings ``images_scp_tls_certificate``, ``_key``, ``_ca``) the
receiver authenticates both ends: TLS 1.2 or later, our certificate to the scanner, and a client certificate
from each scanner, issued by the configured CA and naming the scanner (its subject common name is the
registration's ``certificate_cn``, the AE title by default). A connection without a valid client certificate
fails its handshake, a plaintext one too, and nothing is read; a certificate of another registered scanner gets
0xC000 on its C-STOREs. The handshake runs in the association's thread (not in the accept loop), bounded by
``scp_tls.HANDSHAKE_SECONDS``. Revocation (``images_scp_tls_crl``) and reloading the TLS files without a restart:
``scp_tls.py``.
"""

from __future__ import annotations

import logging
import re
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from pydicom.dataset import Dataset
from pydicom.uid import UID
from pynetdicom import AE, evt, register_uid
from pynetdicom.events import Event
from pynetdicom.service_class import StorageServiceClass
from pynetdicom.sop_class import Verification, uid_to_service_class  # type: ignore[attr-defined]
from pynetdicom.transport import ThreadedAssociationServer

from smartcustoms.core.config import ScannerAE, Settings
from smartcustoms.core.errors import FieldError, Forbidden, NotFound, ValidationProblem
from smartcustoms.core.security import Principal, Role
from smartcustoms.inspection.images import dicos
from smartcustoms.inspection.images.schemas import SUBJECT_KINDS
from smartcustoms.inspection.images.scp_tls import ScannerTLS
from smartcustoms.inspection.images.service import ImageService

log = logging.getLogger(__name__)

SUCCESS = 0x0000
OUT_OF_RESOURCES = 0xA700  # Refused: Out of Resources (PS3.4 Table B.2-1)
CANNOT_UNDERSTAND = 0xC000  # Error: Cannot understand
PROCESSING_FAILURE = 0x0110
#: the storage SOP classes accepted (the ones ``dicos.read_scan`` reads) and their transfer syntaxes
STORAGE_CLASSES = dicos.DX_CLASSES + dicos.CT_CLASSES
TRANSFER_SYNTAXES = list(dicos.READABLE_SYNTAXES)
#: attributes a scanner may name its subject in (AccessionNumber: SH, 16 characters at most in DICOM;
#: PatientID, DICOS's Object of Inspection ID: LO, 64)
SUBJECT_ATTRIBUTES = ("AccessionNumber", "PatientID", "StudyID")
_AE = re.compile(r"^[\x20-\x5b\x5d-\x7e]{1,16}$")  # ASCII without backslash and control characters
_OFFICE = re.compile(r"^\d{4}$")


def register_dicos_storage() -> None:
    """pynetdicom 3.0.4 does not know the DICOS SOP classes as storage: register them (keywords from pydicom's
    UID dictionary), so an SCU and this SCP can negotiate them. Idempotent."""
    for uid in (dicos.DICOS_CT, dicos.DICOS_DX_PRESENTATION, dicos.DICOS_DX_PROCESSING):
        if uid_to_service_class(uid) is not StorageServiceClass:
            register_uid(uid, UID(uid).keyword, StorageServiceClass)


register_dicos_storage()


@dataclass(frozen=True)
class Scanner:
    """A registered scanner: its AE title, offices, subject kind and the attribute naming the subject."""

    ae_title: str
    offices: frozenset[str]
    subject_kind: str
    subject_attribute: str
    certificate_cn: str = ""  # over TLS: the common name of its client certificate

    @property
    def principal(self) -> Principal:
        """Who its uploads are by: an internal officer named after the scanner (audited as such)."""
        return Principal(0, f"scanner:{self.ae_title}", Role.OFFICER, internal=True)


def scanners_from(registered: Mapping[str, ScannerAE]) -> dict[str, Scanner]:
    """The registered scanners, checked; a ValidationProblem naming ``images_scp_scanners.<AE>.<field>`` else."""
    errors, out = [], {}
    for title, entry in registered.items():
        where = f"images_scp_scanners.{title}"
        if not _AE.match(title) or not title.strip() or title != title.strip():
            errors.append(FieldError(where, "an AE title is 1 to 16 ASCII characters, no backslash, control "
                                            "characters or leading/trailing spaces"))
        if not entry.offices or not all(_OFFICE.match(o) for o in entry.offices):
            errors.append(FieldError(f"{where}.offices", "one or more 4-digit customs office codes"))
        if entry.subject_kind not in SUBJECT_KINDS:
            errors.append(FieldError(f"{where}.subject_kind", f"one of {', '.join(SUBJECT_KINDS)}"))
        if entry.subject_attribute not in SUBJECT_ATTRIBUTES:
            errors.append(FieldError(f"{where}.subject_attribute", f"one of {', '.join(SUBJECT_ATTRIBUTES)}"))
        if entry.certificate_cn is not None and not entry.certificate_cn.strip():
            errors.append(FieldError(f"{where}.certificate_cn", "the client certificate's common name, or unset "
                                                                "for the AE title"))
        out[title] = Scanner(title, frozenset(entry.offices), entry.subject_kind, entry.subject_attribute,
                             entry.certificate_cn or title)
    if not registered:
        errors.append(FieldError("images_scp_scanners", "no scanner is registered (SMARTCUSTOMS_IMAGES_SCP_SCANNERS): "
                                                        "there is no one to receive scans from"))
    if errors:
        raise ValidationProblem("the scanners' registration is not valid", errors,
                                title="The DICOM receiver cannot start")
    return out


def peer_common_name(event: Event) -> str | None:
    """The subject common name of the client certificate the association came with (None without TLS)."""
    sock = getattr(getattr(event.assoc.dul, "socket", None), "socket", None)
    if not isinstance(sock, ssl.SSLSocket):
        return None
    subject: Any = (sock.getpeercert() or {}).get("subject", ())  # ((("commonName", "PORT1XR"),), ...)
    for rdn in subject:
        for key, value in rdn:
            if key == "commonName":
                return str(value)
    return ""


def _status(code: int, comment: str = "") -> Dataset:
    ds = Dataset()
    ds.Status = code
    if comment:
        ds.ErrorComment = comment[:64]  # LO
    return ds


class ScanReceiver:
    """The Storage SCP: registered scanners' C-STOREs into the images service."""

    def __init__(self, images: ImageService, settings: Settings) -> None:
        self.images = images
        self.scanners = scanners_from(settings.images_scp_scanners)
        self.ae_title = settings.images_scp_ae_title
        if not _AE.match(self.ae_title):
            raise ValidationProblem("our AE title is not valid", [FieldError(
                "images_scp_ae_title", "1 to 16 ASCII characters, no backslash or control characters")],
                title="The DICOM receiver cannot start")
        self.tls = ScannerTLS.from_settings(settings)  # None: plaintext
        self.ae = AE(ae_title=self.ae_title)
        self.ae.require_called_aet = True  # the scanner must call us by our title
        self.ae.require_calling_aet = sorted(self.scanners)  # and be registered (never empty, see scanners_from)
        for sop_class in STORAGE_CLASSES:
            self.ae.add_supported_context(sop_class, TRANSFER_SYNTAXES)
        self.ae.add_supported_context(Verification)  # C-ECHO, for the scanner's connection test

    def start(self, host: str, port: int, *, block: bool = False) -> ThreadedAssociationServer | None:
        """Listen on ``host:port`` (port 0: a free one, see ``server.server_address``); blocks when ``block``."""
        handlers = [(evt.EVT_C_STORE, self.handle_store), (evt.EVT_REJECTED, _log_rejected)]
        tls = cast("ssl.SSLContext | None", self.tls)  # pynetdicom calls only its wrap_socket
        return self.ae.start_server((host, port), block=block, ssl_context=tls,
                                    evt_handlers=handlers)  # type: ignore[arg-type]

    def handle_store(self, event: Event) -> Dataset:
        """One C-STORE: through the upload path, answered with a DICOM status (see the module's docstring)."""
        calling = event.assoc.requestor.ae_title.strip()
        scanner = self.scanners.get(calling)
        if scanner is None:  # require_calling_aet refuses the association first; kept as a second lock
            return _status(CANNOT_UNDERSTAND, "calling AE title not registered")
        if self.tls is not None:
            name = peer_common_name(event)
            if name != scanner.certificate_cn:  # a CA-issued certificate, but another scanner's (or none read)
                log.warning("C-STORE from %s refused: its client certificate names %r, not %r", calling, name,
                            scanner.certificate_cn)
                return _status(CANNOT_UNDERSTAND, "client certificate does not name this scanner")
        try:
            data = event.encoded_dataset(include_meta=True)
            if len(data) > self.images.max_bytes:
                log.warning("C-STORE from %s refused: %d bytes over the %d limit", calling, len(data),
                            self.images.max_bytes)
                return _status(OUT_OF_RESOURCES, f"larger than {self.images.max_bytes} bytes")
            subject_id = str(event.dataset.get(scanner.subject_attribute, "") or "").strip()
            if not subject_id:
                return _status(CANNOT_UNDERSTAND, f"no {scanner.subject_attribute}: the subject is not named")
            subject = self.images.resolvers[scanner.subject_kind].resolve(scanner.principal, subject_id) \
                if scanner.subject_kind in self.images.resolvers else None
            if subject is not None and subject.office not in scanner.offices:
                log.warning("C-STORE from %s refused: %s %s is of office %s", calling, scanner.subject_kind,
                            subject_id, subject.office)
                return _status(CANNOT_UNDERSTAND, f"{scanner.subject_kind} not of this scanner's offices")
            out = self.images.upload(scanner.principal, data, scanner.subject_kind, subject_id)
        except dicos.ImageRefused as exc:
            code = OUT_OF_RESOURCES if exc.status == 413 else CANNOT_UNDERSTAND
            return _status(code, _comment(exc))
        except (ValidationProblem, NotFound, Forbidden) as exc:
            return _status(CANNOT_UNDERSTAND, _comment(exc))
        except OSError:  # the image store cannot keep it (disk full, permissions)
            log.exception("C-STORE from %s: the image store failed", calling)
            return _status(OUT_OF_RESOURCES, "the image store cannot keep it now")
        except Exception:  # noqa: BLE001 - answered, never a dropped association
            log.exception("C-STORE from %s failed", calling)
            return _status(PROCESSING_FAILURE, "processing failure")
        log.info("C-STORE from %s: image %d of %s %s (%s)", calling, out.id, scanner.subject_kind, subject_id,
                 out.status)
        return _status(SUCCESS)


def _comment(exc: Exception) -> str:
    """The first field error (field: reason) or the detail, for the status's Error Comment (64 characters)."""
    errors = getattr(exc, "errors", None) or []
    if errors:
        return f"{errors[0].field}: {errors[0].message}"
    return str(getattr(exc, "detail", exc))


def _log_rejected(event: Event) -> None:
    log.warning("association from %s (%s) rejected: not a registered scanner or not called %s",
                event.assoc.requestor.ae_title, event.assoc.requestor.address, event.assoc.acceptor.ae_title)
