"""REST routes for enterprises, credit grades, users and API keys (administrators)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from smartcustoms.core.db import transaction
from smartcustoms.core.errors import NotFound
from smartcustoms.core.http import current_principal, get_sessions, require
from smartcustoms.core.security import Principal, Role
from smartcustoms.core.wire import Limit, Offset
from smartcustoms.enterprises import certificates, mandates, sender_codes, service
from smartcustoms.enterprises.models import User
from smartcustoms.enterprises.schemas import (
    ApiKeyIn,
    ApiKeyInfo,
    ApiKeyOut,
    CertificateIn,
    CertificateOut,
    EnterpriseIn,
    EnterpriseOut,
    GradeChangeIn,
    GradeChangeOut,
    MandateIn,
    MandateOut,
    PasswordResetIn,
    SenderCodeIn,
    SenderCodeOut,
    SenderKind,
    UserIn,
    UserOut,
    UserRoleIn,
)

router = APIRouter(prefix="/api/v1", tags=["enterprises"])
Sessions = sessionmaker[Session]
admin = require(Role.ADMIN)
customs = require(Role.OFFICER, Role.ANALYST, Role.ADMIN)


@router.get("/me")
def me(who: Principal = Depends(current_principal)) -> dict:
    """The signed-in user's name, role and enterprise."""
    return {"username": who.username, "role": who.role.value, "enterprise_code": who.enterprise_code}


@router.post("/enterprises", response_model=EnterpriseOut, status_code=201)
def create_enterprise(body: EnterpriseIn, who: Principal = Depends(admin),
                      sessions: Sessions = Depends(get_sessions)) -> EnterpriseOut:
    """Register an enterprise (admin)."""
    with transaction(sessions) as s:
        return service.create_enterprise(s, body, who)


@router.get("/enterprises", response_model=list[EnterpriseOut])
def list_enterprises(limit: Annotated[Limit, Query()] = 500, offset: Annotated[Offset, Query()] = 0,
                     who: Principal = Depends(customs),
                     sessions: Sessions = Depends(get_sessions)):
    """Registered enterprises, by code (customs staff)."""
    with sessions() as s:
        return service.list_enterprises(s, limit, offset)


def _readable(who: Principal, code: str) -> None:
    """A trader reads only its own enterprise's records; another's is a 404 like a missing one."""
    if who.role == Role.TRADER and who.enterprise_code != code:
        raise NotFound(f"no enterprise {code}")


@router.get("/enterprises/{code}", response_model=EnterpriseOut)
def read_enterprise(code: str, who: Principal = Depends(current_principal),
                    sessions: Sessions = Depends(get_sessions)) -> EnterpriseOut:
    """One enterprise (a trader sees only their own)."""
    _readable(who, code)
    with sessions() as s:
        return service.enterprise_out(service.get_enterprise(s, code))


@router.put("/enterprises/{code}/credit-grade", response_model=list[GradeChangeOut])
def change_grade(code: str, body: GradeChangeIn, who: Principal = Depends(admin),
                 sessions: Sessions = Depends(get_sessions)):
    """Change an enterprise's customs credit grade and return its grade history (admin)."""
    with transaction(sessions) as s:
        service.set_credit_grade(s, code, body.grade, body.reason, who)
    with sessions() as s:
        return [GradeChangeOut.model_validate(c) for c in service.grade_history(s, code)]


@router.get("/enterprises/{code}/credit-grade", response_model=list[GradeChangeOut])
def grade_history(code: str, who: Principal = Depends(customs), sessions: Sessions = Depends(get_sessions)):
    """An enterprise's credit-grade history (customs staff)."""
    with sessions() as s:
        return [GradeChangeOut.model_validate(c) for c in service.grade_history(s, code)]


@router.post("/users", response_model=UserOut, status_code=201)
def create_user(body: UserIn, who: Principal = Depends(admin), sessions: Sessions = Depends(get_sessions)):
    """Create a user account (admin)."""
    with transaction(sessions) as s:
        return service.create_user(s, body, who)


