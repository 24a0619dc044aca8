"""Retail-import tax, worked by hand (Decimal, rounded to the fen)."""

from __future__ import annotations

from decimal import Decimal as D

from smartcustoms.tax.retail import Rates, RateTable, TaxItem, assess

TABLE = RateTable({"3304": Rates(D("0.10"), D("0.15"), D("0.13"))}, default=Rates(D("0.10"), D("0"), D("0.13")))


def test_plain_goods_pay_70_percent_of_vat_only():
    # 100 x 13 % x 0.7 = 9.10
    t = assess([TaxItem("6109100022", D("100"), D(1))], D(0), D(0), TABLE)
    assert (t.regime, t.tariff, t.consumption, t.vat, t.total) == ("cbec", D("0.00"), D("0.00"), D("9.10"), D("9.10"))


def test_cosmetics_pay_consumption_tax_and_vat_at_70_percent():
    # ct = 200 / 0.85 x 0.15 = 35.294117... x 0.7 = 24.705882 -> 24.71
    # vat = (200 + 35.294117) x 0.13 = 30.588235 x 0.7 = 21.411764 -> 21.41
    t = assess([TaxItem("3304990099", D("200"), D(1))], D(0), D(0), TABLE)
    assert (t.consumption, t.vat, t.total) == (D("24.71"), D("21.41"), D("46.12"))


def test_freight_and_insurance_are_part_of_the_dutiable_price():
    # 300 + 100 goods, 15 freight + 5 insurance -> 420; 420 x 0.13 x 0.7 = 38.22
    t = assess([TaxItem("6109100022", D("300"), D(1)), TaxItem("9503008900", D("100"), D(1))], D(15), D(5), TABLE)
    assert (t.dutiable, t.total) == (D("420.00"), D("38.22"))


def test_sample_parcel_tax():
    # 300 cream + 10 freight = 310: ct 54.705882 x 0.7 = 38.29; vat 47.411765 x 0.7 = 33.19; total 71.48
    t = assess([TaxItem("3304990099", D("300"), D(2))], D(10), D(0), TABLE)
    assert (t.consumption, t.vat, t.total) == (D("38.29"), D("33.19"), D("71.48"))


def test_single_item_over_5000_pays_full_general_trade_tax():
    # 6000: tariff 600; ct = 6600 / 0.85 x 0.15 = 1164.705882 -> 1164.71; vat = 7764.705882 x 0.13 = 1009.41
    t = assess([TaxItem("3304990099", D("6000"), D(1))], D(0), D(0), TABLE)
    assert (t.regime, t.tariff, t.consumption, t.vat, t.total) == (
        "general", D("600.00"), D("1164.71"), D("1009.41"), D("2774.12"))


def test_several_items_over_5000_are_over_the_single_transaction_limit():
    t = assess([TaxItem("3304990099", D("5200"), D(2))], D(0), D(0), TABLE)
    assert t.regime == "over_limit"


def test_exactly_5000_is_still_within_the_limit():
    assert assess([TaxItem("6109100022", D("4990"), D(5))], D(10), D(0), TABLE).regime == "cbec"
