"""Parsing CEB XML (and its JSON form) into validated documents.

Values are trimmed and empty elements (``<ceb:emsNo/>``) are treated as absent. Customs answers each document:
a message that cannot be read as a whole (malformed XML, unknown root or namespace, bad root guid, no or a bad
``BaseTransfer``, no document or more than 100) is refused with one :class:`~.spec.CebError`; otherwise each
document is a :class:`~.spec.Document` or its own :class:`~.spec.CebError` naming every offending field and
carrying the business keys read from its head (:func:`parse_items`), so a bad document does not refuse its
siblings. :func:`parse_message` is the strict form (every document valid, or one error naming all problems).

Forms real senders use are read alike: UTF-8 with or without a BOM, GBK/GB2312 declared in the prolog, the CEB
namespace as ``ceb:``, another prefix (``ns2:`` from JAXB) or the default namespace, CDATA, CRLF line ends and a
``ds:Signature`` (ignored here; ``ceb.signature`` verifies it on the raw bytes).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import orjson
from lxml import etree

from smartcustoms.cbec.ceb.emit import document_json
from smartcustoms.cbec.ceb.spec import (
    _C,
    AFTERCARE_KINDS,
    BASE_SUBSCRIBE,
    BASE_SUBSCRIBE_MAX,
    BASE_TRANSFER,
    EXTEND_MESSAGE,
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
from smartcustoms.core.config import CbecSettings

_ROOTS = {_C + k + "Message": k for k in SPECS}
_DOC_TAG = {k: _C + s.doc_tag for k, s in SPECS.items()}
_HEAD_TAG = {k: _C + s.head_tag for k, s in SPECS.items()}
_LIST_TAG = {k: _C + s.list_tag if s.list_tag else None for k, s in SPECS.items()}
_BASE_TAG = _C + "BaseTransfer"
_SUBSCRIBE_TAG = _C + "BaseSubscribe"
_EXTEND_TAG = _C + "ExtendMessage"
_GUID_REASON = f"not exactly {MESSAGE_GUID_MAX} characters"

# Clark tag -> CEB field name, for every field of every message
_SHORT: dict[str, str] = {
    _C + name: name
    for fields in (ORDER_HEAD, ORDER_LIST, PAYMENT_HEAD, WAYBILL_HEAD, INVENTORY_HEAD, INVENTORY_LIST,
                   BASE_TRANSFER, BASE_SUBSCRIBE, EXTEND_MESSAGE, *(f for _t, f in RECEIPT_HEADS.values()),
                   *(f for s in SPECS.values() for f in (s.head, s.lines)))
    for name, _c, _r in fields
}
MAX_DOCUMENTS = 100  # documents in one message (XSD maxOccurs; ceb/_scan.pyx declines more)
MAX_LINES = 99  # lines of one document (XSD maxOccurs of OrderList / InventoryList)
# head fields a refusal receipt carries so that the sender can match it (those the document has, if valid)
KEY_FIELDS = frozenset({"orderNo", "copNo", "logisticsNo", "logisticsCode", "payCode", "payTransactionId",
                        "ebpCode", "ebcCode", "agentCode", "customsCode", "preNo", "invtNo", "billNo"})
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
    head_path = where if spec.head_tag == spec.doc_tag else f"{where}/ceb:{spec.head_tag}"
    head = _validate(spec.head, head_raw, head_path, problems)
    line_fields = spec.lines_at(head.get("appTime"))  # e.g. the HS edition in force at appTime
    lines = [_validate(line_fields, line, f"{where}/ceb:{spec.list_tag}[{i}]", problems)
             for i, line in enumerate(lines_raw, 1)]
    if spec.list_tag and not lines_raw:
        problems.append((f"{where}/ceb:{spec.list_tag}", "missing mandatory element"))
    elif len(lines_raw) > MAX_LINES:
        problems.append((f"{where}/ceb:{spec.list_tag}", f"more than {MAX_LINES} elements ({len(lines_raw)})"))
    return head, lines


def business_keys(spec: DocSpec, head_raw: dict[str, Any]) -> dict[str, str]:
    """The business keys (:data:`KEY_FIELDS`) of a document head that pass their own check, in CEB order."""
    out: dict[str, str] = {}
    for name, check, _required in spec.head:
        if name in KEY_FIELDS:
            value = head_raw.get(name)
            if isinstance(value, str):
                with contextlib.suppress(ValueError):
                    out[name] = check(value) if check is not None else value
    return out


_SNIFF_KIND = re.compile(rb"CEB(\d{3})Message")
_SNIFF_GUID = re.compile(rb"""guid\s*=\s*["']([^"']{1,64})["']""")


def sniff(data: bytes) -> tuple[str | None, str | None]:
    """Best-effort message type and root guid of bytes that failed to parse."""
    head = data[:2048]
    kind = _SNIFF_KIND.search(head)
    guid = _SNIFF_GUID.search(head)
    return (f"CEB{kind.group(1).decode()}" if kind else None,
            guid.group(1).decode("utf-8", "replace") if guid else None)


Item = Document | CebError
"""One document's answer from the parser: the document, or its own refusal."""


