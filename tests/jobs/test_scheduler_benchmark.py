"""The scheduler benchmark script runs and reports sensible figures (a small catalog, a few passes)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "scheduler.py"


def test_benchmark_script_reports_median_and_p95_of_a_pass() -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--jobs", "90", "--passes", "30", "--json"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    rows = json.loads(result.stdout)
    assert [row["passes"] for row in rows] == ["steady, one a minute", "catch-up, every job due"]
    for row in rows:
        assert row["jobs"] == 90
        assert 0 < row["median_ms"] <= row["p95_ms"] <= row["max_ms"]
    assert rows[1]["runs"] > 0
