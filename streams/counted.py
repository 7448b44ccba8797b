"""Where an item is counted in the rollups stage 2 writes beside its rows (streams/wipcounts.py,
streams/jobcounts.py): its place, the minute of its last read, its job and its status, as its
last item row said. Each item state keeps the one it is counted under (``ItemState.counted``),
so a new row moves the item from the old one to the new one."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final, Generic, Self, TypeVar

from ingest.records.rows import ItemStateRow
from streams.counters import PartitionCounters, Record, Row

if TYPE_CHECKING:
    from _typeshed import SupportsRichComparison

MINUTE_US = 60_000_000

Counted = tuple[str, str, str, int, str, str]  # site, line, stage, minute of the last read (us), job, status

# Read from a record that did not say (written before the rollups): worked out again on load.
UNKNOWN: Final[Counted] = ("", "", "", -1, "", "")


def counted_of(row: ItemStateRow) -> Counted:
    last = row["last_seen"]
    return row["site"], row["line"], row["stage"], last - last % MINUTE_US, row["job"], row["status"]


def wall_clock_us() -> int:
    """A rollup row's revision: later than any row of the same key written before, by this
    worker or by the one that had the partition before it (see streams/wipcounts.py)."""
    return time.time_ns() // 1000


G = TypeVar("G", bound="SupportsRichComparison")  # the group a rollup writes one row of
B = TypeVar("B")  # a bucket within a group


@dataclass
class Rollup(PartitionCounters[G], Generic[G, B]):
    """Items per bucket within groups, in one partition, written a group per row: the shape of
    the WIP and job rollups. A kind says which (group, bucket) an item counted so falls in
    (``bucket_of``) and how a group's row reads (``row_of``); ``changed`` holds the groups whose
    buckets moved since the last take. The counts are a function of the partition's item
    states, so they need no changelog: a loaded partition counts them again (``of``)."""

    groups: dict[G, dict[B, int]] = field(default_factory=dict)
    clock_us: Callable[[], int] = wall_clock_us

    @staticmethod
    def bucket_of(counted: Counted) -> tuple[G, B] | None:
        raise NotImplementedError

    def row_of(self, partition: int, group: G, buckets: dict[B, int]) -> Row:
        raise NotImplementedError

    @classmethod
    def of(cls, items: Iterable[Counted | None], clock_us: Callable[[], int] = wall_clock_us) -> Self:
        """The rollup of a partition whose items are counted so, every group changed (a loaded
        partition writes all of them once)."""
        rollup = cls(clock_us=clock_us)
        for counted in items:
            if counted is not None and (where := cls.bucket_of(counted)) is not None:
                rollup._add(where, 1)
        rollup.changed.update(rollup.groups)
        return rollup

    def move(self, was: Counted | None, now: Counted | None) -> None:
        """An item counted as ``was`` is now counted as ``now``."""
        old = self.bucket_of(was) if was is not None else None
        new = self.bucket_of(now) if now is not None else None
        if old == new:
            return
        for where, n in ((old, -1), (new, 1)):
            if where is not None:
                self._add(where, n)
                self.changed.add(where[0])

    def _add(self, where: tuple[G, B], n: int) -> None:
        group, bucket = where
        buckets = self.groups.setdefault(group, {})
        left = buckets.get(bucket, 0) + n
        if left > 0:
            buckets[bucket] = left
        else:
            buckets.pop(bucket, None)
            if not buckets:
                del self.groups[group]

    def rows_of(self, partition: int, keys: list[G]) -> list[Row]:
        # Later than every row this partition was given before, by this worker or another.
        self.revision = max(self.revision, self.clock_us())
        return [self.row_of(partition, group, self.groups.get(group, {})) for group in keys]

    def changelog_of(self, keys: list[G]) -> list[Record]:
        return []  # counted again from the item states when a partition is loaded
