"""The OpenAPI document's words: a customs glossary for every field and parameter not described in its schema.

A field's own ``Field(description=...)`` always wins; this fills the rest once, on the generated document, so
the same term reads the same everywhere (``declaration_no``, ``lodged_at``, ``duty_cny``). Keys are
``"Schema.field"`` where a name means different things in different schemas, else the bare name.
``tests/core/test_openapi.py`` walks the document: a new field needs a description here or in its schema.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

#: field and parameter descriptions, by ``Schema.field`` (first) or by name
GLOSSARY: dict[str, str] = {
    # -- parties, codes and places --------------------------------------------------------------------------
    "declarant_code": "the declarant's (customs broker's) 10- or 18-character enterprise code",
    "importer_code": "the consignee/importer's 10- or 18-character enterprise code (统一社会信用代码 or customs code)",
    "enterprise_code": "the enterprise's 10- or 18-character customs code (traders only; null for customs staff)",
    "seller_name": "the foreign seller's name, as on the commercial invoice",
    "trade_mode": "trade mode code (监管方式), e.g. 0110 general trade (一般贸易)",
    "transport_mode": "mode of transport at the border (运输方式), e.g. 2 waterway, 5 air",
    "office_code": "the 4-digit customs office code (关区代码) of lodging",
    "departure_country": "country of departure (启运国): ISO 3166 alpha-2 (alpha-3 accepted on input)",
    "origin_country": "country of origin (原产国): ISO 3166 alpha-2 (alpha-3 accepted on input)",
    "currency": "ISO 4217 currency of the declared values, e.g. USD",
    "incoterm": "Incoterms 2020 delivery term (成交方式), e.g. CIF; FOB/EXW add freight and insurance",
    "freight": "freight to the place of import, in the declaration's currency (for FOB/EXW terms)",
    "insurance": "insurance to the place of import, in the declaration's currency (null: unknown, taken as 3‰ "
                 "of goods and freight)",
    "gross_mass_kg": "gross mass in kg (毛重), packing included",
    "net_mass_kg": "net mass in kg (净重), packing excluded",
    "packages": "number of packages (件数)",
    "total_value": "total invoice value in the declaration's currency (总价)",
    "declared_at": "when the declarant signed the declaration (UTC)",
    "lodged_at": "when customs received the declaration (UTC)",
    "declaration_no": "the 18-digit customs declaration number (报关单号), assigned on lodging",
    "client_message_id": "the sender's own id for the lodging message (a repeat returns the first result)",
    "hs_code": "HS code (商品编码): 6, 8 or 10 digits",
    "GoodsItem.hs_code": "HS code of the goods as manifested (6 to 10 digits; optional on a manifest)",
    "description": "goods description in plain words (商品名称)",
    "model_spec": "model and specification (规格型号), as declared",
    "quantity": "quantity in the customs unit",
    "unit": "customs unit of quantity code (计量单位), e.g. 035 kg, 007 piece",
    "unit_price": "price per unit in the declaration's currency",
    "item_no": "the goods item's number within the declaration, from 1",
    "items": "the goods items (商品项), in order",
    "Consignment.items": "the consignment's goods items as manifested",
    "VersionOut.items": "the goods items added, removed or changed by the amendment",
    "EnterpriseIn.name": "the enterprise's registered name",
    "EnterpriseOut.name": "the enterprise's registered name",
    "RuleIn.name": "a short name officers know the rule by",
    "RuleOut.name": "a short name officers know the rule by",
    "Party.name": "the party's name as manifested",
    "Party.id": "the party's identifier as manifested (e.g. an EORI or enterprise code)",
    "Party.country": "the party's country, ISO 3166 alpha-2",
    "code": "the enterprise's 10- or 18-character customs code",
    "SenderCodeIn.code": "a code the enterprise signs CEB messages with (e-commerce platform, logistics or "
                         "payment code)",
    "SenderCodeOut.code": "a code the enterprise signs CEB messages with",
    "SenderCodeIn.kind": "the CEB field it stands in: ebp (ebpCode, platform), ebc (ebcCode, e-commerce "
                         "enterprise), pay (payCode) or logistics (logisticsCode)",
    "SenderCodeOut.kind": "the CEB field it stands in: ebp, ebc, pay or logistics",
    "DocumentOut.kind": "what the document is: invoice, packing list, certificate, ...",
    "FilingOut.kind": "the manifest message's kind (entry summary, arrival, house, ...)",
    "ItemChangeOut.kind": "added, removed or changed",
    "ModelVersionOut.kind": "what the model scores: declarations or CBEC parcels",
    "roles": "the enterprise's roles in trade (importer, declarant, e-commerce platform, logistics, payment)",
    "credit_grade": "customs credit grade (企业信用等级): advanced_certified is AEO (高级认证企业), discredited is "
                    "失信企业",
    "grade": "the new customs credit grade",
    "grade_from": "the credit grade before the change",
    "grade_to": "the credit grade after the change",
    # -- status, lanes and decisions ---------------------------------------------------------------------------
    "DeclarationOut.status": "where the declaration stands in its lifecycle",
    "DeclarationSummary.status": "where the declaration stands in its lifecycle",
    "InspectionResultOut.status": "the declaration's status after the result was recorded",
    "ModelVersionOut.status": "where the model stands in the registry: candidate, live, retired or rolled_back",
    "TaxPaymentOut.status": "where the taxes stand: not_assessed, nothing_due, unpaid, part_paid, overdue or paid",
    "Problem.status": "the HTTP status code of this answer",
    "lane": "the control lane (通道): green release, yellow document check, blue scan, red physical inspection; "
            "null before routing",
    "RuleIn.lane": "the lane a matching declaration is held in",
    "RuleOut.lane": "the lane a matching declaration is held in",
    "risk_score": "the offence model's probability of an offence, 0 to 1 (null when not scored)",
    "reasons": "why, in words (each a sentence)",
    "DeclarationOut.reasons": "why the declaration took its lane, in words officers and traders read",
    "reasons_zh": "the same reasons in Chinese",
    "from_status": "the status before the change (null for the first event)",
    "to_status": "the status after the change",
    "DecisionIn.to_status": "a bare decision: inspection, released or detained (with a reason); prefer decision",
    "decision": "the officer's decision: release, document_check, scan, physical, request_documents or detain",
    "reason_code": "one of the decision's reason codes (listed by the decision reasons code list)",
    "reason": "why, in words (kept in the audit log)",
    "CancelIn.reason": "why the declaration is cancelled (kept in the audit log)",
    "ChainBreakOut.reason": "what does not match at this entry",
    "UntracedOut.reason": "why the change has no lifecycle event",
    "seq": "the event's number within the declaration, from 1",
    "at": "when it happened (UTC)",
    "actor": "who did it: a user name, or system",
    "detail": "details of the event (lane, score, reasons, decision), as recorded",
    "version": "version number, from 1",
    "DeclarationOut.version": "the declaration's version: 1 when lodged, one more per amendment",
    "VersionOut.version": "the version this amendment made",
    "previous_version": "the version it replaced",
    "header": "header fields changed by the amendment",
    "tax": "the assessed taxes in CNY",
    "VersionOut.tax": "the change in assessed taxes (old and new)",
    "field": "the field, as a path like items[0].hs_code",
    "Condition.field": "the declaration feature compared (see the rule features list)",
    "op": "how the feature is compared: eq, ne, in, not_in, prefix, gt, ge, lt, le or between",
    "value": "the value compared with",
    "Consignment.value": "the consignment's value in its currency",
    "criteria": "every condition must hold for a declaration to match",
    "old": "the value before",
    "new": "the value after",
    "old_item_no": "the item's number before the amendment (null: added)",
    "new_item_no": "the item's number after the amendment (null: removed)",
    "changes": "the item's fields that changed",
    "message": "what is wrong with it, in words",
    "active": "in force (false: switched off)",
    "UserOut.active": "may sign in and use API keys (false: deactivated)",
    "valid_from": "first day in force (null: from the start)",
    "valid_to": "last day in force (null: open-ended)",
    "MandateIn.valid_from": "when the mandate starts (UTC)",
    "MandateOut.valid_from": "when the mandate starts (UTC)",
    "MandateIn.valid_to": "when the mandate ends (UTC; null: until revoked)",
    "MandateOut.valid_to": "when the mandate ends (UTC; null: until revoked)",
    # -- taxes and payments ------------------------------------------------------------------------------------
    "customs_value_cny": "customs value (完税价格) in CNY: CIF value at the customs exchange rate",
    "duty_cny": "import duty (关税) in CNY",
    "consumption_tax_cny": "consumption tax (消费税) in CNY",
    "vat_cny": "import VAT (增值税) in CNY",
    "tax_total_cny": "duty, consumption tax and VAT together, in CNY",
    "amount_cny": "the amount paid, in CNY",
    "paid_at": "when the payment was made (UTC)",
    "reference": "the payment's bank or treasury reference (one payment per reference)",
    "recorded_by": "the officer who confirmed the payment",
    "payments": "the payments confirmed, oldest first",
    "due_cny": "taxes assessed, in CNY",
    "paid_cny": "taxes paid, in CNY",
    "outstanding_cny": "taxes still to pay, in CNY (negative: overpaid)",
    "notice_at": "when the tax assessment notice was issued (UTC)",
    "due_by": "the last day to pay without a late-payment surcharge (15 days after the notice)",
    "days_late": "days past the due date (0 when not late)",
    "surcharge_cny": "late-payment surcharge (滞纳金), 0.05 % a day of the outstanding taxes, in CNY",
    "hs_prefix": "the HS code or its first digits the tariff line applies to",
    "duty_type": "how duty is levied: ad valorem, specific or compound",
    "duty_rate": "ad valorem duty rate (0.09 = 9 %)",
    "duty_specific": "specific duty in CNY per duty unit",
    "duty_unit": "the unit the specific duty is per",
    "ct_type": "how consumption tax is levied: none, ad valorem, specific or compound",
    "ct_rate": "ad valorem consumption tax rate",
    "ct_specific": "specific consumption tax in CNY per unit",
    "ct_unit": "the unit the specific consumption tax is per",
    "vat_rate": "import VAT rate, e.g. 0.13 for 13 %",
    # -- inspection ---------------------------------------------------------------------------------------------
    "InspectionResultIn.outcome": "what the inspection found: no_offence or offence",
    "InspectionResultOut.outcome": "what the inspection found: no_offence or offence",
    "ConsignmentAnswer.outcome": "the risk assessment of the consignment (null: not assessed yet)",
    "FilingOut.outcome": "the risk assessment of the filing",
    "ReferralOut.outcome": "the risk assessment that referred it",
    "offence_type": "the kind of offence found (one of the listed types; null: no offence)",
    "critical": "a critical offence (e.g. prohibited or dangerous goods)",
    "duty_recovered": "duty recovered in CNY because of the finding",
    "notes": "the officer's notes on the inspection",
    "officer": "the officer who recorded the result",
    "recorded_at": "when the result was recorded (UTC)",
    # -- users, keys, certificates, mandates --------------------------------------------------------------------
    "username": "the user's sign-in name",
    "display_name": "the user's name as shown in pages",
    "password": "the user's password (never returned)",
    "role": "the user's role: trader, officer, analyst or admin",
    "label": "a note to tell the API key from the user's others",
    "prefix": "the key's first characters, which identify it (the key itself is shown only once)",
    "api_key": "the API key (X-API-Key header): shown only in this answer",
    "last_used_at": "when the key was last used (UTC; null: never)",
    "created_at": "when it was created (UTC)",
    "created_by": "who created it",
    "updated_at": "when it was last changed (UTC)",
    "revoked_at": "when it was revoked (UTC; null: in force)",
    "revoked_by": "who revoked it",
    "id": "the record's id",
    "certificate": "the enterprise's X.509 signing certificate, PEM or base64 DER",
    "fingerprint": "SHA-256 fingerprint of the certificate (hex)",
    "subject": "the certificate's subject",
    "serial": "the certificate's serial number",
    "algorithm": "the certificate's public-key algorithm",
    "not_before": "start of the certificate's validity (UTC)",
    "not_after": "end of the certificate's validity (UTC)",
    "approve": "true: approve (the buyer's quota is refunded); false: refuse",
    "info": "a note for the trader (sent in the receipt's returnInfo)",
    # -- risk ----------------------------------------------------------------------------------------------------
    "matches": "declarations the rule matched",
    "selected": "declarations the rule held",
    "inspected": "declarations with an inspection result",
    "hits": "offences found",
    "DriftOut.hits": "offences found among the week's inspected declarations",
    "hit_rate": "offences found per inspection",
    "reference_hit_rate": "the hit rate of the reference window",
    "days": "days of history looked at",
    "since": "the start of the window (UTC)",
    "offences": "offences found in the window",
    "metrics": "the model's figures on its holdout period (precision at 5/10/20 %, random baseline)",
    "trained_by": "who trained the model",
    "training_from": "first day of the training data (UTC)",
    "training_to": "last day of the training data (UTC)",
    "promoted_by": "who made the model live",
    "promoted_at": "when the model went live (UTC)",
    # -- CBEC -----------------------------------------------------------------------------------------------------
    "ReceiptOut.type": "the receipt message type: CEB312, CEB412, CEB512, CEB622 or CEB900",
    "guid": "the GUID of the message the receipt answers",
    "returnStatus": "the receipt's status code as in the CEB standard, e.g. 800 released",
    "returnTime": "when customs answered, yyyyMMddHHmmssSSS (Beijing time)",
    "returnInfo": "the receipt's message to the trader",
    "statusName": "the status in words",
    "receipts": "the receipts, oldest first",
    "DecisionIn.status": "the parcel's new status: 800 release, 500 inspect, 501-599 detain, 700 return, ...",
    "DecisionIn.info": "a note for the trader (sent in the receipt's returnInfo)",
    # -- manifests -------------------------------------------------------------------------------------------------
    "transport_document_no": "the bill of lading or air waybill number",
    "master_document_no": "the master bill when this is a house bill",
    "loading_place": "UN/LOCODE of the place of loading",
    "loading_at": "when the goods were loaded (UTC)",
    "discharge_place": "UN/LOCODE of the place of discharge",
    "transit_places": "UN/LOCODEs of the places of transit",
    "routing_countries": "ISO alpha-2 countries of the routing, in order",
    "shipper": "the consignor",
    "consignee": "the consignee",
    "notify": "the party to notify on arrival",
    "containers": "the containers",
    "GoodsItem.containers": "numbers of the containers holding this item",
    "number": "the container number (ISO 6346)",
    "size_type": "the container's ISO 6346 size and type code",
    "fullness": "full (5) or empty (4): UN/EDIFACT 8169",
    "seals": "seal numbers",
    "sequence": "the item's sequence number within the consignment",
    "package_type": "UN/ECE Recommendation 21 package type code",
    "un_number": "UN number of dangerous goods (4 digits)",
    "index": "the message's place in the request, from 0",
    "message_id": "the message's own identifier",
    "message_type": "the message type code",
    "accepted": "the message was taken in",
    "duplicate": "the message had been received before (nothing changed)",
    "errors": "the problems found, each naming its field",
    "consignments": "the answer for each consignment of the message",
    "amended": "an amendment of an earlier filing",
    "withdrawn": "withdrawn by the filer",
    "late": "filed after its deadline",
    "messages": "the answer for each message of the request",
    "mode": "mode of transport (sea, air, road, rail)",
    "journey_id": "the voyage or flight number",
    "conveyance_id": "the vessel (IMO) or aircraft identifier",
    "received_at": "when customs received it (UTC)",
    "consignment": "the consignment as filed",
    "filer_code": "the filer's enterprise code",
    "house_documents": "the house bills under this master bill",
    "filings": "the filings about this transport document, oldest first",
    # -- audit -----------------------------------------------------------------------------------------------------
    "ok": "true when the chain is intact, every status change traced and every guard trigger in place",
    "entries": "audit log entries checked",
    "chain_break": "the first entry where the hash chain breaks (null: intact)",
    "entry_id": "the audit entry's id",
    "status_changes": "status changes recorded by the guard triggers",
    "untraced": "the first status changes without a lifecycle event",
    "untraced_count": "how many status changes have no lifecycle event",
    "missing_triggers": "guard triggers that should be in place and are not",
    "object_type": "what changed: declaration, parcel, ...",
    "object_id": "its number or id",
    # -- documents -------------------------------------------------------------------------------------------------
    "uploaded_by": "who attached the document",
    "uploaded_at": "when it was attached (UTC)",
    # -- RFC 9457 --------------------------------------------------------------------------------------------------
    "Problem.type": "a URI naming the problem type (about:blank: the status says it all)",
    "title": "a short summary of the problem",
    "Problem.detail": "what went wrong, in words",
    "instance": "the request path the problem is about",
    "Problem.errors": "one entry per wrong field",
    # -- query and path parameters ---------------------------------------------------------------------------------
    "limit": "rows per page",
    "offset": "rows to skip",
    "after_id": "only rows after this id (keyset paging: pass the last id of the previous page)",
    "after": "only receipts after this cursor (the previous answer's last one)",
    "q": "text or code digits to search for",
    "order": "sort column, - for descending: lodged_at, risk_score or total_value",
    "office": "only this customs office (4 digits)",
    "importer": "only this importer (enterprise code)",
    "enterprise": "only mandates of this enterprise (as declarant or importer)",
    "buyer_id_number": "the buyer's identity number (the annual CBEC quota is per buyer)",
    "year": "the calendar year of the quota",
    "ebp_code": "the e-commerce platform's code (电商平台代码)",
    "order_no": "the platform's order number (订单编号)",
    "doc_id": "the after-care document's id",
    "document_id": "the attached document's id",
    "document_no": "the transport document (bill) number",
    "mandate_id": "the mandate's id",
    "rule_id": "the rule's id",
    "sender_code": "the CEB sender code",
    "holdout_days": "most recent days held out to compare the candidate with the live model",
    "holdout_share": "share of the most recent parcels held out to compare the candidate with the live model",
    "weeks": "weeks of history",
}

#: parameter descriptions where the name means something else than the same-named field
PARAMETERS: dict[str, str] = {
    "status": "only rows in this status",
    "lane": "only declarations in this lane",
    "kind": "only this kind",
    "outcome": "only this outcome",
    "name": "the code list's name (trade_modes, transport_modes, units, countries, currencies, offices, ...)",
    "version": "the model version",
    "days": "days of history to replay the rule over",
    "code": "the enterprise's 10- or 18-character customs code",
}


def _describe_schema(name: str, schema: dict[str, Any]) -> None:
    short = name.rsplit("__", 1)[-1]  # FastAPI's long names for two models with one name
    for field, prop in (schema.get("properties") or {}).items():
        if prop.get("description"):
            continue
        text = GLOSSARY.get(f"{short}.{field}") or GLOSSARY.get(field)
        if text:
            prop["description"] = text


def _describe_parameters(op: dict[str, Any]) -> None:
    for param in op.get("parameters", []):
        schema = param.get("schema", {})
        if param.get("description"):
            continue
        if schema.get("description"):
            param["description"] = schema["description"]
            continue
        text = PARAMETERS.get(param["name"]) or GLOSSARY.get(param["name"])
        if text:
            param["description"] = text


def document(app: FastAPI) -> None:
    """Fill the generated document's missing field and parameter descriptions from the glossary (once)."""
    build = app.openapi
    described: list[int] = []  # the id of the document already described (it is built once, then cached)

    def openapi() -> dict:
        doc = build()
        if id(doc) in described:
            return doc
        for name, schema in doc.get("components", {}).get("schemas", {}).items():
            _describe_schema(name, schema)
        for item in doc.get("paths", {}).values():
            for op in item.values():
                if isinstance(op, dict):
                    _describe_parameters(op)
        described[:] = [id(doc)]
        return doc

    app.openapi = openapi  # type: ignore[method-assign]
