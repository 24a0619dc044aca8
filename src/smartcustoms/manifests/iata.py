"""IATA Cargo-XML air waybills to the manifest schema: XFWB (``rsm:Waybill``, namespace ``iata:waybill:1``)
and XFZB (``rsm:HouseWaybill``, ``iata:housewaybill:1``), with the data model ``ram`` = ``iata:datamodel:3``.

An XFWB is one master air waybill (a consignment with no master); an XFZB is a house waybill whose master
is ``MasterConsignment/TransportContractDocument/ID``, so that a consolidation (master with its houses) reads
as one shipment. ``MessageHeaderDocument/PurposeCode`` Creation files, Update amends, Deletion withdraws.
Airports are IATA location codes (3 letters). Weights in pounds (``unitCode="LBR"``) are converted to kg.
The XFHL house list is read by :mod:`smartcustoms.manifests.xfhl`; the older Cargo-IMP text forms are not read.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from lxml import etree

from smartcustoms.manifests import codes, legs
from smartcustoms.manifests.cn import MAX_ITEMS, Parsed, Reader, load_xml
from smartcustoms.manifests.schemas import (
    Consignment,
    Conveyance,
    FieldProblem,
    FilingFunction,
    GoodsItem,
    Manifest,
    MessageKind,
    Party,
    TransportMode,
)

WAYBILL = "iata:waybill:1"
HOUSE = "iata:housewaybill:1"
PURPOSES = {"creation": FilingFunction.ORIGINAL, "update": FilingFunction.AMENDMENT,
            "deletion": FilingFunction.WITHDRAWAL}
_AIRPORT = re.compile(r"[A-Z]{3}")
LB = Decimal("0.45359237")


def is_iata(namespace: str) -> bool:
    """Whether a root namespace is one of the Cargo-XML waybills read here."""
    return namespace in (WAYBILL, HOUSE)


class _Ram(Reader):
    """A reader whose child lookups try the ``ram`` (data model) namespace, then the message's own."""

    def __init__(self, rsm: str, ram: str, line0: int) -> None:
        super().__init__(ram, line0)
        self.rsm = "{" + rsm + "}"

    def child(self, el: Any, name: str) -> Any:
        """``el``'s first child ``name`` in the data model namespace, else in the message's."""
        found = super().child(el, name)
        if found is None and el is not None:
            kids = self._index(el).get(self.rsm + name)
            found = kids[0] if kids else None
        return found

    def children(self, el: Any, name: str) -> list[Any]:
        """``el``'s children ``name`` in the data model namespace, else in the message's."""
        return super().children(el, name) or ([] if el is None else self._index(el).get(self.rsm + name, []))


def _airport(v: str) -> str | None:
    return None if _AIRPORT.fullmatch(v) else f"{v!r} is not an IATA airport code (3 letters)"


def _iso_time(r: Reader, el: Any, name: str, path: str, *, required: bool = False) -> datetime | None:
    raw = r.text(el, name, path, 35, required=required)
    if raw is None:
        return None
    try:
        t = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        r.problem(f"{path}/{name}", el, f"{raw!r} is not an ISO 8601 date-time")
        return None
    return t.astimezone(UTC).replace(tzinfo=None) if t.tzinfo else t


def _kg(r: Reader, el: Any, name: str, path: str, *, required: bool = False) -> Decimal | None:
    value = r.number(el, name, path, required=required, digits=14, scale=4)
    node = r.child(el, name)
    unit = (node.get("unitCode") or "KGM").upper() if node is not None else "KGM"
    if value is None:
        return None
    if unit == "LBR":
        return (value * LB).quantize(Decimal("0.001"))
    if unit != "KGM":
        r.problem(f"{path}/{name}", node, f"unit {unit!r} is not KGM or LBR")
        return None
    return value


def _party(r: Reader, el: Any, path: str) -> Party | None:
    if el is None:
        return None
    pid = r.text(el, "PrimaryID", path, 35, check=codes.party_id_problem)
    name = r.text(el, "Name", path, 70)
    country = r.text(el, "PostalStructuredAddress/CountryID", path, 2, check=codes.country_problem)
    if pid is None and name is None:
        r.problem(path, el, "a party needs its PrimaryID or its Name")
        return None
    return Party(id=pid, name=name, country=country)


def _items(r: Reader, el: Any, tag: str, path: str) -> list[GoodsItem]:
    out = []
    found = r.children(el, tag)
    if len(found) > MAX_ITEMS:
        r.problem(f"{path}/{tag}", found[MAX_ITEMS], f"more than {MAX_ITEMS} goods items")
    for i, it in enumerate(found[:MAX_ITEMS], 1):
        where = f"{path}/{tag}[{i}]"
        n = len(r.problems)
        seq = r.number(it, "SequenceNumeric", where, integer=True, digits=4)
        desc = r.text(it, "NatureIdentificationTransportCargo/Identification", where, 512, required=True)
        hs = r.text(it, "TypeCode", where, 10,
                    check=lambda v: None if v.isdigit() and len(v) in (4, 6, 8, 10) else f"{v!r} is not an HS code")
        pieces = r.number(it, "PieceQuantity", where, integer=True, digits=8)
        mass = _kg(r, it, "GrossWeightMeasure", where)
        if len(r.problems) == n:
            out.append(GoodsItem(sequence=int(seq) if seq is not None else i, description=desc or "", hs_code=hs,
                                 packages=int(pieces) if pieces is not None else None, gross_mass_kg=mass))
    return out


