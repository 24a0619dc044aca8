"""Wire shapes for enterprises, credit grades, users and API keys."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from smartcustoms.core.security import PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH, Role, password_problem
from smartcustoms.core.wire import UtcDateTime


class EnterpriseRole(StrEnum):
    """Trade role of an enterprise: importer, declarant (customs broker), e-commerce platform, logistics or payment."""
    IMPORTER = "importer"
    DECLARANT = "declarant"
    PLATFORM = "platform"
    LOGISTICS = "logistics"
    PAYMENT = "payment"


class CreditGrade(StrEnum):
    """China customs credit grades (信用等级)."""

    ADVANCED_CERTIFIED = "advanced_certified"  # 高级认证企业 (AEO)
    GENERAL_CERTIFIED = "general_certified"
    GENERAL = "general"
    DISCREDITED = "discredited"  # 失信企业


EnterpriseCode = Annotated[str, StringConstraints(pattern=r"^[0-9A-Z]{10}$|^[0-9A-Z]{18}$", strip_whitespace=True)]


class EnterpriseIn(BaseModel):
    """Request to register an enterprise."""
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"code": "91310115MA1K4XYZ7Q", "name": "上海陶瓷进出口有限公司", "roles": ["importer"],
         "credit_grade": "general_certified"}]})
    code: EnterpriseCode = Field(description="18-char unified social credit code or 10-char customs code")
    name: Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]
    roles: Annotated[list[EnterpriseRole], Field(min_length=1)]
    credit_grade: CreditGrade = CreditGrade.GENERAL


class EnterpriseOut(BaseModel):
    """An enterprise as the API returns it."""
    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [
        {"code": "3101960001", "name": "上海陶瓷进出口有限公司", "roles": ["importer"],
         "credit_grade": "advanced_certified"}]})
    code: str
    name: str
    roles: list[str]
    credit_grade: str


class GradeChangeIn(BaseModel):
    """Request to change an enterprise's credit grade, with the reason."""
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"grade": "discredited", "reason": "smuggling judgment of 2026-11-20 (case 2026-沪关-0173)"}]})
    grade: CreditGrade
    reason: Annotated[str, StringConstraints(min_length=1, max_length=500, strip_whitespace=True)]


class GradeChangeOut(BaseModel):
    """One change of an enterprise's credit grade as the API returns it."""
    model_config = ConfigDict(from_attributes=True)
    grade_from: str | None
    grade_to: str
    at: UtcDateTime
    actor: str
    reason: str


class UserIn(BaseModel):
    """Request to create a user account."""
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"username": "li.wei", "display_name": "李伟", "password": "harbour lantern cobalt 58", "role": "trader",
         "enterprise_code": "3101960001"},
        {"username": "erp-gateway", "role": "trader", "enterprise_code": "3120980001"}]})
    username: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.@-]{3,100}$")]
    display_name: Annotated[str, StringConstraints(max_length=200, strip_whitespace=True)] = ""
    password: Annotated[str, StringConstraints(min_length=PASSWORD_MIN_LENGTH, max_length=PASSWORD_MAX_LENGTH),
                        Field(description=f"at least {PASSWORD_MIN_LENGTH} characters, not a common password; "
                                          "none: the user signs in with API keys only")] | None = None
    role: Role
    enterprise_code: EnterpriseCode | None = None

    @field_validator("password")
    @classmethod
    def _password_policy(cls, value: str | None, info: ValidationInfo) -> str | None:
        problem = password_problem(value, info.data.get("username")) if value is not None else None
        if problem:
            raise PydanticCustomError("password_policy", "{problem}", {"problem": problem})
        return value


class UserOut(BaseModel):
    """A user account as the API returns it (no secrets)."""
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"username": "li.wei", "display_name": "李伟", "role": "trader", "enterprise_code": "3101960001",
         "active": True}]})
    username: str
    display_name: str
    role: str
    enterprise_code: str | None
    active: bool


class ApiKeyOut(BaseModel):
    """Returned once, when the key is made; only its digest is stored."""
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"api_key": "sck_4f1c9a07b2e3_Zq8wS0vYH3nq0lJcXb1r9mK2tP6uVdE4aFgHiJkLmNo", "prefix": "4f1c9a07b2e3",
         "username": "erp-gateway", "role": "trader"}]})

    api_key: str
    prefix: str
    username: str
    role: str


