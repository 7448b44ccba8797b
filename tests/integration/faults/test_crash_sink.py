"""The ClickHouse sink killed between its insert and its offset commit, and ClickHouse
unreachable for a while: the trace ends exact. Negative controls reverse the sink's order
(commit, then insert) or make it give up on a refused batch, and show rows lost."""

from __future__ import annotations

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
    send,
    send_in_background,
    wait_for_trace,
)
from tests.integration.scenario import PLANT
from tests.metrics import scrape, value

pytestmark = pytest.mark.integration


def start(settings: Settings, tmp_path: Path, sink: str = "") -> Pipeline:
    return Pipeline(settings, parse_plant(PLANT), tmp_path).start({"sink": sink})


def restart_sink_after_its_crash(p: Pipeline, timeout_s: float = 60.0) -> None:
    try:
        code = p.processes["sink"].popen.wait(timeout_s)
    except Exception as exc:
        raise AssertionError("the sink did not reach its crash point:\n" + p.processes["sink"].log()) from exc
    assert code == -signal.SIGKILL, p.processes["sink"].log()
    p.start_process("sink")
    p.wait_for_api()


def sink_metric(p: Pipeline, name: str) -> float:
    """The sink's unlabelled sample ``name`` (0 when there is none)."""
    return value(scrape(p.api + "/metrics", timeout_s=5), name)


@pytest.mark.parametrize(
    "crash_point",
    [
        pytest.param("kill_before_commit:2", id="every table inserted, offsets not committed"),
        pytest.param("kill_at_insert:3", id="rows consumed, insert not started"),
    ],
)
def test_sink_killed_between_insert_and_commit(settings: Settings, tmp_path: Path, crash_point: str) -> None:
    p = start(settings, tmp_path, sink=crash_point)
    try:
        w = build_workload(300)
        sender = send_in_background(p, w.reports, per_second=40)
        restart_sink_after_its_crash(p)
        sender.join()
        wait_for_trace(p, w)
        p.stop_sink()
        assert problems(p.settings, w) == []
    finally:
        p.stop()


def test_control_sink_that_commits_before_it_inserts(settings: Settings, tmp_path: Path) -> None:
    """Negative control: offsets committed first, so the rows in hand die with the sink."""
    p = start(settings, tmp_path, sink="commit_before_insert,kill_at_insert:3")
    try:
        w = build_workload(300)
        sender = send_in_background(p, w.reports, per_second=40)
        restart_sink_after_its_crash(p)
        sender.join()
        wait_for_trace(p, w, timeout_s=60, quiet_s=8)
        p.stop_sink()
        found = problems(p.settings, w)
        assert any("lost" in f or "read cycles" in f for f in found), found
    finally:
        p.stop()


def test_clickhouse_unreachable_the_sink_waits_without_committing_then_catches_up(
    settings: Settings, tmp_path: Path
) -> None:
    p = start(settings, tmp_path, sink="clickhouse_outage:1/8")
    try:
        w = build_workload(300)
        send(p, w.reports[: len(w.reports) // 3], per_second=40)
        deadline = time.monotonic() + 30
        while sink_metric(p, "linetrace_sink_errors_total") == 0:
            assert time.monotonic() < deadline, p.processes["sink"].log()
            time.sleep(0.2)
        commits = sink_metric(p, "linetrace_sink_commits_total")
        sender = send_in_background(p, w.reports[len(w.reports) // 3 :], per_second=40)
        time.sleep(4)  # within the outage: inserts refused, nothing committed
        assert sink_metric(p, "linetrace_sink_errors_total") >= 2
        assert sink_metric(p, "linetrace_sink_commits_total") == commits
        sender.join()
        wait_for_trace(p, w)
        assert sink_metric(p, "linetrace_sink_commits_total") > commits
        p.stop_sink()
        assert problems(p.settings, w) == []
    finally:
        p.stop()


def test_control_sink_that_drops_a_refused_batch(settings: Settings, tmp_path: Path) -> None:
    """Negative control: the sink gives up on rows ClickHouse refused and commits past them."""
    p = start(settings, tmp_path, sink="clickhouse_outage:1/8,drop_on_insert_error")
    try:
        w = build_workload(300)
        send(p, w.reports, per_second=40)
        wait_for_trace(p, w, timeout_s=60, quiet_s=10)
        p.stop_sink()
        found = problems(p.settings, w)
        assert any("lost" in f or "read cycles" in f for f in found), found
    finally:
        p.stop()
