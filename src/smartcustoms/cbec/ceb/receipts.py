"""Receipts (回执) back to the senders, as the official import XSD has them (2018 and 202205 editions).

CEB312 OrderReturn, 412 PaymentReturn, 512 LogisticsReturn, 514 LogisticsStatusReturn (arrival), 622
InventoryReturn, 624 InvtCancelReturn, 626 InvtRefundReturn, 712 DeliveryReturn: one return per receipt
message, in the official form (UTF-8, ``standalone="yes"``, the CEB namespace as default namespace, root
``guid`` and ``version="1.0"``), written by a compiled writer with fixed text per kind
(:func:`emit_receipt_py` is the same in Python) and read back by :func:`parse_receipt`.

Field for field (see ``RECEIPT_FIELDS`` in ``ceb/spec.py``):

* ``guid`` (exactly 36 characters) is the document's guid. When the sender's guid is missing or not 36
  characters (a refusal), the receipt carries a guid of its own, a name-based UUID (upper case) made from the
  receipt kind, the sender's guid, the keys and the time (the same receipt always gets the same guid), and
  returnInfo ends with the sender's guid (``[guid:...]``); the business keys still let the sender match it.
* Business keys (orderNo, copNo, logisticsNo, payTransactionId, preNo, invtNo ...) come from ``Receipt.keys``
  (the document head, or ``CebError.keys`` for a refusal). A key longer than the XSD allows is cut to its
  length; a key of fixed length (preNo, invtNo, customsCode) that is not that length is left out. A mandatory
  key the sender never gave (or could not be read) is written as a placeholder: ``-`` for text, ``S`` for
  logisticsStatus, ``000000000000000000`` (18 zeros) for a preNo never assigned (a document refused before the
  e-port numbered it).
* ``returnInfo`` (1 to 1,000 characters) is the official-style Chinese text (``statuses.return_info``):
  ``[Code:2600;Desc:放行]``, ``暂存``, ``[Code:1301;Desc:报文校验不通过]`` followed by the field details. The
  Engine's English reason is ``Receipt.info``; the JSON form (:func:`receipt_json`) gives both,
  ``returnInfo`` (Chinese, as in the XML) and ``returnInfoEn``.

With the environment variable ``SMARTCUSTOMS_CBEC_RECEIPT_XSD`` set (one or more import XSD paths, separated
by ``os.pathsep``) every receipt :func:`emit_receipt` / :func:`emit_receipts` writes is validated against them
and a receipt that fails raises :class:`ReceiptInvalid` (the test suite sets it; unset, nothing is checked).
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

from lxml import etree

from smartcustoms.cbec.ceb.emit import _esc
from smartcustoms.cbec.ceb.spec import NS, RECEIPT_FIELDS, RECEIPT_HEADS, CebError
from smartcustoms.cbec.ceb.statuses import RETURN_INFO_MAX, STATUS_NAMES, _xml_safe, return_info

DECL = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
GUID_LEN = 36
_TAIL = ("returnStatus", "returnTime", "returnInfo")
_GUID_NS = uuid.UUID("5b0e7a52-7d1c-4c55-9a43-0c1e3b5f6a21")  # smartcustoms receipt guids (uuid5 namespace)
FORMAT_CHECK = "CEB900"  # 报文格式校验回执 (CEB900Message/MessageReturn): see ``ceb/transport.py``
_FORMAT_TAIL = ("oriCopMsgId", "oriMessageType", "oriBizMessage")
FORMAT_INFO_MAX = 5000  # CEB900 returnInfo: 0 to 5,000 characters


class ReceiptInvalid(ValueError):
    """A receipt that fails the official XSD (only raised when ``SMARTCUSTOMS_CBEC_RECEIPT_XSD`` is set)."""


class Receipt(NamedTuple):
    """A receipt (回执) back to the sender: ``kind`` is CEB312/412/512/514/622/624/626/712; ``info`` the English
    reason (the XML carries its Chinese official-style text)."""

    kind: str
    guid: str
    status: int
    info: str
    time_ms: int
    keys: dict[str, str]

    @property
    def return_time(self) -> str:
        """The receipt's returnTime in the CEB time format."""
        return format_time(self.time_ms)


def _format_time(ms: int) -> str:
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


