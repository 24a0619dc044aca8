"""Enterprises, credit grades, users and API keys."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import CursorResult, bindparam, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased, sessionmaker

from smartcustoms.audit.service import record
from smartcustoms.core.clock import utcnow
from smartcustoms.core.errors import Conflict, FieldError, NotFound, ValidationProblem
from smartcustoms.core.security import (
    Principal,
    Role,
    api_key_digest,
    api_key_prefix,
    digests_match,
    hash_password,
    needs_rehash,
    new_api_key,
    new_session_id,
    password_problem,
    session_digest,
    verify_dummy,
    verify_password,
)
from smartcustoms.enterprises.models import ApiKey, CreditGradeChange, Enterprise, User, WebSession
from smartcustoms.enterprises.schemas import CreditGrade, EnterpriseIn, EnterpriseOut, UserIn, UserOut


def enterprise_out(e: Enterprise) -> EnterpriseOut:
    """The API record of an enterprise row."""
    return EnterpriseOut(code=e.code, name=e.name, roles=e.roles.split(","), credit_grade=e.credit_grade)


def create_enterprise(session: Session, data: EnterpriseIn, actor: Principal) -> EnterpriseOut:
    """Register an enterprise (refused if its code exists) and audit it."""
    if session.scalar(select(Enterprise.id).where(Enterprise.code == data.code)) is not None:
        raise Conflict(f"enterprise {data.code} already exists", [FieldError("code", "already registered")])
    e = Enterprise(code=data.code, name=data.name, roles=",".join(r.value for r in data.roles),
                   credit_grade=data.credit_grade.value)
    session.add(e)
    session.flush()
    session.add(CreditGradeChange(enterprise_id=e.id, grade_from=None, grade_to=e.credit_grade, at=utcnow(),
                                  actor=actor.username, reason="registered"))
    record(session, actor, "enterprise.create", "enterprise", data.code, {"grade": e.credit_grade})
    return enterprise_out(e)


def get_enterprise(session: Session, code: str) -> Enterprise:
    """The enterprise with ``code``, else NotFound."""
    e = session.scalar(select(Enterprise).where(Enterprise.code == code))
    if e is None:
        raise NotFound(f"no enterprise {code}")
    return e


def list_enterprises(session: Session, limit: int = 500, offset: int = 0) -> list[EnterpriseOut]:
    """Registered enterprises by code, paged."""
    rows = session.scalars(select(Enterprise).order_by(Enterprise.code).limit(limit).offset(offset))
    return [enterprise_out(e) for e in rows]


def set_credit_grade(session: Session, code: str, grade: CreditGrade, reason: str, actor: Principal) -> None:
    """Change a credit grade, keeping its history and an audit entry."""
    e = get_enterprise(session, code)
    if e.credit_grade == grade.value:
        return
    session.add(CreditGradeChange(enterprise_id=e.id, grade_from=e.credit_grade, grade_to=grade.value,
                                  at=utcnow(), actor=actor.username, reason=reason))
    record(session, actor, "enterprise.credit_grade", "enterprise", code,
           {"from": e.credit_grade, "to": grade.value, "reason": reason})
    e.credit_grade = grade.value


def grade_history(session: Session, code: str) -> list[CreditGradeChange]:
    """Credit-grade changes of an enterprise, oldest first."""
    e = get_enterprise(session, code)
    q = select(CreditGradeChange).where(CreditGradeChange.enterprise_id == e.id).order_by(CreditGradeChange.id)
    return list(session.scalars(q))


USER_INVALID = "The user is not valid"


def create_user(session: Session, data: UserIn, actor: Principal | None = None) -> UserOut:
    """Create a user account (a trader needs an existing enterprise), audited when an actor creates it."""
    enterprise_id = None
    if data.role == Role.TRADER:
        if not data.enterprise_code:
            raise ValidationProblem("a trader acts for an enterprise",
                                    [FieldError("enterprise_code", "required for role trader")], title=USER_INVALID)
        enterprise_id = get_enterprise(session, data.enterprise_code).id
    elif data.enterprise_code:
        raise ValidationProblem("only traders act for an enterprise",
                                [FieldError("enterprise_code", f"not allowed for role {data.role}")],
                                title=USER_INVALID)
    user = User(username=data.username, display_name=data.display_name, role=data.role.value,
                enterprise_id=enterprise_id, password_hash=hash_password(data.password) if data.password else None)
    session.add(user)
    try:
        session.flush()
    except IntegrityError:
        raise Conflict(f"user {data.username} exists", [FieldError("username", "already taken")]) from None
    if actor is not None:
        record(session, actor, "user.create", "user", data.username, {"role": data.role.value})
    return UserOut(username=user.username, display_name=user.display_name, role=user.role,
                   enterprise_code=data.enterprise_code, active=True)


def list_users(session: Session, limit: int | None = None, offset: int = 0) -> list[UserOut]:
    """The user accounts with their enterprise codes, oldest first (all, or a page of ``limit`` from ``offset``)."""
    q = (select(User, Enterprise.code).outerjoin(Enterprise, Enterprise.id == User.enterprise_id).order_by(User.id)
         .limit(limit).offset(offset))
    return [UserOut(username=u.username, display_name=u.display_name, role=u.role, enterprise_code=code,
                    active=u.active) for u, code in session.execute(q)]


def create_api_key(session: Session, username: str, label: str = "", actor: Principal | None = None) -> str:
    """Make a key for ``username``; the key itself is returned once and never stored."""
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound(f"no user {username}")
    key, prefix, digest = new_api_key()
    creator = actor.user_id if actor is not None and not actor.internal and actor.user_id else None
    session.add(ApiKey(user_id=user.id, prefix=prefix, key_hash=digest, label=label, created_by=creator))
    if actor is not None:
        detail: dict[str, object] = {"prefix": prefix, "label": label}
        if creator is not None and creator != user.id:
            detail["for_another_user"] = True  # its calls will show ``acting_via`` = the creator
        record(session, actor, "api_key.create", "user", username, detail)
    return key


def revoke_api_key(session: Session, prefix: str, actor: Principal) -> None:
    """Revoke an active API key by its prefix and audit it; NotFound when none is active."""
    n = cast(CursorResult, session.execute(update(ApiKey).where(ApiKey.prefix == prefix, ApiKey.revoked_at.is_(None))
                                         .values(revoked_at=utcnow()))).rowcount
    if not n:
        raise NotFound(f"no active API key {prefix}")
    record(session, actor, "api_key.revoke", "api_key", prefix)


def _principal(user: User, enterprise_code: str | None, acting_via: str | None = None) -> Principal:
    return Principal(user_id=user.id, username=user.username, role=Role(user.role),
                     enterprise_code=enterprise_code, acting_via=acting_via)


_Creator = aliased(User)


def resolve_api_key(session: Session, key: str) -> Principal | None:
    """The principal behind a presented key, or None when unknown, revoked or the user is inactive."""
    prefix = api_key_prefix(key)
    if prefix is None:
        return None
    q = (select(ApiKey.key_hash, User, Enterprise.code, _Creator.username)
         .join(User, User.id == ApiKey.user_id)
         .outerjoin(Enterprise, Enterprise.id == User.enterprise_id)
         .outerjoin(_Creator, (_Creator.id == ApiKey.created_by) & (_Creator.id != ApiKey.user_id))
         .where(ApiKey.prefix == prefix, ApiKey.revoked_at.is_(None)))
    row = session.execute(q).first()
    if row is None or not row[1].active or not digests_match(row[0], api_key_digest(key)):
        return None
    return _principal(row[1], row[2], row[3])


def touch_api_key(session: Session, prefix: str, now: datetime | None = None) -> None:
    """Note that the key was used (``last_used_at``), at most once a minute."""
    now = now or utcnow()
    session.execute(update(ApiKey).where(ApiKey.prefix == prefix, or_(
        ApiKey.last_used_at.is_(None), ApiKey.last_used_at < now - timedelta(minutes=1))).values(last_used_at=now))


class ApiKeys:
    """The API keys of a deployment as the request check looks them up (a ``core.http.KeyResolver``)."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def resolve(self, key: str) -> Principal | None:
        """The principal behind ``key``, or None (unknown, revoked, user inactive)."""
        with self.sessions() as session:
            return resolve_api_key(session, key)

    def touch(self, prefix: str) -> None:
        """Note the use of the key with ``prefix`` (``last_used_at``), in a transaction of its own."""
        with self.sessions() as session, session.begin():
            touch_api_key(session, prefix)


