"""Portal read rates per route stage, measured on the items seen downstream of it.

A portal reads 60-95% of passes. When an item reaches route stage k, every earlier stage j
is settled for it: it was either read at j or not (a later read of j still turns it read,
and an optional stage passed over unread is counted only once it is read). The counts over
many items give each stage's read rate, the `read_rates` query. (Whether a skipped stage
was only a missed read is judged from the stored passes: storage/missedread.py.)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ingest.plant import Route
from streams.counters import PartitionCounters, Record, Row

StageKey = tuple[str, str, str]  # site, line, stage
# The changelog key of a partition's read-rate counters (no item key starts with NUL).
CHANGELOG_KEY = "\x00read-rates"


@dataclass
class Tally:
    """Where an item's upstream stages have been counted (kept in the item's state)."""

    upto: int = 0  # route stages below this index are counted
    missed: list[str] = field(default_factory=list)  # counted as not read; may turn read later
    # optional stages passed over unread, so not counted; a late read of one counts it read
    uncounted: list[str] = field(default_factory=list)


def settle(
    tally: Tally, route: Route | None, reached: int, read_stages: set[str]
) -> list[tuple[str, int, int]]:
    """(stage, observed delta, read delta) for stages newly settled by reaching ``reached``.

    A stage first counted as missed and later read (a late pass) moves to read.
    """
    if route is None:
        return []
    deltas: dict[str, list[int]] = {}
    for j in range(tally.upto, max(tally.upto, reached)):
        stage = route.stages[j]
        read = stage in read_stages
        if not read and stage in route.optional:
            # left out on purpose, or missed: an optional stage says nothing of its portal
            tally.uncounted.append(stage)
            continue
        deltas[stage] = [1, int(read)]
        if not read:
            tally.missed.append(stage)
    tally.upto = max(tally.upto, reached)
    for stage in [s for s in tally.missed if s in read_stages]:
        tally.missed.remove(stage)
        deltas.setdefault(stage, [0, 0])[1] += 1
    for stage in [s for s in tally.uncounted if s in read_stages]:
        tally.uncounted.remove(stage)
        counts = deltas.setdefault(stage, [0, 0])
        counts[0] += 1
        counts[1] += 1
    return [(s, o, r) for s, (o, r) in deltas.items()]


@dataclass
class ReadRates(PartitionCounters[StageKey]):
    """Observed and read counts per stage, for the items of one partition."""

    counts: dict[StageKey, list[int]] = field(default_factory=dict)

    def add(self, site: str, line: str, deltas: Iterable[tuple[str, int, int]]) -> None:
        for stage, observed, read in deltas:
            key = (site, line, stage)
            counts = self.counts.setdefault(key, [0, 0])
            counts[0] += observed
            counts[1] += read
            self.changed.add(key)

    def rows_of(self, partition: int, keys: list[StageKey]) -> list[Row]:
        """Rows of the changed counters (ClickHouse sums them over partitions)."""
        return [
            {
                "site": k[0],
                "line": k[1],
                "stage": k[2],
                "partition": partition,
                "observed": self.counts[k][0],
                "read": self.counts[k][1],
                "revision": self.revision,
            }
            for k in keys
        ]

    def changelog_of(self, keys: list[StageKey]) -> list[Record]:
        """One record holding every counter of the partition."""
        return [(CHANGELOG_KEY, self.to_dict())]

    def to_dict(self) -> dict[str, Any]:
        return {"revision": self.revision, "counts": [[*k, *v] for k, v in sorted(self.counts.items())]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ReadRates:
        counts = {(r[0], r[1], r[2]): [r[3], r[4]] for r in d["counts"]}
        return cls(revision=d["revision"], counts=counts)
