"""Bulk files: CSV records keep each item's line, problems are placed by row and column, one round of errors."""

from __future__ import annotations

import json

from smartcustoms.codes import code_lists
from smartcustoms.declarations.ingest import CSV_COLUMNS, csv_columns, csv_template, parse_csv, parse_jsonl
from smartcustoms.declarations.schemas import DeclarationIn
from smartcustoms.web.i18n import catalogue
from tests.cli.test_ingest import csv_text
from tests.support import declaration_payload


def test_the_template_parses_back_to_its_example():
    example = DeclarationIn.model_validate(declaration_payload())
    [record] = parse_csv(csv_template(example))
    assert record.errors == [] and record.declaration == example
    assert record.item_lines == [2, 3]


def test_a_quoted_value_over_two_lines_counts_both_lines():
    p = declaration_payload()
    p["items"][0]["description"] = "Glazed ceramic\nwall tiles"
    p["items"][1]["quantity"] = "-1"
    [record] = parse_csv(csv_text(p))
    assert record.item_lines == [2, 4]
    assert record.problems() == [(4, "item_quantity", "Input should be greater than 0")]


def test_rows_without_a_message_id_are_reported_in_line_order_with_the_others():
    a, b = declaration_payload(), declaration_payload()
    text = csv_text(a, b).splitlines()
    text[2] = text[2].replace(a["client_message_id"], "", 1)  # line 3 names no message
    records = list(parse_csv("\n".join(text)))
    assert [r.line for r in records] == [2, 3, 4]
    assert records[1].problems() == [(3, "client_message_id", "missing: each row names its message")]


def test_a_misspelt_or_unknown_column_is_refused_by_name_not_ignored():
    text = csv_text(declaration_payload())
    [record] = parse_csv(text.replace("item_hs_code", "item_hscode", 1))
    assert record.declaration is None
    assert [e.field for e in record.errors] == ["item_hs_code"]  # a required column is missing
    lines = text.splitlines()
    lines = [lines[0] + ",insurance_cny"] + [row + ",12" for row in lines[1:]]
    [record] = parse_csv("\n".join(lines))
    assert record.declaration is None
    assert record.problems() == [(1, "insurance_cny", "unknown column: see the column reference")]


def test_a_record_that_does_not_parse_gets_its_code_list_problems_in_the_same_round():
    codes = code_lists()
    p = declaration_payload(office_code="9999")
    del p["gross_mass_kg"]
    p["items"][1]["hs_code"] = "9999990000"
    [record] = parse_jsonl(json.dumps(p), codes)
    assert sorted(e.field for e in record.errors) == ["gross_mass_kg", "items[1].hs_code", "office_code"]
    [without_codes] = parse_jsonl(json.dumps(p))
    assert [e.field for e in without_codes.errors] == ["gross_mass_kg"]


def test_the_column_reference_follows_the_parser_and_is_worded_in_both_languages():
    columns = csv_columns()
    assert [c.name for c in columns] == CSV_COLUMNS
    required = {c.name for c in columns if c.required}
    assert {"client_message_id", "item_hs_code", "declared_at"} <= required
    assert not {"seller_name", "insurance", "item_model_spec"} & required
    for lang in ("en", "zh"):
        missing = [c.name for c in columns if not catalogue(lang).get(f"csvcol.{c.name}")]
        assert missing == [], lang


def test_a_later_row_with_a_different_header_value_is_reported_on_its_row_not_dropped():
    p = declaration_payload()
    lines = csv_text(p).splitlines()
    lines[2] = lines[2].replace(",USD,", ",EUR,", 1)  # the second item's row names another currency
    [record] = parse_csv("\n".join(lines))
    assert record.declaration is None
    assert record.problems() == [(3, "currency", "'EUR' differs from 'USD' on line 2, the declaration's first row")]
    lines[2] = lines[2].replace(",EUR,", ",,", 1)  # left empty: the first row's value holds
    [record] = parse_csv("\n".join(lines))
    assert record.declaration is not None and record.problems() == []
