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

from streams.counted import MINUTE_US, Counted, Rollup
from streams.counters import Row
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


class WipCounts(Rollup[StageKey, int]):
    """In-process items per stage (the group) and minute of their last read (the bucket) in one
    partition; a stage that emptied is written with none."""

    @staticmethod
    def bucket_of(counted: Counted) -> tuple[StageKey, int] | None:
        key = wip_key(counted)
        return None if key is None else (key[:3], key[3])

    def row_of(self, partition: int, group: StageKey, buckets: dict[int, int]) -> Row:
        minutes, items = histogram(buckets)
        site, line, stage = group
        return {
            "site": site,
            "line": line,
            "stage": stage,
            "partition": partition,
            "items": sum(items),
            "minutes": minutes,
            "minute_items": items,
            "revision": self.revision,
        }
