"""Drift: the population stability index and the weekly per-office alerts that read it."""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import func, select

from smartcustoms.risk.drift import (
    ResultRow,
    ScoreRow,
    chi2_sf,
    psi,
    psi_level,
    psi_test,
    two_proportion_z,
    weekly_drift,
)


def test_identical_distributions_have_a_psi_of_about_zero():
    rng = np.random.default_rng(0)
    a = rng.beta(2, 5, 20_000)
    assert psi(a, a) == pytest.approx(0.0, abs=1e-12)
    assert psi(a, rng.beta(2, 5, 20_000)) < 0.01  # two samples of one distribution


def test_a_shifted_distribution_has_a_large_psi():
    rng = np.random.default_rng(1)
    ref = rng.beta(2, 5, 5_000)
    assert psi(ref, np.clip(ref + 0.1, 0, 1)) > 0.25
    assert psi(ref, rng.beta(5, 2, 5_000)) > 2  # the mirror image: a very large shift
    assert psi(ref, np.clip(ref + 0.1, 0, 1)) > psi(ref, np.clip(ref + 0.02, 0, 1))  # more shift, more PSI


def test_empty_bins_keep_the_psi_finite():
    ref = np.linspace(0, 1, 1000)
    everything_in_one_bin = np.full(200, 0.99)
    value = psi(ref, everything_in_one_bin)
    assert math.isfinite(value) and value > 1
    constant = np.full(100, 0.5)  # tied quantiles merge into fewer bins
    assert math.isfinite(psi(constant, ref)) and psi(constant, constant) == pytest.approx(0.0)


def test_the_psi_needs_scores_on_both_sides():
    with pytest.raises(ValueError):
        psi([], [0.1, 0.2])


def test_small_samples_get_fewer_bins_and_a_test_that_holds_its_level():
    rng = np.random.default_rng(5)
    assert psi_test(rng.beta(2, 8, 1000), rng.beta(2, 8, 34))[2] == 6
    assert psi_test(rng.beta(2, 8, 1000), rng.beta(2, 8, 500))[2] == 10
    p_values = [psi_test(rng.beta(2, 8, 120), rng.beta(2, 8, 30))[1] for _ in range(2000)]
    assert np.mean(np.array(p_values) < 0.01) < 0.02  # no change: about 1 % false alerts, not more
    value, p, _ = psi_test(rng.beta(2, 8, 120), rng.beta(5, 5, 30))
    assert value > 0.25 and p < 1e-6


def test_the_usual_reading_of_the_psi():
    assert [psi_level(v) for v in (0.02, 0.1, 0.25, 0.31, None)] == [
        "stable", "moderate", "moderate", "significant", None]


def test_the_chi_square_tail_and_the_z_test():
    assert chi2_sf(3.841458820694124, 1) == pytest.approx(0.05, rel=1e-9)
    assert chi2_sf(16.918977604620448, 9) == pytest.approx(0.05, rel=1e-9)
    assert chi2_sf(0, 9) == 1.0
    z, p = two_proportion_z(30, 100, 30, 100)
    assert z == 0 and p == 1
    z, p = two_proportion_z(60, 100, 100, 400)  # 60 % vs 25 %
    assert z > 6 and p < 1e-6
    assert two_proportion_z(0, 0, 5, 10) == (0.0, 1.0)


MONDAY = date(2026, 11, 2)


def _scores(office: str, week: int, values, version: int | None = 1) -> list[ScoreRow]:
    at = datetime.combine(MONDAY + timedelta(weeks=week), datetime.min.time()) + timedelta(hours=10)
    return [ScoreRow(office, at + timedelta(minutes=i), float(v), version) for i, v in enumerate(values)]


def _results(office: str, week: int, inspected: int, hits: int) -> list[ResultRow]:
    at = datetime.combine(MONDAY + timedelta(weeks=week), datetime.min.time()) + timedelta(hours=12)
    return [ResultRow(office, at, i < hits) for i in range(inspected)]


