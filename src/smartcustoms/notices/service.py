"""Posting notices (in the producer's transaction) and reading the inbox of a user, with read state per user.

A trader reads the notices to its enterprise (every user of it sees them; each user's read state is their
own) and those to itself; customs users read those addressed to them. Producers (listeners the platform
wires to lifecycle events) post codes and parameters, never rendered text.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, Integer, Table, bindparam, case, delete, exists, false, func, insert, or_, select
from sqlalchemy.orm import Session, sessionmaker

from smartcustoms.core.clock import utcnow
from smartcustoms.core.errors import FieldError, NotFound
from smartcustoms.core.security import Principal, Role
from smartcustoms.notices.models import Notice, NoticeMark, NoticeRead
from smartcustoms.notices.schemas import MAX_MARK, NoticeCode

#: the nav shows "99+" beyond this: counting stops there, so the count stays cheap on any inbox
UNREAD_CAP = 100
MAX_PAGE = 200

#: ``render(code, params)``: a notice in English words (the API's ``text``; the web renders in the reader's language)
Renderer = Callable[[str, dict], str]

_NT, _RT, _MT = (cast(Table, Notice.__table__), cast(Table, NoticeRead.__table__),
                  cast(Table, NoticeMark.__table__))


@dataclass(frozen=True, slots=True)
class NoticeDraft:
    """A notice to post: to an enterprise's users or to one user."""

    code: NoticeCode
    params: dict[str, Any]
    at: datetime
    declaration_no: str | None = None
    enterprise_code: str | None = None
    user_id: int | None = None

    def row(self) -> dict[str, Any]:
        """The ``notices`` row."""
        if (self.enterprise_code is None) == (self.user_id is None):
            raise ValueError("a notice goes to an enterprise or to a user")
        return {"enterprise_code": self.enterprise_code, "user_id": self.user_id, "code": self.code.value,
                "params": self.params, "declaration_no": self.declaration_no, "at": self.at}


def post(session: Session, drafts: Sequence[NoticeDraft]) -> int:
    """Store ``drafts`` in the caller's transaction (one statement); how many."""
    if drafts:
        session.connection().execute(insert(_NT), [d.row() for d in drafts])
    return len(drafts)


@dataclass
class NoticeView:
    """A notice as its reader sees it: with their read state."""

    id: int
    code: str
    params: dict[str, Any]
    declaration_no: str | None
    at: datetime
    read: bool


@dataclass
class InboxPage:
    """One page of an inbox, newest first, with the number matching and the reader's unread count."""

    items: list[NoticeView]
    total: int
    unread: int
    limit: int
    offset: int
    unread_only: bool = False


def _mine(who: Principal) -> ColumnElement[bool]:
    """The notices ``who`` reads: its enterprise's (traders) and its own; none for the platform's processes."""
    if who.internal or who.user_id <= 0:
        return false()
    own = Notice.user_id == who.user_id
    if who.role == Role.TRADER and who.enterprise_code:
        return or_(Notice.enterprise_code == who.enterprise_code, own)
    return own


def _mark_of(user_id: int) -> Any:
    """The user's "all read up to" id (0 before any "mark all read"), as a scalar subquery."""
    return func.coalesce(select(NoticeMark.read_upto).where(NoticeMark.user_id == user_id).scalar_subquery(), 0)


def _unread(user_id: int) -> ColumnElement[bool]:
    """Not read by the user: above its mark and without a read of its own."""
    read = exists().where(NoticeRead.user_id == user_id, NoticeRead.notice_id == Notice.id)
    return (Notice.id > _mark_of(user_id)) & ~read


def _unread_count_statement(trader: bool) -> Any:
    """``SELECT count(*)`` of a reader's unread notices, up to :data:`UNREAD_CAP`, built once (Core, bound
    parameters ``uid`` and ``ent``): the nav runs it on every page."""
    n, uid = _NT, bindparam("uid", type_=Integer)
    mine = or_(n.c.enterprise_code == bindparam("ent"), n.c.user_id == uid) if trader else n.c.user_id == uid
    mark = func.coalesce(select(_MT.c.read_upto).where(_MT.c.user_id == uid).scalar_subquery(), 0)
    read = exists().where(_RT.c.user_id == uid, _RT.c.notice_id == n.c.id)
    inner = select(n.c.id).where(mine, n.c.id > mark, ~read).limit(UNREAD_CAP).subquery()
    return select(func.count()).select_from(inner)


_UNREAD_COUNT = {True: _unread_count_statement(True), False: _unread_count_statement(False)}


