"""Offset gap guard for faust agents.

faust 0.15.3 can drop events it already fetched when an agent stalls right after a
restart, while its read offset moves past them (faust-streaming#596). Committing past
such a gap would lose input silently. The guard checks that each partition's offsets
continue from the committed offset without a hole; on a hole it raises, the worker
exits without committing, and the restart replays from the committed offset.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from ingest.errors import LinetraceError

TopicPartition = tuple[str, int]


class OffsetGap(LinetraceError):
    """Input offsets jumped: events were skipped and must be replayed."""


class NotAssigned(LinetraceError):
    """An event of a partition a rebalance took away: it is the new owner's to process."""


class OffsetGuard:
    def __init__(self, committed: Callable[[TopicPartition], int | None]):
        self._committed = committed
        self._last: dict[TopicPartition, int] = {}

    def check(self, tp: TopicPartition, offset: int) -> None:
        last = self._last.get(tp)
        if last is None:
            committed = self._committed(tp)
            if committed is not None and offset > committed:
                raise OffsetGap(f"{tp}: first offset {offset} after committed {committed}")
        elif offset > last + 1:
            raise OffsetGap(f"{tp}: offset {offset} follows {last}")
        if last is None or offset > last:
            self._last[tp] = offset

    def last(self, tp: TopicPartition) -> int | None:
        """The last offset taken from a partition (None before the first)."""
        return self._last.get(tp)

    def forget(self, tps: Iterable[TopicPartition]) -> None:
        for tp in tps:
            self._last.pop(tp, None)

    def retain(self, tps: Iterable[TopicPartition]) -> None:
        """Forget every partition but these."""
        keep = set(tps)
        self.forget([tp for tp in self._last if tp not in keep])
