"""A partition's counters, and which of them changed since they were last shipped.

Stage 2 keeps two kinds per partition: passes per station and minute (``passcounts``) and
portal read rates per stage (``readrates``). Both ship the same way, at one point: when a
batch's changes are taken, the counters changed since the last take become rows under the
next revision (ClickHouse keeps each counter's latest revision) and changelog records, and
the changed set is cleared.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    from _typeshed import SupportsRichComparison

Row = dict[str, Any]
Record = tuple[str, dict[str, Any]]  # changelog key and value
K = TypeVar("K", bound="SupportsRichComparison")


@dataclass
class Taken:
    """What the counters changed since the last take: trace rows and changelog records."""

    rows: list[Row] = field(default_factory=list)
    changelog: list[Record] = field(default_factory=list)


@dataclass
class PartitionCounters(Generic[K]):
    """Counters of one partition's items; ``changed`` holds the keys counted since the last take."""

    changed: set[K] = field(default_factory=set)
    revision: int = 0

    def take(self, partition: int) -> Taken:
        """Rows and changelog records of the changed counters, under the next revision; after
        it no counter is changed."""
        if not self.changed:
            return Taken()
        self.revision += 1
        keys = sorted(self.changed)
        taken = Taken(self.rows_of(partition, keys), self.changelog_of(keys))
        self.changed.clear()
        self.forget_old()
        return taken

    def rows_of(self, partition: int, keys: list[K]) -> list[Row]:
        raise NotImplementedError

    def changelog_of(self, keys: list[K]) -> list[Record]:
        raise NotImplementedError

    def forget_old(self) -> None:
        """Drop counters no longer kept (none, unless a kind says otherwise)."""
