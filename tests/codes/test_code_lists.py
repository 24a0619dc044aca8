"""Code lists: HS codes at the national ten digits, countries, currencies and the national lists."""

from __future__ import annotations

from smartcustoms.codes import code_lists


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
