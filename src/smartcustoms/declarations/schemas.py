"""Wire shapes of a declaration (Pydantic): what traders send and what they read back."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from smartcustoms.core.wire import UtcDateTime
from smartcustoms.declarations.lifecycle import DECISION_STATUS, Decision, Lane, Status

EnterpriseCode = Annotated[str, StringConstraints(pattern=r"^[0-9A-Z]{10}$|^[0-9A-Z]{18}$", strip_whitespace=True)]
Code2 = Annotated[str, StringConstraints(min_length=2, max_length=3, strip_whitespace=True, to_upper=True)]
Positive = Annotated[Decimal, Field(gt=0, max_digits=18, decimal_places=4)]
NonNegative = Annotated[Decimal, Field(ge=0, max_digits=18, decimal_places=4)]


class GoodsItemIn(BaseModel):
    """One goods item (商品项)."""

    model_config = ConfigDict(extra="forbid")

    hs_code: Annotated[str, StringConstraints(pattern=r"^\d{6}(\d{2}){0,2}$", strip_whitespace=True)] = Field(
        description="6-, 8- or 10-digit HS code; the first six digits must be an HS 2022 subheading")
    description: Annotated[str, StringConstraints(min_length=1, max_length=255, strip_whitespace=True)]
    model_spec: Annotated[str, StringConstraints(max_length=255, strip_whitespace=True)] = ""
    quantity: Positive
    unit: Annotated[str, StringConstraints(pattern=r"^\d{3}$")] = Field(description="customs unit code, e.g. 035 kg")
    net_mass_kg: NonNegative
    unit_price: NonNegative
    total_value: NonNegative
    origin_country: Code2


#: an example declaration as lodged: two items of glazed tiles, CIF Shanghai, by sea
DECLARATION_EXAMPLE: dict[str, Any] = {
    "client_message_id": "erp-2026-000123", "declarant_code": "3120980001", "importer_code": "3101960001",
    "seller_name": "Cerámica Levante S.L.", "trade_mode": "0110", "transport_mode": "2", "office_code": "2248",
    "departure_country": "ES", "origin_country": "ES", "currency": "USD", "incoterm": "CIF", "freight": "0",
    "insurance": None, "gross_mass_kg": "21000", "net_mass_kg": "20000", "packages": 20, "total_value": "13000.00",
    "declared_at": "2026-12-01T08:00:00Z",
    "items": [{"hs_code": "6907220000", "description": "Glazed ceramic wall tiles", "model_spec": "30x60 cm",
               "quantity": "18000", "unit": "035", "net_mass_kg": "18000", "unit_price": "0.5",
               "total_value": "9000.00", "origin_country": "ES"},
              {"hs_code": "6907220000", "description": "Glazed ceramic floor tiles", "model_spec": "60x60 cm",
               "quantity": "2000", "unit": "035", "net_mass_kg": "2000", "unit_price": "2",
               "total_value": "4000.00", "origin_country": "ESP"}]}


#: the example declaration read back once assessed and given its lane (figures illustrative: USD at 7.1, 7 % duty)
DECLARATION_OUT_EXAMPLE: dict[str, Any] = {
    **{k: v for k, v in DECLARATION_EXAMPLE.items() if k != "items"},
    "declaration_no": "224820261000012345", "status": "lane_assigned", "lane": "blue", "risk_score": 0.31,
    "reasons": ["rule 'Tiles, heavy, ES' (blue lane, target rate 10 %)"], "version": 1, "origin_country": "ES",
    "insurance": "277.83", "lodged_at": "2026-12-01T08:00:02Z",
    "tax": {"customs_value_cny": "94272.59", "duty_cny": "6599.08", "consumption_tax_cny": "0.00",
            "vat_cny": "13113.32", "tax_total_cny": "19712.40"},
    "items": [{**item, "origin_country": "ES", "item_no": n} for n, item in enumerate(DECLARATION_EXAMPLE["items"], 1)]}
#: an event of the example declaration's history
EVENT_EXAMPLE: dict[str, Any] = {
    "seq": 4, "at": "2026-12-01T08:00:02Z", "actor": "system", "from_status": "assessed",
    "to_status": "lane_assigned",
    "reason": "lane blue: scan", "detail": {"lane": "blue", "mechanism": "rule", "rule_id": 7}}


class DeclarationIn(BaseModel):
    """A goods declaration (报关单) as lodged: header and goods items."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [DECLARATION_EXAMPLE]})

    client_message_id: Annotated[str, StringConstraints(min_length=1, max_length=64, strip_whitespace=True)] = (
        Field(description="the sender's id for this message (lodging or amendment): a repeat returns the first "
                          "result, the same id with a different body is a 409 conflict"))
    declarant_code: EnterpriseCode
    importer_code: EnterpriseCode
    seller_name: Annotated[str, StringConstraints(max_length=200, strip_whitespace=True)] | None = None
    trade_mode: Annotated[str, StringConstraints(pattern=r"^\d{4}$")]
    transport_mode: Annotated[str, StringConstraints(pattern=r"^\d$")]
    office_code: Annotated[str, StringConstraints(pattern=r"^\d{4}$")]
    departure_country: Code2
    origin_country: Code2
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{3}$", to_upper=True)]
    incoterm: Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{3}$", to_upper=True)] = "CIF"
    freight: NonNegative = Decimal(0)
    insurance: NonNegative | None = None
    gross_mass_kg: Positive
    net_mass_kg: Positive
    packages: Annotated[int, Field(ge=1, le=1_000_000)]
    total_value: Positive
    declared_at: datetime
    items: Annotated[list[GoodsItemIn], Field(min_length=1, max_length=50)]
    transport_document_no: Annotated[str, StringConstraints(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9\-/._]{0,34}$", strip_whitespace=True)] | None = Field(
        None, description="the bill of lading, air waybill or consignment note the goods came under (提运单号); "
                          "reconciled with the transport manifests")


