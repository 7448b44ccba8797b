"""Work in process per stage, counted by stage 2 as items' rows change: the line board's WIP
columns and their ageing, without reading an item row.

An item in process is counted in one bucket: its site, line and stage (where it was last
read) and the minute of its last read. When stage 2 writes an item's row, the item leaves its
old bucket and enters its new one (or none, once it is complete, rejected, packed...). Each
partition writes, for every stage whose buckets changed, one row with the stage's whole
histogram: the minutes its items were last read in and how many items each. ClickHouse keeps
each (stage, partition)'s latest row and the board sums the partitions, so the board reads a
few rows per stage whatever the number of items, and a bucket that empties leaves nothing
behind. A histogram keeps minutes for the day before the stage's newest read, then hours for a
week, then days: the waits that matter to a supervisor are exact, a row stays small.

A stage's counts are a function of the partition's item states, so they need no changelog of
their own: each item state records where it is counted (``ItemState.counted``,
streams/counted.py), and loading a partition counts them again and writes every stage.
Revisions are microseconds of the wall clock, so a worker that takes a partition over after a
crash writes over whatever its predecessor left, and a replay writes every stage it touches
again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from streams.counted import MINUTE_US, Counted, wall_clock_us
from streams.counters import PartitionCounters, Record, Row
from streams.route import IN_PROCESS

HOUR_US = 60 * MINUTE_US
DAY_US = 24 * HOUR_US
# Buckets within a day of the stage's newest stay minutes; within a week, hours; then days.
MINUTES_FOR_US, HOURS_FOR_US = DAY_US, 7 * DAY_US

WipKey = tuple[str, str, str, int]  # site, line, stage, minute of the last read (us)
StageKey = tuple[str, str, str]  # site, line, stage


def wip_key(counted: Counted | None) -> WipKey | None:
    """The bucket of an item counted so; None when it is not in process."""
    if counted is None or counted[5] != IN_PROCESS:
        return None
    return counted[:4]


def histogram(buckets: dict[int, int]) -> tuple[list[int], list[int]]:
    """A stage's buckets (minute in us -> items) as (epoch minutes, items) in time order,
    older buckets merged into hours, then days (see the module docstring)."""
    if not buckets:
        return [], []
    newest = max(buckets)
    merged: dict[int, int] = {}
    for minute, items in buckets.items():
        age = newest - minute
        width = MINUTE_US if age <= MINUTES_FOR_US else HOUR_US if age <= HOURS_FOR_US else DAY_US
        start = minute - minute % width
        merged[start] = merged.get(start, 0) + items
    order = sorted(merged)
    return [m // MINUTE_US for m in order], [merged[m] for m in order]


@dataclass
class WipCounts(PartitionCounters[StageKey]):
    """In-process items per stage and minute in one partition; ``changed`` holds the stages
    whose buckets moved since the last take (a stage that emptied is written with none)."""

    stages: dict[StageKey, dict[int, int]] = field(default_factory=dict)
    clock_us: Callable[[], int] = wall_clock_us

    @classmethod
    def of(cls, items: Iterable[Counted | None], clock_us: Callable[[], int] = wall_clock_us) -> WipCounts:
        """The counts of a partition whose items are counted so, every stage changed (a loaded
        partition writes all of them once)."""
        counts = cls(clock_us=clock_us)
        for counted in items:
            if (key := wip_key(counted)) is not None:
                counts._add(key, 1)
        counts.changed.update(counts.stages)
        return counts

    def move(self, was: Counted | None, now: Counted | None) -> None:
        """An item counted as ``was`` is now counted as ``now``."""
        old, new = wip_key(was), wip_key(now)
        if old == new:
            return
        if old is not None:
            self._add(old, -1)
            self.changed.add(old[:3])
        if new is not None:
            self._add(new, 1)
            self.changed.add(new[:3])

    def _add(self, key: WipKey, n: int) -> None:
        stage, minute = key[:3], key[3]
        buckets = self.stages.setdefault(stage, {})
        left = buckets.get(minute, 0) + n
        if left > 0:
            buckets[minute] = left
        else:
            buckets.pop(minute, None)
            if not buckets:
                del self.stages[stage]

    def rows_of(self, partition: int, keys: list[StageKey]) -> list[Row]:
        # Later than every row this partition was given before, by this worker or another.
        self.revision = max(self.revision, self.clock_us())
        rows = []
        for site, line, stage in keys:
            minutes, items = histogram(self.stages.get((site, line, stage), {}))
            rows.append(
                {
                    "site": site,
                    "line": line,
                    "stage": stage,
                    "partition": partition,
                    "items": sum(items),
                    "minutes": minutes,
                    "minute_items": items,
                    "revision": self.revision,
                }
            )
        return rows

    def changelog_of(self, keys: list[StageKey]) -> list[Record]:
        return []  # counted again from the item states when a partition is loaded
