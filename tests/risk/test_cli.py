"""``smartcustoms risk evaluate`` / ``simulate`` end to end on slices of the real KCS files."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from smartcustoms.risk.cli import app

runner = CliRunner()
KEYS = {"precision_at", "recall_at", "duty_share_at", "random", "lift_points_at", "n_test"}


def _slice(src, dst, rows):
    with src.open(encoding="utf-8") as fh:
        dst.write_text("".join(line for _, line in zip(range(rows + 1), fh, strict=False)), encoding="utf-8")
    return dst


def test_evaluate_json_on_a_kcs_slice_beats_random(kcs_dir, tmp_path):
    train = _slice(kcs_dir / "train.csv", tmp_path / "train.csv", 12000)
    test = _slice(kcs_dir / "valid.csv", tmp_path / "valid.csv", 2500)
    result = runner.invoke(app, ["evaluate", "--dataset", "kcs", "--train", str(train), "--test", str(test), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert set(report) == KEYS
    assert set(report["precision_at"]) == {"1", "2", "5", "10"}
    assert report["n_test"] == 2500
    assert report["precision_at"]["10"] > report["random"] + 0.2


def test_evaluate_table_names_the_columns(kcs_dir, tmp_path):
    train = _slice(kcs_dir / "train.csv", tmp_path / "train.csv", 3000)
    test = _slice(kcs_dir / "valid.csv", tmp_path / "valid.csv", 800)
    result = runner.invoke(app, ["evaluate", "--train", str(train), "--test", str(test)])
    assert result.exit_code == 0, result.output
    for word in ("precision", "recall", "duty share caught", "lift"):
        assert word in result.stdout


def test_malformed_file_gives_an_error_not_a_traceback(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("Declaration ID,Date\n1,2020-01-01\n", encoding="utf-8")
    result = runner.invoke(app, ["evaluate", "--train", str(bad), "--test", str(bad), "--json"])
    assert result.exit_code == 2
    assert "missing column" in result.output and "Traceback" not in result.output


@pytest.mark.slow
def test_full_kcs_evaluation_meets_the_issue_targets(kcs_dir):
    result = runner.invoke(
        app, ["evaluate", "--train", str(kcs_dir / "train.csv"), "--test", str(kcs_dir / "valid.csv"), "--json"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["precision_at"]["5"] >= 0.95
    assert report["precision_at"]["10"] >= 0.90