def check_login(session: Session, username: str, password: str) -> tuple[Principal | None, str]:
    """The user a name and password sign in, or None and why (for the audit log, never for the caller).

    Every outcome costs one scrypt verification (a dummy one for an unknown user), so the answer's time
    does not tell which names exist. A hash made with older cost parameters is re-made at today's
    (the caller commits).
    """
    q = (select(User, Enterprise.code).outerjoin(Enterprise, Enterprise.id == User.enterprise_id)
         .where(User.username == username))
    row = session.execute(q).first()
    if row is None:
        verify_dummy(password)
        return None, "unknown user"
    user = row[0]
    if not user.password_hash:
        verify_dummy(password)
        return None, "no password"
    if not verify_password(password, user.password_hash):
        return None, "wrong password"
    if not user.active:
        return None, "deactivated"
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return _principal(user, row[1]), "ok"


# -- web sessions ---------------------------------------------------------------------------------------
def start_web_session(session: Session, who: Principal, max_age: timedelta, address: str = "") -> str:
    """A new web session for ``who``; returns its id (for the cookie only: the database keeps a digest)."""
    token, digest = new_session_id()
    now = utcnow()
    session.add(WebSession(id_hash=digest, user_id=who.user_id, created_at=now, last_seen_at=now,
                           expires_at=now + max_age, address=address[:64]))
    return token


