"""REST routes of the caller's inbox (thin: the service holds the logic)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request

from smartcustoms.core.http import current_principal
from smartcustoms.core.security import Principal
from smartcustoms.core.wire import MAX_OFFSET
from smartcustoms.notices.schemas import InboxOut, MarkedOut, MarkReadIn, NoticeCode, NoticeOut
from smartcustoms.notices.service import MAX_PAGE, NoticeService

router = APIRouter(prefix="/api/v1/inbox", tags=["inbox"])


async def get_service(request: Request) -> NoticeService:
    """The deployment's inbox service."""
    return request.app.state.platform.notices


@router.get("", response_model=InboxOut, summary="The caller's messages, newest first")
def inbox(unread: bool = Query(False, description="only the messages the caller has not read"),
          limit: int = Query(25, ge=1, le=MAX_PAGE, description="messages per page"),
          offset: int = Query(0, ge=0, le=MAX_OFFSET, description="messages to skip"),
          who: Principal = Depends(current_principal), service: NoticeService = Depends(get_service)) -> InboxOut:
    """Status changes of the caller's declarations (a trader: its enterprise's), officers' requests and
    detention notices; a customs user: the messages addressed to them. Each with its code, its particulars
    and English words; read state is the caller's own."""
    page = service.page(who, unread_only=unread, limit=limit, offset=offset)
    return InboxOut(items=[NoticeOut(id=n.id, code=NoticeCode(n.code), params=n.params,
                                     text=service.text(n.code, n.params), declaration_no=n.declaration_no,
                                     at=n.at, read=n.read) for n in page.items],
                    total=page.total, unread=page.unread, limit=page.limit, offset=page.offset)


@router.post("/read", response_model=MarkedOut, summary="Mark some of the caller's messages read")
def mark_read(body: MarkReadIn, who: Principal = Depends(current_principal),
              service: NoticeService = Depends(get_service)) -> MarkedOut:
    """Mark messages read (for the caller only: the other users of the enterprise keep their own state).
    An id that is not one of the caller's messages is a 404 and nothing is marked."""
    marked = service.mark_read(who, body.ids)
    return MarkedOut(marked=marked, unread=service.unread_count(who))


@router.post("/read-all", response_model=MarkedOut, summary="Mark every message of the caller read")
def mark_all_read(who: Principal = Depends(current_principal),
                  service: NoticeService = Depends(get_service)) -> MarkedOut:
    """Mark every message the caller has now read; messages arriving later are unread."""
    marked = service.mark_all_read(who)
    return MarkedOut(marked=marked, unread=service.unread_count(who))
