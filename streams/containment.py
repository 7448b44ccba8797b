"""Containment and holds of one item's state: what it is in and when, and the holds that
bear on it, kept by event time so the order events arrive in does not matter.

Pure functions over ``ItemState``; stage 2 turns what they return into records for the
item's parents (genealogy closure and hold reports travel up the item-bundles topic).
"""

from __future__ import annotations

from typing import Any

from streams.holds import END, Interval, intersect, membership, place, through
from streams.items import ItemState


def contain(state: ItemState, parent: str, time_us: int, into: bool, consumed: bool = False) -> bool:
    """The item went into ``parent`` at ``time_us`` (packed, assembled, or ``consumed`` by a
    transformation), or was unpacked from it (``into`` False). False if already known.

    What it is in now (``parents``, the latest last) follows from all such events by event
    time, so an unpack that arrives before its pack still ends the containment.
    """
    events = state.memberships.setdefault(parent, [])
    event = [time_us, 1 if into else 0]
    if consumed and into and parent not in state.consumed_into:
        state.consumed_into.append(parent)
    if event in events:
        return False
    events.append(event)
    events.sort()
    before = state.parents
    current = {
        p: ivs[-1][0]
        for p, evs in state.memberships.items()
        if (ivs := membership(evs)) and ivs[-1][1] == END
    }
    state.parents = sorted(current, key=lambda p: (current[p], p))
    state.consumed_into = [p for p in state.consumed_into if p in current]
    state.parent = state.parents[-1] if state.parents else None
    if state.parents != before:
        state.dirty.add("")  # the item row changes even if no pass does
    return True


def place_hold(state: ItemState, hold_id: str, placed: bool, hold_type: str, time_us: int) -> bool:
    """A hold placed on the item itself, or its release; False if known already."""
    if not place(state.holds, hold_id, placed, hold_type, time_us):
        return False
    state.dirty.update(r.pass_id for r in state.history)
    state.dirty.add("")
    return True


def hold_through(
    state: ItemState, hold_id: str, hold_type: str, via: str, seq: int, intervals: list[Interval]
) -> bool:
    """A hold in force over ``intervals`` through the direct child ``via``; False if that
    changes nothing here."""
    if not through(state.holds, hold_id, hold_type, via, seq, intervals):
        return False
    state.dirty.update(r.pass_id for r in state.history)
    state.dirty.add("")
    return True


def hold_reports(state: ItemState, parents: list[str]) -> list[dict[str, Any]]:
    """For each of ``parents`` (anything the item was ever in) and each hold that bears on the
    item: when the hold was in force on the parent through this item, which is when it was in
    force here and the item was in the parent. Each report replaces the last one sent."""
    if not state.holds or not parents:
        return []
    state.hold_seq += 1
    out = []
    for parent in sorted(parents):
        inside = membership(state.memberships.get(parent, []))
        for hold_id, hold in sorted(state.holds.items()):
            out.append(
                {
                    "k": "hold",
                    "item": parent,
                    "hold_id": hold_id,
                    "hold_type": hold.hold_type,
                    "via": state.item,
                    "seq": state.hold_seq,
                    "intervals": [list(i) for i in intersect(hold.intervals(), inside)],
                }
            )
    return out


def join_members(state: ItemState, members: list[list[Any]], via: str) -> list[list[Any]]:
    """Record ``members`` (with their depth) as in the item through its direct child ``via``;
    returns the members whose depth here changed, new ones included, with the depth now."""
    changed = []
    for member, depth in members:
        if member == state.item:
            continue
        vias = state.members.get(member)
        if vias is None:
            state.members[member] = {via: depth}
            changed.append([member, depth])
            continue
        if vias.get(via) == depth:
            continue
        before = min(vias.values())
        vias[via] = depth
        if (after := min(vias.values())) != before:
            changed.append([member, after])
    return changed


def leave_members(state: ItemState, members: list[list[Any]], via: str) -> tuple[list[str], list[list[Any]]]:
    """``members`` left the item with its direct child ``via`` (unpacked); returns the members
    gone from it, and those still in it through another child whose depth changed."""
    gone: list[str] = []
    changed: list[list[Any]] = []
    for member, _ in members:
        vias = state.members.get(member)
        if vias is None or via not in vias:
            continue
        before = min(vias.values())
        del vias[via]
        if not vias:
            del state.members[member]
            gone.append(member)
        elif (after := min(vias.values())) != before:
            changed.append([member, after])
    return gone, changed


def contents(state: ItemState) -> list[list[Any]]:
    """The item itself and everything in it, as members of whatever it goes into."""
    return [[state.item, 1], *([m, min(v.values()) + 1] for m, v in sorted(state.members.items()))]
