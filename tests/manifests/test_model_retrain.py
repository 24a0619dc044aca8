"""The scheduled retraining of the pre-loading model: a candidate from the decided referrals, recorded in the
registry and never promoted; only when officers decided something since the newest version; off by default."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from smartcustoms.audit.service import entries
from smartcustoms.core.security import SYSTEM
from smartcustoms.manifests import registry
from smartcustoms.manifests.schemas import DecisionIn, Outcome, ReferralAction
from smartcustoms.risk.targeting.models import RiskModelVersion
from smartcustoms.simulate.manifests import Cons, Item, message
from tests.manifests.test_model_registry import CONSIGNEE, START, traffic

QUICK = registry.ManifestModelSettings(min_labels=30, min_offences=5, retrain_rounds=20)


def _versions(world) -> list[tuple[int, str]]:
    with world.platform.sessions() as s:
        return [(v.version, v.status) for v in s.scalars(select(RiskModelVersion).where(
            RiskModelVersion.kind == "manifest").order_by(RiskModelVersion.version))]


def test_the_job_is_off_unless_a_period_is_set(world, monkeypatch):
    assert "manifests-model-retrain" not in [j.name for j in world.platform.periodic_jobs()]
    monkeypatch.setenv("SMARTCUSTOMS_MANIFESTS_MODEL_RETRAIN_HOURS", "24")
    [job] = [j for j in world.platform.periodic_jobs() if j.name == "manifests-model-retrain"]
    assert job.interval == 24 * 3600


def test_a_scheduled_candidate_is_recorded_never_promoted_and_only_after_new_decisions(world, monkeypatch):
    svc = world.platform.manifests
    assert registry.retrain(world.platform.sessions, SYSTEM, model_settings=QUICK) is None  # nothing decided
    traffic(world, n=120)
    v = registry.retrain(world.platform.sessions, SYSTEM, settings=svc.settings, model_settings=QUICK,
                         now=svc.clock())
    assert v is not None and v.status == "candidate" and v.kind == "manifest"
    assert _versions(world) == [(v.version, "candidate")]  # recorded, nothing live
    with world.platform.sessions() as s:
        [e] = [e for e in entries(s, "risk_model") if e.action == "risk.model.train"]
        assert e.actor == SYSTEM.username and e.detail["kind"] == "manifest"
    # no referral decided since: no second candidate
    assert registry.retrain(world.platform.sessions, SYSTEM, model_settings=QUICK, now=svc.clock()) is None
    assert len(_versions(world)) == 1
    # an officer decides one more referral: the next run trains again, and promotes nothing
    cons = Cons(doc="COSU8888888888", loading_at=START + timedelta(days=30), consignee=CONSIGNEE,
                shipper=(None, "BAD EXPORTER 0", "NL"), items=[Item(description="LITHIUM BATTERIES", hs="850760")])
    [a] = svc.ingest(message([cons], message_id="NEW1"), world.importer, world.principals["trader"])
    assert a.consignments[0].outcome is Outcome.REQUEST_FOR_SCREENING
    fid = svc.referrals(outcome=Outcome.REQUEST_FOR_SCREENING)[-1].id
    svc.decide(fid, DecisionIn(action=ReferralAction.THREAT_FOUND, reason="found"), world.principals["officer"])
    monkeypatch.setenv("SMARTCUSTOMS_MANIFESTS_MODEL_MIN_LABELS", "30")  # what the platform's job reads
    monkeypatch.setenv("SMARTCUSTOMS_MANIFESTS_MODEL_RETRAIN_ROUNDS", "20")
    world.platform.retrain_manifest_model()  # the job itself (its clock is the real one: later than the ticks)
    assert [status for _, status in _versions(world)] == ["candidate", "candidate"]


def test_too_few_decisions_store_nothing(world):
    svc = world.platform.manifests
    cons = Cons(doc="COSU7777777777", loading_at=START + timedelta(days=30), consignee=CONSIGNEE,
                items=[Item(description="LITHIUM BATTERIES", hs="850760")])
    [a] = svc.ingest(message([cons], message_id="FEW1"), world.importer, world.principals["trader"])
    fid = svc.referrals(outcome=a.consignments[0].outcome)[-1].id
    svc.decide(fid, DecisionIn(action=ReferralAction.SCREENING_CLEAR, reason="fine"), world.principals["officer"])
    assert registry.retrain(world.platform.sessions, SYSTEM, model_settings=QUICK) is None
    with world.platform.sessions() as s:
        assert s.scalar(select(func.count()).select_from(RiskModelVersion).where(
            RiskModelVersion.kind == "manifest")) == 0
