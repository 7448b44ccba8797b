"""Passes per station per minute, counted by stage 2 as each pass joins an item's history.

Each partition counts its own items' passes, so a count is exact and a replay cannot add
to it (the item state knows the pass already). ClickHouse keeps the latest count of each
(minute, station, partition) and a throughput query sums the partitions: a few thousand
small rows an hour, instead of merging every pass id.

Minutes older than ``KEEP_MINUTES`` are forgotten by the worker; a pass later than that
still counts in its item's trace, but no longer in throughput.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from streams.counters import PartitionCounters, Record, Row

# Two days: far beyond the reorder window and a spool replay after a long broker outage.
KEEP_MINUTES = 2 * 24 * 60
MINUTE_US = 60_000_000
KEEP_US = KEEP_MINUTES * MINUTE_US
KEY_PREFIX = "\x00passes:"  # changelog key of one minute's counters: prefix + minute (us)

CountKey = tuple[str, str, str, str]  # site, line, station, stage


@dataclass
class PassCounts(PartitionCounters[int]):
    """Passes per minute and station; a minute is changed when a pass was counted in it."""

    minutes: dict[int, dict[CountKey, int]] = field(default_factory=dict)
    # The latest of ``minutes`` when it holds any (none is forgotten): max() over two days of
    # minutes on every pass cost more than the count.
    newest: int = field(default=0, compare=False)

    def count(self, site: str, line: str, station: str, stage: str, first_us: int, by: int = 1) -> None:
        """One more pass in its minute (``by`` -1: one fewer, a pass withdrawn)."""
        minute = first_us - first_us % MINUTE_US
        minutes = self.minutes
        if not minutes:
            self.newest = minute
        elif minute < self.newest - KEEP_US:
            return  # too late to count (see the module docstring)
        elif minute > self.newest:
            self.newest = minute
        counts = minutes.get(minute)
        if counts is None:
            counts = minutes[minute] = {}
        key = (site, line, station, stage)
        left = counts.get(key, 0) + by
        counts[key] = left if left > 0 else 0
        self.changed.add(minute)

    def rows_of(self, partition: int, keys: list[int]) -> list[Row]:
        return [
            {
                "site": k[0],
                "line": k[1],
                "station": k[2],
                "stage": k[3],
                "minute": minute,
                "partition": partition,
                "passes": n,
                "revision": self.revision,
            }
            for minute in keys
            for k, n in sorted(self.minutes[minute].items())
        ]

    def changelog_of(self, keys: list[int]) -> list[Record]:
        """One record per changed minute, holding all its counters."""
        return [
            (
                f"{KEY_PREFIX}{m}",
                {"revision": self.revision, "counts": [[*k, n] for k, n in self.minutes[m].items()]},
            )
            for m in keys
        ]

    def forget_old(self) -> None:
        if self.minutes:
            horizon = self.newest - KEEP_US
            for m in [m for m in self.minutes if m < horizon]:
                del self.minutes[m]

    def load(self, key: str, value: dict[str, Any]) -> None:
        minute = int(key[len(KEY_PREFIX) :])
        self.newest = max(self.newest, minute) if self.minutes else minute
        self.minutes[minute] = {(c[0], c[1], c[2], c[3]): c[4] for c in value["counts"]}
        self.revision = max(self.revision, value["revision"])