def _placeholder(name: str, min_len: int, max_len: int) -> str:
    if name == "logisticsStatus":
        return "S"
    return "0" * min_len if min_len > 1 else "-"


def receipt_guid(r: Receipt) -> str:
    """The receipt's 36-character guid: the document's, or a name-based UUID when the document's is not 36
    characters (see the module's documentation)."""
    guid = r.guid
    if type(guid) is str and len(guid) == GUID_LEN:
        return guid
    keys = r.keys if isinstance(r.keys, dict) else {}
    named = [f"{f.name}={keys.get(f.name)}" for f in RECEIPT_FIELDS[r.kind][1:-3]]
    return str(uuid.uuid5(_GUID_NS, "\x00".join([r.kind, str(guid), str(r.time_ms), *named]))).upper()


def receipt_fields(r: Receipt) -> dict[str, str]:
    """The receipt's CEB fields in XSD order, exactly as the XML carries them (``keys`` may be a whole
    document head: only the receipt's fields are used)."""
    keys = r.keys if isinstance(r.keys, dict) else {}
    values = {"guid": receipt_guid(r)}
    for f in RECEIPT_FIELDS[r.kind][1:-3]:
        v = keys.get(f.name)
        if v is not None and type(v) is not str:
            v = str(v)
        if v and len(v) > f.max_len and f.min_len == 1:
            v = v[:f.max_len]
        if not v or not f.min_len <= len(v) <= f.max_len:
            if not f.mandatory:
                continue
            v = _placeholder(f.name, f.min_len, f.max_len)
        values[f.name] = v
    values["returnStatus"] = str(r.status)
    values["returnTime"] = format_time(r.time_ms)
    info = return_info(r.status, r.info if r.info is not None else "")
    if values["guid"] != r.guid:
        sender = f"[guid:{'' if r.guid is None else r.guid}]"[:100]
        info = info[:RETURN_INFO_MAX - len(sender)] + sender
    values["returnInfo"] = info
    return values


class _ReceiptTemplate(NamedTuple):
    """Fixed text of one receipt kind around its values."""

    open: str                                # XML declaration ... ``guid="``
    mid: str                                 # ``" version=... ><OrderReturn><guid>``
    # (field, ``<field>``, ``</field>``, mandatory, min length, max length) between guid and returnStatus
    keys: tuple[tuple[str, str, str, bool, int, int], ...]
    close: str


def _receipt_template(kind: str) -> _ReceiptTemplate:
    tag, _fields = RECEIPT_HEADS[kind]
    fields = RECEIPT_FIELDS[kind]
    assert fields[0].name == "guid" and tuple(f.name for f in fields[-3:]) == _TAIL, kind  # what emit writes
    return _ReceiptTemplate(f'{DECL}<{kind}Message guid="', f'" version="1.0" xmlns="{NS}"><{tag}><guid>',
                            tuple((f.name, f"<{f.name}>", f"</{f.name}>", f.mandatory, f.min_len, f.max_len)
                                  for f in fields[1:-3]),
                            f"</{tag}></{kind}Message>")


_RECEIPT_TEMPLATES = {kind: _receipt_template(kind) for kind in RECEIPT_HEADS}


def emit_receipt_py(r: Receipt) -> bytes:
    """CEB XML of a receipt, e.g. ``CEB622Message/InventoryReturn`` (fixed text per kind).

    :func:`emit_receipt` is the compiled writer when built (same bytes), which hands unusual receipts
    (non-str values, a guid not 36 characters, missing or overlong keys) back to this function.
    """
    if r.kind == FORMAT_CHECK:
        return emit_format_check(r)
    if r.kind not in _RECEIPT_TEMPLATES:
        raise ValueError(f"not a receipt kind: {r.kind!r}")
    tpl = _RECEIPT_TEMPLATES[r.kind]
    values = receipt_fields(r)
    g = _esc(values["guid"])
    out = [tpl.open, g, tpl.mid, g, "</guid>"]
    for name, open_tag, close_tag, _m, _lo, _hi in tpl.keys:
        v = values.get(name)
        if v is not None:
            out += (open_tag, _esc(v), close_tag)
    out += ("<returnStatus>", _esc(values["returnStatus"]), "</returnStatus><returnTime>", values["returnTime"],
            "</returnTime><returnInfo>", _esc(values["returnInfo"]), "</returnInfo>", tpl.close)
    return "".join(out).encode("utf-8")