def test_a_shifted_office_alerts_and_a_steady_one_does_not():
    rng = np.random.default_rng(2)
    scores = []
    for w in range(5):
        scores += _scores("0101", w, rng.beta(2, 8, 300) + (0.3 if w == 4 else 0))
        scores += _scores("0202", w, rng.beta(2, 8, 300))
    weeks = [MONDAY + timedelta(weeks=4)]
    out = {r.office_code: r for r in weekly_drift(scores, [], weeks)}
    assert out["0101"].alert and out["0101"].reasons == ("scores",) and out["0101"].psi_level == "significant"
    assert not out["0202"].alert and out["0202"].psi_level == "stable"
    assert out["0101"].n == 300 and out["0101"].reference_n == 1200


def test_a_tiny_office_does_not_alert_on_noise():
    rng = np.random.default_rng(3)
    scores = []
    for w in range(5):
        scores += _scores("0303", w, rng.beta(2, 8, 35))
    results = _results("0303", 4, 3, 3) + [r for w in range(4) for r in _results("0303", w, 3, 0)]
    (row,) = weekly_drift(scores, results, [MONDAY + timedelta(weeks=4)])
    assert row.hit_rate == 1.0 and row.reference_hit_rate == 0.0  # a huge change on 3 inspections ...
    assert row.hit_rate_p is None  # ... is not tested
    assert not row.alert  # and the PSI of 35 against 140 scores does not pass its chi-square test
    assert row.psi is not None and (row.psi_p or 0) >= 0.01


def test_a_significant_hit_rate_drop_alerts():
    results = _results("0101", 4, 200, 10) + [r for w in range(4) for r in _results("0101", w, 200, 60)]
    (row,) = weekly_drift([], results, [MONDAY + timedelta(weeks=4)])
    assert row.hit_rate == pytest.approx(0.05) and row.reference_hit_rate == pytest.approx(0.30)
    assert row.hit_rate_change == pytest.approx(-0.25) and row.reasons == ("hit_rate",) and row.alert


def test_a_new_model_version_is_not_drift():
    rng = np.random.default_rng(4)
    scores = [s for w in range(4) for s in _scores("0101", w, rng.beta(2, 8, 200), version=1)]
    scores += _scores("0101", 4, rng.beta(8, 2, 200), version=2)  # promoted: scores differ on purpose
    (row,) = weekly_drift(scores, [], [MONDAY + timedelta(weeks=4)])
    assert row.model_version == 2 and row.reference_n == 0 and row.psi is None and not row.alert


# -- over the store (SQLite and PostgreSQL): the service functions the dashboard, the API and the rules page read
def test_the_stored_drift_alerts_on_the_shifted_office_only(world):
    from smartcustoms.risk.targeting import service
    from tests.web.test_analyst_pages import DRIFTED, NOW_N, STEADY, WEEK_N, seed_history

    seed_history(world)
    with world.platform.sessions() as s:
        rows = service.drift(s, weeks=5)
    assert [(r.office_code, r.reasons) for r in rows if r.alert] == [(DRIFTED, ("scores",))]
    latest = max(r.week for r in rows)
    now = {r.office_code: r for r in rows if r.week == latest}
    assert (now[DRIFTED].n, now[DRIFTED].reference_n) == (NOW_N, 4 * WEEK_N)
    assert now[STEADY].inspected > 0 and now[STEADY].reference_hit_rate is not None
    first = min(r.week for r in rows)
    assert all(r.psi is None for r in rows if r.week == first)  # nothing before the first week: no reference


