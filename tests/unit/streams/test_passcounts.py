"""Passes per station per minute, counted once per pass by the partition that owns the item."""

from __future__ import annotations

from ingest.plant import Plant
from ingest.settings import Settings
from streams.counters import Taken
from streams.passcounts import KEEP_MINUTES, MINUTE_US, PassCounts
from streams.readrates import ReadRates
from streams.stage2 import RouteStates
from tests.unit.factories import at, part, pass_record

SETTINGS = Settings(dedup_window_s=1.0, reorder_window_s=0.0, partitions=1)


def _counts(rows: list[dict[str, object]]) -> dict[tuple[object, object], object]:
    return {(r["station"], r["minute"]): r["passes"] for r in rows}


def test_each_pass_counts_once_and_a_restore_goes_on_counting(plant: Plant) -> None:
    states = RouteStates(SETTINGS, plant)
    states.load(0, [])
    states.apply(0, [pass_record(part(1), "CUT-1", 1), pass_record(part(2), "CUT-1", 2)])
    first = states.settle(0, idle=True)
    minute = at(1) - at(1) % MINUTE_US
    assert _counts(first.pass_counts) == {("CUT-1", minute): 2}

    states.apply(0, [pass_record(part(1), "CUT-1", 1)])  # the same pass again: a replay
    assert states.settle(0, idle=True).pass_counts == []

    restored = RouteStates(SETTINGS, plant)
    restored.load(0, [(k.encode(), v) for _, k, v in first.changelog])
    restored.apply(0, [pass_record(part(3), "CUT-1", 3)])
    again = restored.settle(0, idle=True)
    assert _counts(again.pass_counts) == {("CUT-1", minute): 3}
    assert again.pass_counts[0]["revision"] > first.pass_counts[0]["revision"]


def test_minutes_past_keeping_are_forgotten_and_not_counted() -> None:
    counts = PassCounts()
    counts.count("S", "L", "A", "a", 0)
    counts.count("S", "L", "A", "a", (KEEP_MINUTES + 5) * MINUTE_US)
    counts.take(0)
    assert list(counts.minutes) == [(KEEP_MINUTES + 5) * MINUTE_US]
    counts.count("S", "L", "A", "a", 0)  # far too late
    assert counts.take(0) == Taken([], [])


def test_pass_counts_and_read_rates_are_changed_until_their_changes_are_taken() -> None:
    """Both counters of a partition keep what changed until the batch's changes are taken for
    shipping, and are unchanged right after: a second take ships nothing."""
    counts, rates = PassCounts(), ReadRates()
    counts.count("S", "L", "A", "a", 0)
    rates.add("S", "L", [("a", 1, 1)])
    assert (counts.changed, rates.changed) == ({0}, {("S", "L", "a")})

    taken = [counts.take(7), rates.take(7)]

    assert [len(t.rows) for t in taken] == [1, 1] and [len(t.changelog) for t in taken] == [1, 1]
    assert (counts.changed, rates.changed) == (set(), set())
    assert [counts.take(7), rates.take(7)] == [Taken(), Taken()]
    assert (counts.revision, rates.revision) == (1, 1)


def test_a_restored_partition_settles_with_nothing_changed(plant: Plant) -> None:
    states = RouteStates(SETTINGS, plant)
    states.load(0, [])
    states.apply(0, [pass_record(part(1), "CUT-1", 1)])
    first = states.settle(0, idle=True)
    assert first.pass_counts and first.read_rates == []  # one stage reached: nothing settled yet

    restored = RouteStates(SETTINGS, plant)
    restored.load(0, [(k.encode(), v) for _, k, v in first.changelog])
    assert restored.pass_counts[0].changed == set() and restored.read_rates[0].changed == set()
    assert restored.settle(0, idle=True).changelog == []