@router.get("/users", response_model=list[UserOut])
def list_users(who: Principal = Depends(admin), sessions: Sessions = Depends(get_sessions)):
    """All user accounts (admin)."""
    with sessions() as s:
        return service.list_users(s)


@router.post("/users/{username}/deactivate", response_model=UserOut)
def deactivate_user(username: str, request: Request, who: Principal = Depends(admin),
                    sessions: Sessions = Depends(get_sessions)) -> UserOut:
    """Deactivate a user: its web sessions end and its API keys stop working at once."""
    with transaction(sessions) as s:
        out = service.set_user_active(s, username, False, who)
    request.app.state.key_cache.clear()
    return out


@router.post("/users/{username}/reactivate", response_model=UserOut)
def reactivate_user(username: str, request: Request, who: Principal = Depends(admin),
                    sessions: Sessions = Depends(get_sessions)) -> UserOut:
    """Reactivate a user: its API keys that were not revoked work again; it signs in anew."""
    with transaction(sessions) as s:
        out = service.set_user_active(s, username, True, who)
    request.app.state.key_cache.clear()
    return out


@router.put("/users/{username}/role", response_model=UserOut)
def change_role(username: str, body: UserRoleIn, request: Request, who: Principal = Depends(admin),
                sessions: Sessions = Depends(get_sessions)) -> UserOut:
    """Change a user's role (not one's own); the user's web sessions end and cached keys are looked up anew."""
    with transaction(sessions) as s:
        out = service.set_user_role(s, username, body.role, body.enterprise_code, who)
    request.app.state.key_cache.clear()
    return out


@router.put("/users/{username}/password", status_code=204)
def reset_password(username: str, body: PasswordResetIn, who: Principal = Depends(admin),
                   sessions: Sessions = Depends(get_sessions)) -> Response:
    """Set a user's password (policy checked); the user's web sessions end, API keys keep working."""
    with transaction(sessions) as s:
        service.reset_password(s, username, body.password, who)
    return Response(status_code=204)


@router.get("/api-keys", response_model=list[ApiKeyInfo])
def list_keys(limit: Annotated[Limit, Query()] = 500, who: Principal = Depends(admin),
              sessions: Sessions = Depends(get_sessions)) -> list[dict]:
    """The latest API keys with their owner and last use (to the minute); never a key or its digest (admin)."""
    with sessions() as s:
        return service.list_api_keys(s, limit)


@router.post("/users/{username}/api-keys", response_model=ApiKeyOut, status_code=201)
def create_key(username: str, body: ApiKeyIn, response: Response, who: Principal = Depends(admin),
               sessions: Sessions = Depends(get_sessions)) -> ApiKeyOut:
    """Make an API key; it is shown in this response only (not cached: ``no-store``).

    A key made for another user is audited, and so is every call made with it (``acting_via``)."""
    with transaction(sessions) as s:
        key = service.create_api_key(s, username, body.label, who)
        role = s.scalar(select(User.role).where(User.username == username))
    response.headers["Cache-Control"] = "no-store"
    return ApiKeyOut(api_key=key, prefix=key.split("_")[1], username=username, role=role)


@router.delete("/api-keys/{prefix}", status_code=204)
def revoke_key(prefix: str, request: Request, who: Principal = Depends(admin),
               sessions: Sessions = Depends(get_sessions)) -> None:
    """Revoke an API key by its prefix (admin)."""
    with transaction(sessions) as s:
        service.revoke_api_key(s, prefix, who)
    request.app.state.key_cache.clear()


@router.post("/mandates", response_model=MandateOut, status_code=201)
def create_mandate(body: MandateIn, who: Principal = Depends(admin),
                   sessions: Sessions = Depends(get_sessions)) -> MandateOut:
    """Register an importer's mandate for a declarant to lodge in its name (audited)."""
    with transaction(sessions) as s:
        return mandates.create_mandate(s, body, who)


