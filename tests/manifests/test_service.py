from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select, text

from smartcustoms.core.errors import NotFound
from smartcustoms.core.security import SYSTEM
from smartcustoms.manifests.models import ManifestFiling, ManifestMessage
from smartcustoms.manifests.rules import ManifestSettings
from smartcustoms.manifests.schemas import Outcome
from smartcustoms.manifests.service import ManifestService
from smartcustoms.simulate.manifests import Cons, Item, message

NOW = datetime(2026, 12, 1, 0, 0)
LOADING = NOW + timedelta(days=2)


@pytest.fixture
def svc(world):
    return ManifestService(world.platform.sessions, ManifestSettings(), clock=lambda: NOW)


def count(world, model):
    with world.platform.sessions() as s:
        return s.scalar(select(func.count()).select_from(model))


def test_accepted_message_is_stored_with_each_consignment_assessed(svc, world):
    data = message([Cons(loading_at=LOADING), Cons(doc="COSU2", loading_at=LOADING,
                                                   items=[Item(description="GENERAL CARGO")])])
    [a] = svc.ingest(data, "CARRIER1", SYSTEM)
    assert a.accepted and [c.version for c in a.consignments] == [1, 1]
    assert a.consignments[1].outcome is Outcome.REQUEST_FOR_INFORMATION
    assert count(world, ManifestMessage) == 1 and count(world, ManifestFiling) == 2
    with world.platform.sessions() as s:
        assert s.scalar(text("SELECT count(*) FROM audit_log WHERE action = 'manifest.assessed'")) == 1


def test_nothing_of_a_refused_message_is_stored_and_the_others_go_on(svc, world):
    bad = message([Cons(containers=["CSQU3054384"])], message_id="BAD")
    answers = svc.ingest(message([Cons()], message_id="A") + bad + message([Cons(doc="X2")], message_id="B"),
                         "CARRIER1", SYSTEM)
    assert [a.accepted for a in answers] == [True, False, True]
    assert answers[1].errors[0].field.endswith("TransportEquipment[1]/EquipmentIdentification/ID")
    assert count(world, ManifestMessage) == 2 and count(world, ManifestFiling) == 2


def test_a_message_id_is_received_once_per_filer(svc, world):
    data = message([Cons()])
    assert svc.ingest(data, "CARRIER1", SYSTEM)[0].accepted
    again = svc.ingest(data, "CARRIER1", SYSTEM)[0]
    assert again.duplicate and not again.accepted and "already received" in again.errors[0].message
    assert svc.ingest(data, "CARRIER2", SYSTEM)[0].accepted
    assert count(world, ManifestFiling) == 2


def test_amended_filing_is_a_new_version_flagged_and_the_first_is_kept(svc, world):
    svc.ingest(message([Cons(loading_at=LOADING)], message_id="M1"), "CARRIER1", SYSTEM)
    [a] = svc.ingest(message([Cons(loading_at=LOADING)], message_id="M2", function_code="5"), "CARRIER1", SYSTEM)
    assert a.consignments[0].version == 2 and a.consignments[0].amended
    # a later original of the same document counts as an amendment too
    [b] = svc.ingest(message([Cons(loading_at=LOADING)], message_id="M3"), "CARRIER1", SYSTEM)
    assert b.consignments[0].version == 3 and b.consignments[0].amended
    shipment = svc.shipment("COSU6123456780", "CARRIER1")
    assert [f.version for f in shipment.filings] == [1, 2, 3]
    assert svc.carrier_statistics("CARRIER1") == [
        {"filer_code": "CARRIER1", "filings": 3, "late": 0, "amended": 2, "referred": 1, "decided": 0, "hits": 0,
         "hit_rate": None}]


def test_amending_or_withdrawing_a_document_never_filed_is_refused(svc, world):
    [a] = svc.ingest(message([Cons()], function_code="5"), "CARRIER1", SYSTEM)
    assert not a.accepted and "no earlier original filing" in a.errors[0].message
    assert count(world, ManifestMessage) == 0
    svc.ingest(message([Cons()], message_id="M1"), "CARRIER1", SYSTEM)
    [w] = svc.ingest(message([Cons()], message_id="M2", function_code="3"), "CARRIER1", SYSTEM)
    assert w.accepted and w.consignments[0].withdrawn and w.consignments[0].outcome is None