def format_check_fields(r: Receipt) -> dict[str, str]:
    """A CEB900 receipt's fields in XSD order (guid, returnStatus, returnInfo up to 5,000 characters,
    returnTime, oriCopMsgId, oriMessageType, oriBizMessage)."""
    keys = r.keys if isinstance(r.keys, dict) else {}
    # the data exchange platform's error code (spec table 7-1: 0001 报文格式错误), then the reason
    info = "[Code:0001;Desc:报文格式错误]" + _xml_safe(r.info or "")
    return {"guid": r.guid, "returnStatus": str(r.status), "returnInfo": info[:FORMAT_INFO_MAX],
            "returnTime": format_time(r.time_ms), "oriCopMsgId": str(keys.get("oriCopMsgId") or "")[:255],
            "oriMessageType": str(keys.get("oriMessageType") or "Unknown")[:15],
            "oriBizMessage": str(keys.get("oriBizMessage") or "")}


def emit_format_check(r: Receipt) -> bytes:
    """CEB XML of a CEB900 format-check receipt (``CEB900Message/MessageReturn``, the official import XSDs)."""
    v = format_check_fields(r)
    out = [DECL, f'<CEB900Message guid="{_esc(v["guid"])}" version="1.0" xmlns="{NS}"><MessageReturn>']
    for name, value in v.items():
        out += (f"<{name}>", _esc(value), f"</{name}>")
    out.append("</MessageReturn></CEB900Message>")
    return "".join(out).encode("utf-8")


def _receipt_writer() -> Any:
    """The compiled receipt writer (``ceb/_receipts.pyx``), or ``None`` when it is not built."""
    try:
        from smartcustoms.cbec.ceb._receipts import ReceiptWriter
    except ImportError:  # pragma: no cover - `pip install -e .` builds it
        return None
    return ReceiptWriter(Receipt, _RECEIPT_TEMPLATES, emit_receipt_py, format_time, return_info)


_WRITER = _receipt_writer()
_emit_fast: Callable[[Receipt], bytes] = _WRITER.emit if _WRITER is not None else emit_receipt_py


def _emit_all_fast(receipts: Iterable[Receipt]) -> bytes:
    if _WRITER is not None:
        return _WRITER.emit_all(receipts)  # type: ignore[no-any-return]
    return b"".join(map(emit_receipt_py, receipts))


# ---------------------------------------------------------------------------- XSD validation (tests)
_SCHEMAS: list[Any] = []


def receipt_schemas() -> list[Any]:
    """The XSDs named by ``SMARTCUSTOMS_CBEC_RECEIPT_XSD`` (loaded once; empty when it is unset)."""
    paths = [p for p in os.environ.get("SMARTCUSTOMS_CBEC_RECEIPT_XSD", "").split(os.pathsep) if p]
    if len(_SCHEMAS) != len(paths):
        _SCHEMAS[:] = [etree.XMLSchema(etree.parse(p)) for p in paths]
    return _SCHEMAS


def validate_receipt(xml: bytes, schemas: Iterable[Any] | None = None) -> None:
    """Raise :class:`ReceiptInvalid` naming the failures when ``xml`` (one receipt message) fails any of
    ``schemas`` (default: those of ``SMARTCUSTOMS_CBEC_RECEIPT_XSD``)."""
    doc = etree.fromstring(xml)
    for schema in receipt_schemas() if schemas is None else schemas:
        if not schema.validate(doc):
            errors = "; ".join(f"line {e.line}: {e.message}" for e in schema.error_log)
            raise ReceiptInvalid(f"receipt fails the official XSD: {errors}: {xml[:2000]!r}")


def _emit_checked(r: Receipt) -> bytes:
    xml = _emit_fast(r)
    validate_receipt(xml)
    return xml


def _emit_all_checked(receipts: Iterable[Receipt]) -> bytes:
    receipts = list(receipts)
    out = _emit_all_fast(receipts)
    for r in receipts:
        validate_receipt(_emit_fast(r))
    return out


