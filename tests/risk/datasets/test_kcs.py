"""The KCS adapter maps the public CSV format to the canonical item frame and names bad input."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from smartcustoms.risk.datasets.kcs import KcsFormatError, read_kcs

HEADER = (
    "Declaration ID,Date,Office ID,Process Type,Import Type,Import Use,Payment Type,Mode of Transport,"
    "Declarant ID,Importer ID,Seller ID,Courier ID,HS6 Code,Country of Departure,Country of Origin,Tax Rate,"
    "Tax Type,Country of Origin Indicator,Net Mass,Item Price,Fraud,Critical Fraud"
)
ROWS = [
    "85945189,2020-01-02,40,B,11,21,11,40,SWF9S4X,7JD1S2X,8WDKMC6,,690722,CN,CN,8.0,A,Y,11352.0,375751.2,1,2",
    "97061800,2020-01-01,30,B,11,21,11,10,ZZR1LT6,QLRUBN9,0VKY2BR,,44089,BE,BE,0.0,FEU1,G,108.0,372254.4,0,0",
]


def _write(tmp_path, lines):
    path = tmp_path / "kcs.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_kcs_rows_become_time_sorted_one_item_declarations(tmp_path):
    frame = read_kcs(_write(tmp_path, [HEADER, *ROWS]))
    assert frame["declaration_no"].to_list() == ["97061800", "85945189"]
    first, second = frame.row(0, named=True), frame.row(1, named=True)
    assert first["hs_code"] == "044089"  # zero-padded to six digits
    assert first["courier_code"] is None and first["item_no"] == 1
    assert second["importer_code"] == "7JD1S2X" and second["declarant_code"] == "SWF9S4X"
    assert second["customs_value"] == 375751.2 and second["tax_rate"] == 8.0
    assert (second["offence"], second["critical"]) == (1, 2)
    assert second["duty_recovered"] == pytest.approx(375751.2 * 0.08)
    assert second["declared_at"] == datetime(2020, 1, 2)
    assert second["outcome_at"] == datetime(2020, 1, 2) + timedelta(days=7)


def test_missing_column_is_named(tmp_path):
    path = _write(tmp_path, [HEADER.replace(",Item Price", ""), ROWS[0].replace(",375751.2", "")])
    with pytest.raises(KcsFormatError, match=r"kcs\.csv:1: missing column\(s\) 'Item Price'"):
        read_kcs(path)


def test_bad_value_names_file_line_and_column(tmp_path):
    bad = ROWS[1].replace("108.0", "heavy")
    with pytest.raises(KcsFormatError, match=r"kcs\.csv:3: column 'Net Mass': not a number \(got 'heavy'\)"):
        read_kcs(_write(tmp_path, [HEADER, ROWS[0], bad]))


def test_bad_label_and_date_are_rejected(tmp_path):
    with pytest.raises(KcsFormatError, match=r":2: column 'Fraud'"):
        read_kcs(_write(tmp_path, [HEADER, ROWS[0].replace(",1,2", ",7,2")]))
    with pytest.raises(KcsFormatError, match=r":2: column 'Date'"):
        read_kcs(_write(tmp_path, [HEADER, ROWS[0].replace("2020-01-02", "02/01/2020")]))


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(KcsFormatError, match="file not found"):
        read_kcs(tmp_path / "absent.csv")
