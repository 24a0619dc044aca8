"""The e-port's DXP transport envelope (终端节点报文 ``DxpMsg``): how real senders deliver CEB messages.

The 2018 and 202205 terminal-node XSDs (``终端节点报文.xsd``, the spec's chapter 4) define it::

    <DxpMsg ver="1.0" xmlns="http://www.chinaport.gov.cn/dxp">
      <TransInfo><CopMsgId/><SenderId/><ReceiverIds><ReceiverId/>{1,5}</ReceiverIds><CreatTime/><MsgType/></TransInfo>
      <Data>base64 of the CEB message</Data>
      <AddInfo>...</AddInfo>?  <ds:Signature/>?
    </DxpMsg>

:func:`unwrap` checks the envelope field by field (lengths as the XSD gives them, ``ver`` 1.0, the element
order), decodes ``Data`` strictly (base64 alphabet only, whitespace ignored, at most :data:`MAX_DATA_CHARS`) and
returns the inner CEB message with the envelope's CopMsgId / SenderId; a malformed envelope raises
:class:`EnvelopeError` naming the field. The inner message then goes through the normal pipeline (parse,
signature of the CEB message, engine). The envelope's own ``ds:Signature`` (optional, the e-port's transport
signature) is not checked: the CEB message's signature is.

:func:`format_check_receipt` is the official ``CEB900Message/MessageReturn`` (报文格式校验回执, spec 3.19) that
answers an enveloped message that cannot be read: returnStatus below 0, oriCopMsgId the envelope's CopMsgId,
oriMessageType the inner root's name (``Unknown`` when none can be read), oriBizMessage the envelope's Data as
it came (base64, so any bytes are carried safely).
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from collections.abc import Callable
from typing import NamedTuple

from lxml import etree

from smartcustoms.cbec.ceb.receipts import FORMAT_CHECK, Receipt

DXP_NS = "http://www.chinaport.gov.cn/dxp"
DS_NS = "http://www.w3.org/2000/09/xmldsig#"
MAX_DATA_CHARS = 8 << 20          # base64 characters of Data (about 6 MiB of CEB XML: 100 documents fit)
MAX_ENVELOPE_BYTES = MAX_DATA_CHARS + (64 << 10)
FORMAT_CHECK_FAILED = -1          # CEB900 returnStatus: below 0, a format-check failure (spec 3.19.4)
_DATA_TAIL = 2000                 # what a refusal quotes of a bad value
_SNIFF = 512                      # the root of an envelope is in its first bytes (after the XML declaration)
_ROOT = re.compile(rb"<(?:[A-Za-z_][\w.\-]*:)?DxpMsg[\s/>]")
_NOT_B64 = re.compile(rb"[^A-Za-z0-9+/=]")
_WS = re.compile(rb"[ \t\r\n]+")
_DATETIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)?")
_CEB_ROOT = re.compile(rb"<(?:[A-Za-z_][\w.\-]*:)?(CEB\d{3}Message)[\s/>]")
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, remove_comments=True, remove_pis=True,
                          huge_tree=False, load_dtd=False)
_GUID_NS = uuid.UUID("0d1c6f0e-5a51-4a8e-9a53-2f4b1b8d0c90")  # CEB900 receipt guids (uuid5 namespace)


class Envelope(NamedTuple):
    """An unwrapped ``DxpMsg``: the inner CEB message (``data``) and the envelope's transport fields."""

    cop_msg_id: str
    sender_id: str
    receiver_ids: tuple[str, ...]
    created: str
    msg_type: str
    data: bytes
    file_name: str | None = None


class EnvelopeError(ValueError):
    """A ``DxpMsg`` that cannot be unwrapped: ``field`` (``DxpMsg/TransInfo/CopMsgId`` ...) and the reason; the
    CopMsgId and Data text when they could be read (the CEB900 receipt carries them)."""

    def __init__(self, field: str, reason: str, cop_msg_id: str = "", data_text: str = "") -> None:
        super().__init__(f"{field}: {reason}")
        self.field, self.reason, self.cop_msg_id, self.data_text = field, reason, cop_msg_id, data_text


def is_envelope(raw: bytes) -> bool:
    """Does ``raw`` look like a ``DxpMsg`` (its root in the first 512 bytes)? Cheap: a CEB message says no at
    once (no ``DxpMsg`` bytes), so the common path pays a bounded ``find``."""
    if raw.find(b"DxpMsg", 0, _SNIFF) < 0:
        return False
    return _ROOT.search(raw, 0, _SNIFF) is not None


def _text(el: etree._Element | None) -> str:
    return (el.text or "").strip() if el is not None else ""


def _children(el: etree._Element) -> list[etree._Element]:
    return [c for c in el if isinstance(c.tag, str)]


def _local(el: etree._Element) -> str:
    return etree.QName(el).localname


