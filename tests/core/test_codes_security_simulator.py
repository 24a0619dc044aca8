"""Code lists, credentials, and the seeded simulator."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from smartcustoms.codes import code_lists
from smartcustoms.core.security import api_key_digest, api_key_prefix, hash_password, new_api_key, verify_password
from smartcustoms.declarations.schemas import DeclarationIn
from smartcustoms.declarations.service import validate
from smartcustoms.simulate import DeclarationSimulator
from smartcustoms.simulate.declarations import MISCLASSIFY, PROHIBITED_HS


def test_chinese_ten_digit_code_is_valid_when_its_subheading_is():
    c = code_lists()
    assert c.is_valid_hs("6907220000") and c.is_valid_hs("690722") and c.is_valid_hs("69072200")
    assert not c.is_valid_hs("6907990000")  # 6907.99 is not an HS 2022 subheading
    assert not c.is_valid_hs("9999990000") and not c.is_valid_hs("69072")


def test_countries_currencies_and_national_lists():
    c = code_lists()
    assert c.country_alpha2("CHN") == "CN" and c.country_alpha2("es") == "ES" and c.country_alpha2("XX") is None
    assert c.is_valid_currency("CNY") and not c.is_valid_currency("XYZ")
    assert {"0110", "0214", "0615", "1210", "1239", "4561", "9610", "9710", "9810"} <= set(c.trade_modes)
    assert c.trade_modes["9610"].name_zh == "电子商务"
    assert c.is_valid_transport_mode("5") and c.is_valid_unit("035") and c.is_valid_office("2248")


def test_api_keys_are_stored_as_digests_and_passwords_as_scrypt():
    key, prefix, digest = new_api_key()
    assert api_key_prefix(key) == prefix and api_key_digest(key) == digest and key not in digest
    assert api_key_prefix("not-a-key") is None
    stored = hash_password("correct horse")
    assert stored.startswith("scrypt$") and "correct horse" not in stored
    assert verify_password("correct horse", stored) and not verify_password("wrong", stored)
    assert not verify_password("x", "garbage")


def test_simulator_is_seeded_and_its_declarations_are_valid():
    a = DeclarationSimulator(5).generate(300, datetime(2026, 1, 1), datetime(2026, 2, 1))
    b = DeclarationSimulator(5).generate(300, datetime(2026, 1, 1), datetime(2026, 2, 1))
    assert [x.payload for x in a] == [x.payload for x in b]
    codes = code_lists()
    for sim in a:
        assert validate(DeclarationIn.model_validate(sim.payload), codes, datetime(2026, 2, 2)) == []


def test_simulated_offences_hide_the_truth_they_are_labelled_with():
    sims = DeclarationSimulator(9, offence_rate=0.3).generate(3000, datetime(2026, 1, 1), datetime(2026, 3, 1))
    kinds = {s.offence for s in sims if s.offending}
    assert kinds == {"undervaluation", "misclassification", "false_origin", "quantity", "prohibited"}
    for s in sims:
        first = s.payload["items"][0]
        if s.offence == "undervaluation":
            assert Decimal(first["unit_price"]) < Decimal(str(s.truth["unit_price"]))
        elif s.offence == "misclassification":
            assert MISCLASSIFY[s.truth["hs_code"]][0] == first["hs_code"]
        elif s.offence == "false_origin":
            assert first["origin_country"] != s.truth["origin_country"]
        elif s.offence == "quantity":
            assert Decimal(first["quantity"]) < Decimal(str(s.truth["quantity"]))
        elif s.offence == "prohibited":
            assert first["hs_code"] in PROHIBITED_HS and s.critical
    rate = sum(s.offending for s in sims) / len(sims)
    assert 0.05 < rate < 0.6
