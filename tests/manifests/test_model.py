"""The labelled month, the model beside the rules and the week-by-week replay (all on simulated traffic)."""

from dataclasses import replace
from datetime import datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import select

from smartcustoms.core.security import SYSTEM
from smartcustoms.manifests import model as mm
from smartcustoms.manifests.models import ManifestHistoryStat
from smartcustoms.manifests.rules import ManifestSettings, party_key
from smartcustoms.manifests.schemas import DecisionIn, Outcome, ReferralAction
from smartcustoms.manifests.service import ManifestService
from smartcustoms.simulate.manifest_month import OFFENCES, labelled_month
from smartcustoms.simulate.manifest_replay import filings, replay
from smartcustoms.simulate.manifests import Cons, Item, message

NOW = datetime(2026, 12, 1, 0, 0)


@pytest.fixture(scope="module")
def month():
    return labelled_month(seed=4, weeks=5, history_weeks=2, per_week=1200)


@pytest.fixture(scope="module")
def replayed(month, tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "manifest-model.txt"
    return replay(month, save_model=path, min_offences=5), path


def test_offences_are_rare_and_every_kind_occurs(month):
    labels = list(month.labels.values())
    rate = sum(v is not None for v in labels) / len(labels)
    assert 0.015 <= rate <= 0.06
    assert {v for v in labels if v} == set(OFFENCES)


def test_no_label_leaks_into_the_messages(month):
    body = b"".join(m[2] for m in month.messages)
    for word in (*OFFENCES, b"offence", b"label"):
        assert (word.encode() if isinstance(word, str) else word) not in body.lower()
    fs = filings(month)
    fields = {
        "description": lambda c: c.items[0].description, "hs": lambda c: c.items[0].hs_code,
        "un": lambda c: c.items[0].un_number, "transit": lambda c: tuple(c.transit_places),
        "loading": lambda c: c.loading_place, "discharge": lambda c: c.discharge_place,
        "shipper_country": lambda c: c.shipper.country if c.shipper else None,
        "packages": lambda c: c.items[0].packages,
    }
    for name, get in fields.items():
        innocent = {get(f.consignment) for f in fs if not f.offence}
        offences = [get(f.consignment) for f in fs if f.offence]
        shared = sum(v in innocent for v in offences) / len(offences)
        assert shared >= 0.5, f"{name}: most offences carry a value no innocent filing has ({shared:.2f})"


def test_rules_alone_are_imperfect(replayed):
    r, _ = replayed
    for w in r["weeks"]:
        assert w["rules_hit_rate"] < 0.5  # innocent filings trip rules, offences slip past them
        assert w["rules_referred_total"] > w["offences"]


def test_a_week_is_never_scored_by_a_model_trained_on_its_own_outcomes(replayed):
    r, _ = replayed
    month_weeks = [w for w in r["weeks"] if not w["history"]]
    assert any(w["model_used"] for w in month_weeks)
    for w in r["weeks"]:
        assert all(t < w["week"] for t in w["trained_on_weeks"])
        assert w["model_used"] == bool(w["trained_on_weeks"])


def test_changing_a_weeks_outcomes_does_not_change_that_weeks_referrals(month, replayed):
    r, _ = replayed
    last = month.weeks - 1
    flipped = replace(month, labels={d: (None if v else "weight_anomaly") if month.week_of[d] == last else v
                                     for d, v in month.labels.items()})
    again = replay(flipped, min_offences=5)
    assert [w["referred_digest"] for w in again["weeks"]] == [w["referred_digest"] for w in r["weeks"]]
    assert again["weeks"][last]["model_hit_rate"] != r["weeks"][last]["model_hit_rate"]


def test_rules_and_model_beat_random_over_the_month(replayed):
    r, _ = replayed
    mw = [w for w in r["weeks"] if not w["history"]]
    hits = sum(w["model_hit_rate"] * w["referred"] for w in mw)
    referred = sum(w["referred"] for w in mw)
    prevalence = sum(w["offences"] for w in mw) / sum(w["filings"] for w in mw)
    assert hits / referred >= 2 * prevalence  # measured about 7x on this seed: a property with margin
    assert r["weekly_hit_ratio_min"] is not None


def _service(world, model):
    return ManifestService(world.platform.sessions, ManifestSettings(high_risk_places=["OMSLL", "LKCMB"]),
                           clock=lambda: NOW, model=model)


def test_fresh_install_is_rules_only_and_says_so(world):
    [a] = _service(world, None).ingest(message([Cons(loading_at=NOW + timedelta(days=2))]), "C1", SYSTEM)
    assert a.consignments[0].assessed_by == "rules" and a.consignments[0].model_score is None


def test_the_model_adds_referrals_with_reasons_in_words(world, month, replayed):
    _, path = replayed
    model = mm.ManifestModel.load(path)
    assert model is not None
    svc = _service(world, model)
    answers = [c for _, _, body in month.messages[-40:] for a in svc.ingest(body, "C1", SYSTEM)
               for c in a.consignments]
    assert all(c.assessed_by == "rules+model" and c.model_score is not None for c in answers)
    advised = [c for c in answers if any(r.startswith("model score") for r in c.reasons)]
    assert advised and len(advised) < len(answers) / 4
    words = {f[1] for f in mm.FEATURES}
    for c in advised:
        [en] = [r for r in c.reasons if r.startswith("model score")]
        [zh] = [r for r in c.reasons_zh if r.startswith("模型评分")]
        assert any(w in en for w in words) and "：" in zh
        assert c.outcome in (Outcome.REQUEST_FOR_INFORMATION, Outcome.REQUEST_FOR_SCREENING, Outcome.DO_NOT_LOAD)


def test_rules_keep_precedence(world, replayed):
    _, path = replayed
    model = mm.ManifestModel.load(path)
    assert model is not None
    refer_all = replace(model, threshold_information=0.0, threshold_screening=0.0)
    never = replace(model, threshold_information=2.0, threshold_screening=2.0)
    at = NOW + timedelta(days=2)
    cons = [Cons(doc="DNL1", loading_at=at, items=[Item(description="DETONATOR CORDS")]),
            Cons(doc="RFS1", loading_at=at, items=[Item(description="LITHIUM BATTERIES")]),
            Cons(doc="OK1", loading_at=at)]
    [a] = _service(world, refer_all).ingest(message(cons, message_id="M1"), "C1", SYSTEM)
    assert [c.outcome for c in a.consignments] == [Outcome.DO_NOT_LOAD, Outcome.REQUEST_FOR_SCREENING,
                                                   Outcome.REQUEST_FOR_SCREENING]
    assert not any(r.startswith("model score") for r in a.consignments[0].reasons)
    [b] = _service(world, never).ingest(message([replace(c, doc=c.doc + "B") for c in cons], message_id="M2"),
                                        "C1", SYSTEM)
    assert [c.outcome for c in b.consignments][:2] == [Outcome.DO_NOT_LOAD, Outcome.REQUEST_FOR_SCREENING]
    assert not any(r.startswith("model score") for c in b.consignments for r in c.reasons)


def test_a_decided_referral_feeds_the_shippers_record(world):
    svc = _service(world, None)
    cons = Cons(doc="RFS9", loading_at=NOW + timedelta(days=2), items=[Item(description="LITHIUM BATTERIES")])
    [a] = svc.ingest(message([cons], message_id="M9"), "C1", SYSTEM)
    assert a.consignments[0].outcome is Outcome.REQUEST_FOR_SCREENING
    [ref] = svc.referrals()
    svc.decide(ref.id, DecisionIn(action=ReferralAction.THREAT_FOUND, reason="batteries found"), SYSTEM)
    key = "hit:" + str(party_key(svc.shipment("RFS9", None).filings[0].consignment.shipper))
    with world.platform.sessions() as s:
        st = s.scalar(select(ManifestHistoryStat).where(ManifestHistoryStat.key == key))
    assert st is not None and st.n == 1 and st.mean == 1.0


def test_features_are_one_row_per_consignment_in_one_call(month):
    fs = filings(month)[:50]
    from smartcustoms.manifests.schemas import Assessment
    rows = [mm.features(f.consignment, Assessment(outcome=Outcome.ASSESSMENT_COMPLETE), {}, ManifestSettings())
            for f in fs]
    x = mm.matrix(rows)
    assert x.shape == (50, len(mm.NAMES)) and np.isfinite(x[:, mm.COLUMN["items"]]).all()


def test_a_broken_model_leaves_the_rules_answer(world, replayed):
    _, path = replayed
    model = mm.ManifestModel.load(path)
    assert model is not None
    broken = replace(model, booster=None)  # predict fails
    cons = [Cons(doc="RFS2", loading_at=NOW + timedelta(days=2), items=[Item(description="LITHIUM BATTERIES")])]
    [a] = _service(world, broken).ingest(message(cons, message_id="MB"), "C1", SYSTEM)
    assert a.accepted and a.consignments[0].outcome is Outcome.REQUEST_FOR_SCREENING
    assert a.consignments[0].assessed_by == "rules" and a.consignments[0].model_score is None