def _check(value: str, field: str, lo: int, hi: int, cop: str = "") -> str:
    if not lo <= len(value) <= hi:
        raise EnvelopeError(field, f"length {len(value)} is not between {lo} and {hi} (DXP XSD)", cop)
    return value


def unwrap(raw: bytes, max_data_chars: int = MAX_DATA_CHARS) -> Envelope:
    """The CEB message inside a ``DxpMsg`` and the envelope's fields; :class:`EnvelopeError` names what is
    wrong (a message that is not an envelope is an error too: call :func:`is_envelope` first)."""
    if len(raw) > max_data_chars + (64 << 10):
        raise EnvelopeError("DxpMsg", f"envelope of {len(raw)} bytes exceeds the limit of "
                                      f"{max_data_chars + (64 << 10)} bytes")
    try:
        root = etree.fromstring(raw.lstrip(b"\xef\xbb\xbf \t\r\n"), _PARSER)
    except etree.XMLSyntaxError as exc:
        raise EnvelopeError("DxpMsg", f"malformed XML: {exc}") from None
    q = etree.QName(root)
    if q.localname != "DxpMsg":
        raise EnvelopeError(q.localname, "not a DXP envelope (root DxpMsg expected)")
    if q.namespace != DXP_NS:
        raise EnvelopeError("DxpMsg", f"namespace {q.namespace!r} is not {DXP_NS}")
    if root.get("ver") != "1.0":
        raise EnvelopeError("DxpMsg/@ver", f"{root.get('ver')!r} is not 1.0")
    kids = _children(root)
    names = [_local(c) for c in kids]
    trans = kids[0] if kids and names[0] == "TransInfo" else None
    if trans is None:
        raise EnvelopeError("DxpMsg/TransInfo", "missing (the first element of DxpMsg)")
    tk = {_local(c): c for c in _children(trans)}
    cop = _text(tk.get("CopMsgId"))
    expected = ["CopMsgId", "SenderId", "ReceiverIds", "CreatTime", "MsgType"]
    got = [_local(c) for c in _children(trans)]
    if got != expected:
        missing = next((n for n in expected if n not in got), None)
        if missing is not None:
            raise EnvelopeError(f"DxpMsg/TransInfo/{missing}", "missing mandatory element", cop[:255])
        raise EnvelopeError("DxpMsg/TransInfo", f"elements {got} are not in the XSD's order {expected}", cop[:255])
    _check(cop, "DxpMsg/TransInfo/CopMsgId", 1, 255)
    sender = _check(_text(tk["SenderId"]), "DxpMsg/TransInfo/SenderId", 1, 16, cop)
    receivers = [c for c in _children(tk["ReceiverIds"])]
    if not 1 <= len(receivers) <= 5 or any(_local(c) != "ReceiverId" for c in receivers):
        raise EnvelopeError("DxpMsg/TransInfo/ReceiverIds", "1 to 5 ReceiverId elements expected", cop)
    rids = tuple(_check(_text(c), "DxpMsg/TransInfo/ReceiverIds/ReceiverId", 1, 16, cop) for c in receivers)
    created = _text(tk["CreatTime"])
    if not _DATETIME.fullmatch(created):
        raise EnvelopeError("DxpMsg/TransInfo/CreatTime", f"{created[:40]!r} is not an xs:dateTime "
                                                          "(yyyy-mm-ddThh:mm:ss)", cop)
    msg_type = _check(_text(tk["MsgType"]), "DxpMsg/TransInfo/MsgType", 0, 30, cop)
    if len(names) < 2 or names[1] != "Data":
        raise EnvelopeError("DxpMsg/Data", "missing (after TransInfo)", cop)
    rest = names[2:]
    allowed = ["AddInfo", "Signature"]
    if rest and (rest != [n for n in allowed if n in rest] or len(rest) != len(set(rest))):
        raise EnvelopeError("DxpMsg", f"unexpected elements {rest} after Data (AddInfo?, ds:Signature?)", cop)
    data_el = kids[1]
    text = (data_el.text or "").encode("ascii", "replace")
    quoted = text[:_DATA_TAIL].decode("ascii")
    if len(text) > max_data_chars:
        raise EnvelopeError("DxpMsg/Data", f"{len(text)} base64 characters exceed the limit of {max_data_chars}",
                            cop, quoted)
    compact = _WS.sub(b"", text)
    bad = _NOT_B64.search(compact)
    if bad is not None:
        char = bad.group().decode("ascii", "replace")
        raise EnvelopeError("DxpMsg/Data", f"not base64: character {char!r} at {bad.start()}", cop, quoted)
    try:
        data = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise EnvelopeError("DxpMsg/Data", f"not base64: {exc}", cop, quoted) from None
    if not data.strip():
        raise EnvelopeError("DxpMsg/Data", "empty: no CEB message", cop, quoted)
    file_name = None
    if "AddInfo" in rest:
        add = {_local(c): c for c in _children(kids[2])}
        file_name = _text(add.get("FileName")) or None
    return Envelope(cop, sender, rids, created, msg_type, data, file_name)


