"""What every page shares: the route class, the login guard, anti-forgery tokens, flash messages, rendering.

Routes stay thin: they read the form, call the domain services and render a Jinja2 template with the
request's language. Each role's pages live in their own module with their own router.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError
from starlette.datastructures import FormData

from smartcustoms.core.errors import DomainError, FieldError, Forbidden, loc_to_path
from smartcustoms.core.security import Principal, Role
from smartcustoms.core.wire import INT32_MAX
from smartcustoms.platform import Platform
from smartcustoms.web import labels
from smartcustoms.web.forms import required_fields
from smartcustoms.web.i18n import LANGUAGES, language_of, translator
from smartcustoms.web.messages import Localiser

WEB = Path(__file__).resolve().parents[1]
STATIC = (WEB / "static").resolve()
templates = Jinja2Templates(directory=str(WEB / "templates"))
templates.env.globals["required_fields"] = required_fields  # <form data-required="{{ required_fields('rule') }}">
labels.install(templates.env)  # names beside codes, quantities, amounts: |coded('trade_mode'), |qty, |amount(cur)
templates.env.globals["unread_messages"] = lambda request: unread_messages(request)  # the nav's count
CUSTOMS = (Role.OFFICER, Role.ANALYST, Role.ADMIN)
HOME = {Role.TRADER: "/declarations", Role.OFFICER: "/queue", Role.ANALYST: "/dashboard", Role.ADMIN: "/admin"}


class LoginRequired(Exception):
    """No signed-in user: the page redirects to the login form."""


class PageRoute(APIRoute):
    """Renders domain errors as HTML pages (not problem+json) and sends strangers to the login form."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """The route's handler, wrapped so that errors become pages and strangers go to the login form."""
        handler = super().get_route_handler()

        async def run(request: Request) -> Response:
            try:
                return await handler(request)
            except LoginRequired:
                return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)
            except DomainError as exc:
                return error_page(request, exc.status, exc.detail)
            except HTTPException as exc:
                return error_page(request, exc.status_code, str(exc.detail))

        return run


def page_router() -> APIRouter:
    """A router for server-rendered pages (HTML errors, login redirects, left out of the OpenAPI schema)."""
    return APIRouter(route_class=PageRoute, include_in_schema=False)


# -- request helpers ---------------------------------------------------------------------------------
def platform_of(request: Request) -> Platform:
    """The deployment's platform (services, engine, settings) the app was built with."""
    return request.app.state.platform


def signed_in(request: Request) -> Principal | None:
    """The user of the request's live web session (looked up by ``web.sessions.WebSessionAuth``), or None."""
    return request.scope.get("principal")


def login(request: Request, *roles: Role) -> Principal:
    """The signed-in user, who must have one of ``roles`` (any role when none are given)."""
    who = signed_in(request)
    if who is None:
        raise LoginRequired
    if roles and who.role not in roles:
        raise Forbidden("your role does not open this page")
    return who


def unread_messages(request: Request) -> int:
    """The signed-in user's unread inbox messages, counted up to the inbox's cap (0 without a user)."""
    who = signed_in(request) if "session" in request.scope else None
    return platform_of(request).notices.unread_count(who) if who is not None else 0


def csrf_token(request: Request) -> str:
    """The session's anti-forgery token (made on first use)."""
    token = request.session.get("csrf")
    if not token:
        token = request.session["csrf"] = secrets.token_urlsafe(24)
    return token


async def checked_form(request: Request) -> FormData:
    """The posted form, after checking its anti-forgery token against the session's."""
    form = await request.form()
    sent, token = form.get("csrf") or request.headers.get("x-csrf-token"), str(request.session.get("csrf", ""))
    if not sent or not token or not secrets.compare_digest(str(sent).encode(), token.encode()):
        raise HTTPException(403, "the form has expired; reload the page and try again")
    return form


def flash(request: Request, key: str, kind: str = "ok", **values: object) -> None:
    """A message (a translation key and its values) shown on the next page rendered."""
    request.session.setdefault("flash", []).append({"kind": kind, "key": key, "values": values})


def render(request: Request, name: str, status_code: int = 200, **context: Any) -> Response:
    """A template rendered in the request's language, with the user, the token and pending flash messages."""
    lang = language_of(request)
    t = translator(lang)
    say = Localiser(lang)  # the domains' English sentences (errors, reasons) in the reader's language
    messages = [{"kind": m["kind"], "text": t(m["key"], **{k: say.text(v, "detail") if isinstance(v, str) else v
                                                            for k, v in m.get("values", {}).items()})}
                for m in request.session.pop("flash", [])] if "session" in request.scope else []
    for key, value in list(context.items()):  # field errors, also those a form's state carries (decision_form)
        if key == "errors" and isinstance(value, dict):
            context[key] = localised_errors(say, value)
        elif isinstance(value, dict) and isinstance(value.get("errors"), dict):
            context[key] = {**value, "errors": localised_errors(say, value["errors"])}
    ctx = {"t": t, "lang": lang, "languages": LANGUAGES, "who": signed_in(request) if "session" in request.scope
           else None, "csrf": csrf_token(request) if "session" in request.scope else "", "messages": messages,
           "path": request.url.path, "Role": Role, "say": say, **context}
    with labels.rendering(lang, request):  # the code filters in imported macros read the page's language
        return templates.TemplateResponse(request, name, ctx, status_code=status_code)


def localised_errors(say: Localiser, errors: dict[str, list[str]]) -> dict[str, list[str]]:
    """Field errors (field → messages) with each message in the reader's language and the field's label."""
    def read(f: str, m: Any) -> Any:
        return say.field_error(FieldError(f, m)).message if isinstance(m, str) else m

    return {f: read(f, ms) if isinstance(ms, str) else [read(f, m) for m in ms] for f, ms in errors.items()}


def error_page(request: Request, status: int, detail: str) -> Response:
    """The error page for an HTTP status and its detail (in the reader's language when the catalogue has it)."""
    say = Localiser(language_of(request))
    read = say.detail(detail)
    return render(request, "error.html", status_code=status, status=status, detail=read,
                  original=detail if read == detail and not say.english else None)


def field_errors(exc: ValidationError) -> list[FieldError]:
    """A Pydantic validation error as field errors (dotted paths, plain messages)."""
    return [FieldError(loc_to_path(tuple(e["loc"])), e["msg"].removeprefix("Value error, "))
            for e in exc.errors()]


def form_int(value: object) -> int | None:
    """A form field's whole number (ASCII digits, at most INT32_MAX), else None."""
    text = str(value or "").strip()
    if not (text.isascii() and text.isdigit() and len(text) <= 10) or int(text) > INT32_MAX:
        return None
    return int(text)


def by_field(errors: list[FieldError]) -> dict[str, list[str]]:
    """Field errors grouped by field, as the templates mark them."""
    out: dict[str, list[str]] = {}
    for e in errors:
        out.setdefault(e.field, []).append(e.message)
    return out


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a path on this site only (no open redirect)."""
    return target if target and target.startswith("/") and not target.startswith("//") else "/"


def client_address(request: Request) -> str:
    """The client's address as the server saw it."""
    return request.client.host if request.client else "unknown"
