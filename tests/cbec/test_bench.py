"""The end-to-end benchmark's JSON contract (docs/benchmarks.md quotes its figures), on a small run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "cbec.py"


def test_a_small_benchmark_run_prints_its_figures_and_every_parcel_once() -> None:
    out = subprocess.run([sys.executable, str(BENCH), "--parcels", "3000", "--json"], capture_output=True,
                         text=True, timeout=300, check=True)
    result = json.loads(out.stdout)
    assert result["parcels"] == 3000
    assert sum(result["status_counts"].values()) == 3000
    assert set(result["status_counts"]) <= {"100", "300", "500", "800"}
    assert result["status_counts"]["800"] > 2500  # most simulated parcels are compliant
    assert result["parcels_per_minute"] > 0
    assert 0 <= result["p50_ms"] <= result["p99_ms"] and result["p99_ms"] > 0
    assert result["peak_rss_mb"] > 0
    # the same-run baseline: the machine's speed before and after the timed run
    before, after = result["reference_ms"]
    assert before > 0 and after > 0
