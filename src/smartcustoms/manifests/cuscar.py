"""UN/EDIFACT CUSCAR (customs cargo report) to the manifest schema, through pydifact's segment parser.

pydifact's message splitter refuses interchanges with UNG/UNE functional groups (DESIGN.md §7), so the
segments are iterated and cut into messages at UNH/UNT here. Read per message (D.95B and later directories):
BGM (document number; function 9 original, 4/5 change or replace, 1/3 cancellation or deletion), TDT main
carriage (journey, mode, carrier, vessel: IMO-checked when its id is 7 digits), LOC 9/11/13 (loading,
discharge, transshipment: UN/LOCODE), DTM 133/132 (departure/arrival), and one consignment per CNI with RFF
BM/MB (bill, master bill), NAD CZ/CN/N1 (consignor, consignee, notify), GID (packages), FTX AAA (description),
PIA (HS), MEA AAE/WT (gross kg), DGS (UN number), EQD CN (containers, ISO 6346). A problem is named by the
message's position and the segment's (``UNH[2]/CNI[1]/GID[1]/MEA``) and the answer's line is the segment's
number in the interchange.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from pydifact.parser import Parser
from pydifact.serializer import Serializer

from smartcustoms.manifests import codes, legs
from smartcustoms.manifests.cn import MAX_CONSIGNMENTS, MAX_ITEMS, MAX_MESSAGE_BYTES, MAX_PROBLEMS, Parsed
from smartcustoms.manifests.schemas import (
    Consignment,
    Container,
    Conveyance,
    FieldProblem,
    FilingFunction,
    GoodsItem,
    Manifest,
    MessageKind,
    Party,
    TransportMode,
)

FUNCTIONS = {"9": FilingFunction.ORIGINAL, "4": FilingFunction.AMENDMENT, "5": FilingFunction.AMENDMENT,
             "1": FilingFunction.WITHDRAWAL, "3": FilingFunction.WITHDRAWAL}
MODES = {"1": TransportMode.WATER, "2": TransportMode.RAIL, "3": TransportMode.ROAD, "4": TransportMode.AIR}
_SEGMENT_START = re.compile(r"(?:^|(?<=[^?]'))\s*UNH\+")


def is_edifact(data: bytes) -> bool:
    """Whether a body or file is an EDIFACT interchange (UNA, UNB or a bare UNH at its start)."""
    head = data.lstrip()[:3]
    return head in (b"UNA", b"UNB", b"UNH")


@dataclass
class _Msg:
    """The segments of one message (UNH to UNT) with each segment's number in the interchange."""
    index: int
    segments: list[tuple[int, Any]] = field(default_factory=list)


def _el(seg: Any, i: int, j: int | None = None) -> str:
    """Element ``i`` (component ``j``) of a segment, '' when absent."""
    els = seg.elements
    if i >= len(els):
        return ""
    v = els[i]
    if isinstance(v, list):
        v = v[j or 0] if (j or 0) < len(v) else ""
    elif j:
        return ""
    return (v or "").strip()


def _segments(text: str) -> tuple[list[tuple[int, Any]], str | None]:
    """The interchange's segments numbered from 1, and the syntax error that stopped them, if any."""
    out: list[tuple[int, Any]] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydifact warns of directories it has no XML description of
        try:
            for n, seg in enumerate(Parser().parse(text), 1):
                out.append((n, seg))
        except Exception as exc:  # noqa: BLE001 - pydifact's syntax errors, whatever their class
            return out, str(exc)
    return out, None


