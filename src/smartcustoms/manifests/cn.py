"""China customs manifest messages (海关舱单报文).

The root is ``<Manifest xmlns="urn:Declaration:datamodel:standard:CN:MTxxxx:1">``.
The message type ``MTabcc`` names the business (``a``: 1 original manifest, 2 pre-allocation manifest, 3 arrival
report, 4 loading manifest, 5 tally report) and the mode (``b``: 1 water, 2 air, 3 rail, 4 road); ``cc`` 01 is
the filing itself (responses such as MT9999 are customs' answers, not read here). Each message has a ``Head``
(MessageID, FunctionCode, MessageType, SenderID, ReceiverID, SendTime, Version) and a ``Declaration`` with the
``BorderTransportMeans`` and its ``Consignment`` elements (transport document, places, parties, equipment and
goods items). docs/manifests.md lists what was read where and which fields are mandatory per kind.

Parsing is safe (no network, no entities, no DTD, no huge trees) and every problem is collected with its
field path and line, so one answer names them all; :func:`split_messages` cuts a body or file holding several
messages so that a malformed one never stops the others.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from lxml import etree

from smartcustoms.manifests import codes
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

NAMESPACE = "urn:Declaration:datamodel:standard:CN:{}:1"
MAX_MESSAGE_BYTES = 10 << 20
MAX_CONSIGNMENTS = 10_000
MAX_ITEMS = 9_999
MAX_CONTAINERS = 999
MAX_PROBLEMS = 200  # problems reported per message (the rest are counted in the last one)
KINDS = {"1": MessageKind.ORIGINAL, "2": MessageKind.PRE_ALLOCATION, "3": MessageKind.ARRIVAL,
         "4": MessageKind.LOADING, "5": MessageKind.TALLY}
MODES = {"1": TransportMode.WATER, "2": TransportMode.AIR, "3": TransportMode.RAIL, "4": TransportMode.ROAD}
FUNCTIONS = {"9": FilingFunction.ORIGINAL, "2": FilingFunction.ORIGINAL, "5": FilingFunction.AMENDMENT,
             "3": FilingFunction.WITHDRAWAL}
_TYPE = re.compile(r"MT([1-5])([1-4])01")
# the root of a message: a CN Manifest, or an IATA Cargo-XML (House)Waybill
# (the root pattern starts with a literal "<", so the scan is fast; an XML declaration right before it is looked
# for backwards, which an optional leading group would make the regex engine try at every byte)
_START = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?(?:Manifest|Waybill|HouseWaybill|HouseManifest)[\s>/]")
_DECL = re.compile(rb"<\?xml[^>]*\?>\s*")
PARSER = etree.XMLParser(resolve_entities=False, no_network=True, remove_comments=True, remove_pis=True,
                          huge_tree=False, load_dtd=False)
CHINA = timedelta(hours=8)


@dataclass(frozen=True, slots=True)
class Part:
    """One message cut from a body or file: its position, first line and bytes."""
    index: int
    line: int
    data: bytes


@dataclass(slots=True)
class Parsed:
    """A message's parse: the manifest when valid, else the problems (and what of the header could be read)."""
    manifest: Manifest | None
    problems: list[FieldProblem]
    message_id: str | None = None
    message_type: str | None = None


def split_messages(data: bytes) -> list[Part]:
    """The messages of a body or file (one, or several written one after the other)."""
    data = data.removeprefix(b"\xef\xbb\xbf")  # a UTF-8 byte order mark is not a message
    starts = []
    for m in _START.finditer(data):
        at = m.start()
        decl = data.rfind(b"<?xml", max(0, at - 4096), at)
        starts.append(decl if decl >= 0 and _DECL.fullmatch(data, decl, at) else at)
    if not starts or data[:starts[0]].strip():
        starts = [0, *starts]
    parts = []
    line = 1
    prev = 0
    for i, start in enumerate(starts):
        end = starts[i + 1] if i + 1 < len(starts) else len(data)
        line += data.count(b"\n", prev, start)
        prev = start
        chunk = data[start:end]
        # a message's own leading blank lines do not move its first line
        stripped = chunk.lstrip()
        parts.append(Part(i, line + chunk.count(b"\n", 0, len(chunk) - len(stripped)), stripped))
    return [p for p in parts if p.data.strip()] or [Part(0, 1, data)]


