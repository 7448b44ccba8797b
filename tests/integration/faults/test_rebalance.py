"""Fault 6, a consumer rebalance mid-stream: a second stream worker of the same consumer group
joins while reads flow and later leaves (SIGTERM, or SIGKILL; and with a third joining and
killed in turn), so partitions and the route
state of their items move from one worker to the other and back. ClickHouse must hold every
pass exactly once with the verdict it would have had on one worker: no lost pass, no second
row, no violation invented by a worker that judged an item without its history, and every
true violation (items that skip stage b) confirmed once. The workers run under a supervisor
that restarts one that ends on a fault (crash-only, exit 70), as in production; the restarts
are printed.

Negative controls, each switching one part of the state handover off with a test patch:
the joining worker does not rebuild the route state of the partitions it is given from their
changelog (``no_restore``), or the first worker keeps the state of the partitions taken from
it and goes on from there when they come back (``keep_revoked_state``). Either way items are
judged without part of their history (verdicts change, violations are invented or missed,
item states go wrong), and the same check fails.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from ingest.broker import free_port
from ingest.epc import encode_sgtin96, item_key
from ingest.plant import parse_plant
from ingest.schema import ReadCycleReport, pass_id
from ingest.settings import Settings
from ingest.timefmt import now_us
from storage.client import connect
from tests.integration.conftest import Pipeline, Process
from tests.integration.faults.expected import STATIONS, send_in_background
from tests.integration.scenario import PLANT, Line
from tests.metrics import Samples, try_scrape, value

pytestmark = pytest.mark.integration

GROUPS = 60  # of 10 items: 456 reports
SKIPPING = 5  # every fifth group skips stage b: a true skipped_stage violation for each item
# Event time from one station to the next: about 5 s of the stream's wall time, longer than
# faust's commit interval (2.8 s), so the joining worker also judges passes whose item's
# previous pass it never saw replayed (only the changelog has it).
STATION_GAP_S = 30.0
REPORTS_PER_S = 12.0  # the stream lasts about 38 s
# The first worker runs alone for several of faust's commit intervals (2.8 s), so the joining
# worker starts from a committed offset well into the stream: it replays only the last few
# seconds, and the state of the partitions it is given comes from their changelog.
JOIN_AFTER_S = 10.0
SHARE_S = 6.0  # how long both workers share the stream before the second one leaves
EXIT_FAULT = 70  # the worker's crash-only exit (streams/app.py)


@dataclass
class Expected:
    reports: list[ReadCycleReport]
    outcomes: dict[str, tuple[str, str, str]]  # pass id -> (item, outcome, detail)
    violations: set[tuple[str, str, str, str]]  # (pass id, item, type, detail)
    items: list[str]


def build_expected(groups: int) -> Expected:
    """Groups of ten items 2 s apart pass A1, B1, C1 and D1 STATION_GAP_S apart, each station
    read in two cycles half a second apart; every SKIPPING-th group is not at B1."""
    line = Line(now_us() - 900 * 1_000_000)
    outcomes: dict[str, tuple[str, str, str]] = {}
    violations: set[tuple[str, str, str, str]] = set()
    items: list[str] = []
    for g in range(groups):
        epcs = [encode_sgtin96("0614141", "000001", 20_000 + g * 10 + i) for i in range(10)]
        keys = [item_key(e) for e in epcs]
        items += keys
        skips = g % SKIPPING == SKIPPING - 1
        for s, (reader, station) in enumerate(STATIONS):
            if skips and station == "B1":
                continue
            t = g * 2.0 + s * STATION_GAP_S
            report = line.at(reader, t, epcs, antennas=(1, 2) if reader == "RA" else (1,))
            line.at(reader, t + 0.5, epcs)
            for key in keys:
                pid = pass_id(key, station, report.cycle_start_us)
                if skips and station == "C1":
                    outcomes[pid] = (key, "skipped_stage", "missing b")
                    violations.add((pid, key, "skipped_stage", "missing b"))
                else:
                    outcomes[pid] = (key, "movement", "")
    line.reports.sort(key=lambda r: r.cycle_start_us)
    return Expected(line.reports, outcomes, violations, items)


def worker_metrics(port: int) -> Samples:
    """A worker's /metrics ({} while it does not answer)."""
    return try_scrape(f"http://127.0.0.1:{port}/metrics", timeout_s=1)


