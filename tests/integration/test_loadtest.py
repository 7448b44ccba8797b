"""`linetrace loadtest`: Locust headless against the local stack, and its report."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


def test_loadtest_runs_headless_and_reports(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LINETRACE_")}
    args = ["loadtest", "--duration", "12", "--users", "3", "--items-per-minute", "300"]
    done = subprocess.run(
        [sys.executable, "-m", "ingest.cli", *args, "--work-dir", str(tmp_path / "lt")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    pipeline, locust = report["pipeline"], report["locust"]
    assert pipeline["reads_stored"] > 0 and pipeline["reads_per_s"] > 0
    assert pipeline["latency_passes"] == pipeline["passes"] > 0
    assert 0 < pipeline["latency_p50_ms"] <= pipeline["latency_p99_ms"]
    cycles = locust["kafka read_cycle"]
    assert cycles["requests"] > 0 and cycles["failures"] == 0
    assert locust["GET /v1/wip"]["requests"] > 0
    assert all(v["failures"] == 0 for v in locust.values())