class Reader:
    """Walks one message, collecting problems with their paths and lines."""

    def __init__(self, ns: str, line0: int) -> None:
        self.ns = "{" + ns + "}" if ns else ""
        self.line0 = line0
        self.problems: list[FieldProblem] = []
        self._kids: dict[Any, dict[str, list[Any]]] = {}  # (for subclasses that look children up by index)
        self._ns_steps = _ns_steps(self.ns)
        self._inline = type(self).child is Reader.child

    def problem(self, path: str, el: Any, message: str) -> None:
        """Note a problem at ``path`` (the line of ``el`` in the body or file)."""
        line = el.sourceline if el is not None and el.sourceline else None
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(FieldProblem(field=path, line=None if line is None else line + self.line0 - 1,
                                              message=message))

    def _index(self, el: Any) -> dict[str, list[Any]]:
        """``el``'s child elements by tag, built once per element (a find per field costs more)."""
        kids = self._kids.get(el)
        if kids is None:
            kids = {}
            for c in el:
                kids.setdefault(c.tag, []).append(c)
            self._kids[el] = kids
        return kids

    def child(self, el: Any, name: str) -> Any:
        """``el``'s first child element ``name`` (None when absent)."""
        if el is None:
            return None
        for found in el.iterchildren(self.ns + name):  # matched in lxml's C: no proxy for the other children
            return found
        return None

    def children(self, el: Any, name: str) -> list[Any]:
        """``el``'s child elements ``name``, in order."""
        return [] if el is None else list(el.iterchildren(self.ns + name))

    def text(self, el: Any, name: str, path: str, max_len: int, *, required: bool = False,
             check: Callable[[str], str | None] | None = None) -> str | None:
        """The trimmed text of ``el``'s child ``name`` (a ``A/B`` path goes deeper), checked."""
        node = el
        if self._inline:
            tags = self._ns_steps.get(name)
            if tags is None:
                tags = self._ns_steps[name] = tuple(self.ns + part for part in _steps(name))
            for tag in tags:  # self.child inlined: this runs for every field of every line
                if node is None:
                    break
                # the first match, found in lxml's C: no proxy for the other children and no per-element index
                # to allocate (less work for the garbage collector too)
                node = next(node.iterchildren(tag), None)
        else:  # a subclass looks children up its own way
            for part in _steps(name):
                node = self.child(node, part)
        value = (node.text or "").strip() if node is not None else ""
        if not value:
            if required:
                self.problem(f"{path}/{name}", node if node is not None else el, "missing mandatory field")
            return None
        if len(value) > max_len:
            self.problem(f"{path}/{name}", node, f"longer than {max_len} characters")
            return None
        if check is not None:
            reason = check(value)
            if reason:
                self.problem(f"{path}/{name}", node, reason)
                return None
        return value

    def number(self, el: Any, name: str, path: str, *, required: bool = False, integer: bool = False,
               digits: int = 14, scale: int = 4) -> Decimal | None:
        """A non-negative decimal field within ``digits`` digits and ``scale`` decimals (whole with ``integer``)."""
        raw = self.text(el, name, path, 32, required=required)
        if raw is None:
            return None
        whole, dot, frac_digits = raw.partition(".")
        if whole.isdigit() and (not dot or frac_digits.isdigit()):  # the usual plain number: checked without
            # Decimal.as_tuple (its digits are the whole part's without leading zeros, then the fraction's)
            if integer and dot:
                pass  # the slow path below names the problem
            elif len(frac_digits) <= scale and len(whole.lstrip("0")) <= digits:
                return Decimal(raw)
        node = el
        for part in name.split("/"):
            node = self.child(node, part)
        try:
            value = Decimal(raw)
        except InvalidOperation:
            self.problem(f"{path}/{name}", node, f"{raw!r} is not a number")
            return None
        if not value.is_finite() or value < 0:
            self.problem(f"{path}/{name}", node, f"{raw!r} must be zero or more")
            return None
        sign, ds, exp = value.as_tuple()
        frac = -exp if isinstance(exp, int) and exp < 0 else 0
        if integer and frac:
            self.problem(f"{path}/{name}", node, f"{raw!r} must be a whole number")
            return None
        if frac > scale or len(ds) - frac > digits:
            self.problem(f"{path}/{name}", node, f"{raw!r} has more than {digits} digits or {scale} decimals")
            return None
        return value

    def when(self, el: Any, name: str, path: str, *, required: bool = False, millis: bool = False
             ) -> datetime | None:
        """A manifest time field as naive UTC (see :func:`parse_time`)."""
        raw = self.text(el, name, path, 17, required=required)
        if raw is None:
            return None
        try:
            return parse_time(raw, millis=millis)
        except ValueError as exc:
            node = el
            for part in name.split("/"):
                node = self.child(node, part)
            self.problem(f"{path}/{name}", node, str(exc))
            return None


