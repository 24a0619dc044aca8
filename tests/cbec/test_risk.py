"""Parcels through the risk engine's selectivity: stored rules, office budgets, credit grades, exploration."""

from __future__ import annotations

import random
from collections import Counter
from decimal import Decimal

import numpy as np

from smartcustoms.cbec.ceb.parse import parse_message
from smartcustoms.cbec.ceb.spec import INVENTORY
from smartcustoms.cbec.simulate import make_parcel
from smartcustoms.cbec.store import Store
from smartcustoms.core.db import make_engine, session_factory, transaction
from smartcustoms.core.security import SYSTEM
from smartcustoms.enterprises.schemas import CreditGrade, EnterpriseIn, EnterpriseRole
from smartcustoms.enterprises.service import create_enterprise
from smartcustoms.risk.parcels.scoring import ParcelCase, ParcelFeatures
from smartcustoms.risk.parcels.selectivity import ParcelRiskEngine
from smartcustoms.risk.targeting.policy import SelectivityConfig
from smartcustoms.risk.targeting.rules import DECLARATION_FIELDS, PARCEL_FIELDS, compile_rule, validate_rule
from smartcustoms.risk.targeting.schemas import RuleIn
from smartcustoms.risk.targeting.service import save_rule
from tests.cbec.test_pipeline import CREAM, parcel, run, status_of, xml

TSHIRT = ("6109100022", "T-shirt", "011")
QUIET = ParcelFeatures(0, 1, 1, 0.05, 1.0, 0.0, 0.0, 0.0)        # nothing fires: score 0
SPLIT = ParcelFeatures(0, 6, 4, 0.05, 1.0, 0.0, 0.0, 0.0)        # split orders: score 0.70


def _save_rules(url: str, *rules: RuleIn) -> None:
    eng = make_engine(url)
    with transaction(session_factory(eng)) as s:
        for r in rules:
            save_rule(s, r, SYSTEM)
    eng.dispose()


def _enterprises(url: str, grades: dict[str, CreditGrade]) -> None:
    eng = make_engine(url)
    with transaction(session_factory(eng)) as s:
        for code, grade in grades.items():
            create_enterprise(s, EnterpriseIn(code=code, name=f"Seller {code}", roles=[EnterpriseRole.IMPORTER],
                                              credit_grade=grade), SYSTEM)
    eng.dispose()


def _inventory(order_no: str, ebc: str = "3120960001", office: str = "2244", hs=CREAM):
    docs = make_parcel(order_no, rng=random.Random(order_no), items=[(*hs, Decimal("150.00"), 1)])
    docs[INVENTORY][1].update(ebcCode=ebc, customsCode=office)
    return parse_message(xml(docs, INVENTORY))[0]


def _cases(n: int, features, ebc: str = "3120960001", office: str = "2244", prefix: str = "R") -> list[ParcelCase]:
    out = []
    for i in range(n):
        f = features(i) if callable(features) else features
        out.append(ParcelCase(("1101980001", f"{prefix}{i:06d}"), _inventory(f"{prefix}{i:06d}", ebc, office),
                              f, 150.0))
    return out


def test_parcel_selection_and_outcome_codes_are_the_ceb_statuses():
    """risk's parcel codes (risk imports no cbec) are the CEB622 status numbers cbec passes through."""
    from smartcustoms.cbec.ceb import statuses
    from smartcustoms.risk.parcels import scoring

    assert (scoring.RELEASE, scoring.MANUAL_REVIEW, scoring.INSPECTION) == (
        statuses.RELEASED, statuses.MANUAL_REVIEW, statuses.INSPECTION)
    assert {statuses.RELEASED} == scoring.CLEAN_STATUSES
    assert all(statuses.INSPECTION < s < statuses.INSPECTION + 100 for s in scoring.HIT_STATUSES)  # 5xx: detained


