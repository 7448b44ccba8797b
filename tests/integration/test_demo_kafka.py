"""``linetrace demo --broker kafka``: the demo on Apache Kafka, and a second run on the kept
data directory, where Kafka kept the route-state changelog, so nothing is restored from the
store (on Tansu, which keeps nothing, the stack restores it: test_restart.py)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.integration.brokers import kafka_only

pytestmark = kafka_only


def _demo(data_dir: Path, *extra: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LINETRACE_")}
    args = ["demo", "--broker", "kafka", "--data-dir", str(data_dir), *extra]
    done = subprocess.run(
        [sys.executable, "-m", "ingest.cli", *args], capture_output=True, text=True, env=env, timeout=240
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def _passes(out: str) -> int:
    found = re.search(r"^  (\d+) passes: (\d+) movements", out, re.MULTILINE)
    assert found, out
    return int(found[1])


def test_the_demo_runs_on_kafka_and_a_kept_run_needs_no_restore(tmp_path: Path) -> None:
    data_dir = tmp_path / "demo"
    first = _demo(data_dir, "--duration", "8")
    assert "linetrace demo: Apache Kafka on 127.0.0.1:" in first
    assert _passes(first) > 0 and (data_dir / "kafka").is_dir()

    again = _demo(data_dir, "--duration", "4", "--keep")
    assert "restored from the kept trace" not in again  # the changelog was on Kafka's disk
    assert _passes(again) > _passes(first)