def wait_for_trace(p: Pipeline, e: Expected, timeout_s: float = 90.0, quiet_s: float = 0.0) -> None:
    """Until the summary holds every report and pass (or, with ``quiet_s``, nothing changes)."""
    want = (len(e.reports), len(e.outcomes))
    last, changed = (-1, -1), time.monotonic()
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        s = p.query("summary")
        now = (int(s["reads"]["reports"] or 0), int(s["passes"]["passes"] or 0))
        if now == want and len(p.query("violations", limit="1000")) >= len(e.violations):
            return
        if now != last:
            last, changed = now, time.monotonic()
        elif quiet_s and time.monotonic() - changed >= quiet_s:
            return
        time.sleep(0.5)
    if not quiet_s:
        logs = "\n".join(f"--- {n}\n{proc.log()}" for n, proc in p.processes.items())
        samples = worker_metrics(p.settings.metrics_port)
        worker = {k: v for k, v in samples.items() if k[0].startswith("linetrace_")}
        raise AssertionError(
            f"trace holds {last} (reports, passes), expected {want}; first worker: {worker}\n{logs}"
        )


def trace_problems(settings: Settings, e: Expected) -> list[str]:
    """Every way ClickHouse differs from the trace one worker would leave (sink stopped)."""
    store = connect(settings, migrate=False)
    try:
        found: list[str] = []
        rows = store.query("SELECT pass_id, item, outcome, detail FROM passes FINAL")
        ids = [r["pass_id"] for r in rows]
        if len(ids) != len(set(ids)):
            found.append(f"{len(ids) - len(set(ids))} passes stored more than once")
        stored = {r["pass_id"]: (r["item"], r["outcome"], r["detail"]) for r in rows}
        if lost := set(e.outcomes) - set(stored):
            found.append(f"{len(lost)} of {len(e.outcomes)} passes lost")
        if extra := set(stored) - set(e.outcomes):
            found.append(f"{len(extra)} passes that should not exist")
        wrong = {k: v for k, v in stored.items() if k in e.outcomes and e.outcomes[k] != v}
        if wrong:
            found.append(f"{len(wrong)} passes with another verdict, e.g. {next(iter(wrong.values()))}")
        cycles = store.query("SELECT report_id FROM read_cycles FINAL")
        if len(cycles) != len(e.reports) or len({c["report_id"] for c in cycles}) != len(e.reports):
            found.append(f"{len(cycles)} read cycles stored, {len(e.reports)} sent")
        violations = store.query(
            "SELECT pass_id, item, type, detail FROM violations FINAL WHERE retracted = 0 ORDER BY pass_id"
        )
        got = [(v["pass_id"], v["item"], v["type"], v["detail"]) for v in violations]
        if len(got) != len(set(got)) or set(got) != e.violations:
            invented = set(got) - e.violations
            found.append(
                f"{len(got)} violations stored, {len(e.violations)} expected; "
                f"{len(e.violations - set(got))} missing, {len(invented)} invented: {sorted(invented)[:2]}"
            )
        states = store.query(
            "SELECT stage, status, count() AS n FROM item_state FINAL GROUP BY stage, status"
        )
        if {(s["stage"], s["status"]): int(s["n"]) for s in states} != {("d", "complete"): len(e.items)}:
            found.append(f"item states {states}, expected all {len(e.items)} complete at d")
        return found
    finally:
        store.close()


class Supervisor:
    """Restarts a watched worker that ends on a fault (crash-only: exit 70, before committing
    past anything), as systemd or Kubernetes would."""

    def __init__(self, p: Pipeline):
        self.p = p
        self.starts: dict[str, Callable[[], Process]] = {}
        self.restarts: list[str] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def watch(self, name: str, start: Callable[[], Process]) -> None:
        with self._lock:
            self.starts[name] = start

    def let_go(self, name: str) -> Process:
        with self._lock:
            self.starts.pop(name)
            return self.p.processes[name]

    def _run(self) -> None:
        while not self._stopping.wait(0.2):
            with self._lock:
                for name, start in self.starts.items():
                    if self.p.processes[name].popen.poll() == EXIT_FAULT:
                        self.restarts.append(name)
                        self.p.processes[name] = start()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join()


def second_worker(p: Pipeline, port: int, patches: str, name: str = "worker-2") -> Process:
    """Another `linetrace worker` of the same consumer group, with its own state and port."""
    settings = p.settings.with_(state_dir=str(p.log_dir / name), metrics_port=port)
    p.processes[name] = Process(["worker"], settings, p.log_dir / f"{name}.log", patches)
    return p.processes[name]


def join(p: Pipeline, supervisor: Supervisor, name: str, patches: str = "") -> int:
    """Start worker ``name`` under the supervisor and wait until it holds items; its metrics port."""
    port = free_port()
    second_worker(p, port, patches, name)
    supervisor.watch(name, lambda: second_worker(p, port, patches, name))
    deadline = time.monotonic() + 60.0
    while value(worker_metrics(port), "linetrace_route_state_items") == 0 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert value(worker_metrics(port), "linetrace_route_state_items") > 0, (
        f"{name} takes items\n" + p.processes[name].log()
    )
    return port