class NoticeService:
    """The inbox of each user over one database."""

    def __init__(self, sessions: sessionmaker[Session], render: Renderer | None = None,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.sessions = sessions
        self.render = render
        self.clock = clock

    def text(self, code: str, params: dict) -> str:
        """A notice in English words (its code when no renderer was wired)."""
        return self.render(code, params) if self.render is not None else code

    def unread_count(self, who: Principal, cap: int = UNREAD_CAP) -> int:
        """The reader's unread notices, counted up to ``cap`` (one indexed query, bounded work)."""
        if who.internal or who.user_id <= 0:
            return 0
        trader = who.role == Role.TRADER and bool(who.enterprise_code)
        if cap == UNREAD_CAP:
            stmt = _UNREAD_COUNT[trader]
        else:
            inner = select(Notice.id).where(_mine(who), _unread(who.user_id)).limit(cap).subquery()
            stmt = select(func.count()).select_from(inner)
        with self.sessions() as session:
            return int(session.connection().execute(
                stmt, {"uid": who.user_id, "ent": who.enterprise_code}).scalar() or 0)

    def page(self, who: Principal, *, unread_only: bool = False, limit: int = 25, offset: int = 0) -> InboxPage:
        """One page of the reader's inbox, newest first (``unread_only``: only what is not read yet)."""
        limit, offset = min(max(limit, 1), MAX_PAGE), max(offset, 0)
        cond = [_mine(who)]
        if unread_only:
            cond.append(_unread(who.user_id))
        with self.sessions() as session:
            rows = session.execute(select(Notice.id, Notice.code, Notice.params, Notice.declaration_no, Notice.at)
                                   .where(*cond).order_by(Notice.id.desc()).limit(limit).offset(offset)).all()
            total = int(session.scalar(select(func.count()).select_from(Notice).where(*cond)) or 0)
            mark = session.scalar(select(NoticeMark.read_upto).where(NoticeMark.user_id == who.user_id)) or 0
            ids = [r.id for r in rows if r.id > mark]
            read = set(session.scalars(select(NoticeRead.notice_id).where(
                NoticeRead.user_id == who.user_id, NoticeRead.notice_id.in_(ids)))) if ids else set()
        items = [NoticeView(r.id, r.code, dict(r.params or {}), r.declaration_no, r.at,
                            r.id <= mark or r.id in read) for r in rows]
        unread = total if unread_only and total < UNREAD_CAP else self.unread_count(who)
        return InboxPage(items, total, unread, limit, offset, unread_only)

    def mark_read(self, who: Principal, ids: Sequence[int]) -> int:
        """Mark the reader's notices ``ids`` read; how many were unread. Another's notice is as absent as a
        missing one (NotFound, nothing marked)."""
        wanted = sorted(set(ids))
        if not wanted:
            return 0
        if len(wanted) > MAX_MARK:
            raise ValueError(f"at most {MAX_MARK} notices at once")
        now = self.clock()
        with self.sessions() as session, session.begin():
            found = set(session.scalars(select(Notice.id).where(_mine(who), Notice.id.in_(wanted))))
            missing = [i for i in wanted if i not in found]
            if missing:
                raise NotFound(f"no message {missing[0]}", [FieldError("ids", f"no message {missing[0]}")])
            unread = list(session.scalars(select(Notice.id).where(Notice.id.in_(wanted), _unread(who.user_id))))
            if unread:
                session.execute(_insert_ignore(session), [{"user_id": who.user_id, "notice_id": i, "read_at": now}
                                                          for i in unread])
        return len(unread)

    def open(self, who: Principal, notice_id: int) -> str | None:
        """Mark one of the reader's notices read; its declaration's number (NotFound when not the reader's)."""
        self.mark_read(who, [notice_id])
        with self.sessions() as session:
            return session.scalar(select(Notice.declaration_no).where(Notice.id == notice_id, _mine(who)))

    def opened(self, who: Principal, notice_id: int) -> tuple[str, dict[str, Any], str | None]:
        """Mark one of the reader's notices read; its code, parameters and declaration's number (NotFound when
        not the reader's): where a notice leads depends on what it is about."""
        self.mark_read(who, [notice_id])
        with self.sessions() as session:
            row = session.execute(select(Notice.code, Notice.params, Notice.declaration_no)
                                  .where(Notice.id == notice_id, _mine(who))).one()
        return row.code, dict(row.params or {}), row.declaration_no

    def mark_all_read(self, who: Principal) -> int:
        """Mark every notice of the reader read (those arriving later stay unread); how many were unread."""
        now = self.clock()
        with self.sessions() as session, session.begin():
            top = session.scalar(select(func.max(Notice.id)).where(_mine(who)))
            if top is None:
                return 0
            n = int(session.scalar(select(func.count()).select_from(Notice)
                                   .where(_mine(who), _unread(who.user_id))) or 0)
            # an upsert that only moves the mark forward: two "mark all" at once both succeed
            ins = _dialect_insert(session)(NoticeMark).values(user_id=who.user_id, read_upto=top, at=now)
            later = ins.excluded.read_upto > NoticeMark.read_upto
            session.execute(ins.on_conflict_do_update(index_elements=["user_id"], set_={
                "read_upto": case((later, ins.excluded.read_upto), else_=NoticeMark.read_upto),
                "at": case((later, ins.excluded.at), else_=NoticeMark.at)}))
            # reads at or below the mark say nothing more
            session.execute(delete(NoticeRead).where(NoticeRead.user_id == who.user_id, NoticeRead.notice_id <= top))
        return n


def _dialect_insert(session: Session) -> Any:
    """The ``insert`` of the session's dialect (PostgreSQL or SQLite), which knows ``ON CONFLICT``."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert  # type: ignore[assignment]
    return dialect_insert


def _insert_ignore(session: Session) -> Any:
    """``INSERT ... ON CONFLICT DO NOTHING`` into ``notice_reads`` (a double click marks once)."""
    return _dialect_insert(session)(NoticeRead).on_conflict_do_nothing()
