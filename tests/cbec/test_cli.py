"""``smartcustoms cbec ingest``: a run with parser processes exits cleanly."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def test_ingest_with_two_parser_processes_exits_without_a_traceback(tmp_path: Path) -> None:
    from smartcustoms.cbec.simulate import generate

    stream = tmp_path / "msgs.xml"
    stream.write_bytes(b"".join(generate(50, seed=3)))
    run = subprocess.run([sys.executable, "-m", "smartcustoms.cli", "cbec", "ingest", str(stream), "--db",
                          f"sqlite:///{tmp_path / 'c.db'}", "--workers", "2", "--json"],
                         capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr, run.stderr  # the pool is closed and joined, not left to Pool.__del__
    assert json.loads(run.stdout.strip().splitlines()[-1])["parcels_decided"] > 0
