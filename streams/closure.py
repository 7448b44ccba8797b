"""Genealogy closure: what is in an item at any depth, and the rows and records that keep
every ancestor and every descendant of it known.

An item that goes into a parent tells the parent (a ``joined`` record) itself at depth 1
and what is in it one level deeper, *via* itself; the parent records each member with the
direct child it came through, writes a closure row pair for each member new to it or now
at another depth, and tells its own parents in turn. An unpack does the same with ``left``
records. Pure functions over ``ItemState``; what they send goes into an ``Outbox``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from streams.bundles import JOINED, LEFT

if TYPE_CHECKING:
    from streams.items import ItemState

Record = dict[str, Any]
Member = tuple[str, int]  # member, depth


@dataclass(slots=True)
class Outbox:
    """What a record's change sends on: item records for other items (through the
    item-bundles topic, so the stream never waits for a genealogy walk) and closure rows."""

    forwards: list[Record] = field(default_factory=list)
    closure: list[Record] = field(default_factory=list)


def joined(state: ItemState, r: Record, out: Outbox) -> bool:
    """Members joined the item through its direct child ``via``: closure rows for those new
    or at another depth here, and the news for everything the item is in."""
    moved = _join(state, r["members"], r.get("via", ""))
    _closure_changed(state, moved, [], r, out)
    return bool(moved)


def left(state: ItemState, r: Record, out: Outbox) -> bool:
    """Members left the item with its direct child ``via`` (unpacked)."""
    gone, moved = _leave(state, r["members"], r["via"])
    _closure_changed(state, moved, gone, r, out)
    return bool(gone or moved)


def _join(state: ItemState, members: list[list[Any]], via: str) -> list[Member]:
    """Record ``members`` (with their depth) as in the item through its direct child ``via``;
    returns the members whose depth here changed, new ones included, with the depth now."""
    known = state.custody.members
    changed: list[Member] = []
    for member, depth in members:
        if member == state.item:
            continue
        vias = known.get(member)
        if vias is None:
            known[member] = {via: depth}
            changed.append((member, depth))
            continue
        if vias.get(via) == depth:
            continue
        before = min(vias.values())
        vias[via] = depth
        if (after := min(vias.values())) != before:
            changed.append((member, after))
    return changed


def _leave(state: ItemState, members: list[list[Any]], via: str) -> tuple[list[str], list[Member]]:
    """``members`` left the item with its direct child ``via``; returns the members gone from
    it, and those still in it through another child whose depth changed."""
    known = state.custody.members
    gone: list[str] = []
    changed: list[Member] = []
    for member, _ in members:
        vias = known.get(member)
        if vias is None or via not in vias:
            continue
        before = min(vias.values())
        del vias[via]
        if not vias:
            del known[member]
            gone.append(member)
        elif (after := min(vias.values())) != before:
            changed.append((member, after))
    return gone, changed


def contents(state: ItemState) -> list[Member]:
    """The item itself and everything in it, as members of whatever it goes into."""
    inside = sorted(state.custody.members.items())
    return [(state.item, 1), *((m, min(vias.values()) + 1) for m, vias in inside)]


def _closure_changed(
    state: ItemState, moved: list[Member], gone: list[str], cause: Record, out: Outbox
) -> None:
    """Closure rows for members that joined the item, moved depth or left it, and the
    same news for everything the item is in (so their closure follows, at any depth)."""
    if not moved and not gone:
        return
    custody = state.custody
    custody.closure_seq += 1
    common = {
        "site": cause["site"],
        "line": cause["line"],
        "station": cause["station"],
        "time": cause["time"],
        "version": custody.closure_seq,
    }
    key = state.item
    for member, depth, present in [*((m, d, 1) for m, d in moved), *((m, 0, 0) for m in gone)]:
        pair = {"depth": depth, "present": present, **common}
        out.closure.append({"node": member, "direction": "up", "other": key, **pair})
        out.closure.append({"node": key, "direction": "down", "other": member, **pair})
    for parent in custody.parents:
        if moved:
            out.forwards.append(members_record(JOINED, parent, [(m, d + 1) for m, d in moved], key, cause))
        if gone:
            out.forwards.append(members_record(LEFT, parent, [(m, 0) for m in gone], key, cause))


def members_record(kind: str, item: str, members: list[Member], via: str, cause: Record) -> Record:
    """Tells ``item`` what joined it (or left it, with ``kind`` LEFT) through its direct
    child ``via``, at any depth, so its closure rows can be written."""
    return {
        "k": kind,
        "item": item,
        "members": [list(m) for m in members],
        "via": via,
        "site": cause.get("site", ""),
        "line": cause.get("line", ""),
        "station": cause.get("station", ""),
        "time": cause.get("time", 0),
    }
