"""Parsing CEB XML (and its JSON form) into validated documents.

Values are trimmed and empty elements (``<ceb:emsNo/>``) are treated as absent. A message either parses
completely or is refused as a whole with a :class:`~.spec.CebError` that names every offending field; the
caller turns it into a rejection receipt and stores nothing of it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, NamedTuple

import orjson
from lxml import etree

from smartcustoms.cbec.ceb.emit import document_json
from smartcustoms.cbec.ceb.spec import (
    _C,
    BASE_TRANSFER,
    INVENTORY_HEAD,
    INVENTORY_LIST,
    MESSAGE_GUID_MAX,
    NS,
    ORDER_HEAD,
    ORDER_LIST,
    PAYMENT_HEAD,
    RECEIPT_HEADS,
    SPECS,
    WAYBILL_HEAD,
    CebError,
    DocSpec,
    Document,
    FieldSpec,
)
from smartcustoms.cbec.ceb.statuses import NOT_PROCESSED

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


def document_from_json(payload: bytes) -> Document:
    """Inverse of :func:`document_json` (trusted, already validated data)."""
    obj = orjson.loads(payload)
    d = obj["documents"][0]
    return Document(obj["type"], d["head"]["guid"], obj["guid"], d["head"], d["lines"], obj["baseTransfer"])


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
    """The compiled scanner (:mod:`smartcustoms.cbec.ceb._scan`), or ``None`` when it is not built."""
    try:
        from smartcustoms.cbec.ceb._scan import Scanner
    except ImportError:  # pragma: no cover - `pip install -e .` builds it; lxml alone still gives every answer
        return None
    return Scanner(list(SPECS.values()), BASE_TRANSFER, MESSAGE_GUID_MAX, Document)


_FAST = _fast_scanner()
