"""``smartcustoms risk evaluate`` / ``simulate`` end to end on slices of the real KCS files."""

from __future__ import annotations

import json

import polars as pl
import pytest
from typer.testing import CliRunner

from smartcustoms.risk.cli import app

runner = CliRunner()
KEYS = {"n_test", "random", "novel_goods", "contenders", "excluded_exact_match_features", "test_outcomes"}
CONTENDERS = {"ours", "ours_without_exact_match", "plain_lightgbm", "random"}


def _slice(src, dst, rows):
    with src.open(encoding="utf-8") as fh:
        dst.write_text("".join(line for _, line in zip(range(rows + 1), fh, strict=False)), encoding="utf-8")
    return dst


def test_evaluate_json_on_a_kcs_slice_reports_every_contender_and_the_novel_goods(kcs_dir, tmp_path):
    train = _slice(kcs_dir / "train.csv", tmp_path / "train.csv", 12000)
    test = _slice(kcs_dir / "valid.csv", tmp_path / "valid.csv", 2500)
    result = runner.invoke(app, ["evaluate", "--dataset", "kcs", "--train", str(train), "--test", str(test), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert set(report) >= KEYS
    assert report["test_outcomes"] == "hidden"  # the default: no test outcome is ever known
    assert report["n_test"] == 2500
    assert set(report["contenders"]) == CONTENDERS
    ours = report["contenders"]["ours"]
    assert set(ours) == {"probability", "duty"}
    assert set(ours["probability"]["overall"]["precision_at"]) == {"1", "2", "5", "10"}
    assert 0 < report["novel_goods"]["n"] < report["n_test"]
    assert ours["probability"]["novel"]["n"] == report["novel_goods"]["n"]
    assert ours["probability"]["overall"]["precision_at"]["10"] > report["random"] + 0.2


def test_scores_out_has_one_row_per_test_declaration_with_the_dataset_ids(kcs_dir, tmp_path):
    train = _slice(kcs_dir / "train.csv", tmp_path / "train.csv", 3000)
    test = _slice(kcs_dir / "valid.csv", tmp_path / "valid.csv", 800)
    scores = tmp_path / "scores.csv"
    args = ["evaluate", "--train", str(train), "--test", str(test), "--scores-out", str(scores), "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    written = pl.read_csv(scores, schema_overrides={"declaration_id": pl.Utf8})
    assert written.columns == ["declaration_id", "offence_probability"]
    ids = pl.read_csv(test, columns=["Declaration ID"], infer_schema=False)["Declaration ID"]
    assert written.height == ids.n_unique() == 800
    assert set(written["declaration_id"]) == set(ids)
    assert written["offence_probability"].dtype == pl.Float64
    assert written["offence_probability"].is_between(0, 1).all()
    assert json.loads(result.stdout)["scores_out"]["declarations"] == 800

    duty = tmp_path / "duty.csv"
    result = runner.invoke(app, [*args[:-3], "--scores-out", str(duty), "--ranking", "duty"])
    assert result.exit_code == 0, result.output
    assert pl.read_csv(duty).columns == ["declaration_id", "expected_duty_at_stake"]


def test_scores_out_into_a_missing_folder_is_an_error_not_a_traceback(tmp_path):
    good = tmp_path / "f.csv"
    good.write_text("x\n", encoding="utf-8")
    out = tmp_path / "nowhere" / "scores.csv"
    result = runner.invoke(app, ["evaluate", "--train", str(good), "--test", str(good), "--scores-out", str(out)])
    assert result.exit_code == 2
    text = " ".join(result.output.split())
    assert "--scores-out" in text and "does not exist" in text and "Traceback" not in text


def test_evaluate_table_names_the_columns(kcs_dir, tmp_path):
    train = _slice(kcs_dir / "train.csv", tmp_path / "train.csv", 3000)
    test = _slice(kcs_dir / "valid.csv", tmp_path / "valid.csv", 800)
    result = runner.invoke(app, ["evaluate", "--train", str(train), "--test", str(test)])
    assert result.exit_code == 0, result.output
    for word in ("P@k", "recall", "duty", "AUC", "novel P@k", "ours, no exact", "plain LightGBM", "random"):
        assert word in result.stdout


def test_malformed_file_gives_an_error_not_a_traceback(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("Declaration ID,Date\n1,2020-01-01\n", encoding="utf-8")
    result = runner.invoke(app, ["evaluate", "--train", str(bad), "--test", str(bad), "--json"])
    assert result.exit_code == 2
    assert "missing column" in result.output and "Traceback" not in result.output


@pytest.mark.slow
def test_full_kcs_evaluation_reports_the_novel_goods_and_the_plain_baseline(kcs_dir):
    result = runner.invoke(
        app, ["evaluate", "--train", str(kcs_dir / "train.csv"), "--test", str(kcs_dir / "valid.csv"), "--json"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    # exact repeats of training goods dominate KCS; the novel rows are a minority but not a handful
    assert 500 < report["novel_goods"]["n"] < report["n_test"] / 2
    plain = report["contenders"]["plain_lightgbm"]["probability"]["overall"]
    assert plain["precision_at"]["10"] > report["random"] + 0.3  # the raw columns alone carry the repeats
    ours = report["contenders"]["ours"]["probability"]
    assert ours["overall"]["precision_at"]["10"] > report["random"] + 0.3
    assert ours["novel"]["auc"] > 0.5