class UserRoleIn(BaseModel):
    """Request to change a user's role: a trader acts for an enterprise, other roles for none."""
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"role": "officer"}, {"role": "trader", "enterprise_code": "3120980001"}]})
    role: Role
    enterprise_code: EnterpriseCode | None = None


class PasswordResetIn(BaseModel):
    """Request to set a user's password (the policy of new passwords applies)."""
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"password": "quarry violet ferry 904"}]})
    password: Annotated[str, StringConstraints(min_length=1, max_length=PASSWORD_MAX_LENGTH),
                        Field(description=f"at least {PASSWORD_MIN_LENGTH} characters, not a common password")]


class ApiKeyInfo(BaseModel):
    """An API key as the list of keys shows it: never the key or its digest; last use kept to the minute."""
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"prefix": "4f1c9a07b2e3", "label": "ERP gateway", "username": "erp-gateway", "role": "trader",
         "created_at": "2026-11-02T06:15:00Z", "revoked_at": None, "last_used_at": "2026-12-04T03:41:00Z"}]})
    prefix: str
    label: str
    username: str
    role: str
    created_at: UtcDateTime | None
    revoked_at: UtcDateTime | None
    last_used_at: UtcDateTime | None


class ApiKeyIn(BaseModel):
    """Request to issue an API key, with an optional label."""
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"label": "ERP gateway"}]})
    label: Annotated[str, StringConstraints(max_length=100, strip_whitespace=True)] = ""


class MandateIn(BaseModel):
    """An importer's mandate for a declarant to lodge in its name, from ``valid_from`` (now) to ``valid_to``."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"declarant_code": "3120980001", "importer_code": "3101960001", "valid_to": "2027-12-31T16:00:00Z"}]})
    declarant_code: EnterpriseCode
    importer_code: EnterpriseCode
    valid_from: datetime | None = None
    valid_to: datetime | None = None


class MandateOut(BaseModel):
    """A declarant's mandate from an importer as the API returns it."""
    model_config = ConfigDict(from_attributes=True)
    id: int
    declarant_code: str
    importer_code: str
    valid_from: UtcDateTime
    valid_to: UtcDateTime | None
    created_by: str
    created_at: UtcDateTime
    revoked_at: UtcDateTime | None
    revoked_by: str | None


class SenderKind(StrEnum):
    """Which CEB field a sender code stands in: ebpCode, ebcCode, payCode or logisticsCode."""

    PLATFORM = "ebp"
    ECOMMERCE = "ebc"
    PAYMENT = "pay"
    LOGISTICS = "logistics"


class SenderCodeIn(BaseModel):
    """A code the enterprise sends CBEC messages under (CEB codes: up to 18 letters and digits)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"code": "3105961682", "kind": "ebp"}]})
    code: Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z]{1,18}$", strip_whitespace=True)]
    kind: SenderKind


class SenderCodeOut(BaseModel):
    """A CBEC sender code of an enterprise as the API returns it."""
    model_config = ConfigDict(from_attributes=True)
    enterprise_code: str
    code: str
    kind: SenderKind
    created_by: str
    created_at: UtcDateTime


class CertificateIn(BaseModel):
    """A signing certificate to register: PEM or base64 DER (X.509, RSA or SM2 key)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"certificate": "-----BEGIN CERTIFICATE-----\nMIIDazCCAlOgAwIBAgIU… (the sender's X.509 certificate, "
                        "base64, shortened here)\n-----END CERTIFICATE-----\n"}]})
    certificate: Annotated[str, StringConstraints(min_length=16, max_length=20_000)]


class CertificateOut(BaseModel):
    """A registered signing certificate as the API returns it (``fingerprint``: SHA-256 of the DER, hex)."""

    model_config = ConfigDict(from_attributes=True)
    id: int
    enterprise_code: str
    fingerprint: str
    subject: str
    serial: str
    algorithm: str
    not_before: UtcDateTime
    not_after: UtcDateTime
    created_by: str
    created_at: UtcDateTime
    revoked_at: UtcDateTime | None
    revoked_by: str | None