def inner_message_type(data: bytes) -> str:
    """The root name of a CEB message (``CEB311Message``), ``Unknown`` when none can be read (CEB900's
    oriMessageType)."""
    m = _CEB_ROOT.search(data, 0, 4096)
    return m.group(1).decode() if m else "Unknown"


def format_check_receipt(cop_msg_id: str, info: str, now_ms: int, ori_message_type: str = "Unknown",
                         data_text: str = "", status: int = FORMAT_CHECK_FAILED) -> Receipt:
    """The CEB900 format-check receipt of an enveloped message that cannot be read (``info`` in English; the
    XML's returnInfo is the official-style Chinese text with it). Its guid is name-based (upper case) on the
    CopMsgId and the time, so the same refusal gets the same guid."""
    guid = str(uuid.uuid5(_GUID_NS, f"{cop_msg_id}\x00{now_ms}\x00{info}")).upper()
    return Receipt(FORMAT_CHECK, guid, status, info, now_ms,
                   {"oriCopMsgId": cop_msg_id[:255], "oriMessageType": ori_message_type[:15] or "Unknown",
                    "oriBizMessage": data_text})


def envelope_refusal(exc: EnvelopeError, now_ms: int) -> Receipt:
    """The CEB900 receipt of an envelope that cannot be unwrapped."""
    return format_check_receipt(exc.cop_msg_id, f"DXP envelope {exc}", now_ms, "Unknown", exc.data_text)


def data_text(raw: bytes) -> str:
    """The envelope's Data as it came (base64 text, whitespace removed), for a CEB900's oriBizMessage."""
    m = re.search(rb"<(?:[A-Za-z_][\w.\-]*:)?Data[^>]*>([^<]*)<", raw)
    return _WS.sub(b"", m.group(1)).decode("ascii", "replace") if m else ""


class Opened(NamedTuple):
    """A batch of raw messages with its envelopes opened: ``raws`` is what the pipeline parses (inner CEB
    messages in place of their envelopes, envelopes that cannot be opened left out), ``positions[i]`` the index
    of ``raws[i]`` in the batch as it came; ``envelopes`` and ``errors`` are keyed by that index."""

    raws: list[bytes]
    positions: list[int]
    envelopes: dict[int, Envelope]
    errors: dict[int, EnvelopeError]


def _any_within_py(raws: list[bytes], needle: bytes, limit: int) -> bool:
    """Python form of ``ceb._scan.any_within`` (used when it is not built)."""
    return any(type(r) is not bytes or r.find(needle, 0, limit) >= 0 for r in raws)


def _sniffer() -> Callable[[list[bytes], bytes, int], bool]:
    try:
        from smartcustoms.cbec.ceb._scan import any_within
    except ImportError:  # pragma: no cover - built by `pip install -e .`
        return _any_within_py
    return any_within  # type: ignore[no-any-return]


_any_within = _sniffer()


def open_envelopes(raws: list[bytes]) -> Opened:
    """Open every DXP envelope of a batch (:func:`unwrap`); plain CEB messages pass as they are (one bounded
    ``find`` each, one ``memchr`` pass when no message has ``DxpMsg`` in its first bytes). When the batch has no
    envelope, ``raws`` is the very list given."""
    # the common batch has no envelope: one C-level pass over the messages' first bytes says so
    if not _any_within(raws, b"DxpMsg", _SNIFF):
        return Opened(raws, list(range(len(raws))), {}, {})
    hits = [i for i, r in enumerate(raws) if type(r) is bytes and is_envelope(r)]
    if not hits:
        return Opened(raws, list(range(len(raws))), {}, {})
    out, positions = list(raws), list(range(len(raws)))
    envelopes: dict[int, Envelope] = {}
    errors: dict[int, EnvelopeError] = {}
    for i in hits:
        try:
            env = unwrap(raws[i])
        except EnvelopeError as exc:
            if not exc.data_text:
                exc.data_text = data_text(raws[i][:MAX_ENVELOPE_BYTES])
            errors[i] = exc
            continue
        envelopes[i] = env
        out[i] = env.data
    if errors:
        kept = [i for i in range(len(raws)) if i not in errors]
        out, positions = [out[i] for i in kept], kept
    return Opened(out, positions, envelopes, errors)


def unreadable_receipt(env: Envelope, info: str, now_ms: int) -> Receipt:
    """The CEB900 receipt of an enveloped CEB message whose type cannot be read."""
    return format_check_receipt(env.cop_msg_id, info, now_ms, inner_message_type(env.data),
                                base64.b64encode(env.data).decode("ascii"))
