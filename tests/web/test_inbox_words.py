"""The inbox's words: every message code reads the same in the web's English as in the API's, and in Chinese."""

from __future__ import annotations

import pytest

from smartcustoms.declarations.notices import english as declaration_english
from smartcustoms.manifests.notices import english as manifest_english
from smartcustoms.notices.schemas import NoticeCode
from smartcustoms.web.i18n import catalogue, translator
from smartcustoms.web.pages.inbox import notice_text

SAMPLES = [
    (NoticeCode.HELD, {"lane": "yellow"}),
    (NoticeCode.HELD, {"lane": "blue"}),
    (NoticeCode.CHECK_ORDERED, {"decision": "scan"}),
    (NoticeCode.DOCUMENTS_REQUESTED, {"reason_code": "origin_certificate", "note": "Form E"}),
    (NoticeCode.DOCUMENTS_REQUESTED, {"reason_code": "invoice", "note": None}),
    (NoticeCode.RELEASED, {"reason_code": "documents_in_order", "note": None}),
    (NoticeCode.RELEASED, {"outcome": "no_offence"}),
    (NoticeCode.DETAINED, {"reason_code": "ipr", "note": "counterfeit marks"}),
    (NoticeCode.DETAINED, {"offence_type": "undervaluation", "duty_recovered": "880.00"}),
    (NoticeCode.CANCELLED, {"reason": "goods sold", "by": "trader"}),
    (NoticeCode.CANCELLED, {"reason": "duplicate", "by": "customs"}),
    (NoticeCode.TAX_REASSESSED, {"tax_total": "1234.50", "version": 2}),
    (NoticeCode.AUDIT_FINDING, {"outcome": "offence", "offence_type": "false_origin", "duty_recovered": "10.00"}),
    (NoticeCode.AUDIT_FINDING, {"outcome": "no_offence", "offence_type": None, "duty_recovered": "0"}),
    (NoticeCode.DOCUMENTS_PROVIDED, {"count": 2, "by": "91310000MA1FL8XQ3A"}),
    (NoticeCode.MANIFEST_REFERRED, {"document_no": "COSU6123456780", "filing_id": 7, "outcome": "do_not_load",
                                    "reasons": "detonators", "reasons_zh": "雷管"}),
    (NoticeCode.MANIFEST_DECIDED, {"document_no": "COSU6123456780", "filing_id": 7, "action": "threat_found",
                                   "outcome": "do_not_load", "note": "X-ray: detonators"}),
    (NoticeCode.DISCREPANCY_OPENED, {"document_no": "COSU6123456780", "discrepancy_id": 3, "kind": "short_landed"}),
    (NoticeCode.DISCREPANCY_RESOLVED, {"document_no": "COSU6123456780", "discrepancy_id": 3, "kind": "over_landed",
                                       "resolution": "penalty", "note": "case 2026-17"}),
]


def test_every_message_code_has_a_subject_in_both_languages():
    for lang in ("en", "zh"):
        assert {f"notice.title.{c.value}" for c in NoticeCode} - set(catalogue(lang)) == set()
    assert {c for c, _ in SAMPLES} == set(NoticeCode)


def english(code: str, params: dict) -> str:
    """The API's English, as the platform wires it."""
    return manifest_english(code, params) or declaration_english(code, params)


@pytest.mark.parametrize(("code", "params"), SAMPLES)
def test_a_message_reads_the_same_in_the_web_and_the_api_and_differs_in_chinese(code, params):
    en, zh = notice_text(translator("en"), code, params), notice_text(translator("zh"), code, params)
    assert en == english(code, params)
    assert zh != en and "{" not in zh and "notice." not in zh
    # officers' notes, amounts and numbers are carried over as they are
    kept = [str(params[k]) for k in ("note", "reason", "duty_recovered", "tax_total", "count", "by", "version")
            if params.get(k) not in (None, "0", "trader", "customs")]
    assert [v for v in kept if v not in zh] == []
