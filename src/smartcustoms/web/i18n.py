"""Message catalogues (English, Chinese) for the web pages and the language choice of a request."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

from starlette.requests import Request

LOCALES_DIR = Path(__file__).with_name("locales")
LANGUAGES = ("en", "zh")
DEFAULT_LANGUAGE = "en"
COOKIE = "smartcustoms_lang"


@lru_cache
def catalogue(lang: str) -> dict[str, str]:
    """The flat ``key → text`` catalogue of ``lang`` (``en`` or ``zh``)."""
    if lang not in LANGUAGES:
        raise KeyError(f"no catalogue for {lang!r}")
    return json.loads((LOCALES_DIR / f"{lang}.json").read_text(encoding="utf-8"))


def translator(lang: str) -> Callable[..., str]:
    """``t(key, **values)``: the text in ``lang``, falling back to English, then to the key itself."""
    own, en = catalogue(lang), catalogue(DEFAULT_LANGUAGE)

    def t(key: str, **values: object) -> str:
        text = own.get(key) or en.get(key) or key
        return text.format(**values) if values else text

    return t


def language_of(request: Request) -> str:
    """The session's choice, else the cookie, else the browser's Accept-Language, else English."""
    session = request.scope.get("session") or {}
    lang = session.get("lang") or request.cookies.get(COOKIE)
    if lang in LANGUAGES:
        return lang
    accept = request.headers.get("accept-language", "").lower()
    for part in accept.split(","):
        tag = part.split(";")[0].strip()
        if tag.startswith("zh"):
            return "zh"
        if tag.startswith("en"):
            return "en"
    return DEFAULT_LANGUAGE