def test_rules_may_read_exactly_the_parcel_features():
    from smartcustoms.risk.targeting.rules import PARCEL_FEATURE_NAMES

    assert set(ParcelFeatures._fields) == PARCEL_FEATURE_NAMES


def test_a_mandatory_rule_from_the_rule_table_holds_every_parcel_it_matches(engine, db_url):
    _save_rules(db_url, RuleIn(name="Counterfeit cosmetics", description="alert 2026-17 on face creams",
                               criteria=[{"field": "hs_code", "op": "prefix", "value": ["3304"]}],
                               lane="red", mandatory=True),
                RuleIn(name="Declaration mass check", criteria=[{"field": "net_mass_kg", "op": "gt", "value": 0}],
                       lane="yellow", mandatory=True))
    engine.warm_start()
    cream, shirt = parcel("C1", hs=CREAM), parcel("T1", hs=TSHIRT)
    run(engine, *(xml(cream, k) for k in cream), *(xml(shirt, k) for k in shirt))
    status, info = status_of(engine, "C1")
    assert status == 500 and "mandatory hold, rule 'Counterfeit cosmetics' (physical inspection)" in info
    assert "alert 2026-17" in info
    # the T-shirt matches no parcel rule; the mass rule reads a field parcels do not have: not applied
    assert status_of(engine, "T1") == (800, "released")


def test_a_rule_over_parcel_features_holds_split_orders_and_is_for_parcels_only(engine, db_url):
    rule = RuleIn(name="Shared telephone", description="several buyers, one phone",
                  criteria=[{"field": "buyers_at_phone", "op": "ge", "value": 2}], lane="yellow", mandatory=True)
    assert validate_rule(rule) == []
    compiled = compile_rule(1, rule)
    assert compiled.applies_to(PARCEL_FIELDS) and not compiled.applies_to(DECLARATION_FIELDS)
    _save_rules(db_url, rule)
    engine.warm_start()
    for i in range(3):
        p = parcel(f"P{i}", buyer=(f"11010119900307{i:04d}", f"买家{i}", "13811112222", f"杭州市{i}号"), hs=TSHIRT)
        run(engine, *(xml(p, k) for k in p))
    assert status_of(engine, "P0")[0] == 800
    status, info = status_of(engine, "P2")
    assert status == 300 and "rule 'Shared telephone' (document check)" in info


def test_a_rule_changed_while_the_pipeline_runs_applies_after_the_refresh(engine, db_url):
    first = parcel("F1", hs=CREAM)
    run(engine, *(xml(first, k) for k in first))
    assert status_of(engine, "F1")[0] == 800
    _save_rules(db_url, RuleIn(name="Cream alert", criteria=[{"field": "hs_code", "op": "eq", "value": "3304990099"}],
                               lane="blue", mandatory=True))
    engine.selectivity.refresh_s = 0.0  # due at once
    second = parcel("F2", hs=CREAM)
    run(engine, *(xml(second, k) for k in second))
    status, info = status_of(engine, "F2")
    assert status == 500 and "(scan)" in info


def test_a_sampled_rule_holds_its_target_share_and_the_same_parcels_on_every_process(db_url):
    _save_rules(db_url, RuleIn(name="Cosmetics sample", criteria=[{"field": "hs_code", "op": "prefix",
                                                                   "value": ["3304"]}],
                               lane="yellow", target_rate=0.3))
    cases = _cases(600, QUIET)
    picks = []
    for _process in range(2):  # another shard, or the same one after a restart
        sel = ParcelRiskEngine(SelectivityConfig(budget=0.05, exploration=0.0))
        with Store(db_url) as store:
            sel.refresh(store, force=True)
        picks.append({c.key for c, s in zip(cases, sel.select(cases), strict=True) if s.status == 300})
    assert picks[0] == picks[1]
    assert 0.22 < len(picks[0]) / len(cases) < 0.38


