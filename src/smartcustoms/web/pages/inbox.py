"""Every user's inbox: messages about their (enterprise's) declarations, rendered in the reader's language.

Notices are stored as codes and parameters (:mod:`smartcustoms.notices`); :func:`notice_text` words them at
display time, so a reader who switches language reads them in the other one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Path, Query, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from smartcustoms.core.wire import INT32_MAX, Offset
from smartcustoms.notices.schemas import MAX_MARK, NoticeCode
from smartcustoms.notices.service import NoticeView
from smartcustoms.web.i18n import language_of, translator
from smartcustoms.web.pages.base import checked_form, flash, form_int, login, page_router, platform_of, render

router = page_router()
PAGE_SIZES = (25, 50, 100)


def _reason(t: Callable[..., str], params: dict[str, Any]) -> str:
    """An officer's reason: the reason code's words, with the officer's note (or the note alone)."""
    code, note = params.get("reason_code"), params.get("note")
    words = t(f"decision_reason.{code}") if code else ""
    if words and note:
        return t("decision.with_note", words=words, note=note)
    return words or note or t("notice.no_reason")


def notice_text(t: Callable[..., str], code: str, params: dict[str, Any]) -> str:
    """A notice in the reader's words (``t``: the reader's catalogue)."""
    p = params
    if code == NoticeCode.HELD:
        return t("notice.held", check=t(f"notice.check.{p.get('lane') or 'other'}"))
    if code == NoticeCode.CHECK_ORDERED:
        return t("notice.check_ordered", check=t(f"notice.check.{p.get('decision') or 'other'}"))
    if code == NoticeCode.DOCUMENTS_REQUESTED:
        return t("notice.documents_requested", reason=_reason(t, p))
    if code == NoticeCode.RELEASED:
        if p.get("outcome") == "no_offence":
            return t("notice.released_clean")
        return t("notice.released", reason=_reason(t, p)) if p.get("reason_code") or p.get("note") else \
            t("notice.released_plain")
    if code == NoticeCode.DETAINED:
        if p.get("offence_type"):
            return t("notice.detained_offence", offence=t(f"offence.{p['offence_type']}"),
                     amount=p.get("duty_recovered") or "0")
        return t("notice.detained", reason=_reason(t, p))
    if code == NoticeCode.CANCELLED:
        return t(f"notice.cancelled.{'trader' if p.get('by') == 'trader' else 'customs'}",
                 reason=p.get("reason") or t("notice.no_reason"))
    if code == NoticeCode.TAX_REASSESSED:
        return t("notice.tax_reassessed", version=p.get("version"), amount=p.get("tax_total"))
    if code == NoticeCode.AUDIT_FINDING:
        if p.get("outcome") == "offence":
            return t("notice.audit_offence", offence=t(f"offence.{p.get('offence_type') or 'other'}"),
                     amount=p.get("duty_recovered") or "0")
        return t("notice.audit_clean")
    if code == NoticeCode.DOCUMENTS_PROVIDED:
        return t("notice.documents_provided", by=p.get("by"), count=p.get("count"))
    return code


def _item(t: Callable[..., str], n: NoticeView) -> dict[str, Any]:
    return {"id": n.id, "code": n.code, "title": t(f"notice.title.{n.code}"), "text": notice_text(t, n.code, n.params),
            "declaration_no": n.declaration_no, "at": n.at, "read": n.read}


def _back(unread: bool, offset: int, limit: int) -> str:
    return f"/inbox?unread={int(unread)}&offset={offset}&limit={limit}"


@router.get("/inbox")
def inbox_page(request: Request, unread: Annotated[int, Query(ge=0, le=1)] = 0,
               offset: Annotated[Offset, Query()] = 0, limit: Annotated[int, Query(ge=1, le=100)] = 25) -> Response:
    """The signed-in user's messages, newest first, paged; all or only the unread ones."""
    who = login(request)
    t = translator(language_of(request))
    limit = limit if limit in PAGE_SIZES else PAGE_SIZES[0]
    page = platform_of(request).notices.page(who, unread_only=bool(unread), limit=limit, offset=offset)
    return render(request, "inbox.html", items=[_item(t, n) for n in page.items], page=page, unread_only=bool(unread),
                  sizes=PAGE_SIZES, back=_back(bool(unread), offset, limit))


def _return_to(form: Any) -> str:
    """Back to the inbox page the form was on (only an /inbox address)."""
    target = str(form.get("back") or "/inbox")
    return target if target.startswith("/inbox") and not target.startswith("//") else "/inbox"


@router.post("/inbox/read")
async def mark_read(request: Request) -> Response:
    """Mark the chosen messages read (the reader's own only; another's is as absent as a missing one)."""
    who = login(request)
    form = await checked_form(request)
    ids = [i for i in (form_int(v) for v in form.getlist("id")[:MAX_MARK]) if i]
    n = await run_in_threadpool(platform_of(request).notices.mark_read, who, ids)
    flash(request, "inbox.marked", n=n)
    return RedirectResponse(_return_to(form), status_code=303)


@router.post("/inbox/read-all")
async def mark_all_read(request: Request) -> Response:
    """Mark every message of the reader read."""
    who = login(request)
    form = await checked_form(request)
    n = await run_in_threadpool(platform_of(request).notices.mark_all_read, who)
    flash(request, "inbox.marked", n=n)
    return RedirectResponse(_return_to(form), status_code=303)


@router.post("/inbox/{notice_id}/open")
async def open_notice(notice_id: Annotated[int, Path(ge=1, le=INT32_MAX)], request: Request) -> Response:
    """Mark one message read and go to its declaration."""
    who = login(request)
    await checked_form(request)
    no = await run_in_threadpool(platform_of(request).notices.open, who, notice_id)
    return RedirectResponse(f"/declarations/{no}" if no else "/inbox", status_code=303)