class GoodsItemOut(GoodsItemIn):
    """A goods item as read back, with its item number and assessed taxes in CNY."""
    model_config = ConfigDict(extra="ignore", from_attributes=True)

    item_no: int
    customs_value_cny: Decimal | None = None
    duty_cny: Decimal | None = None
    consumption_tax_cny: Decimal | None = None
    vat_cny: Decimal | None = None


class TaxOut(BaseModel):
    """The taxes assessed on a declaration, in CNY."""
    customs_value_cny: Decimal | None
    duty_cny: Decimal | None
    consumption_tax_cny: Decimal | None
    vat_cny: Decimal | None
    tax_total_cny: Decimal | None


class DeclarationOut(BaseModel):
    """A declaration as read back: header, items, tax, status, lane and reasons."""

    model_config = ConfigDict(json_schema_extra={"examples": [DECLARATION_OUT_EXAMPLE]})

    declaration_no: str
    client_message_id: str
    status: Status
    lane: Lane | None = None
    risk_score: float | None = None
    reasons: list[str] = []
    version: int
    declarant_code: str
    importer_code: str
    seller_name: str | None
    trade_mode: str
    transport_mode: str
    office_code: str
    departure_country: str
    origin_country: str
    currency: str
    incoterm: str
    freight: Decimal
    insurance: Decimal | None
    gross_mass_kg: Decimal
    net_mass_kg: Decimal
    packages: int
    total_value: Decimal
    declared_at: UtcDateTime
    lodged_at: UtcDateTime
    tax: TaxOut
    items: list[GoodsItemOut]
    transport_document_no: str | None = None


class DeclarationSummary(BaseModel):
    """One declaration in a search result: number, status, lane, parties, value and dates."""
    model_config = ConfigDict(json_schema_extra={"examples": [
        {k: DECLARATION_OUT_EXAMPLE[k] for k in ("declaration_no", "status", "lane", "risk_score", "declarant_code",
                                                 "importer_code", "office_code", "total_value", "currency",
                                                 "declared_at", "lodged_at")}]})
    declaration_no: str
    status: Status
    lane: Lane | None
    risk_score: float | None
    declarant_code: str
    importer_code: str
    office_code: str
    total_value: Decimal
    currency: str
    declared_at: UtcDateTime
    lodged_at: UtcDateTime


class EventOut(BaseModel):
    """One status change of a declaration as the API returns it."""
    model_config = ConfigDict(json_schema_extra={"examples": [EVENT_EXAMPLE]})
    seq: int
    at: UtcDateTime
    actor: str
    from_status: Status | None
    to_status: Status
    reason: str
    detail: dict | None = None


class CancelIn(BaseModel):
    """Request to cancel a declaration, with the reason."""
    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"reason": "the shipment was split; lodged again as two declarations"}]})
    reason: Annotated[str, StringConstraints(min_length=1, max_length=500, strip_whitespace=True)]


