"""Holds that reach an item through its parts, for the item page.

A hold placed on a component or lot holds whatever it is inside, at any depth, while it is
inside: the stream judges a pass ``on_hold`` by event time over the hold's interval on the
part intersected with the part's time inside the item (``streams.holds``). The page shows
the same from the named queries' answers: the parts inside the item now (genealogy down,
with the time each came inside), which of them are on hold (``held``), and the holds placed
on those (``item_holds``). Pure functions; no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

# Held parts whose holds an item page looks up, nearest first: one lookup each, so an item
# holding a whole held lot's worth of parts (a pallet after a recall hold) stays one page.
PART_HOLD_LOOKUPS = 20


@dataclass(frozen=True)
class PartHold:
    part: str  # the component or lot the hold was placed on
    depth: int  # 1: a direct part; 2: a part of a part; ...
    hold_id: str
    hold_type: str
    owner: str
    reason: str
    placed: datetime  # on the part
    reached: datetime  # the item: the later of the placement and the part coming inside
    released: datetime | None  # from the part (None: in force, on the item too)

    @property
    def in_force(self) -> bool:
        return self.released is None


def held_parts(
    down: Iterable[Mapping[str, Any]], held: Iterable[Mapping[str, Any]]
) -> list[Mapping[str, Any]]:
    """The parts inside the item now (``down``: genealogy rows, nearest first) that are on hold
    now, placed on them or on something in them (``held``: the held query's rows)."""
    on_hold = {r["item"] for r in held}
    return [n for n in down if n["item"] in on_hold]


def holds_through_parts(
    parts: Sequence[Mapping[str, Any]], holds: Mapping[str, Sequence[Mapping[str, Any]]]
) -> list[PartHold]:
    """The holds placed on ``parts`` (genealogy rows, each with the ``time`` it came inside)
    that were in force while the part was inside: released after it came in, or not at all
    (``holds``: each part's ``item_holds`` rows). In force first, then the latest reached."""
    out = []
    for part in parts:
        inside = _utc(part["time"])
        for h in holds.get(part["item"], ()):
            placed, released = _utc(h["placed"]), _utc(h["released"]) if h["released"] else None
            if released is not None and released <= inside:
                continue  # released before the part came inside: it never held the item
            out.append(
                PartHold(
                    part=str(part["item"]),
                    depth=int(part["depth"]),
                    hold_id=str(h["hold_id"]),
                    hold_type=str(h["hold_type"]),
                    owner=str(h["owner"]),
                    reason=str(h["reason"]),
                    placed=placed,
                    reached=max(placed, inside),
                    released=released,
                )
            )
    return sorted(out, key=lambda p: (not p.in_force, -p.reached.timestamp(), p.depth, p.part, p.hold_id))


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)  # the store's are naive UTC
