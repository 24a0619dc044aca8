"""Wire shapes of the manifests domain: a filed manifest, its answers, shipments and the referral queue."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel, Field


class TransportMode(StrEnum):
    """The mode of the border crossing (the second digit of China's MT message types)."""
    WATER = "water"
    AIR = "air"
    RAIL = "rail"
    ROAD = "road"


class MessageKind(StrEnum):
    """The business of a China customs manifest message (the first digit of its MT type)."""
    ORIGINAL = "original"              # MT1xxx 原始舱单
    PRE_ALLOCATION = "pre_allocation"  # MT2xxx 预配舱单
    ARRIVAL = "arrival"                # MT3xxx 运抵报告
    LOADING = "loading"                # MT4xxx 装载舱单
    TALLY = "tally"                    # MT5xxx 理货报告


class FilingFunction(StrEnum):
    """What the filing does to the transport documents it carries (Head/FunctionCode)."""
    ORIGINAL = "original"  # 9 (and 2: add)
    AMENDMENT = "amendment"  # 5: change
    WITHDRAWAL = "withdrawal"  # 3: delete


class Outcome(StrEnum):
    """The pre-loading risk assessment of one consignment, most severe last."""
    ASSESSMENT_COMPLETE = "assessment_complete"
    REQUEST_FOR_INFORMATION = "request_for_information"
    REQUEST_FOR_SCREENING = "request_for_screening"
    DO_NOT_LOAD = "do_not_load"


SEVERITY = {o: i for i, o in enumerate(Outcome)}


class Party(BaseModel):
    """A shipper (consignor), consignee or notify party."""
    id: str | None = Field(None, max_length=35)
    name: str | None = Field(None, max_length=70)
    country: str | None = Field(None, min_length=2, max_length=2)


class Container(BaseModel):
    """A transport equipment (container) with its ISO 6346 number."""
    number: str = Field(max_length=17)
    size_type: str | None = Field(None, max_length=4)
    fullness: str | None = Field(None, max_length=1)
    seals: list[str] = Field(default_factory=list, max_length=10)


class GoodsItem(BaseModel):
    """One goods line of a consignment."""
    sequence: int = Field(ge=0, le=9999)
    description: str = Field(max_length=512)
    hs_code: str | None = Field(None, max_length=10)
    packages: int | None = Field(None, ge=0)
    package_type: str | None = Field(None, max_length=2)
    gross_mass_kg: Decimal | None = Field(None, ge=0)
    un_number: str | None = Field(None, min_length=4, max_length=4)
    containers: list[str] = Field(default_factory=list, max_length=100)


class Consignment(BaseModel):
    """One transport document (bill of lading, air waybill, consignment note) and what it carries."""
    transport_document_no: str = Field(max_length=35)
    master_document_no: str | None = Field(None, max_length=35)  # the master when this is a house document
    previous_document_no: str | None = Field(None, max_length=35, description=(
        "the earlier leg's transport document, when the goods changed mode (sea leg then rail leg): "
        "the filings form one shipment"))
    loading_place: str | None = Field(None, max_length=5)
    loading_at: datetime | None = None
    discharge_place: str | None = Field(None, max_length=5)
    transit_places: list[str] = Field(default_factory=list, max_length=9)
    routing_countries: list[str] = Field(default_factory=list, max_length=99)
    packages: int | None = Field(None, ge=0)
    gross_mass_kg: Decimal | None = Field(None, ge=0)
    value: Decimal | None = Field(None, ge=0)
    currency: str | None = Field(None, max_length=3)
    shipper: Party | None = None
    consignee: Party | None = None
    notify: Party | None = None
    containers: list[Container] = Field(default_factory=list, max_length=999)
    items: list[GoodsItem] = Field(default_factory=list, max_length=9999)


class Conveyance(BaseModel):
    """The means of transport at the border: a vessel (IMO), aircraft, train or vehicle, on a voyage or flight."""
    mode: TransportMode
    journey_id: str | None = Field(None, max_length=17)
    conveyance_id: str | None = Field(None, max_length=35)
    name: str | None = Field(None, max_length=35)
    departure_at: datetime | None = None
    arrival_at: datetime | None = None
    first_arrival_place: str | None = Field(None, max_length=5)


class Manifest(BaseModel):
    """One manifest message: its header, the conveyance and the consignments it files."""
    message_id: str = Field(max_length=64)
    message_type: str = Field(max_length=6)
    kind: MessageKind
    function: FilingFunction
    function_code: str = Field(max_length=2)
    sender_id: str = Field(max_length=50)
    sent_at: datetime | None = None
    customs_office: str | None = Field(None, max_length=4)
    carrier_id: str | None = Field(None, max_length=35)
    conveyance: Conveyance
    consignments: list[Consignment] = Field(max_length=10_000)


class Assessment(BaseModel):
    """The pre-loading decision on one consignment with its reasons in words."""
    outcome: Outcome
    reasons: list[str] = Field(default_factory=list)  # in English
    reasons_zh: list[str] = Field(default_factory=list)  # the same, in Chinese
    late: bool = False


class ConsignmentAnswer(BaseModel):
    """What the filer is told about one consignment of an accepted message."""
    transport_document_no: str
    version: int
    amended: bool
    withdrawn: bool = False
    outcome: Outcome | None = None
    reasons: list[str] = Field(default_factory=list)
    reasons_zh: list[str] = Field(default_factory=list)
    late: bool = False
    assessed_by: str = Field("rules", description="rules: the analysts' rules only (no model trained yet); "
                             "rules+model: the rules and the pre-loading model")
    model_score: float | None = Field(None, description="the pre-loading model's offence score (0-1), when one "
                                      "is loaded")


class FieldProblem(BaseModel):
    """One problem of a refused message: the field path (and line in the body) and the reason."""
    field: str
    line: int | None = None
    message: str


class MessageAnswer(BaseModel):
    """The answer to one message of a request or file."""
    index: int
    message_id: str | None = None
    message_type: str | None = None
    accepted: bool
    duplicate: bool = False
    errors: list[FieldProblem] = Field(default_factory=list)
    consignments: list[ConsignmentAnswer] = Field(default_factory=list)
    # the parsed message's sender and conveyance, for the MT9999 response (manifests/responses.py); not in JSON
    sender_id: str | None = Field(None, exclude=True)
    journey_id: str | None = Field(None, exclude=True)
    conveyance_id: str | None = Field(None, exclude=True)


class IngestOut(BaseModel):
    """The answers to every message of a request, in order."""
    messages: list[MessageAnswer]


class FilingOut(BaseModel):
    """One filed version of a transport document, as the shipment timeline shows it."""
    id: int
    message_id: str
    message_type: str
    kind: MessageKind
    mode: TransportMode
    journey_id: str | None
    conveyance_id: str | None
    version: int
    amended: bool
    withdrawn: bool
    late: bool
    outcome: Outcome | None
    reasons: list[str]
    reasons_zh: list[str]
    received_at: datetime
    consignment: Consignment


class LegOut(BaseModel):
    """One leg of a shipment: a transport document in one mode, linked to the leg before it."""
    transport_document_no: str
    mode: TransportMode
    previous_document_no: str | None = Field(None, description="the earlier leg's transport document")
    conveyance_id: str | None = None
    journey_id: str | None = None
    filed_at: datetime = Field(description="the leg's first filing")
    outcome: Outcome | None = Field(None, description="the pre-loading outcome of the leg's latest filing")
    withdrawn: bool = False
    arrived: bool = Field(False, description="an arrival report names the leg's document")
    tallied: bool = Field(False, description="a tally report names the leg's document")


class ShipmentOut(BaseModel):
    """Everything filed for one transport document (and its houses), across messages and modes, oldest first;
    ``legs`` follows the links between legs (sea leg then rail leg) both ways."""
    transport_document_no: str
    house_documents: list[str]
    filings: list[FilingOut]
    legs: list[LegOut] = Field(default_factory=list, description="the shipment's legs across modes, first leg "
                               "first, each with its filings' outcomes")


class ReferralOut(BaseModel):
    """A consignment whose latest assessment was not ``assessment_complete``: officers work these."""
    id: int
    filer_code: str
    transport_document_no: str
    message_type: str
    mode: TransportMode
    outcome: Outcome  # now (an escalated request for information shows as request_for_screening)
    assessed_outcome: Outcome | None = Field(None, description="the pre-loading assessment that referred it")
    answered: bool = Field(False, description="the filer has answered a request for information")
    conveyance_id: str | None = Field(None, description="the vessel (IMO), flight, train or vehicle")
    reasons: list[str]
    reasons_zh: list[str]
    received_at: datetime


class ReferralAction(StrEnum):
    """A step in working a referral: an officer's decision, or the filer's answer to a request for information."""
    SCREENING_CLEAR = "screening_clear"  # screened, no threat: may be loaded
    THREAT_FOUND = "threat_found"  # screened, threat found: not to be loaded
    DO_NOT_LOAD_CONFIRMED = "do_not_load_confirmed"
    DO_NOT_LOAD_LIFTED = "do_not_load_lifted"
    INFORMATION_COMPLETE = "information_complete"  # the answer suffices: assessment complete
    INFORMATION_ESCALATED = "information_escalated"  # the answer does not: request for screening
    INFORMATION_ANSWERED = "information_answered"  # the filer's answer (not an officer's decision)


# officer decisions allowed for a referral's current outcome
DECISIONS: dict[Outcome, tuple[ReferralAction, ...]] = {
    Outcome.REQUEST_FOR_SCREENING: (ReferralAction.SCREENING_CLEAR, ReferralAction.THREAT_FOUND),
    Outcome.DO_NOT_LOAD: (ReferralAction.DO_NOT_LOAD_CONFIRMED, ReferralAction.DO_NOT_LOAD_LIFTED),
    Outcome.REQUEST_FOR_INFORMATION: (ReferralAction.INFORMATION_COMPLETE, ReferralAction.INFORMATION_ESCALATED),
}


class DecisionIn(BaseModel):
    """An officer's decision on a referral, with the reason (required)."""
    model_config = {"extra": "forbid", "json_schema_extra": {"examples": [
        {"action": "screening_clear", "reason": "X-ray image of container MSKU7043871 shows machine parts as "
                                                "manifested"}]}}
    action: ReferralAction = Field(description="the decision; it must fit the referral's current outcome")
    reason: str = Field(min_length=3, max_length=2000, description="why the officer decided so (kept in the audit)")


class InformationIn(BaseModel):
    """The filer's answer to a request for information."""
    model_config = {"extra": "forbid", "json_schema_extra": {"examples": [
        {"answer": "consignee is Shanghai Huadong Machinery Co., Ltd., 91310115MA1K4XYZ7Q; goods: 12 pallets of "
                   "gearbox housings (HS 848340)"}]}}
    answer: str = Field(min_length=3, max_length=4000, description="the filer's answer, in words")


class ReferralEventOut(BaseModel):
    """One step in working a referral."""
    id: int = Field(description="the step's number")
    action: ReferralAction = Field(description="the officer's decision, or the filer's answer")
    outcome: Outcome = Field(description="the referral's outcome after this step")
    closed: bool = Field(description="the referral left the open queue with this step")
    text: str = Field(description="the officer's reason or the filer's answer")
    actor: str = Field(description="the user who took the step")
    created_at: datetime = Field(description="when the step was recorded (UTC)")


class ReferralStateOut(BaseModel):
    """A referral with every step taken so far (the filer sees its own)."""
    id: int = Field(description="the referred filing's id (as the referral queue gives it)")
    transport_document_no: str = Field(description="the bill of lading or air waybill number")
    filer_code: str = Field(description="the carrier or forwarder that filed it")
    assessed_outcome: Outcome = Field(description="the pre-loading assessment that referred it")
    outcome: Outcome = Field(description="the outcome now, after the steps")
    closed: bool = Field(description="an officer has decided the referral: it is off the open queue")
    events: list[ReferralEventOut] = Field(description="every step, oldest first")


class DiscrepancyResolution(StrEnum):
    """Why an officer closes a discrepancy."""
    EXPLAINED = "explained"  # the carrier or declarant explained it (documents seen)
    CORRECTED = "corrected"  # an amended manifest or declaration corrected it
    SHORT_SHIPPED = "short_shipped"  # the goods were never loaded (short-landed lines)
    PENALTY = "penalty"  # a violation: a case or penalty follows
    NO_ACTION = "no_action"  # within what customs accepts


class DiscrepancyResolutionIn(BaseModel):
    """An officer's resolution of a discrepancy, with the reason (required)."""
    resolution: DiscrepancyResolution = Field(description="why the discrepancy is closed")
    reason: str = Field(min_length=3, max_length=2000, description="the officer's reason (kept in the audit)")
    model_config = {"extra": "forbid", "json_schema_extra": {"examples": [
        {"resolution": "short_shipped", "reason": "Carrier's amended tally: 2 packages left at the port of loading"}]}}


class DiscrepancyEventOut(BaseModel):
    """One step of a discrepancy: opened by a reconciliation run, or resolved by an officer."""
    id: int
    action: str = Field(description="opened or resolved")
    resolution: DiscrepancyResolution | None = Field(None, description="why it was closed (resolved steps)")
    text: str = Field(description="what was found (opened) or the officer's reason (resolved)")
    actor: str
    created_at: datetime


class DiscrepancyOut(BaseModel):
    """A discrepancy reconciliation found, with its steps (open until an officer resolves it)."""
    id: int
    kind: str = Field(description="short_landed, over_landed, packages_difference, weight_difference, "
                                  "unmanifested_goods, declaration_without_line or never_declared")
    transport_document_no: str
    filer_code: str | None = Field(None, description="the manifest line's filer (carrier or forwarder)")
    declaration_no: str | None = None
    mode: TransportMode | None = None
    detail: dict = Field(default_factory=dict, description="what was compared: manifested and found figures")
    opened_at: datetime = Field(description="when a reconciliation run first found it")
    resolved: bool = Field(description="an officer has resolved it: it is off the open queue")
    events: list[DiscrepancyEventOut] = Field(default_factory=list, description="every step, oldest first")


class ReconcileOut(BaseModel):
    """What a reconciliation run found: discrepancies newly opened, and those found again (already open or
    resolved: never opened twice)."""
    opened: int
    found: int
    by_kind: dict[str, int]


class ManifestLineOut(BaseModel):
    """The manifest line a declaration's transport document stands for, as the declaration page shows it."""
    transport_document_no: str
    mode: TransportMode
    conveyance_id: str | None
    journey_id: str | None
    filer_code: str
    packages: int | None
    gross_mass_kg: Decimal | None
    outcome: Outcome | None
    filed_at: datetime
    legs: list[LegOut] = Field(default_factory=list)
    open_discrepancies: int = 0
