"""The stream worker killed or failing mid-stream, restarted: no gaps, no doubles, state restored.

Each case ends with the exact trace in ClickHouse (tests/integration/faults/expected.py).
The negative controls switch one protection off in the restarted or failing worker and show
the same check failing.
"""

from __future__ import annotations

import random
import signal
import time
from pathlib import Path

import pytest

from ingest.plant import parse_plant
from ingest.settings import Settings
from tests.integration.conftest import Pipeline
from tests.integration.faults.expected import (
    build_workload,
    problems,
    progress,
    send,
    send_in_background,
    wait_for_trace,
)
from tests.integration.scenario import PLANT

pytestmark = pytest.mark.integration

EXIT_FAULT = 70  # the worker's crash-only exit (streams/app.py)


def start(settings: Settings, tmp_path: Path, worker: str = "") -> Pipeline:
    return Pipeline(settings, parse_plant(PLANT), tmp_path).start({"worker": worker})


def wait_for_exit(p: Pipeline, name: str, timeout_s: float = 60.0) -> int:
    try:
        return p.processes[name].popen.wait(timeout_s)
    except Exception as exc:
        raise AssertionError(f"{name} did not reach its crash point:\n{p.processes[name].log()}") from exc


@pytest.mark.parametrize(
    "crash_point",
    [
        pytest.param("kill_mid_batch:3", id="mid stage-2 batch, nothing shipped"),
        pytest.param("kill_before_ship:5", id="outputs sent, not acknowledged"),
        pytest.param("kill_after_ship:5", id="outputs acknowledged, input not committed"),
    ],
)
def test_worker_killed_at_a_crash_point(settings: Settings, tmp_path: Path, crash_point: str) -> None:
    p = start(settings, tmp_path, worker=crash_point)
    try:
        w = build_workload(300)
        sender = send_in_background(p, w.reports, per_second=40)
        assert wait_for_exit(p, "worker") == -signal.SIGKILL
        p.start_process("worker")
        sender.join()
        wait_for_trace(p, w)
        p.stop_sink()
        assert problems(p.settings, w) == []
    finally:
        p.stop()


def test_worker_killed_at_a_random_moment(settings: Settings, tmp_path: Path) -> None:
    seed = random.randrange(1 << 30)
    moment = random.Random(seed).uniform(1.0, 5.0)
    print(f"seed {seed}: SIGKILL {moment:.2f} s into the stream")
    p = start(settings, tmp_path)
    try:
        w = build_workload(300)
        sender = send_in_background(p, w.reports, per_second=40)
        sender.join(moment)
        assert p.processes["worker"].stop(signal.SIGKILL) == -signal.SIGKILL
        p.start_process("worker")
        sender.join()
        wait_for_trace(p, w)
        p.stop_sink()
        assert problems(p.settings, w) == [], f"seed {seed}"
    finally:
        p.stop()


def test_control_worker_restarted_without_its_route_state(settings: Settings, tmp_path: Path) -> None:
    """Negative control: killed once its input offsets are committed part way, the worker
    restarts without rebuilding route state from the changelog."""
    p = start(settings, tmp_path)
    try:
        w = build_workload(300)
        sender = send_in_background(p, w.reports, per_second=20)
        p.wait_until(lambda: progress(p)[1] >= len(w.pass_ids) // 3, what="a third of the passes")
        time.sleep(4)  # past faust's offset commit interval (2.8 s)
        assert p.processes["worker"].stop(signal.SIGKILL) == -signal.SIGKILL
        p.start_process("worker", "no_restore")
        sender.join()
        wait_for_trace(p, w, timeout_s=60, quiet_s=8)
        p.stop_sink()
        found = problems(p.settings, w)
        assert any("violations" in f for f in found), found
    finally:
        p.stop()


def test_output_the_broker_refuses_ends_the_worker_before_its_input_is_committed(
    settings: Settings, tmp_path: Path
) -> None:
    """A trace message refused by the broker (reported only in its delivery report): the
    worker exits without committing its input, and the restart replays the batch."""
    p = start(settings, tmp_path, worker="refuse_output:3")
    try:
        w = build_workload(200)
        sender = send_in_background(p, w.reports, per_second=40)
        assert wait_for_exit(p, "worker") == EXIT_FAULT
        p.start_process("worker")
        sender.join()
        wait_for_trace(p, w)
        p.stop_sink()
        assert problems(p.settings, w) == []
    finally:
        p.stop()


def test_control_worker_that_trusts_flush_alone_loses_the_refused_output(
    settings: Settings, tmp_path: Path
) -> None:
    """Negative control: failed deliveries ignored, as flush() alone would report them."""
    p = start(settings, tmp_path, worker="refuse_output:3,ignore_delivery_failures")
    try:
        w = build_workload(200)
        send(p, w.reports, per_second=40)
        wait_for_trace(p, w, timeout_s=60, quiet_s=8)
        assert p.processes["worker"].popen.poll() is None, "the worker kept running"
        p.stop_sink()
        found = problems(p.settings, w)
        assert any("lost" in f or "read cycles" in f for f in found), found
    finally:
        p.stop()
