"""Items per job and status, counted by stage 2 as items' rows change: a job's done count for
the jobs list, the late-job banner and the job card, without reading an item row.

Each partition counts its own items by the job and status their last row gave them, and writes
the jobs whose counts changed; ClickHouse keeps each (job, partition)'s latest row and queries
sum the partitions. Like the WIP rollup (streams/wipcounts.py) it is counted again when a
partition is loaded, and its revisions come from the wall clock.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from streams.counted import Counted, wall_clock_us
from streams.counters import PartitionCounters, Record, Row
from streams.route import COMPLETE, IN_PROCESS, REJECTED


def job_key(counted: Counted | None) -> tuple[str, str] | None:
    """(job, status) of an item counted so; None when it is bound to no job."""
    if counted is None or not counted[4]:
        return None
    return counted[4], counted[5]


@dataclass
class JobCounts(PartitionCounters[str]):
    """Items per job and status in one partition; ``changed`` holds the jobs whose counts moved."""

    jobs: dict[str, dict[str, int]] = field(default_factory=dict)
    clock_us: Callable[[], int] = wall_clock_us

    @classmethod
    def of(cls, items: Iterable[Counted | None], clock_us: Callable[[], int] = wall_clock_us) -> JobCounts:
        """The counts of a partition whose items are counted so, every job changed."""
        counts = cls(clock_us=clock_us)
        for counted in items:
            if (key := job_key(counted)) is not None:
                counts._add(key, 1)
        counts.changed.update(counts.jobs)
        return counts

    def move(self, was: Counted | None, now: Counted | None) -> None:
        """An item counted as ``was`` is now counted as ``now``."""
        old, new = job_key(was), job_key(now)
        if old == new:
            return
        for key, n in ((old, -1), (new, 1)):
            if key is not None:
                self._add(key, n)
                self.changed.add(key[0])

    def _add(self, key: tuple[str, str], n: int) -> None:
        job, status = key
        statuses = self.jobs.setdefault(job, {})
        left = statuses.get(status, 0) + n
        if left > 0:
            statuses[status] = left
        else:
            statuses.pop(status, None)
            if not statuses:
                del self.jobs[job]

    def rows_of(self, partition: int, keys: list[str]) -> list[Row]:
        self.revision = max(self.revision, self.clock_us())
        rows = []
        for job in keys:
            statuses = self.jobs.get(job, {})
            rows.append(
                {
                    "job": job,
                    "partition": partition,
                    "items": sum(statuses.values()),
                    "complete": statuses.get(COMPLETE, 0),
                    "in_process": statuses.get(IN_PROCESS, 0),
                    "rejected": statuses.get(REJECTED, 0),
                    "revision": self.revision,
                }
            )
        return rows

    def changelog_of(self, keys: list[str]) -> list[Record]:
        return []  # counted again from the item states when a partition is loaded