_CHECKED = bool(os.environ.get("SMARTCUSTOMS_CBEC_RECEIPT_XSD"))
emit_receipt: Callable[[Receipt], bytes] = _emit_checked if _CHECKED else _emit_fast
"""CEB XML of a receipt (see :func:`emit_receipt_py`)."""


def emit_receipts(receipts: Iterable[Receipt]) -> bytes:
    """The concatenated XML of many receipts (what a receipt file or stream holds)."""
    return _emit_all_checked(receipts) if _CHECKED else _emit_all_fast(receipts)


def receipt_json(r: Receipt) -> dict[str, Any]:
    """JSON form of a receipt: its CEB fields as the XML has them (``returnInfo`` in Chinese), plus ``type``,
    ``returnInfoEn`` (the reason in English) and ``statusName``."""
    if _CHECKED:
        validate_receipt(_emit_fast(r))
    if r.kind == FORMAT_CHECK:
        return {"type": r.kind, **format_check_fields(r), "returnInfoEn": r.info,
                "statusName": STATUS_NAMES.get(r.status, "")}
    return {"type": r.kind, **receipt_fields(r), "returnInfoEn": r.info, "statusName": STATUS_NAMES.get(r.status, "")}


# ---------------------------------------------------------------------------- reading
_READER = etree.XMLParser(resolve_entities=False, no_network=True, remove_comments=True, remove_pis=True,
                          huge_tree=False)


def _time_ms(t: str) -> int:
    moment = dt.datetime.strptime(t[:14], "%Y%m%d%H%M%S").replace(tzinfo=dt.timezone(dt.timedelta(hours=8)))
    return int(moment.timestamp()) * 1000 + int(t[14:17] or 0)


def parse_receipt(data: bytes) -> list[Receipt]:
    """Every return of a receipt message (up to 100 in an official one), in order, with ``info`` the
    receipt's returnInfo (used by tests and by clients of the API); a bad receipt raises :class:`CebError`."""
    try:
        root = etree.fromstring(data, _READER)
    except etree.XMLSyntaxError as exc:
        raise CebError([("", f"malformed XML: {exc}")]) from None
    qname = etree.QName(root.tag)
    kind = qname.localname[:-len("Message")]
    if qname.namespace == NS and kind == FORMAT_CHECK:
        return _parse_format_check(root)
    if qname.namespace != NS or kind not in RECEIPT_HEADS:
        raise CebError([(qname.localname, "not a CEB import receipt")])
    tag = RECEIPT_HEADS[kind][0]
    out = []
    for i, el in enumerate(root.iterchildren("{" + NS + "}" + tag), 1):
        values = {etree.QName(c.tag).localname: (c.text or "").strip() for c in el if isinstance(c.tag, str)}
        where = f"{tag}[{i}]"
        try:
            status, ms = int(values["returnStatus"]), _time_ms(values["returnTime"])
        except (KeyError, ValueError) as exc:
            raise CebError([(f"{where}/returnStatus,returnTime", f"missing or bad: {exc}")], kind) from None
        keys = {k: v for k, v in values.items() if k not in ("guid", *_TAIL) and v}
        out.append(Receipt(kind, values.get("guid", ""), status, values.get("returnInfo", ""), ms, keys))
    if not out:
        raise CebError([(tag, "missing mandatory element")], kind)
    return out


def _parse_format_check(root: Any) -> list[Receipt]:
    """The return of a CEB900 format-check receipt (its ori* fields in ``keys``)."""
    el = root.find("{" + NS + "}MessageReturn")
    if el is None:
        raise CebError([("MessageReturn", "missing mandatory element")], FORMAT_CHECK)
    values = {etree.QName(c.tag).localname: (c.text or "").strip() for c in el if isinstance(c.tag, str)}
    try:
        status, ms = int(values["returnStatus"]), _time_ms(values["returnTime"])
    except (KeyError, ValueError) as exc:
        raise CebError([("MessageReturn/returnStatus,returnTime", f"missing or bad: {exc}")], FORMAT_CHECK) from None
    keys = {k: values.get(k, "") for k in _FORMAT_TAIL}
    return [Receipt(FORMAT_CHECK, values.get("guid", ""), status, values.get("returnInfo", ""), ms, keys)]
