"""A generated line and the exact trace it must leave in ClickHouse, for the fault suite.

Every item of the workload passes A1, B1, C1 and D1 of the scenario plant in order, read in
several cycles per station (duplicates within a cycle and a second cycle half a second
later), so the trace is known exactly: one pass per item and station with a known id, no
violations, every item at stage d, one read-cycle row per report.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from ingest.epc import encode_sgtin96, item_key
from ingest.schema import ReadCycleReport, pass_id
from ingest.settings import Settings
from ingest.timefmt import now_us
from ingest.wire import encode_report
from storage.client import connect
from tests.integration.conftest import Pipeline
from tests.integration.scenario import Line

STATIONS = (("RA", "A1"), ("RB", "B1"), ("RC", "C1"), ("RD", "D1"))


@dataclass
class Workload:
    reports: list[ReadCycleReport]
    items: list[str]
    pass_ids: set[str] = field(default_factory=set)


def build_workload(items: int, per_cycle: int = 10, serial_base: int = 10_000) -> Workload:
    """``items`` items in groups of ``per_cycle``; a group reaches the next station 10 s later."""
    line = Line(now_us() - 900 * 1_000_000)
    epcs = [encode_sgtin96("0614141", "000001", serial_base + i) for i in range(items)]
    keys = [item_key(e) for e in epcs]
    pass_ids: set[str] = set()
    for g in range(0, items, per_cycle):
        group = epcs[g : g + per_cycle]
        for s, (reader, station) in enumerate(STATIONS):
            t = g / per_cycle * 2.0 + s * 10.0
            report = line.at(reader, t, group, antennas=(1, 2) if reader == "RA" else (1,))
            line.at(reader, t + 0.5, group)  # the same tags again: the next cycle's duplicates
            pass_ids.update(pass_id(item_key(e), station, report.cycle_start_us) for e in group)
    line.reports.sort(key=lambda r: r.cycle_start_us)
    return Workload(line.reports, keys, pass_ids)


def send(p: Pipeline, reports: list[ReadCycleReport], per_second: float = 0.0) -> None:
    """Publish reports keyed by reader, at ``per_second`` reports a second (0: at once)."""
    for i, r in enumerate(reports):
        p.send(p.topics.reads, encode_report(r), r.reader_id.encode())
        if per_second and i % 10 == 9:
            p.flush()
            time.sleep(10 / per_second)
    p.flush()


def send_in_background(p: Pipeline, reports: list[ReadCycleReport], per_second: float) -> threading.Thread:
    thread = threading.Thread(target=send, args=(p, reports, per_second), daemon=True)
    thread.start()
    return thread


def progress(p: Pipeline) -> tuple[int, int]:
    try:
        s = p.query("summary")
    except Exception:
        return (-1, -1)
    return (int(s["reads"]["reports"] or 0), int(s["passes"]["passes"] or 0))


def wait_for_trace(
    p: Pipeline, w: Workload, timeout_s: float = 120.0, quiet_s: float = 0.0, extra: tuple[int, int] = (0, 0)
) -> None:
    """Until the trace holds every report and pass of the workload (and ``extra`` reports and
    passes sent besides); with ``quiet_s``, also stop waiting once nothing has changed for
    that long (a negative control never completes)."""
    want = (len(w.reports) + extra[0], len(w.pass_ids) + extra[1])
    deadline = time.monotonic() + timeout_s
    last, changed = progress(p), time.monotonic()
    while time.monotonic() < deadline:
        now = progress(p)
        if now == want:
            return
        if now != last:
            last, changed = now, time.monotonic()
        elif quiet_s and time.monotonic() - changed >= quiet_s:
            return
        time.sleep(0.5)
    if not quiet_s:
        logs = "\n".join(f"--- {n}\n{proc.log()}" for n, proc in p.processes.items())
        raise AssertionError(f"trace holds {last}, expected {want}\n{logs}")


def problems(settings: Settings, w: Workload) -> list[str]:
    """Every way ClickHouse differs from the exact trace (read with the sink stopped)."""
    store = connect(settings, migrate=False)
    try:
        found: list[str] = []
        items = {"items": w.items}
        rows = store.query(
            "SELECT pass_id, count() AS n FROM passes FINAL "
            "WHERE item IN {items:Array(String)} GROUP BY pass_id",
            items,
        )
        stored = {r["pass_id"]: int(r["n"]) for r in rows}
        lost = w.pass_ids - set(stored)
        extra = set(stored) - w.pass_ids
        doubled = [k for k, n in stored.items() if n > 1]
        if lost:
            found.append(f"{len(lost)} of {len(w.pass_ids)} passes lost")
        if extra:
            found.append(f"{len(extra)} passes that should not exist")
        if doubled:
            found.append(f"{len(doubled)} passes stored more than once")
        reports = store.query(
            "SELECT report_id, count() AS n FROM read_cycles FINAL WHERE report_id IN {ids:Array(String)} "
            "GROUP BY report_id",
            {"ids": [r.report_id for r in w.reports]},
        )
        if len(reports) != len(w.reports) or any(int(r["n"]) != 1 for r in reports):
            found.append(f"{len(reports)} read cycles stored, {len(w.reports)} sent")
        violations = store.query(
            "SELECT type, count() AS n FROM violations FINAL "
            "WHERE retracted = 0 AND item IN {items:Array(String)} GROUP BY type",
            items,
        )
        if violations:
            found.append(f"violations that should not exist: {violations}")
        states = store.query(
            "SELECT stage, count() AS n FROM item_state FINAL WHERE item IN {items:Array(String)} "
            "GROUP BY stage",
            items,
        )
        if {r["stage"]: int(r["n"]) for r in states} != {"d": len(w.items)}:
            found.append(f"items by stage {states}, expected all {len(w.items)} at d")
        return found
    finally:
        store.close()
