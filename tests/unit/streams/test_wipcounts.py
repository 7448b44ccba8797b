"""Work in process per stage and minute of the last read, counted by the partition that owns
the item as its row changes; a loaded partition counts its items again."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import orjson

from ingest.plant import Plant
from ingest.records.routestate import CODEC as ROUTE_STATE
from ingest.settings import Settings
from streams.counted import UNKNOWN, Counted
from streams.stage2 import Changes, RouteStates
from streams.wipcounts import DAY_US, HOUR_US, MINUTE_US, WipCounts, histogram
from tests.unit.factories import LINE, SITE, at, part, pass_record

SETTINGS = Settings(dedup_window_s=1.0, reorder_window_s=0.0, partitions=1)


def _counted(stage: str, minute_us: int, status: str = "in_process") -> Counted:
    return SITE, LINE, stage, minute_us, "", status


def _minute(seconds: float) -> int:
    return at(seconds) - at(seconds) % MINUTE_US


def _wip(changes: list[Changes]) -> dict[tuple[str, int], int]:
    """(stage, minute) -> items, from the latest row of each stage and partition, as the board
    reads them."""
    latest: dict[tuple[Any, ...], dict[str, Any]] = {}
    for c in changes:
        for r in c.wip_counts:
            key = (r["stage"], r["partition"])
            if key not in latest or r["revision"] >= latest[key]["revision"]:
                latest[key] = r
    out: dict[tuple[str, int], int] = defaultdict(int)
    for (stage, _), r in latest.items():
        assert r["items"] == sum(r["minute_items"])
        for minute, n in zip(r["minutes"], r["minute_items"], strict=True):
            out[(stage, minute * MINUTE_US)] += n
    return dict(out)


def test_an_item_moves_between_stages_and_an_emptied_stage_is_written_empty() -> None:
    ticks = iter(range(100, 200))
    counts = WipCounts(clock_us=lambda: next(ticks))
    a, b = _counted("cut", 0), _counted("machine", MINUTE_US)
    counts.move(None, a)
    counts.move(None, a)
    first = counts.take(3).rows
    assert [(r["stage"], r["items"], r["minutes"], r["partition"]) for r in first] == [("cut", 2, [0], 3)]

    counts.move(a, b)
    counts.move(a, _counted("cut", 0, "complete"))  # no longer in process
    second = counts.take(3).rows
    assert sorted((r["stage"], r["items"], r["minutes"], r["minute_items"]) for r in second) == [
        ("cut", 0, [], []),
        ("machine", 1, [1], [1]),
    ]
    assert second[0]["revision"] > first[0]["revision"]
    assert counts.groups == {b[:3]: {MINUTE_US: 1}}
    assert counts.take(3).rows == []


def test_a_histogram_keeps_minutes_for_a_day_then_hours_then_days() -> None:
    newest = 400 * DAY_US
    buckets = {
        newest: 1,
        newest - 3 * MINUTE_US: 2,
        newest - 2 * DAY_US - 5 * MINUTE_US: 1,  # two days before: its hour
        newest - 2 * DAY_US - 7 * MINUTE_US: 1,
        newest - 30 * DAY_US - 3 * HOUR_US: 4,  # a month before: its day
    }
    minutes, items = histogram(buckets)
    hour = (newest - 2 * DAY_US - 7 * MINUTE_US) // HOUR_US * HOUR_US
    day = (newest - 30 * DAY_US - 3 * HOUR_US) // DAY_US * DAY_US
    assert minutes == [day // MINUTE_US, hour // MINUTE_US, newest // MINUTE_US - 3, newest // MINUTE_US]
    assert items == [4, 2, 2, 1]


def test_a_revision_never_goes_back_even_if_the_clock_does() -> None:
    times = iter([500, 400])
    counts = WipCounts(clock_us=lambda: next(times))
    counts.move(None, _counted("cut", 0))
    [first] = counts.take(0).rows
    counts.move(None, _counted("cut", MINUTE_US))
    [second] = counts.take(0).rows
    assert (first["revision"], second["revision"]) == (500, 501)


def test_wip_follows_items_along_the_route_by_their_last_read(plant: Plant) -> None:
    states = RouteStates(SETTINGS, plant)
    states.load(0, [])
    states.apply(0, [pass_record(part(1), "CUT-1", 10), pass_record(part(2), "CUT-1", 70)])
    first = states.settle(0, idle=True)
    assert _wip([first]) == {("cut", _minute(10)): 1, ("cut", _minute(70)): 1}

    states.apply(0, [pass_record(part(1), "MACH-1", 130)])
    second = states.settle(0, idle=True)
    assert _wip([first, second]) == {("cut", _minute(70)): 1, ("machine", _minute(130)): 1}


def test_a_loaded_partition_writes_every_bucket_again_and_goes_on_counting(plant: Plant) -> None:
    states = RouteStates(SETTINGS, plant)
    states.load(0, [])
    states.apply(0, [pass_record(part(1), "CUT-1", 10), pass_record(part(2), "MACH-1", 10)])
    before = states.settle(0, idle=True)

    restored = RouteStates(SETTINGS, plant)
    restored.load(0, [(k.encode(), v) for _, k, v in before.changelog])
    restored.apply(0, [pass_record(part(2), "ASSY-1", 200)])
    after = restored.settle(0, idle=True)

    # A crashed predecessor may have written counts its changelog never recorded: every
    # bucket is written again, later than anything written before. Part 2 completes its
    # route at assembly and leaves WIP.
    assert {(r["stage"], r["items"]) for r in after.wip_counts} == {("cut", 1), ("machine", 0)}
    assert min(r["revision"] for r in after.wip_counts) > max(r["revision"] for r in before.wip_counts)
    assert _wip([before, after]) == {("cut", _minute(10)): 1}


def test_a_state_saved_before_the_rollups_is_counted_when_loaded(plant: Plant) -> None:
    states = RouteStates(SETTINGS, plant)
    states.load(0, [])
    states.apply(0, [pass_record(part(1), "MACH-1", 10)])
    saved = [(k, v) for _, k, v in states.settle(0, idle=True).changelog if not k.startswith("\x00")]
    old = [
        (k.encode(), orjson.dumps({x: y for x, y in orjson.loads(v).items() if x != "counted"}))
        for k, v in saved
    ]
    assert ROUTE_STATE.decode(old[0][1]).counted == UNKNOWN

    restored = RouteStates(SETTINGS, plant)
    restored.load(0, old)

    assert restored.items[0][part(1)].counted == (SITE, LINE, "machine", _minute(10), "", "in_process")
    assert _wip([restored.settle(0, idle=True)]) == {("machine", _minute(10)): 1}
