"""Names beside codes, quantities and amounts, in the reader's language: the Jinja filters the pages share.

A page shows ``0110 一般贸易`` (or ``0110 General trade``) rather than a bare code, a quantity as ``18,000``
rather than ``18000.0000``, and every amount with its currency. The names come from the code lists
(:mod:`smartcustoms.codes`): the customs tables' Chinese names where they have one, pycountry's
translations of ISO 3166 and ISO 4217 otherwise. Enterprise names come from the enterprises table through a
small cache. Templates use the filters::

    {{ d.trade_mode|coded('trade_mode') }}   {{ i.quantity|qty }}   {{ d.total_value|amount(d.currency) }}
    {{ d.importer_code|party }}              {{ d.gross_mass_kg|mass }}
"""

from __future__ import annotations

import gettext
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import cache
from typing import Any

import pycountry
from jinja2 import Environment, pass_context
from jinja2.runtime import Context
from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from smartcustoms.codes import china
from smartcustoms.codes.service import CodeLists
from smartcustoms.enterprises.models import Enterprise

#: the kinds of code a page names, with the code list each is read from
KINDS = ("trade_mode", "transport_mode", "office", "unit", "country", "currency")
NONE = "—"


@cache
def _pycountry_zh(domain: str) -> Callable[[str], str]:
    """pycountry's Simplified Chinese translation of an ISO domain (``iso3166-1``, ``iso4217``)."""
    try:
        return gettext.translation(domain, pycountry.LOCALES_DIR, languages=["zh_CN"]).gettext
    except OSError:  # no catalogue shipped: names stay English
        return lambda s: s


@cache
def _china_by_iso(table: str) -> dict[str, str]:
    """ISO code → the customs table's Chinese name (countries by alpha-2, currencies by ISO 4217)."""
    rows = china.countries() if table == "countries" else china.currencies()
    return {e.iso: e.name_zh for e in rows.values() if e.iso and e.name_zh}


def code_name(codes: CodeLists, kind: str, code: str | None, lang: str) -> str | None:
    """The name of ``code`` in a code list of ``kind``, in ``lang`` (``en``/``zh``); None when unknown."""
    if not code:
        return None
    zh = lang == "zh"
    if kind == "country":
        c = code.strip().upper()
        c = codes.country_alpha2(c) or c
        name = codes.countries.get(c)
        if name is None:
            return None
        return (_china_by_iso("countries").get(c) or _pycountry_zh("iso3166-1")(name)) if zh else name
    if kind == "currency":
        c = code.strip().upper()
        name = codes.currencies.get(c)
        if name is None:
            return None
        return (_china_by_iso("currencies").get(c) or _pycountry_zh("iso4217")(name)) if zh else name
    table = {"trade_mode": codes.trade_modes, "transport_mode": codes.transport_modes,
             "office": codes.customs_offices, "unit": codes.units}.get(kind)
    if table is None:
        raise KeyError(f"no code list {kind!r}; one of {', '.join(KINDS)}")
    entry = table.get(code.strip())
    if entry is None:
        return None
    return (entry.name_zh or entry.name) if zh else (entry.name or entry.name_zh)


def number(value: Any, places: int | None = None) -> str:
    """A number for reading: thousands grouped; ``places`` decimals, or as many as it has (no trailing zeros).

    ``Decimal("18000.0000")`` reads ``18,000``, ``Decimal("0.5000")`` reads ``0.5``; None reads ``—``.
    """
    if value is None or value == "":
        return NONE
    try:
        d = value if isinstance(value, Decimal) else Decimal(str(value))
    except (InvalidOperation, ValueError):
        return str(value)
    if not d.is_finite():
        return str(value)
    if places is not None:
        return format(d.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP), ",f")  # half up, as money is
    d = d.normalize()
    if d == 0:
        return "0"
    return format(d, ",f")


def amount(value: Any, currency: str | None = None) -> str:
    """An amount with two decimals and its currency code after it: ``13,000.00 USD``."""
    if value is None or value == "":
        return NONE
    text = number(value, 2)
    return f"{text} {currency.upper()}" if currency else text


