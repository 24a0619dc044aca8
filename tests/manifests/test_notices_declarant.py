"""Discrepancy notices reach the filer and the declarant of each linked declaration, with what to do, in both
languages; nobody else hears of them."""

from __future__ import annotations

from datetime import timedelta

import pytest

from smartcustoms.manifests.notices import TODO, english
from smartcustoms.manifests.reconcile import DiscrepancyKind
from smartcustoms.manifests.schemas import DiscrepancyResolution, DiscrepancyResolutionIn
from smartcustoms.notices.schemas import NoticeCode
from smartcustoms.simulate.manifests import Cons, Item
from smartcustoms.web.i18n import translator
from smartcustoms.web.pages.inbox import notice_text, target
from tests.manifests.test_notices import LOADING, file, inbox
from tests.support import key_header, lodge


def _opened(world, user):
    return {(n.params["document_no"], n.params["kind"]): n for n in inbox(world, user)
            if n.code == NoticeCode.DISCREPANCY_OPENED}


def test_the_filer_and_the_linked_declarant_are_told_what_to_do(client, world):
    w = world
    svc = w.platform.manifests
    file(w, [Cons(doc="COSU6123456780", loading_at=LOADING), Cons(doc="COSU6123456781", loading_at=LOADING)])
    declared = lodge(client, w, "broker", transport_document_no="COSU6123456780")
    assert declared.status_code in (200, 201, 202), declared.text
    declared_no = declared.json()["declaration_no"]
    unmanifested_no = lodge(client, w, "broker", transport_document_no="MSKU0000000000").json()["declaration_no"]
    file(w, [Cons(doc="COSU6123456780", items=[Item(gross_kg="1625.65")])], kind="tally", message_id="T1")
    svc.discrepancies.clock = lambda: svc.clock() + timedelta(days=15)
    svc.reconcile()

    filer = _opened(w, "trader")  # the carrier: every discrepancy on its lines, none on a document it never filed
    assert set(filer) == {("COSU6123456780", "weight_difference"), ("COSU6123456781", "short_landed"),
                          ("COSU6123456781", "never_declared")}
    assert all(n.params["role"] == "filer" for n in filer.values())
    broker = _opened(w, "broker")  # the declarant: the discrepancies its declarations are linked to
    assert set(broker) == {("COSU6123456780", "weight_difference"), ("MSKU0000000000", "unmanifested_goods")}
    weight = broker["COSU6123456780", "weight_difference"]
    assert weight.params["role"] == "declarant" and weight.params["declaration_no"] == declared_no
    assert weight.declaration_no == declared_no
    assert broker["MSKU0000000000", "unmanifested_goods"].params["declaration_no"] == unmanifested_no
    assert inbox(w, "other") == [] and inbox(w, "officer") == [] and inbox(w, "analyst") == []

    text = w.platform.notices.text(weight.code, weight.params)
    assert text == (f"Discrepancy between consignment COSU6123456780 and declaration {declared_no}: Weight differs "
                    f"from the tally. {TODO['declarant']['weight_difference']}")
    assert w.platform.notices.text(filer["COSU6123456780", "weight_difference"].code,
                                   filer["COSU6123456780", "weight_difference"].params).endswith(
        "amend the line or explain the difference to customs.")
    zh = notice_text(translator("zh"), weight.code, weight.params, zh=True)
    assert declared_no in zh and "核对申报重量" in zh
    assert target(weight.code, weight.params, weight.declaration_no) == f"/declarations/{declared_no}"
    carrier_note = filer["COSU6123456780", "weight_difference"]
    assert target(carrier_note.code, carrier_note.params, carrier_note.declaration_no) == \
        "/manifests/shipments/COSU6123456780"

    # the inbox API: the broker reads its notice in English, the declaration named
    r = client.get("/api/v1/inbox", headers=key_header(w, "broker"))
    items = [x for x in r.json()["items"] if x["code"] == "manifest.discrepancy_opened"]
    assert {x["declaration_no"] for x in items} == {declared_no, unmanifested_no}

    # resolution: both are told, each in its words
    found = next(d for d in svc.discrepancies.listing() if d.kind == "weight_difference")
    svc.discrepancies.resolve(found.id, DiscrepancyResolutionIn(
        resolution=DiscrepancyResolution.EXPLAINED, reason="scale error at the terminal"), w.principals["officer"])
    resolved = {u: [n for n in inbox(w, u) if n.code == NoticeCode.DISCREPANCY_RESOLVED] for u in ("trader", "broker")}
    assert [n.params["role"] for n in resolved["trader"]] == ["filer"]
    [b] = resolved["broker"]
    assert w.platform.notices.text(b.code, b.params) == (
        f"Discrepancy between consignment COSU6123456780 and declaration {declared_no} (Weight differs from the "
        "tally) resolved: Explained — scale error at the terminal.")
    assert inbox(w, "other") == []


@pytest.mark.parametrize("kind", [k.value for k in DiscrepancyKind])
@pytest.mark.parametrize("role", ["filer", "declarant"])
def test_discrepancy_notices_read_the_same_in_the_web_and_the_api_and_in_chinese(kind, role):
    base = {"document_no": "COSU6123456780", "discrepancy_id": 3, "kind": kind, "role": role,
            "declaration_no": "220120261000000017"}
    for code, params in ((NoticeCode.DISCREPANCY_OPENED, base),
                         (NoticeCode.DISCREPANCY_RESOLVED, {**base, "resolution": "corrected", "note": "amended"})):
        en, zh = notice_text(translator("en"), code, params), notice_text(translator("zh"), code, params, zh=True)
        assert en == english(code, params)
        assert zh != en and "{" not in zh and "notice." not in zh and "COSU6123456780" in zh
        if code == NoticeCode.DISCREPANCY_OPENED:
            assert TODO[role][kind] in en and TODO[role][kind] != ""
        if role == "declarant":
            assert "220120261000000017" in en and "220120261000000017" in zh
