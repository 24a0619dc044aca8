"""Tax formulas, each checked against a hand-worked example (amounts in CNY, rounded to fen)."""

from datetime import date
from decimal import Decimal as D

import pytest

from smartcustoms.tax.service import (
    TARIFF_COLUMNS,
    ExchangeRates,
    TableFormatError,
    TariffRates,
    TariffTable,
    TaxableItem,
    TaxError,
    assess,
    consumption_tax,
    customs_value,
    duty,
    import_vat,
    levy_quantity,
    load_tariff,
    parse_tariff_csv,
    to_fen,
)


def test_cif_price_is_the_customs_value():
    assert customs_value(D("10000"), "CIF", D("500"), None) == D("10000")


def test_fob_adds_freight_and_three_per_mille_insurance_when_unknown():
    # (10 000 + 500) × 1.003 = 10 531.50
    assert customs_value(D("10000"), "FOB", D("500"), None) == D("10531.500")


def test_fob_with_known_insurance_adds_it_as_declared():
    assert customs_value(D("10000"), "FOB", D("500"), D("40")) == D("10540")


def test_cfr_adds_only_insurance():
    # 10 000 × 1.003 = 10 030
    assert customs_value(D("10000"), "CFR", D("999"), None) == D("10030.000")


def test_unknown_incoterm_is_an_error_naming_the_field():
    with pytest.raises(TaxError) as exc:
        customs_value(D("1"), "XYZ", D("0"), None)
    assert exc.value.field == "incoterm"


def test_ad_valorem_duty():
    rates = TariffRates("6907", duty_type="ad_valorem", duty_rate=D("0.09"))
    assert duty(D("70000.00"), D("0"), rates) == D("6300.00")


def test_specific_duty_is_per_unit():
    rates = TariffRates("0201", duty_type="specific", duty_specific=D("1.52"))
    assert duty(D("99999"), D("1000"), rates) == D("1520.00")


def test_composite_duty_adds_both_parts():
    # 10 000 × 5 % + 300 × 2 = 500 + 600
    rates = TariffRates("8528", duty_type="composite", duty_rate=D("0.05"), duty_specific=D("2"))
    assert duty(D("10000"), D("300"), rates) == D("1100.00")


def test_ad_valorem_consumption_tax_uses_the_vat_inclusive_base():
    # cosmetics: (10 000 + 500) / (1 − 15 %) × 15 % = 1 852.941… → 1 852.94
    rates = TariffRates("3304", ct_type="ad_valorem", ct_rate=D("0.15"))
    assert consumption_tax(D("10000"), D("500"), D("0"), rates) == D("1852.94")


def test_specific_consumption_tax():
    # petrol: 1 000 litres × 1.52 CNY
    rates = TariffRates("2710", ct_type="specific", ct_specific=D("1.52"))
    assert consumption_tax(D("5000"), D("300"), D("1000"), rates) == D("1520.00")


def test_composite_consumption_tax_on_spirits():
    # (10 000 + 1 000 + 100 × 1) / (1 − 20 %) × 20 % + 100 × 1 = 2 775 + 100
    rates = TariffRates("2208", ct_type="composite", ct_rate=D("0.20"), ct_specific=D("1"))
    assert consumption_tax(D("10000"), D("1000"), D("100"), rates) == D("2875.00")


def test_import_vat_is_on_value_plus_duty_plus_consumption_tax():
    # (10 000 + 1 000 + 2 875) × 13 % = 1 803.75
    assert import_vat(D("10000"), D("1000"), D("2875"), D("0.13")) == D("1803.75")


def test_rounding_is_half_up_to_the_fen():
    assert to_fen(D("0.125")) == D("0.13")
    assert to_fen(D("0.124999")) == D("0.12")


def test_no_consumption_tax_when_the_line_has_none():
    assert consumption_tax(D("10000"), D("1000"), D("1"), TariffRates("84")) == D("0")


def test_specific_rate_per_kilogram_uses_net_mass():
    assert levy_quantity("035", D("12"), "007", D("3.5")) == D("3.5")
    with pytest.raises(TaxError):
        levy_quantity("095", D("12"), "007", D("3.5"))


def test_declaration_assessment_allocates_freight_and_insurance_pro_rata():
    # FOB 6 000 + 4 000 USD, freight 500, insurance 30.15, at 7.0 CNY per USD, duty 10 %, VAT 13 %
    tariff = TariffTable.from_rows([TariffRates("69", duty_rate=D("0.10"), vat_rate=D("0.13"))])
    items = [TaxableItem(1, "6907220000", D("1"), "035", D("1"), D("6000")),
             TaxableItem(2, "6907220000", D("1"), "035", D("1"), D("4000"))]
    a = assess(items, incoterm="FOB", freight=D("500"), insurance=D("30.15"), cny_per_unit=D("7"), tariff=tariff)
    # item 1: (6 000 + 300 + 18.09) × 7 = 44 226.63; duty 4 422.66; VAT (44 226.63 + 4 422.66) × 13 % = 6 324.41
    assert a.items[0].customs_value == D("44226.63")
    assert a.items[0].duty == D("4422.66")
    assert a.items[0].vat == D("6324.41")
    # item 2: (4 000 + 200 + 12.06) × 7 = 29 484.42
    assert a.items[1].customs_value == D("29484.42")
    assert a.total == sum((i.duty + i.consumption_tax + i.vat for i in a.items), D(0))


def test_item_without_a_tariff_line_names_the_item():
    with pytest.raises(TaxError) as exc:
        assess([TaxableItem(1, "0101210000", D("1"), "007", D("1"), D("1"))], incoterm="CIF", freight=D(0),
               insurance=None, cny_per_unit=D(1), tariff=TariffTable())
    assert exc.value.field == "items[0].hs_code"


def test_longest_prefix_tariff_line_applies():
    t = load_tariff()
    assert t.rates_for("2208300000").ct_type == "composite"
    assert t.rates_for("2201100000").hs_prefix == "22"
    assert t.rates_for("0101210000") is None


def test_exchange_rate_in_force_on_the_date():
    r = ExchangeRates()
    r.add("USD", date(2025, 1, 1), D("7.18"))
    r.add("USD", date(2020, 1, 1), D("7.0"))
    assert r.rate("USD", date(2024, 12, 31)) == D("7.0")
    assert r.rate("USD", date(2025, 1, 1)) == D("7.18")
    assert r.rate("CNY", date(2025, 1, 1)) == D(1)
    with pytest.raises(TaxError):
        r.rate("USD", date(2019, 1, 1))


def test_tariff_csv_errors_name_line_and_column():
    header = ",".join(TARIFF_COLUMNS)
    with pytest.raises(TableFormatError, match="line 3, column duty_rate"):
        parse_tariff_csv(f"{header}\n69,Ceramics,ad_valorem,9,,,none,,,,13\n70,Glass,ad_valorem,ten,,,none,,,,13")
    with pytest.raises(TableFormatError, match="line 2, column hs_prefix"):
        parse_tariff_csv(f"{header}\n6x,Ceramics,ad_valorem,9,,,none,,,,13")
    with pytest.raises(TableFormatError, match="missing column"):
        parse_tariff_csv("hs_prefix,description\n69,x")
