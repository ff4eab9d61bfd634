"""The benchmarks still run: `python -m bench --quick` end to end, and a small burst that must
lose and double nothing. Whether targets are met is the benchmark's report, not a test."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from bench.burst import run_burst
from bench.harness import REPO, clean_environ

STAGES = ("webhook", "worker", "latency", "ledger", "verify", "tlog", "answers", "pages", "growth")


@pytest.mark.slow
def test_quick_benchmark_runs_every_stage_and_writes_results(tmp_path):
    output, numbers = tmp_path / "results.md", tmp_path / "results.json"
    completed = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--output", str(output), "--json", str(numbers)],
        cwd=REPO,
        env=clean_environ(),
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-5000:]
    text = output.read_text()
    assert "## Machine" in text and "## Versions" in text and "| stage |" in text
    data = json.loads(numbers.read_text())
    assert [stage["name"] for stage in data["stages"]] == list(STAGES)
    for stage in data["stages"]:
        assert stage["error"] is None, stage["error"]
        assert stage["rows"], stage["name"]
        for row in stage["rows"]:
            assert row["median"] is not None and row["median"] > 0, row
            assert f"| {stage['name']} | {row['metric']} |" in text


@pytest.mark.slow
def test_small_burst_loses_and_doubles_nothing():
    result = run_burst(200, 20, 2)
    assert result["sent_200"] == 200
    assert result["lost"] == 0, result
    assert result["duplicates"] == 0, result
    assert result["stored"] == result["processed"] == result["recorded_at_standin"] == 200
    assert result["chain_ok"], result
    assert result["ok"], result
