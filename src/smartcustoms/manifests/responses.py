"""MT9999 general responses (舱单通用回执): customs' answer to each filed message, in the China customs manifest
format (``<Manifest xmlns="urn:Declaration:datamodel:standard:CN:MT9999:1">``).

The shape follows the classes ``xsd.exe`` generated from the official response schema (docs/manifests.md):
``Head`` (MessageID, FunctionCode, MessageType ``MT9999``, SenderID, ReceiverID, SendTime, Version ``1.0``) and
``Response``: ``ID`` (the answered message's MessageID), ``AdditionalInformation`` (StatementCode,
StatementDescription),
``BorderTransportMeans`` (here its JourneyID and ID, as the filing wrote them), one ``Consignment`` per transport
document (``TransportContractDocument/ID`` and its own ``AdditionalInformation``), and ``ResponseType``
(Code, Text). The code values are this project's assignment within the schema's lists (to be checked against
the official code tables): FunctionCode ``11`` (the value of code list CN010 that filings do not use);
StatementCode (CC020) for the message ``01`` accepted, ``02`` refused, ``03`` a duplicate (nothing stored); for
a consignment the pre-loading outcome ``0`` assessment complete, ``11`` request for information, ``12`` request
for screening, ``13`` do not load, ``03`` withdrawn. Texts are Chinese; reasons come as the rules wrote them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from lxml import etree

from smartcustoms.manifests.cn import PARSER
from smartcustoms.manifests.schemas import MessageAnswer, Outcome

NAMESPACE = "urn:Declaration:datamodel:standard:CN:MT9999:1"
WRAPPER_NAMESPACE = "urn:smartcustoms:manifests:responses:1"  # several answers in one HTTP body
FUNCTION_CODE = "11"
MESSAGE_CODES = {"accepted": "01", "refused": "02", "duplicate": "03"}
MESSAGE_TEXTS = {"accepted": "舱单申报已接受", "refused": "舱单申报不予接受（退单）",
                 "duplicate": "重复申报，报文已接收过"}
OUTCOME_CODES = {Outcome.ASSESSMENT_COMPLETE: "0", Outcome.REQUEST_FOR_INFORMATION: "11",
                 Outcome.REQUEST_FOR_SCREENING: "12", Outcome.DO_NOT_LOAD: "13"}
OUTCOME_TEXTS = {Outcome.ASSESSMENT_COMPLETE: "装载前风险评估完成，准予装载",
                 Outcome.REQUEST_FOR_INFORMATION: "需补充信息（请求提供信息）",
                 Outcome.REQUEST_FOR_SCREENING: "需对高风险货物进行安全检查（请求检查）",
                 Outcome.DO_NOT_LOAD: "不准装载"}
WITHDRAWN_CODE, WITHDRAWN_TEXT = "03", "已撤销"
MAX_TEXT = 512  # StatementDescription and ResponseType/Text: longer texts are cut (the API's JSON has them whole)
CHINA = timedelta(hours=8)


def _status(answer: MessageAnswer) -> str:
    return "duplicate" if answer.duplicate else "accepted" if answer.accepted else "refused"


def _cut(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT - 1] + "…"


def _sub(parent: etree._Element, tag: str, text: str | None = None) -> etree._Element:
    el = etree.SubElement(parent, f"{{{NAMESPACE}}}{tag}")
    if text is not None:
        el.text = text
    return el


def build(answer: MessageAnswer, *, sender: str, receiver: str, now: datetime,
          journey_id: str | None = None, conveyance_id: str | None = None) -> etree._Element:
    """The MT9999 answering one message (``now``: naive UTC; ``sender`` customs, ``receiver`` the filer)."""
    root = etree.Element(f"{{{NAMESPACE}}}Manifest", nsmap={None: NAMESPACE})
    head = _sub(root, "Head")
    local = now + CHINA
    _sub(head, "MessageID", f"R{local:%Y%m%d%H%M%S%f}{answer.index:04d}"[:64])
    _sub(head, "FunctionCode", FUNCTION_CODE)
    _sub(head, "MessageType", "MT9999")
    _sub(head, "SenderID", sender[:50])
    _sub(head, "ReceiverID", receiver[:50])
    _sub(head, "SendTime", f"{local:%Y%m%d%H%M%S}{local.microsecond // 1000:03d}")
    _sub(head, "Version", "1.0")
    resp = _sub(root, "Response")
    _sub(resp, "ID", (answer.message_id or "")[:64])
    status = _status(answer)
    info = _sub(resp, "AdditionalInformation")
    _sub(info, "StatementCode", MESSAGE_CODES[status])
    _sub(info, "StatementDescription", MESSAGE_TEXTS[status])
    if journey_id or conveyance_id:
        btm = _sub(resp, "BorderTransportMeans")
        if journey_id:
            _sub(btm, "JourneyID", journey_id)
        if conveyance_id:
            _sub(btm, "ID", conveyance_id)
    for c in answer.consignments:
        ce = _sub(resp, "Consignment")
        ci = _sub(ce, "AdditionalInformation")
        if c.withdrawn or c.outcome is None:
            code, text = WITHDRAWN_CODE, WITHDRAWN_TEXT
        else:
            code = OUTCOME_CODES[c.outcome]
            text = OUTCOME_TEXTS[c.outcome] + ("：" + "；".join(c.reasons_zh) if c.reasons_zh else "")
            if c.amended:
                text = f"第{c.version}版（变更）。" + text
        _sub(ci, "StatementCode", code)
        _sub(ci, "StatementDescription", _cut(text))
        _sub(_sub(ce, "TransportContractDocument"), "ID", c.transport_document_no)
    rt = _sub(resp, "ResponseType")
    _sub(rt, "Code", MESSAGE_CODES[status])
    if status == "refused":
        problems = "；".join(f"{e.field}" + (f"（第{e.line}行）" if e.line else "") + f"：{e.message}"
                            for e in answer.errors)
        _sub(rt, "Text", _cut(f"{MESSAGE_TEXTS[status]}：{problems}" if problems else MESSAGE_TEXTS[status]))
    else:
        counts: dict[str, int] = {}
        for c in answer.consignments:
            key = WITHDRAWN_TEXT if c.withdrawn or c.outcome is None else OUTCOME_TEXTS[c.outcome].split("，")[0]
            counts[key] = counts.get(key, 0) + 1
        summary = "，".join(f"{k}{n}票" for k, n in counts.items())
        _sub(rt, "Text", _cut(MESSAGE_TEXTS[status] + (f"：{summary}" if summary else "")))
    return root


def to_bytes(responses: list[etree._Element]) -> bytes:
    """One MT9999 as its own document; several wrapped in ``<ManifestResponses>`` (one HTTP body)."""
    if len(responses) == 1:
        return etree.tostring(responses[0], xml_declaration=True, encoding="UTF-8")
    wrapper = etree.Element(f"{{{WRAPPER_NAMESPACE}}}ManifestResponses", nsmap={None: WRAPPER_NAMESPACE})
    wrapper.extend(responses)
    return etree.tostring(wrapper, xml_declaration=True, encoding="UTF-8")


@dataclass(slots=True)
class ConsignmentResponse:
    """One consignment of a parsed MT9999."""
    transport_document_no: str
    code: str
    text: str


@dataclass(slots=True)
class GeneralResponse:
    """A parsed MT9999 (what a filer's system reads back)."""
    message_id: str
    answered_message_id: str
    code: str
    text: str
    journey_id: str | None = None
    conveyance_id: str | None = None
    consignments: list[ConsignmentResponse] = field(default_factory=list)


def parse(data: bytes) -> list[GeneralResponse]:
    """The MT9999 responses of a body (one document, or several in ``<ManifestResponses>``); raises ValueError
    when one is not an MT9999."""
    root = etree.fromstring(data, PARSER)
    docs = list(root) if etree.QName(root).localname == "ManifestResponses" else [root]
    ns = {"m": NAMESPACE}
    out = []
    for d in docs:
        if etree.QName(d).namespace != NAMESPACE or d.findtext("m:Head/m:MessageType", namespaces=ns) != "MT9999":
            raise ValueError(f"not an MT9999 general response: {etree.QName(d).text}")
        resp = d.find("m:Response", ns)
        if resp is None:
            raise ValueError("an MT9999 without its Response")
        out.append(GeneralResponse(
            message_id=d.findtext("m:Head/m:MessageID", "", ns), answered_message_id=resp.findtext("m:ID", "", ns),
            code=resp.findtext("m:ResponseType/m:Code", "", ns), text=resp.findtext("m:ResponseType/m:Text", "", ns),
            journey_id=resp.findtext("m:BorderTransportMeans/m:JourneyID", None, ns),
            conveyance_id=resp.findtext("m:BorderTransportMeans/m:ID", None, ns),
            consignments=[ConsignmentResponse(
                c.findtext("m:TransportContractDocument/m:ID", "", ns),
                c.findtext("m:AdditionalInformation/m:StatementCode", "", ns),
                c.findtext("m:AdditionalInformation/m:StatementDescription", "", ns))
                for c in resp.findall("m:Consignment", ns)]))
    return out
