"""The tariff table: rates are range-checked, every problem named by line and column, a bad upload keeps the
table."""

from __future__ import annotations

import pytest

from smartcustoms.tax.service import TARIFF_COLUMNS, TableFormatError, parse_tariff_csv
from tests.support import assert_problem
from tests.support import key_header as h

HEADER = ",".join(TARIFF_COLUMNS)
GOOD_LINE = "69,Ceramic products,ad_valorem,9,,,none,,,,13"




# -- 15: tariff rates are range-checked --------------------------------------------------------------------
@pytest.mark.parametrize(("line", "column"), [
    ("69,Ceramics,ad_valorem,-500,,,none,,,,13", "duty_rate"),
    ("69,Ceramics,ad_valorem,NaN,,,none,,,,13", "duty_rate"),
    ("69,Ceramics,ad_valorem,Infinity,,,none,,,,13", "duty_rate"),
    ("69,Ceramics,ad_valorem,1001,,,none,,,,13", "duty_rate"),
    ("69,Ceramics,specific,,-1,035,none,,,,13", "duty_specific"),
    ("69,Ceramics,ad_valorem,9,,,ad_valorem,100,,,13", "ct_rate"),
    ("69,Ceramics,ad_valorem,9,,,none,,,,-13", "vat_rate"),
    ("69,Ceramics,ad_valorem,9,,kilogram,none,,,,13", "duty_unit"),
])
def test_a_tariff_rate_out_of_range_names_its_line_and_column(line, column):
    with pytest.raises(TableFormatError, match=f"line 3, column {column}") as err:
        parse_tariff_csv(f"{HEADER}\n{GOOD_LINE.replace('69', '70', 1)}\n{line}")
    assert err.value.problems[0][:2] == (3, column)


def test_the_tariff_upload_refuses_bad_rates_field_by_field_and_keeps_the_table(client, world):
    before = client.get("/api/v1/tariff/6907220000", headers=h(world, "trader")).json()
    table = "\n".join([HEADER, GOOD_LINE, "70,Glass,ad_valorem,-500,,,none,,,,13",
                       "71,Pearls,ad_valorem,NaN,,,none,,,,13", "69,Twice,ad_valorem,9,,,none,,,,13"])
    body = assert_problem(client.put("/api/v1/tariff", content=table, headers=h(world, "admin")), 422)
    assert [e["field"] for e in body["errors"]] == ["line[3].duty_rate", "line[4].duty_rate", "line[5].hs_prefix"]
    assert client.get("/api/v1/tariff/6907220000", headers=h(world, "trader")).json() == before
    r = client.put("/api/v1/tariff", content=f"{HEADER}\n{GOOD_LINE}", headers=h(world, "admin"))
    assert r.status_code == 200 and r.json() == {"lines": 1}
    assert client.get("/api/v1/tariff/6907220000", headers=h(world, "trader")).json()["duty_rate"] == "0.09"
