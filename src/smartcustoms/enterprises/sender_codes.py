"""Sender codes: the ebpCode / ebcCode / payCode / logisticsCode an enterprise sends CBEC messages under.

A trader's CBEC documents must carry codes registered for its enterprise (its own code always counts); an
administrator registers the others (a platform's e-commerce sellers, a group's payment or logistics arm).
"""

from __future__ import annotations

from typing import cast

from sqlalchemy import CursorResult, delete, select
from sqlalchemy.orm import Session

from smartcustoms.audit.service import record
from smartcustoms.core.clock import utcnow
from smartcustoms.core.errors import Conflict, FieldError, NotFound
from smartcustoms.core.security import Principal
from smartcustoms.enterprises.models import Enterprise, SenderCode
from smartcustoms.enterprises.schemas import SenderCodeIn, SenderCodeOut, SenderKind

KINDS = tuple(k.value for k in SenderKind)


def _enterprise_exists(session: Session, enterprise_code: str) -> None:
    if session.scalar(select(Enterprise.id).where(Enterprise.code == enterprise_code)) is None:
        raise NotFound(f"no enterprise {enterprise_code}")


def register_sender_code(session: Session, enterprise_code: str, data: SenderCodeIn,
                         actor: Principal) -> SenderCodeOut:
    """Let ``enterprise_code`` send CBEC documents under ``data.code`` as ``data.kind`` (audited)."""
    _enterprise_exists(session, enterprise_code)
    taken = session.scalar(select(SenderCode.id).where(
        SenderCode.enterprise_code == enterprise_code, SenderCode.code == data.code, SenderCode.kind == data.kind))
    if taken is not None:
        raise Conflict(f"{data.kind} code {data.code} is already registered for {enterprise_code}",
                       [FieldError("code", "already registered")])
    row = SenderCode(enterprise_code=enterprise_code, code=data.code, kind=data.kind.value,
                     created_by=actor.username, created_at=utcnow())
    session.add(row)
    session.flush()
    record(session, actor, "sender_code.register", "enterprise", enterprise_code,
           {"code": data.code, "kind": data.kind.value})
    return SenderCodeOut.model_validate(row)


def remove_sender_code(session: Session, enterprise_code: str, kind: SenderKind, code: str,
                       actor: Principal) -> None:
    """Withdraw a registered sender code (audited); documents under it are refused from now on."""
    gone = delete(SenderCode).where(
        SenderCode.enterprise_code == enterprise_code, SenderCode.kind == kind.value, SenderCode.code == code)
    n = cast(CursorResult, session.execute(gone)).rowcount
    if not n:
        raise NotFound(f"no {kind.value} code {code} registered for {enterprise_code}")
    record(session, actor, "sender_code.remove", "enterprise", enterprise_code, {"code": code, "kind": kind.value})


def list_sender_codes(session: Session, enterprise_code: str) -> list[SenderCodeOut]:
    """The codes registered for an enterprise (its own code, which always counts, is not listed)."""
    _enterprise_exists(session, enterprise_code)
    q = (select(SenderCode).where(SenderCode.enterprise_code == enterprise_code)
         .order_by(SenderCode.kind, SenderCode.code))
    return [SenderCodeOut.model_validate(r) for r in session.scalars(q)]


def codes_of(session: Session, enterprise_code: str) -> dict[str, frozenset[str]]:
    """Kind -> the codes ``enterprise_code`` may send under (its own code in every kind): one query."""
    out: dict[str, set[str]] = {k: {enterprise_code} for k in KINDS}
    for code, kind in session.execute(select(SenderCode.code, SenderCode.kind)
                                      .where(SenderCode.enterprise_code == enterprise_code)):
        out.setdefault(kind, set()).add(code)
    return {k: frozenset(v) for k, v in out.items()}


def sender_codes_by_enterprise(session: Session, limit: int = 500) -> dict[str, list[str]]:
    """Enterprise code -> its registered sender codes as ``kind code`` (the admin page's summary)."""
    q = select(SenderCode.enterprise_code, SenderCode.kind, SenderCode.code).order_by(
        SenderCode.enterprise_code, SenderCode.kind, SenderCode.code).limit(limit)
    out: dict[str, list[str]] = {}
    for enterprise, kind, code in session.execute(q):
        out.setdefault(enterprise, []).append(f"{kind} {code}")
    return out