def web_session_principal(session: Session, token: str, idle: timedelta) -> Principal | None:
    """The signed-in user of a live session (not revoked, not expired, not idle, user active), or None.

    Notes the use (``last_seen_at``) at most once a minute; the caller commits.
    """
    now = utcnow()
    q = (select(WebSession, User, Enterprise.code)
         .join(User, User.id == WebSession.user_id)
         .outerjoin(Enterprise, Enterprise.id == User.enterprise_id)
         .where(WebSession.id_hash == session_digest(token), WebSession.revoked_at.is_(None)))
    row = session.execute(q).first()
    if row is None:
        return None
    ws, user, code = row
    if not user.active or ws.expires_at <= now or ws.last_seen_at + idle <= now:
        return None
    if now - ws.last_seen_at >= timedelta(minutes=1):
        ws.last_seen_at = now
    return _principal(user, code)


def revoke_web_session(session: Session, token: str) -> None:
    """End a web session (sign-out): its cookie no longer signs anyone in."""
    session.execute(update(WebSession).where(WebSession.id_hash == session_digest(token),
                                             WebSession.revoked_at.is_(None)).values(revoked_at=utcnow()))


def set_user_active(session: Session, username: str, active: bool, actor: Principal) -> UserOut:
    """Deactivate (its web sessions end, its API keys stop) or reactivate a user; audited."""
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound(f"no user {username}")
    if not active and user.id == actor.user_id:
        raise Conflict("you cannot deactivate yourself", [FieldError("username", "is you")])
    if user.active != active:
        user.active = active
        if not active:
            session.execute(update(WebSession).where(WebSession.user_id == user.id, WebSession.revoked_at.is_(None))
                            .values(revoked_at=utcnow()))
        record(session, actor, "user.reactivate" if active else "user.deactivate", "user", username)
    code = session.scalar(select(Enterprise.code).where(Enterprise.id == user.enterprise_id)) \
        if user.enterprise_id else None
    return UserOut(username=user.username, display_name=user.display_name, role=user.role, enterprise_code=code,
                   active=user.active)


