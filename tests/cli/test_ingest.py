"""`smartcustoms declarations ingest`: counts that add up, each rejection as file:line: column: reason, --json."""

from __future__ import annotations

import csv
import io
import json

import pytest
from typer.testing import CliRunner

from smartcustoms.cli import app
from smartcustoms.declarations.ingest import CSV_COLUMNS
from tests.support import UNREGISTERED, declaration_payload, seed_world


@pytest.fixture
def ingest(tmp_path, monkeypatch):
    """Run the ingest command against a seeded platform in ``tmp_path``."""
    monkeypatch.setenv("SMARTCUSTOMS_DATA_DIR", str(tmp_path))
    from smartcustoms.core.config import get_settings
    from smartcustoms.platform import build_platform

    get_settings.cache_clear()
    platform = build_platform()
    seed_world(platform)
    platform.close()

    def run(path, *args: str):
        return CliRunner().invoke(app, ["declarations", "ingest", str(path), *args])

    yield run
    get_settings.cache_clear()


def csv_text(*declarations: dict) -> str:
    """The declarations in the upload's CSV format, one row per goods item."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for p in declarations:
        header = {k: v for k, v in p.items() if k != "items"}
        for item in p["items"]:
            values = {**header, **{f"item_{k}": v for k, v in item.items()}}
            w.writerow(["" if values.get(c) is None else values[c] for c in CSV_COLUMNS])
    return out.getvalue()


def test_declarations_rejected_on_a_rule_are_counted_as_rejected_with_their_reason(ingest, tmp_path):
    # the platform's own lodging stores a declaration for an unregistered importer, then rejects it
    lines = [json.dumps(declaration_payload(importer_code=UNREGISTERED)) for _ in range(2)]
    path = tmp_path / "unregistered.jsonl"
    path.write_text("\n".join(lines))
    result = ingest(path)
    assert result.exit_code == 1
    assert "lodged 0, already lodged 0, rejected 2" in result.output
    assert f"{path}:1: declaration: " in result.output and "not a registered enterprise" in result.output
    assert f"{path}:2: declaration: " in result.output


def test_csv_problems_name_the_row_and_column_they_are_in_in_line_order(ingest, tmp_path):
    first = declaration_payload()
    second = declaration_payload()
    second["items"][1]["unit_price"] = "two"  # the second item: the file's line 5
    second["items"][0]["hs_code"] = "9999990000"  # unknown to the nomenclature: line 4, in the same round
    del second["currency"]
    path = tmp_path / "batch.csv"
    path.write_text(csv_text(first, second))
    result = ingest(path)
    assert result.exit_code == 1, result.output
    assert "lodged 1, already lodged 0, rejected 1" in result.output
    problems = [line for line in result.output.splitlines() if line.startswith(str(path))]
    assert problems == [
        f"{path}:4: currency: Field required",
        f"{path}:4: item_hs_code: 9999990000 is not a valid HS 2022 subheading",
        f"{path}:5: item_unit_price: Input should be a valid decimal",
    ]


def test_json_report_lists_counts_problems_and_the_declarations_stored(ingest, tmp_path):
    good = declaration_payload()
    bad = declaration_payload()
    bad["items"][0]["hs_code"] = "9999990000"
    path = tmp_path / "batch.jsonl"
    path.write_text("\n".join([json.dumps(good), json.dumps(bad), json.dumps(good)]))
    result = ingest(path, "--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert (report["lodged"], report["already_lodged"], report["rejected"]) == (1, 1, 1)
    assert report["problems"] == [{"line": 2, "column": "items[0].hs_code",
                                   "reason": "9999990000 is not a valid HS 2022 subheading"}]
    assert [(d["line"], d["new"]) for d in report["declarations"]] == [(1, True), (3, False)]
    assert report["declarations"][0]["declaration_no"] == report["declarations"][1]["declaration_no"]


def test_a_clean_file_exits_zero(ingest, tmp_path):
    path = tmp_path / "ok.csv"
    path.write_text(csv_text(declaration_payload(), declaration_payload()))
    result = ingest(path)
    assert result.exit_code == 0, result.output
    assert "lodged 2, already lodged 0, rejected 0" in result.output