@lru_cache(maxsize=512)
def _steps(name: str) -> tuple[str, ...]:
    return tuple(name.split("/"))


@lru_cache(maxsize=16)
def _ns_steps(ns: str) -> dict[str, tuple[str, ...]]:
    """A field path's qualified tags per namespace, shared by the readers of one namespace (filled as read)."""
    return {}


@lru_cache(maxsize=4096)  # the loading dates of one voyage repeat on every line
def parse_time(raw: str, *, millis: bool = False) -> datetime:
    """A manifest time as naive UTC. ``CCYYMMDD``, ``CCYYMMDDhhmmss`` and ``CCYYMMDDhhmm`` are China time;
    17 digits are ``CCYYMMDDhhmmss`` and the zone ``086`` (China time, the only one the samples show), or
    milliseconds (``millis``: the Head's SendTime, ``CCYYMMDDhhmmssfff``, China time)."""
    if not raw.isdigit() or len(raw) not in (8, 12, 14, 17):
        raise ValueError(f"{raw!r} is not a time CCYYMMDD[hhmm[ss[zzz]]]")
    fmt = {8: "%Y%m%d", 12: "%Y%m%d%H%M", 14: "%Y%m%d%H%M%S", 17: "%Y%m%d%H%M%S"}[len(raw)]
    try:
        local = datetime.strptime(raw[:14] if len(raw) == 17 else raw, fmt)
    except ValueError:
        raise ValueError(f"{raw!r} is not a valid date or time") from None
    offset = CHINA
    if len(raw) == 17:
        tail = raw[14:]
        if millis:
            local += timedelta(milliseconds=int(tail))
        elif tail != "086":
            raise ValueError(f"{raw!r}: zone {tail!r} is not 086 (China time)")
    return local - offset


def _party(r: Reader, el: Any, path: str) -> Party | None:
    if el is None:
        return None
    pid = r.text(el, "ID", path, 35, check=codes.party_id_problem)
    name = r.text(el, "Name", path, 70)
    country = r.text(el, "Address/CountryCode", path, 2, check=codes.country_problem)
    if pid is None and name is None:
        r.problem(path, el, "a party needs its ID or its Name")
        return None
    return Party(id=pid, name=name, country=country)


def _place(r: Reader, el: Any, name: str, path: str, *, required: bool = False) -> str | None:
    return r.text(el, f"{name}/ID", path, 5, required=required, check=codes.locode_problem)