def test_an_office_budget_caps_holds_on_score_and_ranks_ties_at_random():
    sel = ParcelRiskEngine(SelectivityConfig(budget=0.05, exploration=0.0, office_budget={"5141": 0.20}))
    # every parcel is risky (score 0.70): the budget, not the score, decides how many are held
    busy = _cases(2000, SPLIT, office="2244", prefix="A")
    other = _cases(2000, SPLIT, office="5141", prefix="B")
    held = Counter()
    for batch in range(0, 2000, 250):
        for c, s in zip(busy[batch:batch + 250] + other[batch:batch + 250],
                        sel.select(busy[batch:batch + 250] + other[batch:batch + 250]), strict=True):
            if batch >= 500 and s.status != 800:  # ranked once each office has a window
                held[c.inventory.head["customsCode"]] += 1
                assert s.status == 500 and s.reasons[0].startswith("risk score 0.70, in the top")
                assert "different buyers at one delivery address" in s.reasons[1]
    assert 0.03 < held["2244"] / 1500 < 0.07
    assert 0.16 < held["5141"] / 1500 < 0.24


def test_aeo_enterprises_are_held_less_and_discredited_ones_more(db_url):
    _enterprises(db_url, {"1101960001": CreditGrade.ADVANCED_CERTIFIED, "1101960003": CreditGrade.DISCREDITED})
    sel = ParcelRiskEngine()
    with Store(db_url) as store:
        sel.refresh(store, force=True)

    def features(i: int) -> ParcelFeatures:  # one parcel in five flagged, at two levels of risk
        return SPLIT if i % 10 == 0 else ParcelFeatures(45, 1, 1, 0.95, 1.0, 0, 0, 0) if i % 10 == 5 else QUIET

    by_grade = {code: _cases(1500, features, ebc=code, prefix=code) for code in
                ("1101960001", "1101960002", "1101960003")}
    held, released_words = Counter(), []
    for start in range(0, 1500, 300):
        batch = [c for cases in by_grade.values() for c in cases[start:start + 300]]
        for c, s in zip(batch, sel.select(batch), strict=True):
            if start and s.status != 800:
                held[c.inventory.head["ebcCode"]] += 1
            elif start and s.reasons:
                released_words.append((c.inventory.head["ebcCode"], s.reasons))
    aeo, general, discredited = held["1101960001"], held["1101960002"], held["1101960003"]
    assert aeo < general / 2 and discredited > general * 2
    flagged_aeo = [r for code, r in released_words if code == "1101960001"]
    assert flagged_aeo and all("below the selection threshold" in r[0] for r in flagged_aeo)
    assert all("advanced-certified enterprise (AEO): reduced inspection rate" in r for r in flagged_aeo)


def test_exploration_holds_a_small_random_share_for_control():
    cases = _cases(6000, QUIET)
    counts = []
    for _process in range(2):
        sel = ParcelRiskEngine()  # budget 5 %, a tenth of it at random: about 0.52 % of quiet parcels
        chosen = [c.key for batch in range(0, 6000, 1000)
                  for c, s in zip(cases[batch:batch + 1000], sel.select(cases[batch:batch + 1000]), strict=True)
                  if s.status != 800]
        counts.append(chosen)
    assert counts[0] == counts[1]
    assert 12 <= len(counts[0]) <= 55


def test_a_released_flagged_parcel_of_an_aeo_seller_says_why_it_was_not_held(engine, db_url):
    address, phone = "上海市浦东新区1号", "13811113333"
    for i in range(5):  # five other buyers at this address and telephone before
        other = parcel(f"N{i}", hs=TSHIRT, buyer=(f"11010119900307{i:04d}", f"买家{i}", phone, address))
        run(engine, *(xml(other, k) for k in other))
    docs = parcel("AEO1", hs=TSHIRT, buyer=("110101199003075555", "李雷", phone, address))
    _enterprises(db_url, {docs[INVENTORY][1]["ebcCode"]: CreditGrade.ADVANCED_CERTIFIED})
    engine.selectivity.refresh(engine.store, force=True)
    # a ranked office window in which a third of the parcels were riskier: an AEO seller's is not held
    engine.selectivity.windows["2244"].add(np.array([0.75] * 700 + [0.0] * 1300))
    run(engine, *(xml(docs, k) for k in docs))
    status, info = status_of(engine, "AEO1")
    assert status == 800, info
    assert info.startswith("released: risk score 0.70 below the selection threshold at customs office 2244")
    assert "advanced-certified enterprise (AEO): reduced inspection rate" in info