class DecisionIn(BaseModel):
    """An officer's decision on a held declaration: a ``decision`` with a ``reason_code`` from its list (and,
    optionally, a note in ``reason``), or a bare ``to_status`` with a ``reason``."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"decision": "request_documents", "reason_code": "origin_certificate",
         "reason": "send the certificate of origin (Form A) for both items"},
        {"decision": "detain", "reason_code": "goods_differ", "reason": "porcelain, not ceramic: see the scan"}]})
    to_status: Annotated[str, StringConstraints(pattern=r"^(inspection|released|detained)$")] | None = None
    decision: Decision | None = None
    reason_code: Annotated[str, StringConstraints(max_length=40, strip_whitespace=True)] | None = None
    reason: Annotated[str, StringConstraints(max_length=1000, strip_whitespace=True)] = ""

    @model_validator(mode="after")
    def _complete(self) -> DecisionIn:
        if self.decision is None:
            if self.to_status is None:
                raise ValueError("give a decision (or a to_status)")
            if not self.reason:
                raise ValueError("give a reason")
        elif self.to_status is not None and DECISION_STATUS[self.decision] != self.to_status:
            raise ValueError(f"decision {self.decision} leads to {DECISION_STATUS[self.decision]}, "
                             f"not {self.to_status}")
        return self


class FieldChangeOut(BaseModel):
    """One field whose value differs between two versions (values as text, ``null`` when absent)."""
    model_config = ConfigDict(from_attributes=True)
    field: str
    old: str | None
    new: str | None


class ItemChangeOut(BaseModel):
    """A goods item added, removed or changed by an amendment (its number in the old and in the new version)."""
    model_config = ConfigDict(from_attributes=True)
    kind: Literal["added", "removed", "changed"]
    old_item_no: int | None
    new_item_no: int | None
    description: str
    changes: list[FieldChangeOut]


class VersionOut(BaseModel):
    """One amendment: the version it made, when, by whom, why, and what it changed against the version before."""
    version: int
    previous_version: int
    at: UtcDateTime
    actor: str
    reason: str
    header: list[FieldChangeOut]
    items: list[ItemChangeOut]
    tax: list[FieldChangeOut]


class TaxPaymentIn(BaseModel):
    """A payment of a declaration's taxes confirmed by customs: amount (CNY; negative to correct an entry), the
    bank's or e-payment platform's reference, and when it was paid (now when left out)."""
    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"amount_cny": "21626.87", "reference": "ICBC-2026-120300017",
                      "paid_at": "2026-12-03T09:30:00Z"}]})
    amount_cny: Annotated[Decimal, Field(max_digits=16, decimal_places=2)]
    reference: Annotated[str, StringConstraints(min_length=1, max_length=64, strip_whitespace=True,
                                                pattern=r"^[\w./-]+$")]
    paid_at: datetime | None = None

    @model_validator(mode="after")
    def _not_zero(self) -> TaxPaymentIn:
        if self.amount_cny == 0:
            raise ValueError("a payment of 0 CNY changes nothing")
        return self


class PaymentOut(BaseModel):
    """One confirmed payment."""
    model_config = ConfigDict(from_attributes=True)
    amount_cny: Decimal
    paid_at: UtcDateTime
    reference: str
    recorded_by: str


class TaxPaymentOut(BaseModel):
    """Where a declaration's taxes stand (CNY): status, due, paid, outstanding, the due date (15 days from the
    tax payment notice, Customs Law art. 60) and the late-payment surcharge (0.05 % a day)."""
    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [
        {"status": "part_paid", "due_cny": "19712.40", "paid_cny": "10000.00", "outstanding_cny": "9712.40",
         "notice_at": "2026-12-01T08:00:02Z", "due_by": "2026-12-16T08:00:02Z", "days_late": 0,
         "surcharge_cny": "0.00", "payments": [{"amount_cny": "10000.00", "paid_at": "2026-12-03T09:30:00Z",
                                                "reference": "ICBC-2026-120300017", "recorded_by": "officer1"}]}]})
    status: Literal["not_assessed", "nothing_due", "unpaid", "part_paid", "overdue", "paid"]
    due_cny: Decimal
    paid_cny: Decimal
    outstanding_cny: Decimal
    notice_at: UtcDateTime | None
    due_by: UtcDateTime | None
    days_late: int
    surcharge_cny: Decimal
    payments: list[PaymentOut]
