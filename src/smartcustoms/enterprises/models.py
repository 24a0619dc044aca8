"""Tables: enterprises, credit-grade history, users, API keys, web sessions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, String, Text, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column

from smartcustoms.core.db import Base


class Enterprise(Base):
    """A registered enterprise: code, name, trade roles and customs credit grade."""
    __tablename__ = "enterprises"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(18), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    roles: Mapped[str] = mapped_column(String(100))  # comma-separated EnterpriseRole values
    credit_grade: Mapped[str] = mapped_column(String(30), default="general")
    created_at: Mapped[datetime] = mapped_column(DateTime, server_default=func.now())


class CreditGradeChange(Base):
    """Append-only history of an enterprise's credit grade."""

    __tablename__ = "credit_grade_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprises.id"), index=True)
    grade_from: Mapped[str | None] = mapped_column(String(30))
    grade_to: Mapped[str] = mapped_column(String(30))
    at: Mapped[datetime] = mapped_column(DateTime)
    actor: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str] = mapped_column(Text, default="")


class User(Base):
    """A user account: username, password hash, role and, for traders, the enterprise."""
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str | None] = mapped_column(String(300))
    role: Mapped[str] = mapped_column(String(20))
    enterprise_id: Mapped[int | None] = mapped_column(ForeignKey("enterprises.id"))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, server_default=func.now())


class ApiKey(Base):
    """An API key: only its prefix (for lookup) and a SHA-256 digest of the whole key are stored."""

    __tablename__ = "api_keys"
    __table_args__ = (Index("ix_api_keys_prefix", "prefix", unique=True),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, server_default=func.now())
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)
    #: the user who made the key (None: the command line); audited calls show it when not the key's user
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime)  # kept to the minute


class WebSession(Base):
    """A signed-in browser: the cookie carries a random id, stored here as its SHA-256 digest."""

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    id_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    last_seen_at: Mapped[datetime] = mapped_column(DateTime)  # kept to the minute
    expires_at: Mapped[datetime] = mapped_column(DateTime)  # the absolute end
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)  # sign-out, deactivation
    address: Mapped[str] = mapped_column(String(64), default="")


class Mandate(Base):
    """An importer's standing mandate for a declarant (customs broker) to lodge in its name (委托报关)."""

    __tablename__ = "mandates"
    __table_args__ = (Index("ix_mandates_declarant_importer", "declarant_code", "importer_code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    declarant_code: Mapped[str] = mapped_column(ForeignKey("enterprises.code"))
    importer_code: Mapped[str] = mapped_column(ForeignKey("enterprises.code"), index=True)
    valid_from: Mapped[datetime] = mapped_column(DateTime)
    valid_to: Mapped[datetime | None] = mapped_column(DateTime)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)
    revoked_by: Mapped[str | None] = mapped_column(String(100))


class SenderCode(Base):
    """A code an enterprise sends CBEC messages under (its own code always counts): as e-commerce platform
    (``ebp``: ebpCode), e-commerce enterprise (``ebc``: ebcCode), payment firm (``pay``: payCode) or logistics
    firm (``logistics``: logisticsCode)."""

    __tablename__ = "sender_codes"
    __table_args__ = (UniqueConstraint("enterprise_code", "code", "kind", name="uq_sender_codes"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    enterprise_code: Mapped[str] = mapped_column(ForeignKey("enterprises.code"), index=True)
    code: Mapped[str] = mapped_column(String(18))
    kind: Mapped[str] = mapped_column(String(10))
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime)


class SigningCertificate(Base):
    """An X.509 certificate an enterprise signs its CEB messages with (``ds:Signature``), registered by an
    administrator; a revoked one signs nothing from then on."""

    __tablename__ = "signing_certificates"

    id: Mapped[int] = mapped_column(primary_key=True)
    enterprise_code: Mapped[str] = mapped_column(ForeignKey("enterprises.code"), index=True)
    fingerprint: Mapped[str] = mapped_column(String(64), unique=True)  # SHA-256 of the DER, lowercase hex
    subject: Mapped[str] = mapped_column(String(500))
    serial: Mapped[str] = mapped_column(String(100))
    algorithm: Mapped[str] = mapped_column(String(10))  # RSA or SM2
    not_before: Mapped[datetime] = mapped_column(DateTime)
    not_after: Mapped[datetime] = mapped_column(DateTime)
    der_base64: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)
    revoked_by: Mapped[str | None] = mapped_column(String(100))
