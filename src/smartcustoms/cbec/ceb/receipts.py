"""Receipts (回执) back to the senders: CEB312 / 412 / 512 / 622 (and our CEB900), emitted by a compiled writer
with fixed text per kind (:func:`emit_receipt_py` is the same in Python), and read back."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

from lxml import etree

from smartcustoms.cbec.ceb.emit import _DECL, _esc
from smartcustoms.cbec.ceb.parse import _PARSER, _leaves
from smartcustoms.cbec.ceb.spec import _C, NS, RECEIPT_HEADS, CebError
from smartcustoms.cbec.ceb.statuses import STATUS_NAMES


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
        """The receipt's returnTime in the CEB time format."""
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
    """The compiled receipt writer (``ceb/_receipts.pyx``), or ``None`` when it is not built."""
    try:
        from smartcustoms.cbec.ceb._receipts import ReceiptWriter
    except ImportError:  # pragma: no cover - `pip install -e .` builds it
        return None
    return ReceiptWriter(Receipt, _RECEIPT_TEMPLATES, emit_receipt_py, format_time)


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
