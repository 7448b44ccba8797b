"""Items per job and status, counted by the partition that owns the item as its row changes."""

from __future__ import annotations

from typing import Any

from ingest.plant import Plant
from ingest.settings import Settings
from streams.counted import Counted
from streams.jobcounts import JobCounts
from streams.stage2 import Changes, RouteStates
from tests.unit.factories import LINE, SITE, part, pass_record

SETTINGS = Settings(dedup_window_s=1.0, reorder_window_s=0.0, partitions=1)


def _counted(job: str, status: str) -> Counted:
    return SITE, LINE, "cut", 0, job, status


def _latest(changes: list[Changes]) -> dict[str, dict[str, Any]]:
    latest: dict[str, dict[str, Any]] = {}
    for c in changes:
        for r in c.job_counts:
            if r["job"] not in latest or r["revision"] >= latest[r["job"]]["revision"]:
                latest[r["job"]] = r
    return {
        job: {k: r[k] for k in ("items", "complete", "in_process", "rejected")} for job, r in latest.items()
    }


def test_an_item_moves_between_statuses_and_jobs() -> None:
    ticks = iter(range(100, 200))
    counts = JobCounts(clock_us=lambda: next(ticks))
    counts.move(None, _counted("J-1", "in_process"))
    counts.move(None, _counted("J-1", "in_process"))
    counts.move(None, _counted("", "in_process"))  # bound to no job: not counted
    [first] = counts.take(0).rows
    assert (first["job"], first["items"], first["in_process"], first["complete"]) == ("J-1", 2, 2, 0)

    counts.move(_counted("J-1", "in_process"), _counted("J-1", "complete"))
    counts.move(_counted("J-1", "in_process"), _counted("J-2", "rejected"))  # bound again, then failed QC
    rows = {r["job"]: r for r in counts.take(0).rows}
    assert {j: (r["items"], r["complete"], r["rejected"]) for j, r in rows.items()} == {
        "J-1": (1, 1, 0),
        "J-2": (1, 0, 1),
    }
    assert rows["J-1"]["revision"] > first["revision"]
    assert counts.take(0).rows == []


def test_a_jobs_items_are_counted_as_they_complete_their_route(plant: Plant) -> None:
    states = RouteStates(SETTINGS, plant)
    states.load(0, [])
    states.apply(0, [{"k": "bind", "item": part(n), "job": "J-1", "product": "PART"} for n in (1, 2)])
    states.apply(0, [pass_record(part(n), "CUT-1", 10) for n in (1, 2)])
    first = states.settle(0, idle=True)
    assert _latest([first]) == {"J-1": {"items": 2, "complete": 0, "in_process": 2, "rejected": 0}}

    states.apply(0, [pass_record(part(1), "MACH-1", 20), pass_record(part(1), "ASSY-1", 30)])
    second = states.settle(0, idle=True)
    assert _latest([first, second]) == {"J-1": {"items": 2, "complete": 1, "in_process": 1, "rejected": 0}}

    restored = RouteStates(SETTINGS, plant)
    restored.load(0, [(k.encode(), v) for _, k, v in [*first.changelog, *second.changelog]])
    again = restored.settle(0, idle=True)  # a loaded partition writes every job once
    assert _latest([first, second, again]) == _latest([first, second])
    assert min(r["revision"] for r in again.job_counts) > max(r["revision"] for r in second.job_counts)