def _item(r: Reader, el: Any, path: str, goods_required: bool) -> GoodsItem | None:
    n = len(r.problems)
    seq = r.number(el, "SequenceNumeric", path, required=True, integer=True, digits=4)
    desc = r.text(el, "Commodity/CargoDescription", path, 512, required=goods_required)
    hs = r.text(el, "Commodity/Classification/ID", path, 10,
                check=lambda v: None if v.isdigit() and len(v) in (4, 6, 8, 10) else f"{v!r} is not an HS code")
    undg = r.text(el, "Commodity/UNDGCode", path, 6,
                  check=lambda v: None if codes.un_number(v) else f"{v!r} is not a 4-digit UN number")
    packages = r.number(el, "ConsignmentItemPackaging/QuantityQuantity", path, integer=True, digits=8)
    ptype = r.text(el, "ConsignmentItemPackaging/TypeCode", path, 2)
    mass = r.number(el, "GoodsMeasure/GrossMassMeasure", path, required=goods_required, digits=14, scale=4)
    boxes = []
    for i, eq in enumerate(r.children(el, "EquipmentIdentification")[:100], 1):
        num = r.text(eq, "ID", f"{path}/EquipmentIdentification[{i}]", 17, required=True)
        if num:
            boxes.append(num)
    if len(r.problems) > n:
        return None
    return GoodsItem(sequence=int(seq or 0), description=desc or "", hs_code=hs, packages=int(packages)
                     if packages is not None else None, package_type=ptype, gross_mass_kg=mass,
                     un_number=codes.un_number(undg) if undg else None, containers=boxes)


def _consignment(r: Reader, el: Any, path: str, kind: MessageKind, mode: TransportMode) -> Consignment | None:
    n = len(r.problems)
    filing = kind in (MessageKind.ORIGINAL, MessageKind.PRE_ALLOCATION)
    doc = r.text(el, "TransportContractDocument/ID", path, 35, required=True,
                 check=codes.awb_problem if mode is TransportMode.AIR else None)
    house = r.text(el, "AssociatedTransportDocument/ID", path, 35)
    # the earlier leg's transport document when the goods change mode (WCO data model "previous document")
    previous = r.text(el, "PreviousDocument/ID", path, 35)
    loading = _place(r, el, "LoadingLocation", path, required=filing)
    loading_at = r.when(el, "LoadingLocation/LoadingDate", path)
    discharge = _place(r, el, "UnloadingLocation", path, required=filing)
    transit = [p for i, t in enumerate(r.children(el, "TranshipmentLocation")[:9], 1)
               if (p := r.text(t, "ID", f"{path}/TranshipmentLocation[{i}]", 5, check=codes.locode_problem))]
    transit_dest = _place(r, el, "TransitDestination", path)
    if transit_dest:
        transit.append(transit_dest)
    routing = []
    for i, c in enumerate(r.children(el, "RoutingCountryCode")[:99], 1):
        value = (c.text or "").strip()
        reason = codes.country_problem(value)
        if reason:
            r.problem(f"{path}/RoutingCountryCode[{i}]", c, reason)
        else:
            routing.append(value)
    packages = r.number(el, "ConsignmentPackaging/QuantityQuantity", path, required=filing, integer=True, digits=8)
    mass = r.number(el, "TotalGrossMassMeasure", path, required=filing, digits=14, scale=4)
    value = r.number(el, "ValueAmount", path, digits=16, scale=2)
    va = r.child(el, "ValueAmount")
    currency = va.get("CurrencyTypeCode") if va is not None else None
    parties = {name: _party(r, r.child(el, tag), f"{path}/{tag}")
               for name, tag in (("shipper", "Consignor"), ("consignee", "Consignee"), ("notify", "NotifyParty"))}
    if filing:
        for tag in ("Consignor", "Consignee"):
            if r.child(el, tag) is None:
                r.problem(f"{path}/{tag}", el, "missing mandatory field")
    boxes = []
    equipment = r.children(el, "TransportEquipment")
    if len(equipment) > MAX_CONTAINERS:
        r.problem(f"{path}/TransportEquipment", equipment[MAX_CONTAINERS], f"more than {MAX_CONTAINERS}")
    for i, eq in enumerate(equipment[:MAX_CONTAINERS], 1):
        where = f"{path}/TransportEquipment[{i}]"
        num = r.text(eq, "EquipmentIdentification/ID", where, 17, required=True,
                     check=codes.container_problem if mode is TransportMode.WATER else None)
        size = r.text(eq, "CharacteristicCode", where, 4)
        full = r.text(eq, "FullnessCode", where, 1)
        seals = [s.text.strip() for s in r.children(eq, "SealID")[:10] if s.text and s.text.strip()]
        if num:
            boxes.append(Container(number=num, size_type=size, fullness=full, seals=seals))
    items_el = r.children(el, "ConsignmentItem")
    if filing and not items_el:
        r.problem(f"{path}/ConsignmentItem", el, "missing mandatory field: a filing lists its goods items")
    if len(items_el) > MAX_ITEMS:
        r.problem(f"{path}/ConsignmentItem", items_el[MAX_ITEMS], f"more than {MAX_ITEMS} goods items")
    items = [it for i, e in enumerate(items_el[:MAX_ITEMS], 1)
             if (it := _item(r, e, f"{path}/ConsignmentItem[{i}]", filing)) is not None]
    if len(r.problems) > n or doc is None:
        return None
    return Consignment(
        transport_document_no=house or doc, master_document_no=doc if house else None, previous_document_no=previous,
        loading_place=loading, loading_at=loading_at, discharge_place=discharge, transit_places=transit,
        routing_countries=routing, packages=int(packages) if packages is not None else None, gross_mass_kg=mass,
        value=value, currency=(currency or "").strip()[:3] or None, containers=boxes, items=items, **parties)


