"""Wire shapes for enterprises, credit grades, users and API keys."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from smartcustoms.security import Role


class EnterpriseRole(StrEnum):
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
    model_config = ConfigDict(extra="forbid")
    code: EnterpriseCode = Field(description="18-char unified social credit code or 10-char customs code")
    name: Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]
    roles: Annotated[list[EnterpriseRole], Field(min_length=1)]
    credit_grade: CreditGrade = CreditGrade.GENERAL


class EnterpriseOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    code: str
    name: str
    roles: list[str]
    credit_grade: str


class GradeChangeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    grade: CreditGrade
    reason: Annotated[str, StringConstraints(min_length=1, max_length=500, strip_whitespace=True)]


class GradeChangeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    grade_from: str | None
    grade_to: str
    at: datetime
    actor: str
    reason: str


class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.@-]{3,100}$")]
    display_name: str = ""
    password: Annotated[str, StringConstraints(min_length=8, max_length=200)] | None = None
    role: Role
    enterprise_code: EnterpriseCode | None = None


class UserOut(BaseModel):
    username: str
    display_name: str
    role: str
    enterprise_code: str | None
    active: bool


class ApiKeyOut(BaseModel):
    """Returned once, when the key is made; only its digest is stored."""

    api_key: str
    prefix: str
    username: str
    role: str
