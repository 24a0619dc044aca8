"""Emitting CEB XML messages and the JSON form of documents."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import orjson

from smartcustoms.cbec.ceb.spec import BASE_SUBSCRIBE, BASE_TRANSFER, NS, SPECS, Document, FieldSpec


# ---------------------------------------------------------------------------- JSON form
def to_json(docs: Sequence[Document]) -> dict[str, Any]:
    """The JSON form of a message: ``{"type", "guid", "documents": [{"head", "lines"}], "baseTransfer"}``
    (``baseTransfer`` also holds the message's BaseSubscribe blocks as ``subscribe`` and its ExtendMessage as
    ``extend``, when it has them)."""
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
    out.append("</ceb:BaseTransfer>")
    for sub in base.get("subscribe") or ():
        out.append("<ceb:BaseSubscribe>")
        _fields_xml(BASE_SUBSCRIBE, sub, out)
        out.append("</ceb:BaseSubscribe>")
    extend = base.get("extend")
    if extend:  # Message: one validated ceb:Message element, as XML
        out.append(f"<ceb:ExtendMessage><ceb:name>{_esc(extend.get('name', ''))}</ceb:name>"
                   f"<ceb:version>{_esc(extend.get('version', ''))}</ceb:version>{extend.get('Message', '')}"
                   "</ceb:ExtendMessage>")
    out.append(f"</ceb:{kind}Message>")
    return "".join(out).encode("utf-8")


def emit_document(doc: Document) -> bytes:
    """Serialise a parsed CEB document back to its XML message bytes."""
    return emit_message(doc.kind, doc.message_guid, [(doc.head, doc.lines)], doc.base)
