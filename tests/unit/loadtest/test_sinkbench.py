"""The in-process sink bench stores what the stages shipped and prints its figures."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_a_small_run_stores_every_pass_and_prints_its_figures() -> None:
    # A child process: chDB opens one data directory per process.
    done = subprocess.run(
        [sys.executable, "-m", "loadtest.sinkbench", "--reads", "4000"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["reads"] == 3968  # whole items: 31 of 128 reads each
    assert out["passes"] == 31 * 8
    assert out["rows"]["passes"] >= out["passes"]
    assert out["inserts"] > 0
    assert set(out["cpu_us_per_read"]) == {"decode", "convert", "insert", "total"}
    assert all(v >= 0 for v in out["cpu_us_per_read"].values())
