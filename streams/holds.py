"""Holds and containment by event time, as intervals.

A hold is in force on an item over the event-time intervals where it was placed on the item
itself and not yet released, or where an item under it was inside this one (packed,
assembled or consumed, until unpacked). Each item keeps its own placement and release and,
per direct child the hold came through, the intervals that child reported; whatever order
the hold, its release, the assembly, the unpack and the passes arrive in, the intervals end
the same, so a pass is judged ``on_hold`` exactly when, at its event time, the item
contained something under a hold.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

# An interval still open (a hold not released, a member not unpacked) ends here.
END = 1 << 62

Interval = tuple[int, int]  # [start, end) in event-time microseconds


def union(intervals: Iterable[Interval]) -> list[Interval]:
    """The same instants as sorted, disjoint, non-empty intervals."""
    out: list[Interval] = []
    for start, end in sorted(i for i in intervals if i[0] < i[1]):
        if out and start <= out[-1][1]:
            if end > out[-1][1]:
                out[-1] = (out[-1][0], end)
        else:
            out.append((start, end))
    return out


def intersect(a: list[Interval], b: list[Interval]) -> list[Interval]:
    """Instants in both (each argument sorted and disjoint)."""
    out: list[Interval] = []
    i = j = 0
    while i < len(a) and j < len(b):
        start, end = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if start < end:
            out.append((start, end))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return out


def covers(intervals: list[Interval], time_us: int) -> bool:
    return any(start <= time_us < end for start, end in intervals)


def membership(events: list[list[int]]) -> list[Interval]:
    """When an item was in a parent, from its [time, 1 (in) or 0 (out)] events in any order.

    An unpack that comes before any pack of it, or a pack while already in, changes nothing.
    """
    out: list[Interval] = []
    since: int | None = None
    for time_us, into in sorted(events):
        if into and since is None:
            since = time_us
        elif not into and since is not None:
            out.append((since, time_us))
            since = None
    if since is not None:
        out.append((since, END))
    return union(out)


@dataclass(slots=True, kw_only=True)
class HoldReport:
    """What a direct child last reported of a hold: in force here over ``intervals``."""

    seq: int  # the child's report sequence: an older report changes nothing
    intervals: list[Interval]


@dataclass(slots=True, kw_only=True)
class Hold:
    """One hold as it bears on one item."""

    hold_type: str
    placed_us: int = 0  # placed on this item itself at (0: not, or not known yet)
    released_us: int = 0  # released from this item itself at (0: not, or not known yet)
    vias: dict[str, HoldReport] = field(default_factory=dict)  # direct child it came through -> report

    def own(self) -> list[Interval]:
        if not self.placed_us:
            return []
        return union([(self.placed_us, self.released_us or END)])

    def intervals(self) -> list[Interval]:
        """When the hold is in force on this item, through itself or anything in it."""
        through = (i for report in self.vias.values() for i in report.intervals)
        return union([*self.own(), *through])


def place(holds: dict[str, Hold], hold_id: str, placed: bool, hold_type: str, time_us: int) -> bool:
    """A hold placed on (or released from) the item itself; False if it was known already.

    The earliest placement and the latest release count, so a repeat changes nothing and a
    release that arrives before its placement is kept for it.
    """
    hold = holds.get(hold_id)
    if hold is None:
        hold = holds[hold_id] = Hold(hold_type=hold_type)
    before = (hold.placed_us, hold.released_us)
    if placed:
        hold.placed_us = min(hold.placed_us, time_us) if hold.placed_us else time_us
    else:
        hold.released_us = max(hold.released_us, time_us)
    return (hold.placed_us, hold.released_us) != before


def through(
    holds: dict[str, Hold], hold_id: str, hold_type: str, via: str, seq: int, intervals: list[Interval]
) -> bool:
    """What the direct child ``via`` reports of a hold: in force here over ``intervals``.

    A report older than the one kept (a lower ``seq``) changes nothing; returns whether the
    hold's intervals on this item changed.
    """
    hold = holds.get(hold_id)
    kept = hold.vias.get(via) if hold else None
    if kept is not None and kept.seq > seq:
        return False
    if hold is None:
        if not intervals:
            return False
        hold = holds[hold_id] = Hold(hold_type=hold_type)
    before = hold.intervals()
    if intervals:
        hold.vias[via] = HoldReport(seq=seq, intervals=[(start, end) for start, end in intervals])
    else:
        hold.vias.pop(via, None)
    return hold.intervals() != before


def held_by(holds: dict[str, Hold], time_us: int) -> str:
    """The hold in force at ``time_us``, as verdict detail text ('' if none)."""
    for hold_id, hold in sorted(holds.items()):
        if covers(hold.intervals(), time_us):
            return f"hold {hold_id} ({hold.hold_type})"
    return ""


def in_force(holds: dict[str, Hold]) -> list[str]:
    """The holds in force now: placed and not released, or through something still in it."""
    return [h for h, hold in sorted(holds.items()) if (ivs := hold.intervals()) and ivs[-1][1] == END]
