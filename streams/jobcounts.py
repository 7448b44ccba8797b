"""Items per job and status, counted by stage 2 as items' rows change: a job's done count for
the jobs list, the late-job banner and the job card, without reading an item row.

Each partition counts its own items by the job and status their last row gave them, and writes
the jobs whose counts changed; ClickHouse keeps each (job, partition)'s latest row and queries
sum the partitions. Like the WIP rollup (streams/wipcounts.py) it is counted again when a
partition is loaded, and its revisions come from the wall clock.
"""

from __future__ import annotations

from streams.counted import Counted, Rollup
from streams.counters import Row
from streams.route import COMPLETE, IN_PROCESS, REJECTED


def job_key(counted: Counted | None) -> tuple[str, str] | None:
    """(job, status) of an item counted so; None when it is bound to no job."""
    if counted is None or not counted[4]:
        return None
    return counted[4], counted[5]


class JobCounts(Rollup[str, str]):
    """Items per job (the group) and status (the bucket) in one partition."""

    @staticmethod
    def bucket_of(counted: Counted) -> tuple[str, str] | None:
        return job_key(counted)

    def row_of(self, partition: int, group: str, buckets: dict[str, int]) -> Row:
        return {
            "job": group,
            "partition": partition,
            "items": sum(buckets.values()),
            "complete": buckets.get(COMPLETE, 0),
            "in_process": buckets.get(IN_PROCESS, 0),
            "rejected": buckets.get(REJECTED, 0),
            "revision": self.revision,
        }