def test_inspection_results_teach_the_parcel_score_about_an_enterprise(db_url):
    from smartcustoms.cbec.ceb.spec import ORDER
    from smartcustoms.cbec.service import CbecService
    from smartcustoms.core.config import CbecSettings

    _save_rules(db_url, RuleIn(name="Cream alert", criteria=[{"field": "hs_code", "op": "prefix", "value": ["3304"]}],
                               lane="red", mandatory=True))
    svc = CbecService(db_url, CbecSettings(deadline_s=60))

    def lodge(order_no: str, ebc: str, hs) -> tuple[int, str]:
        docs = parcel(order_no, hs=hs, buyer=(f"1101011990{abs(hash(order_no)) % 10**8:08d}", "张三",
                                              f"139{abs(hash(order_no)) % 10**8:08d}", f"广州市{order_no}号"))
        docs[ORDER][1]["ebcCode"] = docs[INVENTORY][1]["ebcCode"] = ebc
        svc.submit([xml(docs, k) for k in docs])
        return svc.parcel("1101980001", order_no)["status"], svc.parcel("1101980001", order_no)["info"]

    # twelve creams of one seller held by the rule; officers find an offence in five of them
    for i in range(12):
        assert lodge(f"H{i:02d}", "1101960009", CREAM)[0] == 500
        svc.set_status("1101980001", f"H{i:02d}", 502 if i < 5 else 800, "inspected", "officer1")
    status, info = lodge("NEXT1", "1101960009", TSHIRT)  # no rule matches a T-shirt: the history holds it
    assert status == 300
    assert "offences found in 42% of this e-commerce enterprise's inspected parcels" in info
    assert lodge("NEXT2", "1101960008", TSHIRT) == (800, "released")  # another seller: nothing learnt
    # a writer started afterwards (another process, another shard) reads the same results
    svc.close()
    again = CbecService(db_url, CbecSettings(deadline_s=60))
    assert again.engine.history.inspected["1101960009"] == [12, 5]
    again.close()


def test_rules_read_parcels_in_the_platform_s_codes_origin_in_iso_and_values_in_cny(db_url):
    _save_rules(db_url, RuleIn(name="Dear Japanese creams", lane="blue", mandatory=True,
                               criteria=[{"field": "origin_country", "op": "eq", "value": "JP"},
                                         {"field": "customs_value", "op": "gt", "value": 250},
                                         {"field": "office_code", "op": "eq", "value": "2244"},
                                         {"field": "trade_mode", "op": "in", "value": ["9610", "1210"]}]))
    sel = ParcelRiskEngine(SelectivityConfig(exploration=0.0))
    with Store(db_url) as store:
        sel.refresh(store, force=True)

    def case(order_no: str, country: str, price: str) -> ParcelCase:
        docs = make_parcel(order_no, rng=random.Random(order_no), items=[(*CREAM, Decimal(price), 1)])
        docs[INVENTORY][2][0]["country"] = country  # customs code (116 Japan, 502 United States) or ISO
        return ParcelCase(("1101980001", order_no), parse_message(xml(docs, INVENTORY))[0], QUIET, float(price))

    got = [s.status for s in sel.select([case("J1", "116", "300.00"), case("J2", "JP", "300.00"),
                                         case("J3", "116", "200.00"), case("U1", "502", "300.00")])]
    assert got == [500, 500, 800, 800]