def _user(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound(f"no user {username}")
    return user


def _end_web_sessions(session: Session, user_id: int) -> None:
    session.execute(update(WebSession).where(WebSession.user_id == user_id, WebSession.revoked_at.is_(None))
                    .values(revoked_at=utcnow()))


def reset_password(session: Session, username: str, password: str, actor: Principal) -> None:
    """Set a new password for ``username`` (the policy applies); the user's web sessions end; audited."""
    user = _user(session, username)
    problem = password_problem(password, username)
    if problem:
        raise ValidationProblem(problem, [FieldError("password", problem)], title=USER_INVALID)
    user.password_hash = hash_password(password)
    _end_web_sessions(session, user.id)
    record(session, actor, "user.reset_password", "user", username)


def set_user_role(session: Session, username: str, role: Role, enterprise_code: str | None,
                  actor: Principal) -> UserOut:
    """Change a user's role (a trader acts for an enterprise, other roles for none); sessions end; audited.

    Administrators cannot change their own role (no one locks the last administrator out by mistake).
    """
    user = _user(session, username)
    if user.id == actor.user_id:
        raise Conflict("you cannot change your own role", [FieldError("role", "is your own")])
    enterprise_id = None
    if role == Role.TRADER:
        if not enterprise_code:
            raise ValidationProblem("a trader acts for an enterprise",
                                    [FieldError("enterprise_code", "required for role trader")], title=USER_INVALID)
        enterprise_id = session.scalar(select(Enterprise.id).where(Enterprise.code == enterprise_code))
        if enterprise_id is None:
            raise ValidationProblem(f"no enterprise {enterprise_code}",
                                    [FieldError("enterprise_code", "not a registered enterprise")], title=USER_INVALID)
    elif enterprise_code:
        raise ValidationProblem("only traders act for an enterprise",
                                [FieldError("enterprise_code", f"not allowed for role {role}")], title=USER_INVALID)
    before = (user.role, user.enterprise_id)
    if before != (role.value, enterprise_id):
        user.role, user.enterprise_id = role.value, enterprise_id
        _end_web_sessions(session, user.id)  # its pages were opened with the old role
        record(session, actor, "user.change_role", "user", username,
               {"from": before[0], "to": role.value, "enterprise_code": enterprise_code})
    return UserOut(username=user.username, display_name=user.display_name, role=user.role,
                   enterprise_code=enterprise_code if role == Role.TRADER else None, active=user.active)


@dataclass(frozen=True, slots=True)
class Party:
    """An enterprise as the declaration checks see it: code, roles and credit grade."""
    code: str
    roles: frozenset[str]
    credit_grade: str


def parties(session: Session, codes: set[str]) -> dict[str, Party]:
    """Registered enterprises among ``codes``."""
    if not codes:
        return {}
    rows = session.connection().execute(_PARTIES, {"codes": sorted(codes)})  # built once: lodging latency
    return {c: Party(c, frozenset(r.split(",")), g) for c, r, g in rows}


_ET = Enterprise.__table__
_PARTIES = select(_ET.c.code, _ET.c.roles, _ET.c.credit_grade).where(_ET.c.code.in_(bindparam("codes", expanding=True)))


# -- the administration page's lists ---------------------------------------------------------------------
def list_api_keys(session: Session, limit: int = 500, offset: int = 0) -> list[dict]:
    """The latest API keys: prefix, label, owner, role and dates, last use to the minute (never the key)."""
    q = (select(ApiKey.prefix, ApiKey.label, ApiKey.created_at, ApiKey.revoked_at, ApiKey.last_used_at,
                User.username, User.role)
         .join(User, User.id == ApiKey.user_id).order_by(ApiKey.id.desc()).limit(limit).offset(offset))
    return [dict(r._mapping) for r in session.execute(q)]


def count_users_and_keys(session: Session) -> tuple[int, int]:
    """How many user accounts and API keys there are (for the admin lists' pagers)."""
    return (int(session.scalar(select(func.count()).select_from(User)) or 0),
            int(session.scalar(select(func.count()).select_from(ApiKey)) or 0))


def search_enterprises(session: Session, q: str = "", limit: int = 100, offset: int = 0) -> tuple[list[dict], int]:
    """A page of the enterprises whose code or name contains ``q`` (all when empty), by code, and how many match."""
    where = [or_(Enterprise.code.contains(q.upper()), Enterprise.name.contains(q))] if q else []
    rows = session.execute(select(Enterprise.code, Enterprise.name, Enterprise.roles, Enterprise.credit_grade)
                           .where(*where).order_by(Enterprise.code).limit(limit).offset(offset))
    total = session.scalar(select(func.count()).select_from(Enterprise).where(*where))
    return [dict(r._mapping) for r in rows], int(total or 0)
