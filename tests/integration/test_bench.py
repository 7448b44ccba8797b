"""`linetrace bench --quick` runs end to end and prints every figure (no timing is asserted),
with every phase checked: each expected pass stored once, a movement, no violation open and
none retracted; the pass candidates are reported beside the check. The EPCIS capture phase's
10,000 events are each stored once and answered by the EPCIS query as posted."""

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
    "epcis_capture_events_per_s",
    "epcis_query_p95_ms",
    "query_data",
    "ingest_reads",
}
PHASES = {"warm_up", "epcis_capture", "ingest", "paced_20k", "paced_100k", "burst"}
CHECKED = {
    "passes_expected",
    "passes_stored",
    "movements",
    "violations_open",
    "retracted_violations",
    "pass_candidates",
    "extra_candidates",
}
CAPTURE_CHECKED = {"events_expected", "event_rows", "events_answered", "events_as_posted", "capture_errors"}


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
        assert set(check) == CHECKED | (CAPTURE_CHECKED if name == "epcis_capture" else set()), name
        assert check["passes_stored"] == check["passes_expected"] > 0, (name, check)
        assert check["movements"] == check["passes_expected"], (name, check)
        assert check["violations_open"] == 0, (name, check)
        assert check["retracted_violations"] == 0, (name, check)
    assert phases["ingest"]["passes_expected"] == 1_500 * 8  # items x stations
    capture = phases["epcis_capture"]
    assert capture["passes_expected"] == 10_000  # one pass per event: 1,250 items x 8 stations
    assert capture["event_rows"] == capture["events_answered"] == capture["events_as_posted"] == 10_000
    assert capture["capture_errors"] == 0
    assert out.returncode == 0, stderr
    assert set(figures) >= FIGURES
    assert figures["ingest_reads"] == 192_000
    assert figures["epcis_capture_events"] == 10_000
    assert figures["query_data"]["passes"] > 1_000_000
