"""Every user's inbox: messages about their (enterprise's) declarations, rendered in the reader's language.

Notices are stored as codes and parameters (:mod:`smartcustoms.notices`); :func:`notice_text` words them at
display time, so a reader who switches language reads them in the other one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import quote

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


def _manifest_text(t: Callable[..., str], code: str, p: dict[str, Any], zh: bool) -> str:
    """A manifest notice in the reader's words (the assessment's reasons come in both languages)."""
    doc = p.get("document_no") or ""
    if code == NoticeCode.MANIFEST_REFERRED:
        reasons = p.get("reasons_zh" if zh else "reasons") or p.get("reasons") or t("notice.no_reason")
        return t("notice.manifest_referred", doc=doc, outcome=t(f"manifest_outcome.{p.get('outcome')}"),
                 reasons=reasons)
    if code == NoticeCode.MANIFEST_DECIDED:
        return t("notice.manifest_decided", doc=doc, action=t(f"notice.manifest_action.{p.get('action')}"),
                 note=p.get("note") or t("notice.no_reason"))
    kind, role, declaration = t(f"discrepancy_kind.{p.get('kind')}"), p.get("role"), p.get("declaration_no")
    if code == NoticeCode.DISCREPANCY_OPENED:
        if role not in ("filer", "declarant"):  # notices posted before the recipient's role was kept
            return t("notice.discrepancy_opened", doc=doc, kind=kind)
        todo = t(f"notice.discrepancy_todo.{role}.{p.get('kind')}")
        if role == "declarant" and declaration:
            return t("notice.discrepancy_opened_declarant", doc=doc, declaration=declaration, kind=kind, todo=todo)
        return t("notice.discrepancy_opened_todo", doc=doc, kind=kind, todo=todo)
    if role == "declarant" and declaration:
        return t("notice.discrepancy_resolved_declarant", doc=doc, declaration=declaration, kind=kind,
                 resolution=t(f"discrepancy_resolution.{p.get('resolution')}"),
                 note=p.get("note") or t("notice.no_reason"))
    return t("notice.discrepancy_resolved", doc=doc, kind=t(f"discrepancy_kind.{p.get('kind')}"),
             resolution=t(f"discrepancy_resolution.{p.get('resolution')}"), note=p.get("note") or t("notice.no_reason"))


_MANIFEST_CODES = frozenset({NoticeCode.MANIFEST_REFERRED, NoticeCode.MANIFEST_DECIDED, NoticeCode.DISCREPANCY_OPENED,
                             NoticeCode.DISCREPANCY_RESOLVED})


def notice_text(t: Callable[..., str], code: str, params: dict[str, Any], zh: bool = False) -> str:
    """A notice in the reader's words (``t``: the reader's catalogue; ``zh``: the reader reads Chinese)."""
    p = params
    if code in _MANIFEST_CODES:
        return _manifest_text(t, code, p, zh)
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


def _item(t: Callable[..., str], n: NoticeView, zh: bool = False) -> dict[str, Any]:
    return {"id": n.id, "code": n.code, "title": t(f"notice.title.{n.code}"),
            "text": notice_text(t, n.code, n.params, zh), "declaration_no": n.declaration_no,
            "ref": n.declaration_no or n.params.get("document_no"), "at": n.at, "read": n.read}


def target(code: str, params: dict[str, Any], declaration_no: str | None) -> str:
    """Where opening a notice leads: the carrier's request for information, its shipment, or the declaration."""
    if code == NoticeCode.MANIFEST_REFERRED and params.get("outcome") == "request_for_information" \
            and isinstance(params.get("filing_id"), int):
        return f"/manifests/requests/{params['filing_id']}"
    if code in _MANIFEST_CODES and params.get("role") == "declarant" and declaration_no:
        return f"/declarations/{declaration_no}"  # a declarant reads the declaration, not the carrier's shipment
    if code in _MANIFEST_CODES and params.get("document_no"):
        return f"/manifests/shipments/{quote(str(params['document_no']), safe='')}"
    return f"/declarations/{declaration_no}" if declaration_no else "/inbox"


def _back(unread: bool, offset: int, limit: int) -> str:
    return f"/inbox?unread={int(unread)}&offset={offset}&limit={limit}"


@router.get("/inbox")
def inbox_page(request: Request, unread: Annotated[int, Query(ge=0, le=1)] = 0,
               offset: Annotated[Offset, Query()] = 0, limit: Annotated[int, Query(ge=1, le=100)] = 25) -> Response:
    """The signed-in user's messages, newest first, paged; all or only the unread ones."""
    who = login(request)
    lang = language_of(request)
    t = translator(lang)
    limit = limit if limit in PAGE_SIZES else PAGE_SIZES[0]
    page = platform_of(request).notices.page(who, unread_only=bool(unread), limit=limit, offset=offset)
    return render(request, "inbox.html", items=[_item(t, n, lang == "zh") for n in page.items], page=page,
                  unread_only=bool(unread),
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
    """Mark one message read and go to what it is about (a declaration, a consignment)."""
    who = login(request)
    await checked_form(request)
    code, params, no = await run_in_threadpool(platform_of(request).notices.opened, who, notice_id)
    return RedirectResponse(target(code, params, no), status_code=303)