@router.get("/mandates", response_model=list[MandateOut])
def list_mandates(enterprise: str | None = Query(None, max_length=18), limit: Annotated[Limit, Query()] = 500,
                  offset: Annotated[Offset, Query()] = 0, who: Principal = Depends(current_principal),
                  sessions: Sessions = Depends(get_sessions)) -> list[MandateOut]:
    """Mandates, newest first; a trader sees those its enterprise gave or holds."""
    if who.role == Role.TRADER:
        enterprise = who.enterprise_code
    with sessions() as s:
        return mandates.list_mandates(s, enterprise, limit, offset)


@router.post("/mandates/{mandate_id}/revoke", response_model=MandateOut)
def revoke_mandate(mandate_id: int = Path(ge=1, le=2**31 - 1), who: Principal = Depends(admin),
                   sessions: Sessions = Depends(get_sessions)) -> MandateOut:
    """End a mandate now (audited): its declarant no longer lodges for the importer."""
    with transaction(sessions) as s:
        return mandates.revoke_mandate(s, mandate_id, who)


@router.get("/enterprises/{code}/sender-codes", response_model=list[SenderCodeOut])
def list_sender_codes(code: str = Path(max_length=18), who: Principal = Depends(current_principal),
                      sessions: Sessions = Depends(get_sessions)) -> list[SenderCodeOut]:
    """The CBEC codes (ebp / ebc / pay / logistics) the enterprise sends under besides its own; a trader reads
    its own enterprise's only."""
    _readable(who, code)
    with sessions() as s:
        return sender_codes.list_sender_codes(s, code)


@router.post("/enterprises/{code}/sender-codes", response_model=SenderCodeOut, status_code=201)
def register_sender_code(body: SenderCodeIn, code: str = Path(max_length=18), who: Principal = Depends(admin),
                         sessions: Sessions = Depends(get_sessions)) -> SenderCodeOut:
    """Register a code the enterprise may send CBEC documents under (audited)."""
    with transaction(sessions) as s:
        return sender_codes.register_sender_code(s, code, body, who)


@router.delete("/enterprises/{code}/sender-codes/{kind}/{sender_code}", status_code=204)
def remove_sender_code(kind: SenderKind, code: str = Path(max_length=18), sender_code: str = Path(max_length=18),
                       who: Principal = Depends(admin), sessions: Sessions = Depends(get_sessions)) -> None:
    """Withdraw a sender code (audited): documents under it are refused from now on."""
    with transaction(sessions) as s:
        sender_codes.remove_sender_code(s, code, kind, sender_code, who)


@router.get("/enterprises/{code}/certificates", response_model=list[CertificateOut])
def list_certificates(code: str = Path(max_length=18), who: Principal = Depends(current_principal),
                      sessions: Sessions = Depends(get_sessions)) -> list[CertificateOut]:
    """The certificates the enterprise signs CEB messages with (revoked ones too); a trader reads its own."""
    _readable(who, code)
    with sessions() as s:
        return certificates.list_certificates(s, code)


@router.post("/enterprises/{code}/certificates", response_model=CertificateOut, status_code=201)
def register_certificate(body: CertificateIn, code: str = Path(max_length=18), who: Principal = Depends(admin),
                         sessions: Sessions = Depends(get_sessions)) -> CertificateOut:
    """Register a certificate (PEM or base64 DER) the enterprise signs CEB messages with (audited)."""
    with transaction(sessions) as s:
        return certificates.register_certificate(s, code, body, who)


@router.post("/enterprises/{code}/certificates/{fingerprint}/revoke", response_model=CertificateOut)
def revoke_certificate(code: str = Path(max_length=18),
                       fingerprint: str = Path(pattern=r"^[0-9a-fA-F]{64}$"), who: Principal = Depends(admin),
                       sessions: Sessions = Depends(get_sessions)) -> CertificateOut:
    """Revoke a signing certificate (audited): messages it signs are refused from now on."""
    with transaction(sessions) as s:
        return certificates.revoke_certificate(s, code, fingerprint, who)