def strict(items: Sequence[Item]) -> list[Document]:
    """``items`` if every one is a document, else one :class:`CebError` naming every problem of the message."""
    bad = [x for x in items if isinstance(x, CebError)]
    if bad:
        first = bad[0]
        raise CebError([p for e in bad for p in e.problems], first.kind, first.message_guid, first.doc_guid,
                       first.status, first.keys)
    return items  # type: ignore[return-value]


def parse_items(data: bytes | str) -> list[Item]:
    """Parse one CEB message (XML) into an answer per document (:class:`Document` or its :class:`CebError`);
    raise :class:`CebError` when the message as a whole cannot be read.

    A valid message in the forms senders commonly use is read by the compiled scanner; everything else (and
    every message with a refused document) goes through :func:`parse_items_lxml`, the reference, which gives
    the same result.
    """
    if isinstance(data, str):
        data = data.encode("utf-8")
    if _FAST is not None and type(data) is bytes:
        docs = _FAST.documents(data)
        if docs is not None:
            return docs  # type: ignore[no-any-return]
    return parse_items_lxml(data)


def parse_message(data: bytes | str) -> list[Document]:
    """Parse one CEB message (XML) into its documents, or raise :class:`CebError` naming the fields (strict:
    one bad document refuses the message; the pipeline answers per document through :func:`parse_items`)."""
    return strict(parse_items(data))


def parse_batch_documents(raws: Sequence[bytes], signed: list[bool | None] | None = None
                          ) -> list[list[Item] | CebError]:
    """:func:`parse_items` of many messages; one that cannot be read yields its :class:`CebError` (one compiled
    call). With a ``signed`` list, an entry per message is appended: whether the compiled scanner read an
    XML-DSig ``Signature`` in it, ``None`` where the scanner did not read the message (or is not built)."""
    if _FAST is not None:
        return _FAST.documents_batch(raws, _items_or_error, signed)  # type: ignore[no-any-return]
    if signed is not None:
        signed += [None] * len(raws)
    return [_items_or_error(raw) for raw in raws]


def _items_or_error(raw: bytes | str) -> list[Item] | CebError:
    """One message the scanner declined (or any message without it): its items or its :class:`CebError`."""
    try:
        return parse_items_lxml(raw) if _FAST is not None and type(raw) is bytes else parse_items(raw)
    except CebError as exc:
        return exc