def split(data: bytes) -> list[tuple[_Msg | None, list[FieldProblem]]]:
    """The interchange's messages (or the problems of a stretch that could not be read), in order."""
    if len(data) > MAX_MESSAGE_BYTES * 10:
        return [(None, [FieldProblem(field="UNB", line=1, message="the interchange is too large")])]
    text = data.decode("utf-8", errors="replace")
    segs, error = _segments(text)
    if error is None:
        return _cut(segs)
    # a syntax error stops the tokenizer: read the messages one by one so the others still count
    una = text[:9] if text.startswith("UNA") else ""
    starts = [m.start() for m in _SEGMENT_START.finditer(text)]
    out: list[tuple[_Msg | None, list[FieldProblem]]] = []
    for i, start in enumerate(starts):
        chunk = text[start:starts[i + 1] if i + 1 < len(starts) else len(text)]
        chunk = chunk.split("UNZ+")[0].split("UNE+")[0]
        one, err = _segments(una + chunk)
        if err is not None:
            out.append((None, [FieldProblem(field=f"UNH[{i + 1}]", line=None,
                                            message=f"EDIFACT syntax error: {err}")]))
            continue
        for msg, problems in _cut([s for s in one if s[1].tag != "UNA"]):
            if msg is not None:
                msg.index = i
            out.append((msg, problems))
    return out or [(None, [FieldProblem(field="UNB", line=1, message=f"EDIFACT syntax error: {error}")])]


def _cut(segs: list[tuple[int, Any]]) -> list[tuple[_Msg | None, list[FieldProblem]]]:
    out: list[tuple[_Msg | None, list[FieldProblem]]] = []
    cur: _Msg | None = None
    count = 0
    for n, seg in segs:
        if seg.tag == "UNH":
            if cur is not None:
                out.append((None, [FieldProblem(field=f"UNH[{cur.index + 1}]", line=n,
                                                message="message not closed by UNT")]))
            cur = _Msg(count)
            count += 1
            cur.segments.append((n, seg))
        elif seg.tag == "UNT":
            if cur is None:
                out.append((None, [FieldProblem(field="UNT", line=n, message="UNT without UNH")]))
                continue
            cur.segments.append((n, seg))
            out.append((cur, []))
            cur = None
        elif cur is not None:
            cur.segments.append((n, seg))
    if cur is not None:
        out.append((None, [FieldProblem(field=f"UNH[{cur.index + 1}]", line=None,
                                        message="message not closed by UNT")]))
    if not out:
        out.append((None, [FieldProblem(field="UNH", line=1, message="no UNH message in the interchange")]))
    return out