def stream_through_a_rebalance(
    p: Pipeline, e: Expected, leave: signal.Signals, first: str = "", second: str = "", quiet_s: float = 0.0
) -> list[str]:
    """Reads flow; a second worker joins, takes a share of the partitions, and leaves by
    ``leave``; then until the trace is complete (or quiet for ``quiet_s``). Returns the workers
    the supervisor restarted on the way."""
    supervisor = Supervisor(p)
    supervisor.watch("worker", lambda: p.start_process("worker", first))
    try:
        sender = send_in_background(p, e.reports, per_second=REPORTS_PER_S)
        time.sleep(JOIN_AFTER_S)
        port = join(p, supervisor, "worker-2", second)
        time.sleep(SHARE_S)
        taken = value(worker_metrics(port), "linetrace_read_cycles_total")
        assert taken > 0 and sender.is_alive(), "both workers took reads, and reads still flow"
        supervisor.let_go("worker-2").stop(leave)
        sender.join(120.0)
        wait_for_trace(p, e, quiet_s=quiet_s)
        print(
            f"second worker took {taken:.0f} reports, left by {leave.name}; restarts: {supervisor.restarts}"
        )
        return supervisor.restarts
    finally:
        supervisor.stop()


def start(settings: Settings, tmp_path: Path, patches: str = "") -> Pipeline:
    return Pipeline(settings, parse_plant(PLANT), tmp_path).start({"worker": patches})


@pytest.mark.parametrize("leave", [signal.SIGTERM, signal.SIGKILL], ids=["leaves by SIGTERM", "killed"])
def test_a_worker_joins_and_leaves_mid_stream(
    settings: Settings, tmp_path: Path, leave: signal.Signals
) -> None:
    p = start(settings, tmp_path)
    try:
        e = build_expected(GROUPS)
        stream_through_a_rebalance(p, e, leave)
        p.stop_sink()
        assert trace_problems(p.settings, e) == []
    finally:
        p.stop()


def test_a_second_and_third_worker_join_and_leave_under_load(settings: Settings, tmp_path: Path) -> None:
    """Three workers in turn: a second joins, a third joins, the second leaves by SIGTERM and
    the third is killed, all while reads flow; the trace is the one worker's. The supervisor's
    restarts (a worker ending on an event of a partition taken from it: NotAssigned) are
    printed and must not cascade. Three partitions, so each of three workers holds one."""
    p = start(settings.with_(partitions=3), tmp_path)
    supervisor = Supervisor(p)
    supervisor.watch("worker", lambda: p.start_process("worker"))
    try:
        e = build_expected(GROUPS * 2)
        sender = send_in_background(p, e.reports, per_second=REPORTS_PER_S)
        time.sleep(JOIN_AFTER_S)
        second = join(p, supervisor, "worker-2")
        time.sleep(SHARE_S / 2)
        third = join(p, supervisor, "worker-3")
        time.sleep(SHARE_S / 2)
        taken = {
            n: value(worker_metrics(port), "linetrace_read_cycles_total")
            for n, port in (("worker-2", second), ("worker-3", third))
        }
        assert sender.is_alive(), "reads still flow when the workers leave"
        supervisor.let_go("worker-2").stop(signal.SIGTERM)
        time.sleep(SHARE_S / 2)
        supervisor.let_go("worker-3").stop(signal.SIGKILL)
        sender.join(180.0)
        wait_for_trace(p, e, timeout_s=150.0)
        print(f"reports taken before leaving: {taken}; restarts: {supervisor.restarts}")
        p.stop_sink()
        assert trace_problems(p.settings, e) == []
        assert len(supervisor.restarts) <= 3, f"restarts cascade: {supervisor.restarts}"
    finally:
        supervisor.stop()
        p.stop()


@pytest.mark.parametrize(
    ("first", "second"),
    [
        pytest.param("", "no_restore", id="the joining worker does not rebuild state from the changelog"),
        pytest.param(
            "keep_revoked_state", "", id="the first worker keeps the state of partitions taken from it"
        ),
    ],
)
def test_control_without_state_handover_workers_judge_wrong(
    settings: Settings, tmp_path: Path, first: str, second: str
) -> None:
    p = start(settings, tmp_path, patches=first)
    try:
        e = build_expected(GROUPS)
        stream_through_a_rebalance(p, e, signal.SIGTERM, first, second, quiet_s=8.0)
        p.stop_sink()
        found = trace_problems(p.settings, e)
        print(f"control: {found}")
        assert any("another verdict" in f for f in found), found
    finally:
        p.stop()