def parse_items_lxml(data: bytes | str) -> list[Item]:
    """:func:`parse_items` through lxml only (the reference behaviour; exact error messages)."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    try:
        root = etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError as exc:
        kind, guid = sniff(data)
        raise CebError([("message", f"malformed XML: {exc}")], kind, guid, status=NOT_PROCESSED) from None
    if _SCHEMA is not None and not _SCHEMA.validate(root):
        return _schema_refusals(root, _SCHEMA.error_log)
    return items_from_element(root)


# ---------------------------------------------------------------------------- optional full XSD validation
_SCHEMA: Any = None  # the official import XSD, when SMARTCUSTOMS_CBEC_XSD_DIR names a folder holding it
_MAX_SCHEMA_PROBLEMS = 20


def load_import_xsd(folder: str | Path) -> Any:
    """The official import XSD of ``folder`` (the ``.xsd`` there that defines ``CEB621Message``; it imports
    ``xmldsig-core-schema.xsd`` from the same folder) as an ``lxml.etree.XMLSchema``."""
    found = sorted(p for p in Path(folder).glob("*.xsd") if b'name="CEB621Message"' in p.read_bytes())
    if not found:
        raise ValueError(f"SMARTCUSTOMS_CBEC_XSD_DIR={folder}: no import XSD (an .xsd defining CEB621Message)")
    return etree.XMLSchema(etree.parse(str(found[0])))


def use_xsd(folder: str | Path | None) -> None:
    """Validate every message against the official import XSD of ``folder`` before reading it (``None``: stop);
    the compiled scanner is not used meanwhile. Set at import from ``SMARTCUSTOMS_CBEC_XSD_DIR``."""
    global _SCHEMA, _FAST
    _SCHEMA = load_import_xsd(folder) if folder else None
    _FAST = None if _SCHEMA is not None else _fast_scanner()


def _schema_where(root: Any, path: str | None, doc_tag: str | None) -> tuple[str | None, int | None]:
    """An XSD error's element as our field path (``ceb:Order[2]/ceb:OrderHead/ceb:orderType``, whatever prefix
    or default namespace the sender used) and the position of the document it is in (``None``: outside one)."""
    try:
        found = root.getroottree().xpath(path, namespaces={k: v for k, v in root.nsmap.items() if k}) if path else []
    except (etree.XPathError, TypeError):
        found = []
    el = found[0] if found and isinstance(found, list) and isinstance(found[0], etree._Element) else None
    if el is None:
        return None, None
    chain = []
    while el is not None and el is not root:
        chain.append(el)
        el = el.getparent()
    if el is None:
        return None, None
    steps, index = [], None
    for i, e in enumerate(reversed(chain)):
        local = etree.QName(e).localname if isinstance(e.tag, str) else "?"
        if i == 0 and doc_tag is not None and e.tag == doc_tag:
            index = 1 + sum(1 for x in e.itersiblings(preceding=True) if x.tag == e.tag)
            local = f"{local}[{index}]"
        steps.append(f"ceb:{local}")
    return "/".join(steps) or f"ceb:{etree.QName(root).localname}", index


def _schema_refusals(root: Any, log: Any) -> list[Item]:
    """The answers of a message the XSD refuses: a document with schema errors is refused with them (field path
    and the schema's reason); errors outside the documents refuse the whole message."""
    kind = _ROOTS.get(root.tag) if isinstance(root.tag, str) else None
    by_doc: dict[int, list[tuple[str, str]]] = {}
    whole: list[tuple[str, str]] = []
    doc_tag = _DOC_TAG[kind] if kind else None
    for err in list(log)[:_MAX_SCHEMA_PROBLEMS]:
        where, index = _schema_where(root, err.path, doc_tag)
        reason = err.message.replace("{" + NS + "}", "ceb:")
        if index is not None and where is not None:
            by_doc.setdefault(index, []).append((where, reason))
        else:
            whole.append((where or err.path or f"line {err.line}", reason))
    message_guid = (root.get("guid") or "").strip()[:MESSAGE_GUID_MAX] or None
    if kind is None or whole or not by_doc:
        raise CebError(whole or [("message", "refused by the XSD")], kind, message_guid)
    try:
        items = items_from_element(root)
    except CebError as exc:  # the whole message refused by our checks too: name the schema's reasons first
        raise CebError([p for ps in by_doc.values() for p in ps] + exc.problems, exc.kind, exc.message_guid,
                       exc.doc_guid, exc.status, exc.keys) from None
    out: list[Item] = []
    for i, item in enumerate(items, 1):
        problems = by_doc.get(i)
        if problems is None:
            out.append(item)
        elif isinstance(item, CebError):
            out.append(CebError(problems + item.problems, item.kind, item.message_guid, item.doc_guid, item.status,
                                item.keys))
        else:
            out.append(CebError(problems, kind, message_guid, item.guid or None,
                                keys=business_keys(SPECS[kind], item.head)))
    return out


def parse_message_lxml(data: bytes | str) -> list[Document]:
    """:func:`parse_message` through lxml only (strict)."""
    return strict(parse_items_lxml(data))


def documents_from_element(root: Any) -> list[Document]:
    """The documents of a parsed ``ceb:CEBnnnMessage`` element (strict)."""
    return strict(items_from_element(root))


def items_from_element(root: Any) -> list[Item]:
    """The answer per document of a parsed ``CEBnnnMessage`` element (any prefix or the default namespace)."""
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
    elif len(message_guid) != MESSAGE_GUID_MAX:
        problems.append((f"ceb:{kind}Message/@guid", f"{_GUID_REASON} ({len(message_guid)})"))
    doc_tag, head_tag, list_tag = _DOC_TAG[kind], _HEAD_TAG[kind], _LIST_TAG[kind]
    raw_docs: list[tuple[dict[str, str] | None, list[dict[str, str]]]] = []
    base_raw: dict[str, str] | None = None
    subscribe_raw: list[dict[str, str]] = []
    extend_raw: dict[str, str] | None = None
    for child in root:
        ctag = child.tag
        if ctag == doc_tag:
            head_raw: dict[str, str] | None = None
            lines_raw: list[dict[str, str]] = []
            if head_tag == doc_tag:  # the fields are the document element's own (CEB513, CEB623)
                head_raw = _leaves(child)
            for part in child:
                if part.tag == head_tag:
                    head_raw = _leaves(part)
                elif part.tag == list_tag:
                    lines_raw.append(_leaves(part))
            raw_docs.append((head_raw, lines_raw))
        elif ctag == _BASE_TAG:
            base_raw = _leaves(child)
        elif ctag == _SUBSCRIBE_TAG:
            subscribe_raw.append(_leaves(child))
        elif ctag == _EXTEND_TAG:
            extend_raw = _extend_leaves(child)
    if not raw_docs:
        problems.append((f"ceb:{spec.doc_tag}", "missing mandatory element"))
    elif len(raw_docs) > MAX_DOCUMENTS:
        problems.append((f"ceb:{spec.doc_tag}", f"more than {MAX_DOCUMENTS} documents ({len(raw_docs)})"))
    if base_raw is None:
        problems.append(("ceb:BaseTransfer", "missing mandatory element"))
        base_raw = {}
    return _build(spec, message_guid, raw_docs, base_raw, problems, subscribe_raw, extend_raw)


def _extend_leaves(el: Any) -> dict[str, str]:
    """``ceb:ExtendMessage``: its name and version, and its ``Message`` element as XML text."""
    out = _leaves(el)
    out.pop("Message", None)
    for child in el:
        if child.tag == _C + "Message":
            out["Message"] = etree.tostring(child, encoding="unicode", with_tail=False)
    return out


def _base_extras(base: dict[str, Any], subscribe_raw: Sequence[dict], extend_raw: dict | None,
                 problems: list[tuple[str, str]]) -> None:
    """BaseSubscribe blocks (``base["subscribe"]``) and the ExtendMessage (``base["extend"]``), validated."""
    if subscribe_raw:
        if len(subscribe_raw) > BASE_SUBSCRIBE_MAX:
            problems.append(("ceb:BaseSubscribe", f"more than {BASE_SUBSCRIBE_MAX} elements ({len(subscribe_raw)})"))
        many = len(subscribe_raw) > 1
        base["subscribe"] = [_validate(BASE_SUBSCRIBE, raw, f"ceb:BaseSubscribe[{i}]" if many else "ceb:BaseSubscribe",
                                       problems) for i, raw in enumerate(subscribe_raw, 1)]
    if extend_raw is not None:
        base["extend"] = _validate(EXTEND_MESSAGE, extend_raw, "ceb:ExtendMessage", problems)


def _build(spec: DocSpec, message_guid: str | None, raw_docs: Sequence[tuple[dict | None, Sequence[dict]]],
           base_raw: dict, problems: list[tuple[str, str]], subscribe_raw: Sequence[dict] = (),
           extend_raw: dict | None = None) -> list[Item]:
    """An answer per document; :class:`CebError` for the whole message when ``problems`` (root guid, document
    count) or the ``BaseTransfer`` (``BaseSubscribe``, ``ExtendMessage``) block has any (it then names the
    documents' problems too)."""
    base: dict[str, Any] = _validate(BASE_TRANSFER, base_raw, "ceb:BaseTransfer", problems)
    if subscribe_raw or extend_raw is not None:
        _base_extras(base, subscribe_raw, extend_raw, problems)
    whole = bool(problems)
    sent_guid = message_guid[:MESSAGE_GUID_MAX] if message_guid else None
    items: list[Item] = []
    many = len(raw_docs) > 1
    for i, (head_raw, lines_raw) in enumerate(raw_docs, 1):
        where = f"ceb:{spec.doc_tag}[{i}]" if many else f"ceb:{spec.doc_tag}"
        doc_problems: list[tuple[str, str]] = []
        head, lines = _validate_document(spec, head_raw or {}, lines_raw, doc_problems, where)
        if head_raw is None:  # named once, not field by field
            head_path = f"{where}/ceb:{spec.head_tag}"
            doc_problems[:] = [(head_path, "missing mandatory element")] + [
                p for p in doc_problems if not p[0].startswith(head_path + "/")]
            head_raw = {}
        if doc_problems:
            problems.extend(doc_problems)
            items.append(CebError(doc_problems, spec.kind, sent_guid, head.get("guid") or None,
                                  keys=business_keys(spec, head_raw)))
        else:
            items.append(Document(spec.kind, head.get("guid", ""), message_guid or "", head, lines, base))
    if whole:
        first = items[0] if items else None
        doc_guid = (first.guid or None) if isinstance(first, Document) else first.doc_guid if first else None
        keys = (business_keys(spec, first.head) if isinstance(first, Document) else first.keys) if first else {}
        raise CebError(problems, spec.kind, sent_guid, doc_guid, keys=keys)
    return items


def stored_documents(payload: bytes) -> list[Document]:
    """The documents of a stored XML message as they are, without value checks (a message-log record of an
    older version may hold values today's checks refuse; :func:`stored_problems` names them)."""
    root = etree.fromstring(payload, _PARSER)
    kind = _ROOTS[root.tag]
    base_el = root.find(_BASE_TAG)
    base: dict[str, Any] = _leaves(base_el) if base_el is not None else {}
    subscribe = [_leaves(x) for x in root.iterchildren(_SUBSCRIBE_TAG)]
    if subscribe:
        base["subscribe"] = subscribe
    extend_el = root.find(_EXTEND_TAG)
    if extend_el is not None:
        base["extend"] = _extend_leaves(extend_el)
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
    if len(doc.message_guid) != MESSAGE_GUID_MAX:
        problems.append((f"ceb:{doc.kind}Message/@guid", f"{_GUID_REASON} ({len(doc.message_guid)})"))
    return problems


def parse_json(obj: dict[str, Any]) -> list[Document]:
    """Parse the JSON form of a message (see :func:`to_json`); same validation as XML (strict)."""
    return strict(parse_json_items(obj))


def parse_json_items(obj: dict[str, Any]) -> list[Item]:
    """The JSON form of a message: an answer per document, as :func:`parse_items`."""
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
    elif len(guid) != MESSAGE_GUID_MAX:
        problems.append((f"ceb:{kind}Message/@guid", f"{_GUID_REASON} ({len(guid)})"))
    docs = obj.get("documents")
    if docs is None and "head" in obj:
        docs = [{"head": obj.get("head"), "lines": obj.get("lines") or []}]
    raw_docs: list[tuple[dict | None, Sequence[dict]]] = []
    for d in docs or []:
        if not isinstance(d, dict) or not isinstance(d.get("head") or {}, dict):
            raise CebError([("documents", "each document must be an object with head and lines")], kind, guid)
        raw_docs.append((_clean(d.get("head") or {}), [_clean(x) for x in d.get("lines") or [] if isinstance(x, dict)]))
    spec = SPECS[kind]
    if not raw_docs:
        problems.append((f"ceb:{spec.doc_tag}", "missing mandatory element"))
    elif len(raw_docs) > MAX_DOCUMENTS:
        problems.append((f"ceb:{spec.doc_tag}", f"more than {MAX_DOCUMENTS} documents ({len(raw_docs)})"))
    base_raw = obj.get("baseTransfer")
    if not isinstance(base_raw, dict):
        problems.append(("ceb:BaseTransfer", "missing mandatory element"))
        base_raw = {}
    subscribe_raw, extend_raw = _json_extras(base_raw, problems)
    base_raw = _clean({k: v for k, v in base_raw.items() if k not in ("subscribe", "extend")})
    return _build(spec, guid, raw_docs, base_raw, problems, subscribe_raw, extend_raw)


def _json_extras(base_raw: dict[str, Any], problems: list[tuple[str, str]]) -> tuple[list[dict], dict | None]:
    """``baseTransfer.subscribe`` (a list of BaseSubscribe objects) and ``baseTransfer.extend`` (the
    ExtendMessage: name, version, Message as one XML element) of the JSON form."""
    sub = base_raw.get("subscribe")
    subscribe_raw: list[dict] = []
    if sub is not None:
        if isinstance(sub, list) and all(isinstance(x, dict) for x in sub):
            subscribe_raw = [_clean(x) for x in sub]
        else:
            problems.append(("ceb:BaseSubscribe", "must be a list of objects"))
    ext = base_raw.get("extend")
    if ext is None:
        return subscribe_raw, None
    if not isinstance(ext, dict):
        problems.append(("ceb:ExtendMessage", "must be an object"))
        return subscribe_raw, None
    extend_raw = _clean(ext)
    message = extend_raw.get("Message")
    if message is not None:
        try:
            el = etree.fromstring(message.encode("utf-8"), _PARSER)
        except etree.XMLSyntaxError as exc:
            el, reason = None, f"not well-formed XML: {exc}"
        else:
            reason = "must be one ceb:Message element"
        if el is None or el.tag != _C + "Message":
            problems.append(("ceb:ExtendMessage/ceb:Message", reason))
    return subscribe_raw, extend_raw


def parse_any(item: bytes | str | dict[str, Any]) -> list[Document]:
    """XML bytes/str or the JSON form (dict, or JSON text starting with ``{``) (strict)."""
    return strict(parse_any_items(item))


def parse_any_items(item: bytes | str | dict[str, Any]) -> list[Item]:
    """:func:`parse_any` with an answer per document, as :func:`parse_items`."""
    if isinstance(item, dict):
        return parse_json_items(item)
    if isinstance(item, str):
        item = item.encode("utf-8")
    if item.lstrip()[:1] == b"{":
        try:
            obj = orjson.loads(item)
        except orjson.JSONDecodeError as exc:
            raise CebError([("message", f"malformed JSON: {exc}")], status=NOT_PROCESSED) from None
        if not isinstance(obj, dict):
            raise CebError([("message", "a JSON message must be an object")], status=NOT_PROCESSED)
        return parse_json_items(obj)
    return parse_items(item)


def split_stream(data: bytes) -> list[tuple[int, bytes]]:
    """Split a stream of concatenated XML messages into ``(byte offset, message)`` pairs.

    Each message starts with an XML declaration (``<?xml``), preceded by its UTF-8 byte order mark if it has
    one (the BOM belongs to the message after it); a stream without any declaration is one message.
    """
    starts = [m.start() for m in re.finditer(rb"(?:\xef\xbb\xbf)?<\?xml[\s?]", data)]
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
    """A parsed message as the log payloads of its documents (cheap to pass between processes): per document,
    in order, its payload (``bytes``) or its refusal (:class:`CebError`)."""

    payloads: list[bytes | CebError]


def parse_batch_encoded(raws: Sequence[bytes]) -> list[Encoded | CebError]:
    """Parse many messages, each to :class:`Encoded` or its :class:`CebError` (runs in worker processes)."""
    if _FAST is not None:
        return _FAST.encode_batch(raws, Encoded, _encode_lxml)
    return parse_batch_encoded_lxml(raws)


def _encode_lxml(raw: bytes) -> Encoded | CebError:
    """One message through lxml: its payloads or its :class:`CebError`."""
    try:
        items = parse_items_lxml(raw)
    except CebError as exc:
        return exc
    return Encoded([d if isinstance(d, CebError) else document_json(d) for d in items])


def parse_batch_encoded_lxml(raws: Sequence[bytes]) -> list[Encoded | CebError]:
    """:func:`parse_batch_encoded` through lxml only (the reference, for tests and benchmarks)."""
    return [_encode_lxml(raw) for raw in raws]


def _fast_scanner() -> Any:
    """The compiled scanner (:mod:`smartcustoms.cbec.ceb._scan`), or ``None`` when it is not built."""
    try:
        from smartcustoms.cbec.ceb._scan import Scanner
    except ImportError:  # pragma: no cover - `pip install -e .` builds it; lxml alone still gives every answer
        return None
    # the after-release kinds (CEB513/623/625/711: rare, and CEB513/623 keep their fields in the document element)
    # are read by lxml
    return Scanner([s for s in SPECS.values() if s.kind not in AFTERCARE_KINDS], BASE_TRANSFER, MESSAGE_GUID_MAX,
                   Document)


_FAST = _fast_scanner()
use_xsd(CbecSettings().xsd_dir)
