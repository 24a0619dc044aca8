"""Identifier and code checks of manifest data, each returning ``None`` when valid or the reason in words.

Check digits come from python-stdnum (ISO 6346 containers, IMO ship numbers, China's unified social credit
codes); country codes from pycountry. Air waybill numbers are checked here: a 3-digit airline prefix and an
8-digit serial whose first seven digits modulo 7 equal the eighth (IATA Resolution 600a).
"""

from __future__ import annotations

import re
from functools import lru_cache

import pycountry
from stdnum import imo, iso6346
from stdnum.cn import uscc
from stdnum.exceptions import ValidationError

_LOCODE = re.compile(r"[A-Z]{2}[A-Z2-9]{3}")
_AWB = re.compile(r"(\d{3})-?(\d{8})")
_UN_NUMBER = re.compile(r"(?:UN)?(\d{4})")


def _why(exc: ValidationError) -> str:
    return str(exc).lower().rstrip(".")


@lru_cache(maxsize=512)
def _country(alpha2: str) -> bool:
    return pycountry.countries.get(alpha_2=alpha2) is not None


def country_problem(code: str) -> str | None:
    """An ISO 3166-1 alpha-2 country code."""
    return None if len(code) == 2 and code.isupper() and _country(code) else f"{code!r} is not an ISO 3166 country code"


def locode_problem(code: str) -> str | None:
    """A UN/LOCODE's shape: an ISO 3166 country and three letters or digits 2-9 (``CNSHA``, ``NLRTM``)."""
    if not _LOCODE.fullmatch(code):
        return f"{code!r} is not a UN/LOCODE (2-letter country and 3 letters or digits 2-9)"
    return None if _country(code[:2]) else f"{code!r}: {code[:2]} is not an ISO 3166 country code"


def container_problem(number: str) -> str | None:
    """An ISO 6346 container number with its check digit (``CSQU3054383``)."""
    try:
        iso6346.validate(number)
    except ValidationError as exc:
        return f"{number!r} is not an ISO 6346 container number ({_why(exc)})"
    return None


def imo_problem(number: str) -> str | None:
    """An IMO ship number with its check digit; China's manifests write it ``UN`` + 7 digits."""
    digits = number[2:] if number.startswith("UN") else number
    try:
        imo.validate(digits)
    except ValidationError as exc:
        return f"{number!r} is not an IMO ship number ({_why(exc)})"
    return None


def awb_problem(number: str) -> str | None:
    """An air waybill number: 3-digit airline prefix, 7-digit serial and its mod-7 check digit."""
    m = _AWB.fullmatch(number)
    if m is None:
        return f"{number!r} is not an air waybill number (3-digit prefix and 8 digits)"
    serial = m.group(2)
    if int(serial[:7]) % 7 != int(serial[7]):
        return f"{number!r}: the air waybill check digit should be {int(serial[:7]) % 7}"
    return None


@lru_cache(maxsize=4096)  # regular shippers and consignees come back on every manifest
def uscc_problem(code: str) -> str | None:
    """A China unified social credit code (统一社会信用代码) with its check character."""
    try:
        uscc.validate(code)
    except ValidationError as exc:
        return f"{code!r} is not a unified social credit code ({_why(exc)})"
    return None


def party_id_problem(party_id: str) -> str | None:
    """A party identifier as the manifest writes it: ``USCI+<code>`` is checked as a China unified social
    credit code; other schemes (``AEO+``, a foreign registration number) are kept as given."""
    scheme, sep, code = party_id.partition("+")
    if sep and scheme.upper() == "USCI":
        return uscc_problem(code)
    return None


def un_number(text: str) -> str | None:
    """The 4-digit UN dangerous-goods number of ``text`` (``UN1203`` or ``1203``), None when it is not one."""
    m = _UN_NUMBER.fullmatch(text.strip().upper())
    return m.group(1) if m and m.group(1) != "0000" else None
