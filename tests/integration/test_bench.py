"""`linetrace bench --quick` runs end to end and prints every figure (no timing is asserted)."""

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


def test_bench_quick_prints_every_figure(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LINETRACE_")}
    out = subprocess.run(
        [sys.executable, "-m", "ingest.cli", "bench", "--quick", "--work-dir", str(tmp_path)],
        env=env,
        capture_output=True,
        timeout=600,
        check=False,
    )
    assert out.returncode == 0, out.stderr.decode(errors="replace")[-3000:]
    figures = json.loads(out.stdout)
    assert set(figures) >= FIGURES
    assert figures["ingest_reads"] == 192_000
    assert figures["query_data"]["passes"] > 1_000_000