def test_parties_filed_before_are_no_longer_new(svc, world):
    first = svc.ingest(message([Cons(loading_at=LOADING)], message_id="M1"), "CARRIER1", SYSTEM)[0]
    assert "never filed" in first.consignments[0].reasons[0]
    second = svc.ingest(message([Cons(doc="COSU9", loading_at=LOADING)], message_id="M2"), "CARRIER1", SYSTEM)[0]
    assert second.consignments[0].outcome is Outcome.ASSESSMENT_COMPLETE


def test_weight_history_builds_up_and_flags_an_outlier(world):
    svc = ManifestService(world.platform.sessions, ManifestSettings(weight_min_history=10), clock=lambda: NOW)
    usual = [Cons(doc=f"D{i}", loading_at=LOADING, items=[Item(packages=100, gross_kg=str(1200 + 10 * (i % 5)))])
             for i in range(12)]
    svc.ingest(message(usual, message_id="HIST"), "CARRIER1", SYSTEM)
    odd = Cons(doc="ODD", loading_at=LOADING, items=[Item(packages=100, gross_kg="9000")])
    [a] = svc.ingest(message([odd], message_id="ODD"), "CARRIER1", SYSTEM)
    assert a.consignments[0].outcome is Outcome.REQUEST_FOR_SCREENING
    assert "kg per package" in a.consignments[0].reasons[0]


def test_filings_and_messages_are_append_only(svc, world):
    svc.ingest(message([Cons()]), "CARRIER1", SYSTEM)
    with pytest.raises(Exception, match="append-only"), world.platform.sessions() as s, s.begin():
        s.execute(text("UPDATE manifest_filing SET outcome = 'assessment_complete'"))
    with pytest.raises(Exception, match="append-only"), world.platform.sessions() as s, s.begin():
        s.execute(text("DELETE FROM manifest_message"))


def test_shipment_reads_are_limited_to_the_filer_and_houses_are_one_shipment(svc):
    svc.ingest(message([Cons(house="HBL1"), Cons(house="HBL2", doc="COSU6123456780X")], message_id="M1"),
               "CARRIER1", SYSTEM)
    svc.ingest(message([Cons(house="HBL3")], message_id="M2", mode="rail", arrival=LOADING), "CARRIER1", SYSTEM)
    s = svc.shipment("COSU6123456780", None)
    assert s.house_documents == ["HBL1", "HBL3"] and {f.mode for f in s.filings} == {"water", "rail"}
    with pytest.raises(NotFound):
        svc.shipment("COSU6123456780", "CARRIER2")


def test_referral_queue_lists_the_latest_filing_of_each_referred_document(svc):
    svc.ingest(message([Cons(loading_at=LOADING, items=[Item(description="FAK")])], message_id="M1"),
               "CARRIER1", SYSTEM)
    [r] = svc.referrals()
    assert r.outcome is Outcome.REQUEST_FOR_INFORMATION
    svc.ingest(message([Cons(loading_at=LOADING)], message_id="M2", function_code="5"), "CARRIER1", SYSTEM)
    assert svc.referrals() == []  # the amendment gave the goods description; the parties are known now


def test_an_air_consolidation_master_and_houses_reads_as_one_shipment(svc):
    from smartcustoms.simulate.manifests import waybill

    data = waybill() + waybill(house="HAWB1", message_id="Z1") + waybill(house="HAWB2", message_id="Z2")
    answers = svc.ingest(data, "FWD1", SYSTEM)
    assert all(a.accepted for a in answers)
    s = svc.shipment("176-12345675", "FWD1")
    assert s.house_documents == ["HAWB1", "HAWB2"] and [f.message_type for f in s.filings] == ["XFWB", "XFZB", "XFZB"]
    [upd] = svc.ingest(waybill(house="HAWB1", message_id="Z3", purpose="Update"), "FWD1", SYSTEM)
    assert upd.consignments[0].version == 2 and upd.consignments[0].amended
