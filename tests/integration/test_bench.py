"""`linetrace bench --quick` runs end to end and prints every figure (no timing is asserted),
with every phase checked: each expected pass stored once, a movement, no violation open and
none retracted; the pass candidates are reported beside the check."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

FIGURES = {
    "ingest_reads_per_s",
    "burst_reads_per_s_no_loss",
    "latency_p99_ms_at_100k",
    "latency_p99_ms_at_20k",
    "genealogy_p95_ms",
    "throughput_query_p95_ms",
    "item_history_p95_ms",
    "query_data",
    "ingest_reads",
}
PHASES = {"warm_up", "ingest", "paced_20k", "paced_100k", "burst"}
CHECKED = {
    "passes_expected",
    "passes_stored",
    "movements",
    "violations_open",
    "retracted_violations",
    "pass_candidates",
    "extra_candidates",
}


def test_bench_quick_prints_every_figure(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LINETRACE_")}
    out = subprocess.run(
        [sys.executable, "-m", "ingest.cli", "bench", "--quick", "--work-dir", str(tmp_path)],
        env=env,
        capture_output=True,
        timeout=600,
        check=False,
    )
    stderr = out.stderr.decode(errors="replace")[-3000:]
    figures = json.loads(out.stdout or b"{}")
    phases = figures.get("phases", {})
    assert set(phases) == PHASES, stderr
    for name, check in phases.items():
        assert set(check) == CHECKED, name
        assert check["passes_stored"] == check["passes_expected"] > 0, (name, check)
        assert check["movements"] == check["passes_expected"], (name, check)
        assert check["violations_open"] == 0, (name, check)
        assert check["retracted_violations"] == 0, (name, check)
    assert phases["ingest"]["passes_expected"] == 1_500 * 8  # items x stations
    assert out.returncode == 0, stderr
    assert set(figures) >= FIGURES
    assert figures["ingest_reads"] == 192_000
    assert figures["query_data"]["passes"] > 1_000_000
