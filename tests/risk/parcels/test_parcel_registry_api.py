"""The parcel model end to end: CBEC decides simulated parcels, officers record results, an analyst trains a
parcel model from them over HTTP, promotes it (the CBEC writer then scores with it), and rolls it back."""

from __future__ import annotations

import zlib

import pytest
from fastapi.testclient import TestClient

from smartcustoms.cbec.ceb.statuses import INSPECTION, MANUAL_REVIEW
from smartcustoms.cbec.simulate import generate
from smartcustoms.core.config import CbecSettings
from smartcustoms.risk.parcels.model import selection_probability_of
from smartcustoms.web.app import create_app
from tests.support import World, assert_problem, key_header


def test_officers_results_train_a_parcel_model_promoted_and_rolled_back_over_http(world: World):
    platform = world.platform
    # many random holds, so officers soon have over 100 results
    platform.cbec_settings = CbecSettings(risk_budget=0.3, risk_exploration=0.5)
    cbec = platform.cbec
    cbec.submit_batch(list(generate(1200, seed=5)))
    held = cbec.store.execute("SELECT ebp_code, order_no, info FROM cbec_parcel WHERE status IN (?, ?) ORDER BY id",
                              (MANUAL_REVIEW, INSPECTION)).fetchall()
    assert len(held) >= 120
    for ebp, order, _info in held:  # an offence in about one parcel in four
        found = zlib.crc32(order.encode()) % 4 == 0
        cbec.set_status(ebp, order, 501 if found else 800, "offence found" if found else "nothing found", "officer")

    results = platform.parcel_results()
    inspected = [r for r in results if r.offence is not None]
    assert len(inspected) == len(held)  # every officer's result, and nothing else, has an outcome
    assert len(results) > len(inspected)  # released parcels are there too, with no outcome (they weigh 0)
    assert all(r.selection_probability is not None and 0 < r.selection_probability <= 1 for r in inspected)

    analyst, officer = key_header(world, "analyst"), key_header(world, "officer")
    with TestClient(create_app(platform)) as client:
        assert client.post("/api/v1/risk/parcel-models/train", headers=officer).status_code == 403
        r = client.post("/api/v1/risk/parcel-models/train", headers=analyst)
        assert r.status_code == 201, r.text
        v1 = r.json()
        assert v1["kind"] == "parcel" and v1["status"] == "candidate"
        assert v1["metrics"]["n_train"] + v1["metrics"]["n_holdout"] == len(inspected)

        r = client.post(f"/api/v1/risk/parcel-models/{v1['version']}/promote", headers=analyst)
        assert r.status_code == 200 and r.json()["status"] == "live"
        assert cbec.engine.selectivity.model_version == v1["version"]  # the writer took it at once

        cbec.submit_batch(list(generate(300, seed=6)))
        newly = cbec.store.execute("SELECT info FROM cbec_parcel WHERE status IN (?, ?) AND info LIKE ?",
                                   (MANUAL_REVIEW, INSPECTION, "offence probability (parcel model v%")).fetchall()
        assert newly, "the live parcel model's probability decides holds"

        v2 = client.post("/api/v1/risk/parcel-models/train", headers=analyst).json()
        assert v2["metrics"]["live_version"] == v1["version"]
        client.post(f"/api/v1/risk/parcel-models/{v2['version']}/promote", headers=analyst)
        back = client.post("/api/v1/risk/parcel-models/rollback", headers=analyst)
        assert back.status_code == 200 and back.json()["version"] == v1["version"]
        assert cbec.engine.selectivity.model_version == v1["version"]

        listed = client.get("/api/v1/risk/parcel-models", headers=officer).json()
        assert [(m["version"], m["status"]) for m in listed] == [(v1["version"], "live"),
                                                                 (v2["version"], "rolled_back")]
        assert client.get("/api/v1/risk/models", headers=officer).json() == []  # declarations' registry apart
        assert_problem(client.post("/api/v1/risk/parcel-models/999/promote", headers=analyst), 404)


def test_training_with_no_results_is_a_422_problem(world: World):
    with TestClient(create_app(world.platform)) as client:
        r = client.post("/api/v1/risk/parcel-models/train", headers=key_header(world, "analyst"))
        assert_problem(r, 422)
        assert "not enough parcel inspection results" in r.json()["detail"]


def test_the_engines_reasons_read_back_as_selection_probabilities():
    from smartcustoms.risk.targeting.policy import SelectivityConfig

    cfg = SelectivityConfig(budget=0.05, exploration=0.1)
    assert selection_probability_of(500, ["risk score 0.70, in the top 1.0% at customs office 2244"], cfg) == 1.0
    assert selection_probability_of(500, ["mandatory hold, rule 'x' (scan)"], cfg) == 1.0
    explored = selection_probability_of(500, ["chosen at random for control: random checks measure ..."], cfg)
    assert explored is not None and abs(explored - 0.005 / (1 - 0.045)) < 1e-12
    sampled = selection_probability_of(300, ["rule 'cosmetics' (document check)"], cfg, {"cosmetics": 0.3})
    assert sampled == pytest.approx(0.3)
    assert selection_probability_of(300, ["rule 'unknown' (document check)"], cfg, {}) is None
    assert selection_probability_of(800, ["risk score 0.40 below the selection threshold"], cfg) is None
