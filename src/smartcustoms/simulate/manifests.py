"""Seeded China customs manifest messages (MTxxxx XML) for tests, benchmarks and demos."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from xml.sax.saxutils import escape

MODE_DIGIT = {"water": "1", "air": "2", "rail": "3", "road": "4"}
KIND_DIGIT = {"original": "1", "pre_allocation": "2", "arrival": "3", "loading": "4", "tally": "5"}


@dataclass
class Item:
    """A goods item of a simulated consignment."""
    description: str = "LADIES COTTON KNITTED T-SHIRTS"
    packages: int = 100
    gross_kg: str = "1250.5"
    hs: str | None = "610910"
    un: str | None = None
    container: str | None = "CSQU3054383"


@dataclass
class Cons:
    """A simulated consignment (transport document)."""
    doc: str = "COSU6123456780"
    house: str | None = None
    loading: str = "NLRTM"
    discharge: str = "CNSHA"
    loading_at: datetime | None = None
    transit: list[str] = field(default_factory=list)
    shipper: tuple[str | None, str, str] = (None, "ROTTERDAM TEXTILE EXPORTS BV", "NL")
    consignee: tuple[str | None, str, str] = ("USCI+91310000MA1FL8XQ37", "SHANGHAI EXAMPLE TRADING CO LTD", "CN")
    containers: list[str] = field(default_factory=lambda: ["CSQU3054383"])
    items: list[Item] = field(default_factory=lambda: [Item()])
    previous: str | None = None  # the earlier leg's transport document (PreviousDocument/ID)
    value: str = "12000"  # the consignment's declared value (USD)


def _t(at: datetime, zone: bool = True) -> str:
    """A China-time manifest time (UTC + 8 h), ``CCYYMMDDhhmmss`` and zone 086."""
    return (at + timedelta(hours=8)).strftime("%Y%m%d%H%M%S") + ("086" if zone else "")


def _party(tag: str, p: tuple[str | None, str, str]) -> str:
    pid = f"<ID>{escape(p[0])}</ID>" if p[0] else ""
    return f"<{tag}>{pid}<Name>{escape(p[1])}</Name><Address><CountryCode>{p[2]}</CountryCode></Address></{tag}>"


def message(consignments: list[Cons], *, mode: str = "water", kind: str = "original", message_id: str = "MSG1",
            function_code: str = "9", conveyance: str | None = None, journey: str = "0123E",
            sent_at: datetime | None = None, departure: datetime | None = None,
            arrival: datetime | None = None, namespace: bool = True) -> bytes:
    """One manifest message as China customs writes it (``MT`` + business + mode + ``01``)."""
    mtype = f"MT{KIND_DIGIT[kind]}{MODE_DIGIT[mode]}01"
    sent_at = sent_at or datetime(2026, 12, 1, 0, 0)
    conveyance = conveyance or {"water": "UN9074729", "air": "CA1234", "rail": "X8001", "road": "沪A12345"}[mode]
    ns = f' xmlns="urn:Declaration:datamodel:standard:CN:{mtype}:1"' if namespace else ""
    times = ""
    if departure:
        times += f"<DepartureDateTime>{_t(departure)}</DepartureDateTime>"
    if arrival:
        times += f"<ArrivalDateTime>{_t(arrival)}</ArrivalDateTime>"
    out = [f'<?xml version="1.0" encoding="UTF-8"?>\n<Manifest{ns}>\n',
           f"<Head><MessageID>{escape(message_id)}</MessageID><FunctionCode>{function_code}</FunctionCode>"
           f"<MessageType>{mtype}</MessageType><SenderID>3122480ABC_0000000001</SenderID>"
           f"<ReceiverID>EPORT</ReceiverID><SendTime>{(sent_at + timedelta(hours=8)).strftime('%Y%m%d%H%M%S')}000"
           f"</SendTime><Version>1.0</Version></Head>\n<Declaration><DeclarationOfficeID>2200</DeclarationOfficeID>"
           f"<BorderTransportMeans><JourneyID>{escape(journey)}</JourneyID><TypeCode>{MODE_DIGIT[mode]}</TypeCode>"
           f"<ID>{escape(conveyance)}</ID><Name>EXAMPLE</Name>{times}</BorderTransportMeans>"
           "<Carrier><ID>COSCO</ID></Carrier>\n"]
    for c in consignments:
        house = f"<AssociatedTransportDocument><ID>{escape(c.house)}</ID></AssociatedTransportDocument>" \
            if c.house else ""
        loading_at = f"<LoadingDate>{_t(c.loading_at)}</LoadingDate>" if c.loading_at else ""
        if c.previous:
            house += f"<PreviousDocument><ID>{escape(c.previous)}</ID><TypeCode>705</TypeCode></PreviousDocument>"
        transit = "".join(f"<TranshipmentLocation><ID>{p}</ID></TranshipmentLocation>" for p in c.transit)
        boxes = "".join(f"<TransportEquipment><EquipmentIdentification><ID>{b}</ID></EquipmentIdentification>"
                        "<CharacteristicCode>22G1</CharacteristicCode><FullnessCode>5</FullnessCode>"
                        "<SealID AgencyCode=\"CA\">M1234567</SealID></TransportEquipment>" for b in c.containers)
        total_pk = sum(it.packages for it in c.items)
        total_kg = sum(float(it.gross_kg) for it in c.items if it.gross_kg.replace(".", "", 1).isdigit())
        items = []
        for i, it in enumerate(c.items, 1):
            hs = f"<Classification><ID>{it.hs}</ID></Classification>" if it.hs else ""
            un = f"<UNDGCode>{it.un}</UNDGCode>" if it.un else ""
            box = f"<EquipmentIdentification><ID>{it.container}</ID></EquipmentIdentification>" \
                if it.container else ""
            items.append(f"<ConsignmentItem><SequenceNumeric>{i}</SequenceNumeric><ConsignmentItemPackaging>"
                         f"<QuantityQuantity>{it.packages}</QuantityQuantity><TypeCode>CT</TypeCode>"
                         f"</ConsignmentItemPackaging><Commodity><CargoDescription>{escape(it.description)}"
                         f"</CargoDescription>{un}{hs}</Commodity><GoodsMeasure><GrossMassMeasure>{it.gross_kg}"
                         f"</GrossMassMeasure></GoodsMeasure>{box}</ConsignmentItem>")
        out.append(
            f"<Consignment><TransportContractDocument><ID>{escape(c.doc)}</ID><ConditionCode>10</ConditionCode>"
            f"</TransportContractDocument>{house}<ValueAmount CurrencyTypeCode=\"USD\">{c.value}</ValueAmount>"
            f"<LoadingLocation><ID>{c.loading}</ID>{loading_at}</LoadingLocation>"
            f"<UnloadingLocation><ID>{c.discharge}</ID></UnloadingLocation>{transit}"
            f"<ConsignmentPackaging><QuantityQuantity>{total_pk}</QuantityQuantity><TypeCode>CT</TypeCode>"
            f"</ConsignmentPackaging><TotalGrossMassMeasure>{total_kg:.3f}</TotalGrossMassMeasure>"
            f"{_party('Consignee', c.consignee)}{_party('Consignor', c.shipper)}{boxes}{''.join(items)}"
            "</Consignment>\n")
    out.append("</Declaration>\n</Manifest>\n")
    return "".join(out).encode()


_GOODS = [("LADIES COTTON KNITTED T-SHIRTS", "610910", 12.0), ("STAINLESS STEEL KITCHEN SINKS", "732410", 9.0),
          ("LED LIGHT BULBS", "853950", 6.0), ("CERAMIC FLOOR TILES", "690721", 25.0),
          ("OFFICE CHAIRS", "940130", 14.0), ("CANNED TUNA IN OIL", "160414", 18.0),
          ("AUTOMOBILE BRAKE PADS", "870830", 20.0), ("POLYESTER YARN", "540233", 30.0)]


def container_number(rng: random.Random) -> str:
    """A random ISO 6346 container number with a correct check digit."""
    from stdnum import iso6346

    owner = "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(3)) + "U"
    serial = f"{rng.randrange(1_000_000):06d}"
    return owner + serial + iso6346.calc_check_digit(owner + serial)


def traffic(messages: int, consignments: int, seed: int = 7, start: datetime | None = None
            ) -> Iterator[bytes]:
    """Seeded sea original manifests, ``consignments`` each, filed 2 days before loading (on time)."""
    rng = random.Random(seed)
    start = start or datetime(2026, 11, 1)
    shippers = [(None, f"EXPORTER {i} LTD", rng.choice(["NL", "DE", "US", "JP", "KR"])) for i in range(300)]
    consignees = [(None, f"IMPORTER {i} CO LTD", "CN") for i in range(300)]
    for m in range(messages):
        at = start + timedelta(minutes=m)
        cons = []
        for c in range(consignments):
            items = []
            for _ in range(rng.randint(1, 3)):
                desc, hs, kg = rng.choice(_GOODS)
                pk = rng.randint(10, 500)
                items.append(Item(description=desc, hs=hs, packages=pk,
                                  gross_kg=f"{pk * kg * rng.uniform(0.8, 1.25):.2f}", container=None))
            cons.append(Cons(doc=f"SIM{seed:02d}{m:07d}{c:04d}", shipper=rng.choice(shippers),
                             consignee=rng.choice(consignees), containers=[container_number(rng)],
                             loading_at=at + timedelta(days=2), items=items))
        yield message(cons, message_id=f"SIM_{seed}_{m}", sent_at=at)


def waybill(awb: str = "176-12345675", *, house: str | None = None, message_id: str = "XFWB1",
            purpose: str = "Creation", origin: str = "FRA", destination: str = "PVG", flight: str = "CA936",
            departure: datetime | None = None, transit: str | None = None, pieces: int = 10, kg: str = "250.5",
            unit: str = "KGM", description: str = "MACHINE PARTS FOR TEXTILE LOOMS", hs: str | None = "844849",
            shipper: tuple[str | None, str, str] = (None, "FRANKFURT LOOM GMBH", "DE"),
            consignee: tuple[str | None, str, str] = ("USCI+91310000MA1FL8XQ37", "SHANGHAI EXAMPLE TRADING", "CN"),
            ) -> bytes:
    """An IATA Cargo-XML XFWB (master air waybill) or, with ``house``, an XFZB (house waybill under ``awb``)."""
    rsm = "iata:housewaybill:1" if house else "iata:waybill:1"
    root = "HouseWaybill" if house else "Waybill"
    departure = departure or datetime(2026, 12, 2, 10, 0)

    def party(tag: str, p: tuple[str | None, str, str]) -> str:
        pid = f"<ram:PrimaryID>{escape(p[0])}</ram:PrimaryID>" if p[0] else ""
        return (f"<ram:{tag}>{pid}<ram:Name>{escape(p[1])}</ram:Name><ram:PostalStructuredAddress>"
                f"<ram:CountryID>{p[2]}</ram:CountryID></ram:PostalStructuredAddress></ram:{tag}>")

    item_tag = "IncludedHouseConsignmentItem" if house else "IncludedMasterConsignmentItem"
    hs_el = f"<ram:TypeCode>{hs}</ram:TypeCode>" if hs else ""
    body = (f"<ram:IncludedTareGrossWeightMeasure unitCode=\"{unit}\">{kg}</ram:IncludedTareGrossWeightMeasure>"
            f"<ram:TotalPieceQuantity>{pieces}</ram:TotalPieceQuantity>"
            f"{party('ConsignorParty', shipper)}{party('ConsigneeParty', consignee)}"
            f"<ram:OriginLocation><ram:ID>{origin}</ram:ID></ram:OriginLocation>"
            f"<ram:FinalDestinationLocation><ram:ID>{destination}</ram:ID></ram:FinalDestinationLocation>"
            f"<ram:{item_tag}><ram:SequenceNumeric>1</ram:SequenceNumeric>{hs_el}"
            f"<ram:GrossWeightMeasure unitCode=\"{unit}\">{kg}</ram:GrossWeightMeasure>"
            f"<ram:PieceQuantity>{pieces}</ram:PieceQuantity><ram:NatureIdentificationTransportCargo>"
            f"<ram:Identification>{escape(description)}</ram:Identification></ram:NatureIdentificationTransportCargo>"
            f"</ram:{item_tag}>")
    legs = [(flight, departure, transit or destination)]
    if transit:
        legs.append((flight + "X", departure + timedelta(hours=14), destination))
    movements = "".join(
        f"<ram:SpecifiedLogisticsTransportMovement><ram:StageCode>Main-Carriage</ram:StageCode>"
        f"<ram:ModeCode>4</ram:ModeCode><ram:ID>{f}</ram:ID><ram:SequenceNumeric>{i}</ram:SequenceNumeric>"
        f"<ram:ArrivalEvent><ram:OccurrenceArrivalLocation><ram:ID>{to}</ram:ID></ram:OccurrenceArrivalLocation>"
        f"</ram:ArrivalEvent><ram:DepartureEvent><ram:ScheduledOccurrenceDateTime>{at.isoformat()}Z"
        f"</ram:ScheduledOccurrenceDateTime></ram:DepartureEvent></ram:SpecifiedLogisticsTransportMovement>"
        for i, (f, at, to) in enumerate(legs, 1))
    if house:
        consignment = (f"<rsm:MasterConsignment><ram:TransportContractDocument><ram:ID>{awb}</ram:ID>"
                       f"</ram:TransportContractDocument>{movements}<ram:IncludedHouseConsignment>{body}"
                       "</ram:IncludedHouseConsignment></rsm:MasterConsignment>")
    else:
        consignment = f"<rsm:MasterConsignment>{body}{movements}</rsm:MasterConsignment>"
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<rsm:{root} xmlns:rsm="{rsm}" xmlns:ram="iata:datamodel:3">\n'
            f"<rsm:MessageHeaderDocument><ram:ID>{escape(message_id)}</ram:ID><ram:Name>Waybill</ram:Name>"
            f"<ram:TypeCode>{'703' if house else '740'}</ram:TypeCode><ram:IssueDateTime>2026-12-01T08:00:00"
            f"</ram:IssueDateTime><ram:PurposeCode>{purpose}</ram:PurposeCode><ram:VersionID>3.00</ram:VersionID>"
            "<ram:SenderParty><ram:PrimaryID schemeID=\"C\">FRAFFCA</ram:PrimaryID></ram:SenderParty>"
            f"</rsm:MessageHeaderDocument>\n<rsm:BusinessHeaderDocument><ram:ID>{house or awb}</ram:ID>"
            f"</rsm:BusinessHeaderDocument>\n{consignment}\n</rsm:{root}>\n").encode()


def cuscar(consignments: list[Cons], *, reference: str = "M1", document: str = "MAN0001", function_code: str = "9",
           vessel: str = "9074729", journey: str = "0123E", groups: bool = True, departure: datetime | None = None
           ) -> str:
    """One UN/EDIFACT CUSCAR message (D.95B) in an interchange, inside a UNG/UNE group when ``groups``."""
    def esc(v: str) -> str:
        return "".join("?" + ch if ch in "?:+'" else ch for ch in v)

    departure = departure or datetime(2026, 12, 3, 0, 0)
    segs = [f"UNH+{reference}+CUSCAR:D:95B:UN", f"BGM+85+{document}+{function_code}",
            f"DTM+133:{(departure + timedelta(hours=8)).strftime('%Y%m%d%H%M')}:203",
            f"TDT+20+{journey}+1++COSCO:172:20+++{vessel}:146:11:EXAMPLE"]
    for i, c in enumerate(consignments, 1):
        segs.append(f"CNI+{i}+{esc(c.doc)}")
        if c.house:
            segs += [f"RFF+MB:{esc(c.doc)}", f"RFF+BH:{esc(c.house)}"]
            segs[-3] = f"CNI+{i}+{esc(c.house)}"
        segs += [f"LOC+9+{c.loading}", f"LOC+11+{c.discharge}", *(f"LOC+13+{p}" for p in c.transit)]
        for role, p in (("CZ", c.shipper), ("CN", c.consignee)):
            segs.append(f"NAD+{role}+{esc(p[0]) + '::ZZZ' if p[0] else ''}++{esc(p[1])}+++++{p[2]}")
        for k, it in enumerate(c.items, 1):
            segs += [f"GID+{k}+{it.packages}:CT", f"FTX+AAA+++{esc(it.description)}"]
            if it.hs:
                segs.append(f"PIA+5+{it.hs}:HS")
            segs.append(f"MEA+AAE+G+KGM:{it.gross_kg}")
            if it.un:
                segs.append(f"DGS+IMD+3+{it.un}")
        segs += [f"EQD+CN+{b}+22G1:6346:5" for b in c.containers]
    segs.append(f"UNT+{len(segs) + 1}+{reference}")
    body = "'".join(segs) + "'"
    group = ("UNG+CUSCAR+SENDER+CUSTOMS+261201:1200+G1+UN+D:95B'", "UNE+1+G1'") if groups else ("", "")
    return (f"UNA:+.? 'UNB+UNOC:3+SENDER+CUSTOMS+261201:1200+{reference}'{group[0]}{body}{group[1]}"
            f"UNZ+1+{reference}'")


def house_list(awb: str = "176-12345675", houses: list[tuple[str, int, str, str]] | None = None, *,
               message_id: str = "XFHL1", purpose: str = "Creation", origin: str = "FRA", destination: str = "PVG",
               total_pieces: int | None = None, unit: str = "KGM",
               consignee: tuple[str | None, str, str] | None = ("USCI+91310000MA1FL8XQ37", "SHANGHAI EXAMPLE TRADING",
                                                                "CN")) -> bytes:
    """An IATA Cargo-XML XFHL (house manifest): the master ``awb`` and its ``houses`` as (house waybill, pieces,
    weight, goods description)."""
    houses = houses if houses is not None else [("HAWB001", 4, "120.5", "MACHINE PARTS FOR TEXTILE LOOMS"),
                                                ("HAWB002", 6, "80", "COTTON T-SHIRTS")]
    total = total_pieces if total_pieces is not None else sum(h[1] for h in houses)

    def party(tag: str, p: tuple[str | None, str, str]) -> str:
        pid = f"<ram:PrimaryID>{escape(p[0])}</ram:PrimaryID>" if p[0] else ""
        return (f"<ram:{tag}>{pid}<ram:Name>{escape(p[1])}</ram:Name><ram:PostalStructuredAddress>"
                f"<ram:CountryID>{p[2]}</ram:CountryID></ram:PostalStructuredAddress></ram:{tag}>")

    body = "".join(
        f"<ram:IncludedHouseConsignment><ram:SequenceNumeric>{i}</ram:SequenceNumeric>"
        f"<ram:GrossWeightMeasure unitCode=\"{unit}\">{kg}</ram:GrossWeightMeasure>"
        f"<ram:TotalPieceQuantity>{pieces}</ram:TotalPieceQuantity>"
        f"<ram:SummaryDescription>{escape(desc)}</ram:SummaryDescription>"
        f"<ram:TransportContractDocument><ram:ID>{escape(doc)}</ram:ID></ram:TransportContractDocument>"
        f"<ram:OriginLocation><ram:ID>{origin}</ram:ID></ram:OriginLocation>"
        f"<ram:FinalDestinationLocation><ram:ID>{destination}</ram:ID></ram:FinalDestinationLocation>"
        f"{party('ConsignorParty', (None, f'SHIPPER OF {doc}', 'DE'))}"
        f"{party('ConsigneeParty', consignee) if consignee else ''}</ram:IncludedHouseConsignment>"
        for i, (doc, pieces, kg, desc) in enumerate(houses, 1))
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<rsm:HouseManifest xmlns:rsm="iata:housemanifest:1" xmlns:ram="iata:datamodel:3">\n'
            f"<rsm:MessageHeaderDocument><ram:ID>{escape(message_id)}</ram:ID><ram:Name>Cargo Manifest</ram:Name>"
            "<ram:TypeCode>785</ram:TypeCode><ram:IssueDateTime>2026-12-01T08:00:00</ram:IssueDateTime>"
            f"<ram:PurposeCode>{purpose}</ram:PurposeCode><ram:VersionID>3.00</ram:VersionID>"
            "<ram:SenderParty><ram:PrimaryID schemeID=\"C\">FRAFFCA</ram:PrimaryID></ram:SenderParty>"
            f"</rsm:MessageHeaderDocument>\n<rsm:BusinessHeaderDocument><ram:ID>{escape(awb)}</ram:ID>"
            "</rsm:BusinessHeaderDocument>\n<rsm:MasterConsignment>"
            f"<ram:IncludedTareGrossWeightMeasure unitCode=\"{unit}\">200.5</ram:IncludedTareGrossWeightMeasure>"
            f"<ram:TotalPieceQuantity>{total}</ram:TotalPieceQuantity>"
            f"<ram:TransportContractDocument><ram:ID>{escape(awb)}</ram:ID></ram:TransportContractDocument>"
            f"<ram:OriginLocation><ram:ID>{origin}</ram:ID></ram:OriginLocation>"
            f"<ram:FinalDestinationLocation><ram:ID>{destination}</ram:ID></ram:FinalDestinationLocation>"
            f"{body}</rsm:MasterConsignment>\n</rsm:HouseManifest>\n").encode()
