"""Declarant–importer mandates: a trader lodges for another enterprise only under a mandate in force."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from sqlalchemy import bindparam, or_, select
from sqlalchemy.orm import Session

from smartcustoms.audit.service import record
from smartcustoms.core.clock import utcnow
from smartcustoms.core.errors import FieldError, NotFound, ValidationProblem
from smartcustoms.core.security import Principal
from smartcustoms.enterprises.models import Enterprise, Mandate
from smartcustoms.enterprises.schemas import MandateIn, MandateOut


def _naive_utc(dt: datetime | None) -> datetime | None:
    return dt if dt is None or dt.tzinfo is None else dt.astimezone(UTC).replace(tzinfo=None)


def create_mandate(session: Session, data: MandateIn, actor: Principal) -> MandateOut:
    """Register a mandate (audited); both enterprises must be registered and the period not empty."""
    known = set(session.scalars(select(Enterprise.code).where(
        Enterprise.code.in_([data.declarant_code, data.importer_code]))))
    errors = [FieldError(f, f"{code} is not a registered enterprise")
              for f, code in (("declarant_code", data.declarant_code), ("importer_code", data.importer_code))
              if code not in known]
    if data.declarant_code == data.importer_code:
        errors.append(FieldError("declarant_code", "an enterprise needs no mandate to lodge for itself"))
    now = utcnow()
    valid_from, valid_to = _naive_utc(data.valid_from) or now, _naive_utc(data.valid_to)
    if valid_to is not None and valid_to <= valid_from:
        errors.append(FieldError("valid_to", "is not after valid_from"))
    if errors:
        raise ValidationProblem("the mandate is not valid", errors, title="The mandate is not valid")
    m = Mandate(declarant_code=data.declarant_code, importer_code=data.importer_code, valid_from=valid_from,
                valid_to=valid_to, created_by=actor.username, created_at=now)
    session.add(m)
    session.flush()
    record(session, actor, "mandate.create", "mandate", str(m.id),
           {"declarant": m.declarant_code, "importer": m.importer_code,
            "valid_to": valid_to.isoformat() if valid_to else None})
    return MandateOut.model_validate(m)


def list_mandates(session: Session, enterprise: str | None = None, limit: int = 500,
                  offset: int = 0) -> list[MandateOut]:
    """Mandates, newest first; with ``enterprise``, those where it is the declarant or the importer."""
    q = select(Mandate).order_by(Mandate.id.desc())
    if enterprise:
        q = q.where(or_(Mandate.declarant_code == enterprise, Mandate.importer_code == enterprise))
    return [MandateOut.model_validate(m) for m in session.scalars(q.limit(limit).offset(offset))]


def revoke_mandate(session: Session, mandate_id: int, actor: Principal) -> MandateOut:
    """End a mandate now (audited); lodging under it stops at once."""
    m = session.get(Mandate, mandate_id)
    if m is None or m.revoked_at is not None:
        raise NotFound(f"no mandate {mandate_id} in force")
    m.revoked_at, m.revoked_by = utcnow(), actor.username
    record(session, actor, "mandate.revoke", "mandate", str(m.id),
           {"declarant": m.declarant_code, "importer": m.importer_code})
    session.flush()
    return MandateOut.model_validate(m)


_MT = Mandate.__table__
_IN_FORCE = (select(_MT.c.declarant_code, _MT.c.importer_code)
             .where(_MT.c.declarant_code.in_(bindparam("declarants", expanding=True)),
                    _MT.c.importer_code.in_(bindparam("importers", expanding=True)),
                    _MT.c.revoked_at.is_(None), _MT.c.valid_from <= bindparam("at"),
                    or_(_MT.c.valid_to.is_(None), _MT.c.valid_to > bindparam("at")))
             .distinct())


def mandated(session: Session, pairs: Iterable[tuple[str, str]], at: datetime) -> set[tuple[str, str]]:
    """The (declarant, importer) pairs among ``pairs`` with a mandate in force at ``at``: one query."""
    wanted = set(pairs)
    if not wanted:
        return set()
    rows = session.connection().execute(_IN_FORCE, {"declarants": sorted({d for d, _ in wanted}),
                                                    "importers": sorted({i for _, i in wanted}),
                                                    "at": _naive_utc(at)})
    return {(d, i) for d, i in rows} & wanted
