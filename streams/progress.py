"""Event-time progress of stage 1's inputs, so stage 2 confirms a verdict only when nothing
still in flight can contradict it.

Stage 1 keeps, per input partition (``reads/0``, ``jobs/3``...), the event time of the latest
record it has taken and whether the partition is idle (its consumer has been at the log end for a while).
With every batch it appends a progress record to the bundle of every item-bundles
partition, after the batch's item records, and a timer sends one when nothing else does.
Stage 2 keeps the latest report of each input per item-bundles partition; its low watermark
is the smallest event time over all inputs that are not idle (as Flink and Kafka Streams
align the watermarks of their inputs). An input not heard from yet holds everything back.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

PROGRESS = "progress"

# Event time never reaches this: the low watermark when every input is idle.
END_OF_TIME = 1 << 62


def source_of(topic: str, partition: int) -> str:
    return f"{topic}/{partition}"


@dataclass
class InputProgress:
    """Stage 1's view: per input partition it holds, the newest event time taken and idleness."""

    event_us: dict[str, int] = field(default_factory=dict)
    idle: dict[str, bool] = field(default_factory=dict)
    at_end_since: dict[str, float] = field(default_factory=dict)  # see ``idle_inputs``

    def advance(self, source: str, time_us: int) -> None:
        """The event time of the latest record taken from ``source``: where the input is now.

        Not the newest ever seen: a backlog replayed behind newer records (a reader emptying
        its spool) takes the input back, so nothing after the backlog's time is confirmed
        before the backlog is in.
        """
        self.event_us[source] = time_us

    def took(self, source: str) -> None:
        """A record was taken from ``source``: it is not idle, and its idle time starts again.

        If it was idle, traffic is resuming, and the producers that write it (readers, a
        replay, a backlog) often write the other inputs too: their records may be on the way,
        still unseen by this consumer. So every input's idle time starts again (``_wake``).
        """
        if self.idle.get(source):
            self._wake()
        self.idle[source] = False
        self.at_end_since.pop(source, None)

    def check_idle(self, at_log_end: dict[str, bool], now_s: float, idle_after_s: float) -> None:
        """Which inputs are idle now (``idle_inputs``). An idle input no longer at its log end
        has new records, not taken yet: traffic is resuming as when one is taken, and every
        input's idle time starts again. The fetch that showed its new log end may not show
        the others' yet (Kafka answers a fetch as soon as one partition has data), and once
        its records are taken it is no longer idle, so waiting for ``took`` would be too late.
        """
        if any(self.idle.get(s) and not at_end for s, at_end in at_log_end.items()):
            self._wake()
        self.idle = idle_inputs(at_log_end, self.at_end_since, now_s, idle_after_s)

    def _wake(self) -> None:
        self.idle = dict.fromkeys(self.idle, False)
        self.at_end_since.clear()

    def hold(self, sources: Iterable[str]) -> None:
        """Inputs assigned to this worker; each is reported from now on (event time 0 at first)."""
        for s in sources:
            self.event_us.setdefault(s, 0)

    def forget(self, sources: Iterable[str]) -> None:
        """Inputs revoked: another worker reports them now."""
        for s in sources:
            self.event_us.pop(s, None)
            self.idle.pop(s, None)
            self.at_end_since.pop(s, None)

    def record(self) -> dict[str, Any]:
        """The progress record stage 2 reads (``item`` is empty: it is no item's)."""
        sources = {s: [t, int(self.idle.get(s, False))] for s, t in sorted(self.event_us.items())}
        return {"k": PROGRESS, "item": "", "sources": sources}


def idle_inputs(
    caught_up: dict[str, bool], since: dict[str, float], now_s: float, idle_after_s: float
) -> dict[str, bool]:
    """Which inputs are idle: at their log end (consumer position = end offset) without a
    break for ``idle_after_s``. ``since`` keeps when each one got there, and is updated.

    A partition that is behind is never idle, however old its data: its unread records can
    still contradict a verdict.
    """
    out = {}
    for source, at_end in caught_up.items():
        if not at_end:
            since.pop(source, None)
            out[source] = False
            continue
        start = since.setdefault(source, now_s)
        out[source] = now_s - start >= idle_after_s
    for source in [s for s in since if s not in caught_up]:
        del since[source]
    return out


@dataclass
class Watermarks:
    """Stage 2's view, for one item-bundles partition: the latest report of every input."""

    expected: frozenset[str]
    reports: dict[str, tuple[int, bool]] = field(default_factory=dict)

    def update(self, sources: dict[str, list[int]]) -> None:
        for source, (time_us, idle) in sources.items():
            self.reports[source] = (int(time_us), bool(idle))

    def low_us(self) -> int:
        """The event time every input has passed: 0 while an input was never heard from,
        END_OF_TIME once every input is idle."""
        low = END_OF_TIME
        for source in self.expected | self.reports.keys():
            report = self.reports.get(source)
            if report is None:
                return 0
            time_us, idle = report
            if not idle:
                low = min(low, time_us)
        return low