def load_xml(data: bytes, line0: int, field: str) -> etree._Element | Parsed:
    """The message's root element (safe parser), or its refusal naming ``field``: larger than
    :data:`MAX_MESSAGE_BYTES`, or malformed XML (with the line, counted from ``line0``)."""
    if len(data) > MAX_MESSAGE_BYTES:
        return Parsed(None, [FieldProblem(field=field, line=line0,
                                          message=f"the message is larger than {MAX_MESSAGE_BYTES} bytes")])
    try:
        return etree.fromstring(data, PARSER)
    except etree.XMLSyntaxError as exc:
        line = exc.lineno + line0 - 1 if exc.lineno else line0
        return Parsed(None, [FieldProblem(field=field, line=line, message=f"malformed XML: {exc.msg}")])


def parse_message(data: bytes, line0: int = 1) -> Parsed:
    """One China customs manifest message: the manifest, or every problem found (field path, line, reason)."""
    root = load_xml(data, line0, "Manifest")
    if isinstance(root, Parsed):
        return root
    qname = etree.QName(root)
    if qname.localname != "Manifest":
        return Parsed(None, [FieldProblem(field=qname.localname, line=line0,
                                          message="not a China customs manifest (root element Manifest)")])
    ns = qname.namespace or ""
    r = Reader(ns, line0)
    head = r.child(root, "Head")
    if head is None:
        r.problem("Manifest/Head", root, "missing mandatory field")
        return Parsed(None, r.problems)
    message_id = r.text(head, "MessageID", "Manifest/Head", 64, required=True)
    mtype = r.text(head, "MessageType", "Manifest/Head", 6, required=True)
    out = Parsed(None, r.problems, message_id, mtype)
    if mtype is None:
        return out
    m = _TYPE.fullmatch(mtype)
    if m is None:
        r.problem("Manifest/Head/MessageType", r.child(head, "MessageType"),
                  f"{mtype!r} is not a manifest filing read here (MT1x01 to MT5x01, x = 1 water, 2 air, "
                  "3 rail, 4 road)")
        return out
    if ns != NAMESPACE.format(mtype):
        r.problem("Manifest", root, f"namespace {ns or '(none)'!r} should be {NAMESPACE.format(mtype)!r}")
    kind, mode = KINDS[m.group(1)], MODES[m.group(2)]
    fcode = r.text(head, "FunctionCode", "Manifest/Head", 2, required=True,
                   check=lambda v: None if v in FUNCTIONS else f"{v!r} is not a function code (2, 3, 5 or 9)")
    sender = r.text(head, "SenderID", "Manifest/Head", 50, required=True)
    r.text(head, "ReceiverID", "Manifest/Head", 50, required=True)
    sent_at = r.when(head, "SendTime", "Manifest/Head", required=True, millis=True)
    r.text(head, "Version", "Manifest/Head", 10, required=True)
    decl = r.child(root, "Declaration")
    if decl is None:
        r.problem("Manifest/Declaration", root, "missing mandatory field")
        return out
    dp = "Manifest/Declaration"
    office = r.text(decl, "DeclarationOfficeID", dp, 4,
                    check=lambda v: None if v.isdigit() and len(v) == 4 else f"{v!r} is not a customs office code")
    carrier = r.text(decl, "Carrier/ID", dp, 35)
    btm = r.child(decl, "BorderTransportMeans")
    bp = f"{dp}/BorderTransportMeans"
    filing = kind in (MessageKind.ORIGINAL, MessageKind.PRE_ALLOCATION)
    if btm is None:
        r.problem(bp, decl, "missing mandatory field")
        conveyance = None
    else:
        journey = r.text(btm, "JourneyID", bp, 17, required=True)
        cid = r.text(btm, "ID", bp, 35, required=True,
                     check=codes.imo_problem if mode is TransportMode.WATER and _imo_like(btm, r) else None)
        conveyance = Conveyance(
            mode=mode, journey_id=journey, conveyance_id=cid, name=r.text(btm, "Name", bp, 35),
            departure_at=r.when(btm, "DepartureDateTime", bp, required=filing and mode is TransportMode.AIR),
            arrival_at=r.when(btm, "ArrivalDateTime", bp,
                              required=filing and mode in (TransportMode.RAIL, TransportMode.ROAD)),
            first_arrival_place=r.text(btm, "FirstArrivalLocationID", bp, 5))
    cons_el = r.children(decl, "Consignment")
    if not cons_el:
        r.problem(f"{dp}/Consignment", decl, "missing mandatory field: at least one consignment")
    if len(cons_el) > MAX_CONSIGNMENTS:
        r.problem(f"{dp}/Consignment", cons_el[MAX_CONSIGNMENTS], f"more than {MAX_CONSIGNMENTS} consignments")
    consignments = []
    seen: dict[str, int] = {}
    for i, el in enumerate(cons_el[:MAX_CONSIGNMENTS], 1):
        c = _consignment(r, el, f"{dp}/Consignment[{i}]", kind, mode)
        if c is None:
            continue
        if c.transport_document_no in seen:
            first = seen[c.transport_document_no]
            r.problem(f"{dp}/Consignment[{i}]/TransportContractDocument/ID", el,
                      f"transport document {c.transport_document_no!r} is already Consignment[{first}]")
            continue
        seen[c.transport_document_no] = i
        consignments.append(c)
    if r.problems or conveyance is None:
        return out
    assert message_id is not None and fcode is not None and sender is not None
    out.manifest = Manifest(message_id=message_id, message_type=mtype, kind=kind, function=FUNCTIONS[fcode],
                            function_code=fcode, sender_id=sender, sent_at=sent_at, customs_office=office,
                            carrier_id=carrier, conveyance=conveyance, consignments=consignments)
    return out


def _imo_like(btm: Any, r: Reader) -> bool:
    """A vessel is named by ``UN`` + its IMO number when it has one (other vessels by a call sign)."""
    node = r.child(btm, "ID")
    value = (node.text or "").strip() if node is not None else ""
    return value.startswith("UN") and value[2:].isdigit()


def parse_stream(data: bytes) -> Iterator[tuple[Part, Parsed]]:
    """Every message of a body or file with its parse, in order."""
    for part in split_messages(data):
        yield part, parse_message(part.data, part.line)
