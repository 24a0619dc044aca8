"""The command line as people use it (issue #18, item 14): help without type tags, passwords never on argv,
progress bars only at a terminal, a readable summary with ``--json`` keeping the machine form."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from smartcustoms.cli import app
from tests.support import declaration_payload, seed_world

runner = CliRunner()
TYPE_TAGS = re.compile(r"\b(TEXT|INTEGER|FLOAT|PATH|FILE|BOOLEAN)\b|<(int|str|float|path|bool)>")
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@pytest.fixture
def data_dir(tmp_path, monkeypatch) -> Path:
    """A seeded platform in ``tmp_path`` (SQLite), also for subprocesses."""
    monkeypatch.setenv("SMARTCUSTOMS_DATA_DIR", str(tmp_path))
    from smartcustoms.core.config import get_settings
    from smartcustoms.platform import build_platform

    get_settings.cache_clear()
    platform = build_platform()
    seed_world(platform)
    platform.close()
    yield tmp_path
    get_settings.cache_clear()


@pytest.mark.parametrize("command", [[], ["declarations", "ingest"], ["cbec", "ingest"], ["users", "create"],
                                     ["demo"], ["serve"], ["risk", "evaluate"], ["audit", "verify"]])
def test_help_has_no_type_tags_and_keeps_the_option_help(command):
    r = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "120"})
    assert r.exit_code == 0, r.output
    assert not TYPE_TAGS.search(r.output), r.output
    assert "--help" in r.output


def test_top_level_help_documents_the_exit_statuses():
    r = runner.invoke(app, ["--help"], env={"COLUMNS": "200"})
    assert "Exit status: 0 done; 1 something was rejected or failed" in " ".join(r.output.split())


def test_a_password_is_never_taken_from_argv(data_dir):
    r = runner.invoke(app, ["users", "create", "clerk", "--role", "officer", "--password", "S3cure-enough!pass"])
    assert r.exit_code == 2 and "No such option" in r.output


def test_password_from_stdin_is_checked_and_stored(data_dir):
    weak = runner.invoke(app, ["users", "create", "clerk", "--role", "officer", "--password-stdin"],
                         input="short\n")
    assert weak.exit_code == 1 and "password" in weak.output
    ok = runner.invoke(app, ["users", "create", "clerk", "--role", "officer", "--password-stdin"],
                       input="Harbour-Gate-2026-long\n")
    assert ok.exit_code == 0, ok.output
    assert "Harbour-Gate-2026-long" not in ok.output
    from smartcustoms.enterprises.service import check_login
    from smartcustoms.platform import build_platform

    platform = build_platform()
    with platform.sessions() as s:
        assert check_login(s, "clerk", "Harbour-Gate-2026-long")[0] is not None
    platform.close()


def test_password_stdin_without_a_line_is_a_usage_error(data_dir):
    r = runner.invoke(app, ["users", "create", "clerk", "--role", "officer", "--password-stdin"], input="")
    assert r.exit_code == 2 and "stdin gave no password" in r.output


def _batch(tmp: Path) -> Path:
    bad = declaration_payload()
    bad["items"][0]["hs_code"] = "9999990000"
    path = tmp / "batch.jsonl"
    path.write_text("\n".join([json.dumps(declaration_payload()), json.dumps(bad)]))
    return path


def _cli(*args: str, **kw) -> list[str]:
    return [sys.executable, "-m", "smartcustoms.cli", *args]


def test_ingest_without_a_terminal_prints_no_bar_and_a_table(data_dir):
    path = _batch(data_dir)
    run = subprocess.run(_cli("declarations", "ingest", str(path)), capture_output=True, text=True, timeout=300,
                         env={**os.environ, "COLUMNS": "120"})
    assert run.returncode == 1, run.stderr
    assert not ANSI.search(run.stderr) and "lodging" not in run.stderr  # no bar when stderr is not a terminal
    assert f"{path}:2: items[0].hs_code: 9999990000 is not a valid HS 2022 subheading" in run.stderr
    assert "declarations of batch.jsonl" in run.stdout and "declaration no." in run.stdout
    assert re.search(r"│\s+1 │ 2248\d{14}", run.stdout), run.stdout
    assert "lodged 1, already lodged 0, rejected 1" in run.stdout
    again = subprocess.run(_cli("declarations", "ingest", str(path), "--json"), capture_output=True, text=True,
                           timeout=300)
    report = json.loads(again.stdout)  # the machine form: one JSON object, nothing else on stdout
    assert report["already_lodged"] == 1 and report["rejected"] == 1 and report["problem_count"] == 1


def _on_a_terminal(args: list[str]) -> tuple[int, str]:
    """Run with stderr on a pseudo-terminal; its exit status and what the terminal showed."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=follower, stdin=subprocess.DEVNULL,
                            env={**os.environ, "COLUMNS": "120", "TERM": "xterm"})
    os.close(follower)
    shown = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:
            break
        if not chunk:
            break
        shown += chunk
    os.close(leader)
    return proc.wait(timeout=300), shown.decode(errors="replace")


def test_ingest_at_a_terminal_shows_a_progress_bar_unless_quiet(data_dir):
    path = _batch(data_dir)
    code, shown = _on_a_terminal(_cli("declarations", "ingest", str(path)))
    assert code == 1 and "lodging batch.jsonl" in shown
    code, shown = _on_a_terminal(_cli("declarations", "ingest", str(path), "--quiet"))
    assert code == 1 and "lodging" not in shown and "items[0].hs_code" in shown


def test_cbec_ingest_prints_a_table_and_json_on_request(tmp_path):
    from smartcustoms.cbec.simulate import generate

    stream = tmp_path / "msgs.xml"
    stream.write_bytes(b"".join(generate(20, seed=5)))
    db = f"sqlite:///{tmp_path / 'c.db'}"
    env = {**os.environ, "COLUMNS": "120", "SMARTCUSTOMS_CBEC_ACCEPT_UNSIGNED": "1"}
    run = subprocess.run(_cli("cbec", "ingest", str(stream), "--db", db, "--workers", "0"), capture_output=True,
                         text=True, timeout=300, env=env)
    assert run.returncode == 0, run.stderr
    assert "CEB messages of msgs.xml" in run.stdout and "parcels decided" in run.stdout
    assert not ANSI.search(run.stderr)
    code, shown = _on_a_terminal(_cli("cbec", "ingest", str(stream), "--db", db, "--workers", "0"))
    assert code == 0 and "ingesting msgs.xml" in shown
    again = subprocess.run(_cli("cbec", "ingest", str(stream), "--db", db, "--workers", "0", "--json"),
                           capture_output=True, text=True, timeout=300, env=env)
    assert json.loads(again.stdout)["messages"] == 0  # resumed after the first run: nothing left


def test_password_from_the_environment_for_scripts_and_none_without_a_terminal(data_dir):
    from smartcustoms.core.cli_support import PASSWORD_ENV
    from smartcustoms.enterprises.service import check_login
    from smartcustoms.platform import build_platform

    r = runner.invoke(app, ["users", "create", "clerk", "--role", "officer"],
                      env={PASSWORD_ENV: "Harbour-Gate-2026-long"})
    assert r.exit_code == 0, r.output
    keys_only = runner.invoke(app, ["users", "create", "robot", "--role", "analyst"], env={PASSWORD_ENV: ""})
    assert keys_only.exit_code == 0, keys_only.output  # no terminal, no stdin flag, no variable: API keys only
    platform = build_platform()
    with platform.sessions() as s:
        assert check_login(s, "clerk", "Harbour-Gate-2026-long")[0] is not None
        assert check_login(s, "robot", "")[0] is None
    platform.close()
