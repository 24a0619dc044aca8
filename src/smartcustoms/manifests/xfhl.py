"""IATA Cargo-XML XFHL, the house manifest (consolidation list): ``rsm:HouseManifest`` in the namespace
``iata:housemanifest:1`` with the data model ``ram`` = ``iata:datamodel:3`` (MessageHeaderDocument TypeCode 785,
"Cargo Manifest").

The message names one master air waybill (``MasterConsignment/TransportContractDocument/ID``, mod-7 checked, with
its origin, destination, total pieces and weight) and lists the house waybills consolidated under it, each an
``IncludedHouseConsignment``: SequenceNumeric, TransportContractDocument/ID (the house waybill), OriginLocation and
FinalDestinationLocation, TotalPieceQuantity, GrossWeightMeasure (KGM or LBR), SummaryDescription (the goods, one
goods item) and, when given, ConsignorParty / ConsigneeParty (special handling and customs notes are not read).
Each house becomes one consignment whose master is the master waybill, so a consolidation reads as one shipment
beside its XFWB and XFZBs. PurposeCode Creation files, Update amends, Deletion withdraws. The structure was taken
from the element names public XFHL writers and readers use (docs/manifests.md), not from the IATA schema files.
"""

from __future__ import annotations

from typing import Any

from lxml import etree

from smartcustoms.manifests import codes
from smartcustoms.manifests.cn import MAX_CONSIGNMENTS, Parsed, load_xml
from smartcustoms.manifests.iata import PURPOSES, _airport, _iso_time, _kg, _party, _Ram
from smartcustoms.manifests.schemas import (
    Consignment,
    Conveyance,
    FieldProblem,
    GoodsItem,
    Manifest,
    MessageKind,
    TransportMode,
)

NAMESPACE = "iata:housemanifest:1"
ROOT = "HouseManifest"


def is_house_manifest(namespace: str, localname: str) -> bool:
    """Whether a root is an XFHL."""
    return namespace == NAMESPACE and localname == ROOT


def _house(r: _Ram, el: Any, path: str, master: str | None) -> Consignment | None:
    n = len(r.problems)
    doc = r.text(el, "TransportContractDocument/ID", path, 35, required=True)
    origin = r.text(el, "OriginLocation/ID", path, 3, required=True, check=_airport)
    destination = r.text(el, "FinalDestinationLocation/ID", path, 3, required=True, check=_airport)
    pieces = r.number(el, "TotalPieceQuantity", path, required=True, integer=True, digits=8)
    mass = _kg(r, el, "GrossWeightMeasure", path, required=True)
    description = r.text(el, "SummaryDescription", path, 512, required=True)
    shipper = _party(r, r.child(el, "ConsignorParty"), f"{path}/ConsignorParty")
    consignee = _party(r, r.child(el, "ConsigneeParty"), f"{path}/ConsigneeParty")
    if len(r.problems) > n or doc is None:
        return None
    item = GoodsItem(sequence=1, description=description or "", packages=int(pieces) if pieces is not None else None,
                     gross_mass_kg=mass)
    return Consignment(transport_document_no=doc, master_document_no=master, loading_place=origin,
                       discharge_place=destination, packages=item.packages, gross_mass_kg=mass, shipper=shipper,
                       consignee=consignee, items=[item])


def parse_message(data: bytes, line0: int = 1) -> Parsed:
    """One XFHL: a consignment per house waybill under its master, or every problem (field path, line, reason)."""
    root = load_xml(data, line0, ROOT)
    if isinstance(root, Parsed):
        return root
    q = etree.QName(root)
    if not is_house_manifest(q.namespace or "", q.localname):
        return Parsed(None, [FieldProblem(field=q.localname, line=line0, message="not an XFHL house manifest")])
    ram = next((ns for ns in (root.nsmap or {}).values() if ns and ns.startswith("iata:datamodel:")),
               "iata:datamodel:3")
    r = _Ram(NAMESPACE, ram, line0)
    head = r.child(root, "MessageHeaderDocument")
    hp = f"{ROOT}/MessageHeaderDocument"
    if head is None:
        r.problem(hp, root, "missing mandatory field")
        return Parsed(None, r.problems, None, "XFHL")
    message_id = r.text(head, "ID", hp, 64, required=True)
    out = Parsed(None, r.problems, message_id, "XFHL")
    purpose = r.text(head, "PurposeCode", hp, 20, required=True,
                     check=lambda v: None if v.lower() in PURPOSES else f"{v!r} is not Creation, Update or Deletion")
    sent_at = _iso_time(r, head, "IssueDateTime", hp, required=True)
    sender = r.text(head, "SenderParty/PrimaryID", hp, 50)
    mc = r.child(root, "MasterConsignment")
    mp = f"{ROOT}/MasterConsignment"
    if mc is None:
        r.problem(mp, root, "missing mandatory field")
        return out
    master = r.text(mc, "TransportContractDocument/ID", mp, 35, required=True, check=codes.awb_problem)
    total = r.number(mc, "TotalPieceQuantity", mp, integer=True, digits=8)
    r.text(mc, "OriginLocation/ID", mp, 3, check=_airport)
    r.text(mc, "FinalDestinationLocation/ID", mp, 3, check=_airport)
    houses_el = r.children(mc, "IncludedHouseConsignment")
    if not houses_el:
        r.problem(f"{mp}/IncludedHouseConsignment", mc, "missing mandatory field: the list names its houses")
    if len(houses_el) > MAX_CONSIGNMENTS:
        r.problem(f"{mp}/IncludedHouseConsignment", houses_el[MAX_CONSIGNMENTS],
                  f"more than {MAX_CONSIGNMENTS} house consignments")
    houses: list[Consignment] = []
    seen: dict[str, int] = {}
    for i, el in enumerate(houses_el[:MAX_CONSIGNMENTS], 1):
        path = f"{mp}/IncludedHouseConsignment[{i}]"
        c = _house(r, el, path, master)
        if c is None:
            continue
        if c.transport_document_no == master:
            r.problem(f"{path}/TransportContractDocument/ID", el, "a house waybill cannot be its own master")
            continue
        if c.transport_document_no in seen:
            r.problem(f"{path}/TransportContractDocument/ID", el,
                      f"house waybill {c.transport_document_no!r} is already IncludedHouseConsignment"
                      f"[{seen[c.transport_document_no]}]")
            continue
        seen[c.transport_document_no] = i
        houses.append(c)
    pieces = sum(c.packages or 0 for c in houses)
    if total is not None and houses and pieces > total:
        r.problem(f"{mp}/TotalPieceQuantity", r.child(mc, "TotalPieceQuantity"),
                  f"the houses hold {pieces} pieces, more than the master's {total}")
    if r.problems or message_id is None or purpose is None or master is None:
        return out
    function = PURPOSES[purpose.lower()]
    out.manifest = Manifest(
        message_id=message_id, message_type="XFHL", kind=MessageKind.ORIGINAL, function=function,
        function_code={"original": "9", "amendment": "5", "withdrawal": "3"}[function.value],
        sender_id=sender or "", sent_at=sent_at, conveyance=Conveyance(mode=TransportMode.AIR), consignments=houses)
    return out