class EnterpriseNames:
    """Enterprise code → name, read from the enterprises table and kept for ``ttl_s`` seconds.

    The whole table is read when it is small (≤ ``full_limit`` rows); otherwise each code is read on first
    use. A code not registered has no name (the page shows the code alone).
    """

    def __init__(self, sessions: sessionmaker[Session], ttl_s: float = 300.0, full_limit: int = 20_000) -> None:
        self.sessions, self.ttl_s, self.full_limit = sessions, ttl_s, full_limit
        self._names: dict[str, str | None] = {}
        self._loaded_at = -1e18
        self._lock = threading.Lock()

    def _refresh(self) -> None:
        with self.sessions() as s:
            rows = s.execute(select(Enterprise.code, Enterprise.name).limit(self.full_limit + 1)).all()
        names: dict[str, str | None] = {} if len(rows) > self.full_limit else {c: n for c, n in rows}
        with self._lock:
            self._names, self._loaded_at = names, time.monotonic()

    def names(self, codes: Iterable[str]) -> dict[str, str | None]:
        """The names of ``codes`` (None for a code that is not registered)."""
        if time.monotonic() - self._loaded_at > self.ttl_s:
            self._refresh()
        wanted = {c for c in codes if c}
        missing = [c for c in wanted if c not in self._names]
        if missing:
            with self.sessions() as s:
                found = dict(s.execute(select(Enterprise.code, Enterprise.name)
                                       .where(Enterprise.code.in_(missing))).tuples().all())
            with self._lock:
                for c in missing:
                    self._names[c] = found.get(c)
        return {c: self._names.get(c) for c in wanted}

    def name(self, code: str | None) -> str | None:
        """The registered name of enterprise ``code``, or None."""
        return self.names([code]).get(code) if code else None


# -- the Jinja filters ---------------------------------------------------------------------------------
#: the page being rendered (language, request): macros imported without context still name codes in its language
_PAGE: ContextVar[tuple[str, Any] | None] = ContextVar("smartcustoms_page", default=None)


@contextmanager
def rendering(lang: str, request: Any) -> Iterator[None]:
    """While a page renders: the filters' language and request, for macros imported without the context."""
    token = _PAGE.set((lang, request))
    try:
        yield
    finally:
        _PAGE.reset(token)


def _lang(ctx: Context) -> str:
    page = _PAGE.get()
    return ctx.get("lang") or (page[0] if page else "en")


def _request(ctx: Context) -> Any:
    page = _PAGE.get()
    return ctx.get("request") or (page[1] if page else None)


def _platform(ctx: Context) -> Any:
    request = _request(ctx)
    return request.app.state.platform if request is not None else None


def _codes(ctx: Context) -> CodeLists:
    platform = _platform(ctx)
    if platform is not None:
        return platform.codes
    from smartcustoms.codes import code_lists

    return code_lists()


@pass_context
def coded_filter(ctx: Context, code: Any, kind: str) -> Markup:
    """``0110 一般贸易``: the code and its name in the page's language (the code alone when unknown)."""
    if code is None or code == "":
        return Markup(NONE)
    name = code_name(_codes(ctx), kind, str(code), _lang(ctx))
    if not name:
        return Markup('<span class="code">{}</span>').format(code)
    return Markup('<span class="code">{}</span> <span class="name">{}</span>').format(code, name)


@pass_context
def code_name_filter(ctx: Context, code: Any, kind: str) -> str:
    """The name alone of a code (the code itself when unknown)."""
    if code is None or code == "":
        return NONE
    return code_name(_codes(ctx), kind, str(code), _lang(ctx)) or str(code)


def enterprise_names(request: Any) -> EnterpriseNames:
    """The app's enterprise-name cache (made on first use)."""
    state = request.app.state
    names = getattr(state, "enterprise_names", None)
    if names is None:
        names = state.enterprise_names = EnterpriseNames(state.platform.sessions)
    return names


@pass_context
def party_filter(ctx: Context, code: Any) -> Markup:
    """An enterprise code with its registered name beside it."""
    if not code:
        return Markup(NONE)
    request = _request(ctx)
    name = enterprise_names(request).name(str(code)) if request is not None else None
    if not name:
        return Markup('<span class="code">{}</span>').format(code)
    return Markup('<span class="code">{}</span> <span class="name" translate="no">{}</span>').format(code, name)


def mass_filter(value: Any) -> str:
    """A mass in kilograms: ``21,000 kg``."""
    return NONE if value is None else f"{number(value)} kg"


def install(env: Environment) -> None:
    """Register the filters on the pages' Jinja environment."""
    env.filters.update({"coded": coded_filter, "code_name": code_name_filter, "party": party_filter,
                        "qty": number, "num": number, "amount": amount, "mass": mass_filter})