def raw(msg: _Msg) -> bytes:
    """The message's segments written out again (what is stored of it)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Serializer().serialize([seg for _n, seg in msg.segments], with_una_header=False).encode()


def _time(raw: str, fmt: str) -> datetime | None:
    """A DTM value (format 102 CCYYMMDD, 203 CCYYMMDDHHMM) as naive UTC (China time assumed)."""
    try:
        t = datetime.strptime(raw, "%Y%m%d%H%M" if fmt == "203" else "%Y%m%d")
    except ValueError:
        return None
    return t - timedelta(hours=8)


def parse_message(msg: _Msg) -> Parsed:
    """One CUSCAR message (UNH to UNT): the manifest, or every problem (segment path, number, reason)."""
    problems: list[FieldProblem] = []
    top = f"UNH[{msg.index + 1}]"

    def problem(path: str, n: int, message: str) -> None:
        if len(problems) < MAX_PROBLEMS:
            problems.append(FieldProblem(field=f"{top}/{path}", line=n, message=message))

    first_n, unh = msg.segments[0]
    ref = _el(unh, 0)
    mtype = _el(unh, 1, 0)
    out = Parsed(None, problems, ref or None, mtype or None)
    if mtype != "CUSCAR":
        problem("UNH", first_n, f"{mtype or '(none)'!r} is not CUSCAR")
        return out
    doc_no, function, journey, vessel, mode = None, None, None, None, TransportMode.WATER
    loading = discharge = None
    transit: list[str] = []
    departure = arrival = None
    consignments: list[dict[str, Any]] = []
    cur: dict[str, Any] | None = None
    item: dict[str, Any] | None = None

    def place(seg: Any, n: int, path: str) -> str | None:
        code = _el(seg, 1, 0)
        reason = codes.locode_problem(code)
        if reason:
            problem(path, n, reason)
            return None
        return code

    for n, seg in msg.segments[1:]:
        tag = seg.tag
        where = f"CNI[{len(consignments)}]/{tag}" if cur is not None else tag
        if tag == "BGM":
            doc_no = _el(seg, 1) or None
            fc = _el(seg, 2) or "9"
            function = FUNCTIONS.get(fc)
            if function is None:
                problem("BGM", n, f"message function {fc!r} is not 1, 3, 4, 5 or 9")
        elif tag == "TDT" and cur is None:
            journey = _el(seg, 1) or None
            mode = MODES.get(_el(seg, 2), TransportMode.WATER)
            vessel = _el(seg, 7, 0) or None
            if vessel and vessel.isdigit() and len(vessel) == 7 and (r := codes.imo_problem(vessel)):
                problem("TDT", n, r)
        elif tag == "DTM" and cur is None:
            q, v, f = _el(seg, 0, 0), _el(seg, 0, 1), _el(seg, 0, 2)
            t = _time(v, f)
            if v and t is None:
                problem("DTM", n, f"{v!r} is not a date in format {f or '102'}")
            elif q == "133":
                departure = t
            elif q == "132":
                arrival = t
        elif tag == "LOC":
            q = _el(seg, 0)
            code = place(seg, n, where) if q in ("5", "9", "11", "13") else None
            target = cur if cur is not None else None
            if q in ("5", "9"):
                if target is not None:
                    target["loading"] = code
                else:
                    loading = code
            elif q == "11":
                if target is not None:
                    target["discharge"] = code
                else:
                    discharge = code
            elif q == "13" and code:
                (target["transit"] if target is not None else transit).append(code)
        elif tag == "CNI":
            if len(consignments) >= MAX_CONSIGNMENTS:
                problem("CNI", n, f"more than {MAX_CONSIGNMENTS} consignments")
                break
            cur = {"doc": _el(seg, 1) or None, "n": n, "transit": [], "items": [], "containers": [],
                   "parties": {}, "master": None}
            consignments.append(cur)
            item = None
            where = f"CNI[{len(consignments)}]"
            if not cur["doc"]:
                problem(where, n, "missing mandatory field: the transport document number")
        elif cur is None:
            continue
        elif tag == "RFF":
            q, v = _el(seg, 0, 0), _el(seg, 0, 1)
            if q == "BM" and v:
                cur["doc"] = cur["doc"] or v
            elif q == "MB" and v:
                cur["master"] = v
        elif tag == "DOC":  # a transport document of another mode: the earlier leg of this consignment
            code, number = _el(seg, 0, 0), _el(seg, 1, 0)
            if code in legs.TRANSPORT_DOCUMENT_TYPES and number and len(number) <= 35:
                cur.setdefault("previous", number)
        elif tag == "NAD":
            role = _el(seg, 0)
            name = _el(seg, 3, 0) or _el(seg, 2, 0) or None
            pid = _el(seg, 1, 0) or None
            if pid and (r := codes.party_id_problem(pid)):
                problem(where, n, r)
            country = _el(seg, 8) or None
            if country and (r := codes.country_problem(country)):
                problem(where, n, r)
                country = None
            if role in ("CZ", "CN", "N1"):
                cur["parties"][role] = Party(id=pid, name=(name or "")[:70] or None, country=country)
        elif tag == "GID":
            if len(cur["items"]) >= MAX_ITEMS:
                problem(where, n, f"more than {MAX_ITEMS} goods items")
                continue
            count = _el(seg, 1, 0)
            item = {"seq": _el(seg, 0) or str(len(cur["items"]) + 1), "packages": None, "ptype": _el(seg, 1, 1),
                    "desc": [], "hs": None, "kg": None, "un": None}
            if count:
                if count.isdigit():
                    item["packages"] = int(count)
                else:
                    problem(where, n, f"{count!r} is not a number of packages")
            cur["items"].append(item)
        elif tag == "FTX" and item is not None and _el(seg, 0) == "AAA":
            text = seg.elements[3] if len(seg.elements) > 3 else ""
            item["desc"].extend(v.strip() for v in (text if isinstance(text, list) else [text]) if v and v.strip())
        elif tag == "PIA" and item is not None:
            hs = _el(seg, 1, 0)
            if hs.isdigit() and len(hs) in (4, 6, 8, 10):
                item["hs"] = hs
            else:
                problem(where, n, f"{hs!r} is not an HS code")
        elif tag == "MEA" and item is not None and _el(seg, 0) in ("AAE", "WT") and _el(seg, 1) in ("G", "AAB"):
            unit, value = _el(seg, 2, 0), _el(seg, 2, 1)
            try:
                kg = Decimal(value)
                if not kg.is_finite() or kg < 0 or unit not in ("KGM", ""):
                    raise InvalidOperation
                item["kg"] = kg
            except InvalidOperation:
                problem(where, n, f"{unit}:{value} is not a gross mass in KGM")
        elif tag == "DGS" and item is not None:
            un = codes.un_number(_el(seg, 2, 0) or "")
            if un is None:
                problem(where, n, f"{_el(seg, 2, 0)!r} is not a 4-digit UN number")
            item["un"] = un
        elif tag == "EQD" and _el(seg, 0) == "CN":
            number = _el(seg, 1, 0)
            r = codes.container_problem(number) if mode is TransportMode.WATER else None
            if r:
                problem(where, n, r)
            elif number:
                cur["containers"].append(Container(number=number))
    if doc_no is None:
        problem("BGM", first_n, "missing mandatory field: the document number")
    if not consignments:
        problem("CNI", first_n, "missing mandatory field: at least one consignment")
    built = []
    for i, c in enumerate(consignments, 1):
        if not c["items"] or any(not " ".join(it["desc"]).strip() for it in c["items"]):
            problem(f"CNI[{i}]/GID", c["n"], "missing mandatory field: every goods item needs FTX+AAA")
            continue
        if not c["doc"]:
            continue
        items = [GoodsItem(sequence=int(it["seq"]) if it["seq"].isdigit() else k, description=" ".join(
                           it["desc"])[:512], hs_code=it["hs"], packages=it["packages"],
                           package_type=(it["ptype"] or None) and it["ptype"][:2], gross_mass_kg=it["kg"],
                           un_number=it["un"]) for k, it in enumerate(c["items"], 1)]
        house = c["doc"] if c["master"] else None
        built.append(Consignment(
            transport_document_no=house or c["doc"], master_document_no=c["master"],
            previous_document_no=c.get("previous"),
            loading_place=c.get("loading") or loading, discharge_place=c.get("discharge") or discharge,
            transit_places=(c["transit"] or transit)[:9], packages=sum(it.packages or 0 for it in items) or None,
            gross_mass_kg=sum((it.gross_mass_kg or Decimal(0) for it in items), Decimal(0)) or None,
            shipper=c["parties"].get("CZ"), consignee=c["parties"].get("CN"), notify=c["parties"].get("N1"),
            containers=c["containers"][:999], items=items))
    if problems or function is None or not ref:
        return out
    out.manifest = Manifest(
        message_id=(doc_no or ref)[:64], message_type="CUSCAR", kind=MessageKind.ORIGINAL, function=function,
        function_code={"original": "9", "amendment": "5", "withdrawal": "3"}[function.value], sender_id="",
        conveyance=Conveyance(mode=mode, journey_id=(journey or "")[:17] or None,
                              conveyance_id=(vessel or "")[:35] or None, departure_at=departure,
                              arrival_at=arrival),
        consignments=built)
    return out