def test_a_backtest_counts_what_the_criteria_select(world):
    from smartcustoms.core.errors import ValidationProblem
    from smartcustoms.declarations.models import Declaration, GoodsItem
    from smartcustoms.inspection.models import InspectionResult
    from smartcustoms.risk.targeting import service
    from smartcustoms.risk.targeting.schemas import RuleIn
    from tests.web.test_analyst_pages import seed_history

    seed_history(world)

    def rule(*criteria) -> RuleIn:
        return RuleIn(name="trial", criteria=list(criteria), lane="red")

    with world.platform.sessions() as s:
        tiles = service.backtest_rule(s, rule({"field": "hs_code", "op": "prefix", "value": ["6907"]}), days=15)
        since = tiles.since
        window = (Declaration.lodged_at >= since) & Declaration.customs_value_cny.is_not(None)
        tiles_ids = select(GoodsItem.declaration_id).where(GoodsItem.hs_code.like("6907%"))
        total = s.scalar(select(func.count()).select_from(Declaration).where(window))
        matched = s.scalar(select(func.count()).select_from(Declaration).where(window, Declaration.id.in_(tiles_ids)))
        offences = s.scalar(select(func.count()).select_from(Declaration)
                            .join(InspectionResult, InspectionResult.declaration_id == Declaration.id)
                            .where(window, Declaration.id.in_(tiles_ids), InspectionResult.outcome == "offence"))
        assert (tiles.declarations, tiles.matched, tiles.matched_offences) == (total, matched, offences)
        assert 0 < tiles.matched < tiles.declarations < 240  # 15 days: the older weeks are left out
        # a model feature (computed point-in-time), a declaration-level extra and the importer's credit grade
        everything = service.backtest_rule(s, rule({"field": "importer_hs6_count", "op": "ge", "value": 0},
                                                   {"field": "currency", "op": "eq", "value": "USD"},
                                                   {"field": "credit_grade", "op": "ne", "value": "discredited"},
                                                   {"field": "unit_value", "op": "gt", "value": 0}), days=15)
        assert everything.matched == everything.declarations == total
        assert everything.hit_rate == everything.overall_hit_rate
        nothing = service.backtest_rule(s, rule({"field": "customs_value", "op": "gt", "value": 1e12}))
        assert (nothing.matched, nothing.hit_rate) == (0, None)
        with pytest.raises(ValidationProblem) as bad:
            service.backtest_rule(s, rule({"field": "no_such_field", "op": "eq", "value": 1}))
        assert bad.value.errors[0].field == "criteria[0].field"


def test_a_rules_history_is_its_audited_saves(world):
    from smartcustoms.core.db import transaction
    from smartcustoms.risk.targeting import service
    from smartcustoms.risk.targeting.schemas import RuleIn
    from tests.support import SYSTEM

    first = RuleIn(name="tiles", criteria=[{"field": "hs_code", "op": "prefix", "value": ["6907"]}], lane="red")
    with transaction(world.platform.sessions) as s:
        saved = service.save_rule(s, first, SYSTEM)
    with transaction(world.platform.sessions) as s:
        service.save_rule(s, first.model_copy(update={"lane": "yellow", "target_rate": 0.5}),
                          world.principals["analyst"], saved.id)
    with world.platform.sessions() as s:
        history = service.rule_history(s, saved.id)
        assert service.stored_rule(s, saved.id).lane == "yellow"
    assert [(h["by"], h["definition"]["lane"], h["definition"]["target_rate"]) for h in history] == [
        ("analyst", "yellow", 0.5), (SYSTEM.username, "red", 1.0)]


def test_the_backtest_and_drift_routes_are_for_analysts_and_name_bad_fields(client, world):
    def key(user: str) -> dict[str, str]:
        return {"X-API-Key": world.keys[user]}

    tiles = {"name": "tiles", "criteria": [{"field": "hs_code", "op": "prefix", "value": ["6907"]}], "lane": "red"}
    r = client.post("/api/v1/risk/rules/backtest?days=30", headers=key("analyst"), json=tiles)
    assert r.status_code == 200 and r.json()["matched"] == 0 and r.json()["hit_rate"] is None  # nothing lodged yet
    bad = {**tiles, "criteria": [{"field": "colour", "op": "eq", "value": "red"}]}
    r = client.post("/api/v1/risk/rules/backtest", headers=key("analyst"), json=bad)
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["errors"][0]["field"] == "criteria[0].field"
    r = client.post("/api/v1/risk/rules/backtest?days=0", headers=key("analyst"), json=tiles)
    assert r.status_code == 422
    assert client.get("/api/v1/risk/rules/999/backtest", headers=key("analyst")).status_code == 404
    for user in ("officer", "trader"):
        assert client.post("/api/v1/risk/rules/backtest", headers=key(user), json=tiles).status_code == 403
        assert client.get("/api/v1/risk/drift", headers=key(user)).status_code == 403
    assert client.get("/api/v1/risk/drift", headers=key("analyst")).json() == []
    assert client.get("/api/v1/risk/drift?weeks=53", headers=key("analyst")).status_code == 422
