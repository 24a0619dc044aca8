"""Pydantic wire shapes: the JSON form of every CEB message and receipt (field names as in CEB XML).

Values stay strings, exactly as in the XML form; the same validation (codes, amounts, mandatory fields)
runs on both forms in :mod:`smartcustoms.cbec.ceb.parse`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Wire(BaseModel):
    model_config = ConfigDict(extra="allow")


class BaseSubscribe(_Wire):
    """A ceb:BaseSubscribe block: another party that receives the message's receipts (which, and where)."""
    status: str | None = None
    dxpMode: str | None = None
    dxpAddress: str | None = None
    note: str | None = None


class ExtendMessage(_Wire):
    """The ceb:ExtendMessage block: name, version and ``Message``, one ``ceb:Message`` element as XML text."""
    name: str | None = None
    version: str | None = None
    Message: str | None = None


class BaseTransfer(_Wire):
    """The baseTransfer block of a CEB message: the transmitting enterprise and its exchange channel (with the
    message's BaseSubscribe blocks as ``subscribe`` and its ExtendMessage as ``extend``)."""
    copCode: str | None = None
    copName: str | None = None
    dxpMode: str | None = None
    dxpId: str | None = None
    note: str | None = None
    subscribe: list[BaseSubscribe] | None = None
    extend: ExtendMessage | None = None


class OrderHead(_Wire):
    """Head of a CEB311 e-commerce order."""
    guid: str | None = None
    appType: str | None = None
    appTime: str | None = None
    appStatus: str | None = None
    orderType: str | None = None
    orderNo: str | None = None
    ebpCode: str | None = None
    ebpName: str | None = None
    ebcCode: str | None = None
    ebcName: str | None = None
    goodsValue: str | None = None
    freight: str | None = None
    discount: str | None = None
    taxTotal: str | None = None
    acturalPaid: str | None = None
    currency: str | None = None
    buyerRegNo: str | None = None
    buyerName: str | None = None
    buyerTelephone: str | None = None
    buyerIdType: str | None = None
    buyerIdNumber: str | None = None
    payCode: str | None = None
    payName: str | None = None
    payTransactionId: str | None = None
    consignee: str | None = None
    consigneeTelephone: str | None = None
    consigneeAddress: str | None = None


class OrderList(_Wire):
    """One goods line of a CEB311 e-commerce order."""
    gnum: str | None = None
    itemNo: str | None = None
    itemName: str | None = None
    gmodel: str | None = None
    unit: str | None = None
    qty: str | None = None
    price: str | None = None
    totalPrice: str | None = None
    currency: str | None = None
    country: str | None = None


class PaymentHead(_Wire):
    """Head of a CEB411 payment record."""
    guid: str | None = None
    appType: str | None = None
    appTime: str | None = None
    appStatus: str | None = None
    payCode: str | None = None
    payName: str | None = None
    payTransactionId: str | None = None
    orderNo: str | None = None
    ebpCode: str | None = None
    payerIdType: str | None = None
    payerIdNumber: str | None = None
    payerName: str | None = None
    amountPaid: str | None = None
    currency: str | None = None
    payTime: str | None = None


class LogisticsHead(_Wire):
    """Head of a CEB511 logistics waybill."""
    guid: str | None = None
    appType: str | None = None
    appTime: str | None = None
    appStatus: str | None = None
    logisticsCode: str | None = None
    logisticsName: str | None = None
    logisticsNo: str | None = None
    orderNo: str | None = None
    freight: str | None = None
    insuredFee: str | None = None
    currency: str | None = None
    weight: str | None = None
    packNo: str | None = None
    consignee: str | None = None
    consigneeAddress: str | None = None
    consigneeTelephone: str | None = None


class InventoryHead(_Wire):
    """Head of a CEB621 retail import inventory."""
    guid: str | None = None
    appType: str | None = None
    appTime: str | None = None
    appStatus: str | None = None
    orderNo: str | None = None
    ebpCode: str | None = None
    ebcCode: str | None = None
    logisticsNo: str | None = None
    logisticsCode: str | None = None
    copNo: str | None = None
    preNo: str | None = None
    invtNo: str | None = None
    ieFlag: str | None = None
    declTime: str | None = None
    customsCode: str | None = None
    portCode: str | None = None
    buyerIdType: str | None = None
    buyerIdNumber: str | None = None
    buyerName: str | None = None
    buyerTelephone: str | None = None
    consigneeAddress: str | None = None
    agentCode: str | None = None
    areaCode: str | None = None
    tradeMode: str | None = None
    trafMode: str | None = None
    country: str | None = None
    freight: str | None = None
    insuredFee: str | None = None
    currency: str | None = None
    grossWeight: str | None = None
    netWeight: str | None = None


class InventoryList(_Wire):
    """One goods line of a CEB621 retail import inventory."""
    gnum: str | None = None
    itemRecordNo: str | None = None
    itemNo: str | None = None
    itemName: str | None = None
    gcode: str | None = None
    gname: str | None = None
    gmodel: str | None = None
    country: str | None = None
    tradeCountry: str | None = None
    currency: str | None = None
    qty: str | None = None
    unit: str | None = None
    qty1: str | None = None
    unit1: str | None = None
    price: str | None = None
    totalPrice: str | None = None


class Document(BaseModel):
    """One document of a CEB message in JSON form: its head and goods lines."""
    head: dict[str, str | None]
    lines: list[dict[str, str | None]] = Field(default_factory=list)


class CebMessage(BaseModel):
    """JSON form of a CEB311/411/511/621 message (heads/lines as in :class:`OrderHead` etc.)."""

    type: Literal["CEB311", "CEB411", "CEB511", "CEB621"]
    guid: str
    documents: list[Document]
    baseTransfer: BaseTransfer


class ReceiptOut(BaseModel):
    """JSON form of a CEB312/412/512/622 receipt."""

    model_config = ConfigDict(extra="allow")

    type: str
    guid: str
    returnStatus: str
    returnTime: str
    returnInfo: str
    statusName: str


class ReceiptsOut(BaseModel):
    """A page of CEB receipts in JSON form."""
    receipts: list[ReceiptOut]


class DecisionIn(BaseModel):
    """An officer's decision on a held CBEC parcel: the new status, info and the status it is expected to be in."""
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"status": 502, "info": "查验放行 / released after inspection: contents as declared", "expected_status": 500},
        {"status": 503, "info": "退运 / return: infant formula over the buyer's annual quota"}]})
    status: Literal[100, 399, 500, 501, 502, 503, 599, 700, 800, 899]
    info: str = Field(default="", max_length=2000)
    expected_status: int | None = Field(None, ge=-1, le=999,
                                        description="refuse (409) if the parcel is no longer in this status")


class CancellationDecisionIn(BaseModel):
    """An officer's decision on a pending CEB623 inventory cancellation: approve (the quota is refunded) or refuse."""
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"approve": True, "info": "order refunded by the platform before dispatch"}]})
    approve: bool
    info: str = Field(default="", max_length=500)