def parse_message(data: bytes, line0: int = 1) -> Parsed:
    """One XFWB or XFZB: the manifest (one consignment), or every problem found (field path, line, reason)."""
    root = load_xml(data, line0, "Waybill")
    if isinstance(root, Parsed):
        return root
    q = etree.QName(root)
    house = q.namespace == HOUSE
    mtype = "XFZB" if house else "XFWB"
    if q.localname != ("HouseWaybill" if house else "Waybill") or not is_iata(q.namespace or ""):
        return Parsed(None, [FieldProblem(field=q.localname, line=line0, message="not an XFWB or XFZB")])
    ram = next((ns for ns in (root.nsmap or {}).values() if ns and ns.startswith("iata:datamodel:")),
               "iata:datamodel:3")
    r = _Ram(q.namespace or "", ram, line0)
    top = q.localname
    head = r.child(root, "MessageHeaderDocument")
    hp = f"{top}/MessageHeaderDocument"
    if head is None:
        r.problem(hp, root, "missing mandatory field")
        return Parsed(None, r.problems, None, mtype)
    message_id = r.text(head, "ID", hp, 64, required=True)
    out = Parsed(None, r.problems, message_id, mtype)
    purpose = r.text(head, "PurposeCode", hp, 20, required=True,
                     check=lambda v: None if v.lower() in PURPOSES else f"{v!r} is not Creation, Update or Deletion")
    sent_at = _iso_time(r, head, "IssueDateTime", hp, required=True)
    sender = r.text(head, "SenderParty/PrimaryID", hp, 50)
    bp = f"{top}/BusinessHeaderDocument"
    doc = r.text(r.child(root, "BusinessHeaderDocument"), "ID", bp, 35, required=True,
                 check=None if house else codes.awb_problem)
    mc = r.child(root, "MasterConsignment")
    mp = f"{top}/MasterConsignment"
    if mc is None:
        r.problem(mp, root, "missing mandatory field")
        return out
    master = None
    body, bpath, item_tag = mc, mp, "IncludedMasterConsignmentItem"
    if house:
        master = r.text(mc, "TransportContractDocument/ID", mp, 35, required=True, check=codes.awb_problem)
        body, bpath, item_tag = r.child(mc, "IncludedHouseConsignment"), f"{mp}/IncludedHouseConsignment", \
            "IncludedHouseConsignmentItem"
        if body is None:
            r.problem(bpath, mc, "missing mandatory field")
            return out
    pieces = r.number(body, "TotalPieceQuantity", bpath, required=True, integer=True, digits=8)
    mass = _kg(r, body, "IncludedTareGrossWeightMeasure", bpath, required=True)
    origin = r.text(body, "OriginLocation/ID", bpath, 3, required=True, check=_airport)
    destination = r.text(body, "FinalDestinationLocation/ID", bpath, 3, required=True, check=_airport)
    shipper = _party(r, r.child(body, "ConsignorParty"), f"{bpath}/ConsignorParty")
    consignee = _party(r, r.child(body, "ConsigneeParty"), f"{bpath}/ConsigneeParty")
    for tag in ("ConsignorParty", "ConsigneeParty"):
        if r.child(body, tag) is None:
            r.problem(f"{bpath}/{tag}", body, "missing mandatory field")
    items = _items(r, body, item_tag, bpath)
    previous = None  # the earlier leg: a referenced document whose type is a transport document of another mode
    for i, ref in enumerate(r.children(body, "AssociatedReferenceDocument")[:20], 1):
        rtype = r.text(ref, "TypeCode", f"{bpath}/AssociatedReferenceDocument[{i}]", 3)
        rid = r.text(ref, "ID", f"{bpath}/AssociatedReferenceDocument[{i}]", 35)
        if rid and rtype in legs.TRANSPORT_DOCUMENT_TYPES and rid != doc and previous is None:
            previous = rid
    if not r.children(body, item_tag):
        r.problem(f"{bpath}/{item_tag}", body, "missing mandatory field: the waybill lists its goods")
    flight, departure, transit = None, None, []
    moves = r.children(mc, "SpecifiedLogisticsTransportMovement")
    for i, mv in enumerate(moves[:20], 1):
        where = f"{mp}/SpecifiedLogisticsTransportMovement[{i}]"
        fid = r.text(mv, "ID", where, 17)
        at = _iso_time(r, mv, "DepartureEvent/ScheduledOccurrenceDateTime", where)
        arrive = r.text(mv, "ArrivalEvent/OccurrenceArrivalLocation/ID", where, 3, check=_airport)
        if flight is None:
            flight, departure = fid, at
        if arrive and arrive != destination:
            transit.append(arrive)
    if r.problems or doc is None or message_id is None or purpose is None:
        return out
    function = PURPOSES[purpose.lower()]
    consignment = Consignment(transport_document_no=doc, master_document_no=master, previous_document_no=previous,
                              loading_place=origin,
                              discharge_place=destination, transit_places=transit[:9],
                              packages=int(pieces) if pieces is not None else None, gross_mass_kg=mass,
                              shipper=shipper, consignee=consignee, items=items)
    out.manifest = Manifest(
        message_id=message_id, message_type=mtype, kind=MessageKind.ORIGINAL, function=function,
        function_code={"original": "9", "amendment": "5", "withdrawal": "3"}[function.value],
        sender_id=sender or "", sent_at=sent_at,
        conveyance=Conveyance(mode=TransportMode.AIR, journey_id=flight, conveyance_id=flight,
                              departure_at=departure),
        consignments=[consignment])
    return out
