"""Signing certificates: the X.509 certificates an enterprise signs its CEB messages with (``ds:Signature``).

An administrator registers a certificate for an enterprise (PEM or base64 DER, RSA per the 2018 CEB edition or
SM2 per 202205), lists and revokes them (audited). A signed message verifies only when its certificate is
registered, not revoked, for the enterprise that owns the document's sender codes (``cbec.ceb.signature``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from smartcustoms.audit.service import record
from smartcustoms.core.clock import utcnow
from smartcustoms.core.errors import Conflict, FieldError, NotFound, ValidationProblem
from smartcustoms.core.security import Principal
from smartcustoms.enterprises.models import Enterprise, SigningCertificate
from smartcustoms.enterprises.schemas import CertificateIn, CertificateOut

_SM2_OID = bytes.fromhex("06082a811ccf5501822d")


def _der(text: str) -> bytes:
    body = re.sub(r"-----(BEGIN|END) CERTIFICATE-----", "", text)
    try:
        der = base64.b64decode("".join(body.split()), validate=True)
    except (binascii.Error, ValueError):
        raise ValidationProblem("not a certificate",
                                [FieldError("certificate", "neither PEM nor base64 DER")]) from None
    return der


def _naive_utc(dt: datetime) -> datetime:
    return dt.astimezone(UTC).replace(tzinfo=None)


def register_certificate(session: Session, enterprise_code: str, data: CertificateIn,
                         actor: Principal) -> CertificateOut:
    """Register a signing certificate for ``enterprise_code`` (audited); refused when unreadable, expired or
    already registered."""
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import rsa

    if session.scalar(select(Enterprise.id).where(Enterprise.code == enterprise_code)) is None:
        raise NotFound(f"no enterprise {enterprise_code}")
    der = _der(data.certificate)
    try:
        cert = x509.load_der_x509_certificate(der)
        not_before, not_after = cert.not_valid_before_utc, cert.not_valid_after_utc
    except ValueError as exc:
        raise ValidationProblem("not a certificate", [FieldError("certificate", f"unreadable X.509: {exc}")]) from None
    try:
        algorithm = "RSA" if isinstance(cert.public_key(), rsa.RSAPublicKey) else ""
    except Exception:  # noqa: BLE001 - cryptography does not read SM2 keys: recognised by the curve's OID
        algorithm = "SM2" if _SM2_OID in der else ""
    if not algorithm:
        raise ValidationProblem("unsupported key", [FieldError("certificate", "the key must be RSA or SM2")])
    if _naive_utc(not_after) < utcnow():
        raise ValidationProblem("expired certificate",
                                [FieldError("certificate", f"expired on {not_after:%Y-%m-%d}")])
    fp = hashlib.sha256(der).hexdigest()
    taken = session.scalar(select(SigningCertificate.enterprise_code).where(SigningCertificate.fingerprint == fp))
    if taken is not None:
        raise Conflict(f"certificate {fp[:16]} is already registered for {taken}",
                       [FieldError("certificate", "already registered")])
    row = SigningCertificate(enterprise_code=enterprise_code, fingerprint=fp,
                             subject=cert.subject.rfc4514_string()[:500], serial=format(cert.serial_number, "x")[:100],
                             algorithm=algorithm, not_before=_naive_utc(not_before), not_after=_naive_utc(not_after),
                             der_base64=base64.b64encode(der).decode(), created_by=actor.username, created_at=utcnow())
    session.add(row)
    session.flush()
    record(session, actor, "certificate.register", "enterprise", enterprise_code,
           {"fingerprint": fp, "subject": row.subject, "algorithm": algorithm})
    return CertificateOut.model_validate(row)


def revoke_certificate(session: Session, enterprise_code: str, fp: str, actor: Principal) -> CertificateOut:
    """Revoke a registered certificate (audited): messages it signs are refused from now on."""
    row = session.scalar(select(SigningCertificate).where(SigningCertificate.enterprise_code == enterprise_code,
                                                          SigningCertificate.fingerprint == fp.lower()))
    if row is None:
        raise NotFound(f"no certificate {fp} registered for {enterprise_code}")
    if row.revoked_at is not None:
        raise Conflict(f"certificate {fp[:16]} is already revoked", [FieldError("fingerprint", "already revoked")])
    row.revoked_at, row.revoked_by = utcnow(), actor.username
    session.flush()
    record(session, actor, "certificate.revoke", "enterprise", enterprise_code, {"fingerprint": row.fingerprint})
    return CertificateOut.model_validate(row)


def list_certificates(session: Session, enterprise_code: str | None = None, limit: int = 500) -> list[CertificateOut]:
    """Registered certificates (revoked ones too), of one enterprise or all, newest first."""
    q = select(SigningCertificate).order_by(SigningCertificate.id.desc()).limit(limit)
    if enterprise_code is not None:
        q = q.where(SigningCertificate.enterprise_code == enterprise_code)
    return [CertificateOut.model_validate(r) for r in session.scalars(q)]
