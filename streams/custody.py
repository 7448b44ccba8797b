"""Stage 2: an item's custody, kept by event time so the order events arrive in does not
matter: what it is in and when (packs, assemblies, unpacks, transformations), what is in
it (``streams/closure.py``), and the holds that bear on it (``streams/holds.py``).

An item is in one parent at a time. Its packs and unpacks, over all parents, are walked in
event-time order: a pack while the item is in another parent (no unpack from it before, in
event time) is refused, the item does not join that parent, and the pack becomes an
``already_in_parent`` violation, confirmed like every violation once input progress has
passed it. A pack that arrives before the unpack preceding it in event time is refused
only until that unpack arrives (the violation is retracted if it was confirmed). A
transformation is not such a membership: a lot consumed into several outputs is in each.

Whenever what the item is in changes, the parents it joined or left hear it (a ``joined``
or ``left`` record) and the parents whose time with it changed get the holds in force on
it while it was inside them; stage 2 sends these up the item-bundles topic.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ingest.plant import Plant, Product
from ingest.records.rows import ViolationRow
from ingest.schema import link_id
from ingest.timefmt import format_us
from streams.bundles import ASSEMBLED, HOLD, JOINED, LEFT
from streams.closure import Outbox, contents, members_record
from streams.holds import END, Hold, Interval, intersect, membership, place, through, union

if TYPE_CHECKING:
    from streams.items import ItemState

Record = dict[str, Any]

ALREADY_IN_PARENT = "already_in_parent"  # packed into a parent while in another one


@dataclass(frozen=True, slots=True, kw_only=True)
class Move:
    """The item went into a parent (``into``) or came out of it, at ``time_us``, where."""

    time_us: int
    into: bool
    site: str = ""
    line: str = ""
    station: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class RefusedPack:
    """A pack refused because the item was in another parent then."""

    time_us: int
    site: str
    line: str
    station: str
    detail: str  # in <parent> since <time>; packed into <parent>


@dataclass(slots=True, kw_only=True)
class Custody:
    """What the item is in and when, what is in it, and the holds that bear on it."""

    # parent -> the item's packs into it and unpacks from it, in event-time order
    memberships: dict[str, list[Move]] = field(default_factory=dict)
    outputs: set[str] = field(default_factory=set)  # parents it was consumed into (transformations)
    parents: list[str] = field(default_factory=list)  # what it is in now, the latest last
    # what is in it, at any depth: member -> {via: depth}, a via being the direct child the
    # member came through; a member leaves when its last via is unpacked.
    members: dict[str, dict[str, int]] = field(default_factory=dict)
    closure_seq: int = 0  # version of this item's genealogy closure rows
    holds: dict[str, Hold] = field(default_factory=dict)  # hold id -> when in force on this item
    hold_seq: int = 0  # sequence of the hold reports this item sent to its parents
    # already_in_parent violations, by id (the refused pack's link id): as they stand, and
    # the rows confirmed (the latest row written for each)
    refused: dict[str, RefusedPack] = field(default_factory=dict)
    flagged: dict[str, ViolationRow] = field(default_factory=dict)

    @property
    def parent(self) -> str | None:
        """The parent it went into last, of those it is in now."""
        return self.parents[-1] if self.parents else None

    @property
    def consumed_into(self) -> list[str]:
        """The transformation outputs it is in now."""
        return [p for p in self.parents if p in self.outputs]


def contain(state: ItemState, r: Record, out: Outbox) -> bool:
    """The item went into ``r["parent"]`` (packed, assembled, or consumed by a
    transformation) or was unpacked from it; False if known already. A record marked
    withdrawn takes that move back (its EPCIS event was declared in error); False if unknown.

    What it is in follows from all such events by event time, so an unpack that arrives
    before its pack still ends the containment, and a pack refused because the item was in
    another parent is taken once that parent's unpack arrives; a move taken back is as if it
    never came.
    """
    custody, parent, into = state.custody, r["parent"], r["k"] == ASSEMBLED
    moves = custody.memberships.setdefault(parent, [])
    time_us = r.get("time", 0)
    known = [m for m in moves if m.time_us == time_us and m.into == into]
    if bool(known) != r.get("withdrawn", False):
        return False
    before, was_in = inside(state), custody.parents
    if known:
        moves.remove(known[0])
        if not any(m.into for m in moves):
            custody.outputs.discard(parent)  # consumed into it by no other transformation
        if not moves:
            del custody.memberships[parent]
    else:
        if into and r.get("consumed", False):
            custody.outputs.add(parent)
        where = {"site": r.get("site", ""), "line": r.get("line", ""), "station": r.get("station", "")}
        moves.append(Move(time_us=time_us, into=into, **where))
        moves.sort(key=lambda m: (m.time_us, m.into))
    now = settle(state)
    if custody.parents != was_in:
        state.row_changed = True  # the item row changes even if no pass does
    for p in sorted(set(was_in) ^ set(custody.parents)):
        if p in custody.parents:  # told when it went in, which may be another pack than this one
            out.forwards.append(members_record(JOINED, p, contents(state), state.item, _went_in(state, p, r)))
        else:
            out.forwards.append(members_record(LEFT, p, contents(state), state.item, r))
    changed = {p for p in before.keys() | now.keys() if before.get(p) != now.get(p)}
    out.forwards.extend(hold_reports(state, sorted(changed | {parent})))
    return True


def _went_in(state: ItemState, parent: str, r: Record) -> Record:
    """The cause of the news that the item is in ``parent``: the pack its stay there began
    with, which may be another one than the record ``r`` that let it in."""
    since = inside(state)[parent][-1][0]
    move = next((m for m in state.custody.memberships[parent] if m.into and m.time_us == since), None)
    if move is None or move.time_us == r.get("time", 0):
        return r
    return {"site": move.site, "line": move.line, "station": move.station, "time": move.time_us}


def settle(state: ItemState) -> dict[str, list[Interval]]:
    """Walk the item's moves in event-time order: what it is in now, and the packs refused.
    Returns when it was in each parent."""
    custody = state.custody
    spans, custody.refused = _walk(state)
    since = {p: ivs[-1][0] for p, ivs in spans.items() if ivs[-1][1] == END}
    custody.parents = sorted(since, key=lambda p: (since[p], p))
    return spans


def inside(state: ItemState) -> dict[str, list[Interval]]:
    """When the item was in each parent it was ever packed into or consumed into."""
    return _walk(state)[0]


def _walk(state: ItemState) -> tuple[dict[str, list[Interval]], dict[str, RefusedPack]]:
    """Moves over all parents in event-time order (an unpack before a pack at the same
    time); a pack while in another parent is refused. Transformations stand apart."""
    custody = state.custody
    spans: dict[str, list[Interval]] = defaultdict(list)
    refused: dict[str, RefusedPack] = {}
    moves = sorted(
        ((m, p) for p, ms in custody.memberships.items() if p not in custody.outputs for m in ms),
        key=lambda mp: (mp[0].time_us, mp[0].into, mp[1]),
    )
    current: str | None = None  # the parent it is in at this point of the walk
    since = 0
    for move, parent in moves:
        if not move.into:
            if parent == current:
                spans[parent].append((since, move.time_us))
                current = None
        elif current is None:
            current, since = parent, move.time_us
        elif parent != current:
            detail = f"in {current} since {format_us(since)}; packed into {parent}"
            where = {"site": move.site, "line": move.line, "station": move.station}
            refused[link_id(parent, state.item, move.time_us)] = RefusedPack(
                time_us=move.time_us, detail=detail, **where
            )
    if current is not None:
        spans[current].append((since, END))
    out = {p: union(spans[p]) for p in custody.memberships if p not in custody.outputs}
    out.update((p, membership([[m.time_us, int(m.into)] for m in ms])) for p, ms in _outputs(custody))
    return {p: ivs for p, ivs in out.items() if ivs}, refused


def _outputs(custody: Custody) -> list[tuple[str, list[Move]]]:
    return [(p, ms) for p, ms in custody.memberships.items() if p in custody.outputs]


def hold(state: ItemState, r: Record, out: Outbox) -> bool:
    """A hold placed on the item itself or released, or reported by a child (in force here
    through it over ``intervals``); False if that changes nothing here. A change reaches
    every parent the item was ever in."""
    custody = state.custody
    if "intervals" in r:
        changed = through(custody.holds, r["hold_id"], r["hold_type"], r["via"], r["seq"], r["intervals"])
    else:
        changed = place(custody.holds, r["hold_id"], r["placed"], r["hold_type"], r["time"])
    if changed:
        state.rejudge()
        out.forwards.extend(hold_reports(state, sorted(custody.memberships)))
    return changed


def hold_reports(state: ItemState, parents: list[str]) -> list[Record]:
    """For each of ``parents`` (anything the item was ever in) and each hold that bears on the
    item: when the hold was in force on the parent through this item, which is when it was in
    force here and the item was in the parent. Each report replaces the last one sent."""
    custody = state.custody
    if not custody.holds or not parents:
        return []
    custody.hold_seq += 1
    spans = inside(state)
    out = []
    for parent in sorted(parents):
        for hold_id, h in sorted(custody.holds.items()):
            out.append(
                {
                    "k": HOLD,
                    "item": parent,
                    "hold_id": hold_id,
                    "hold_type": h.hold_type,
                    "via": state.item,
                    "seq": custody.hold_seq,
                    "intervals": [list(i) for i in intersect(h.intervals(), spans.get(parent, []))],
                }
            )
    return out


def confirm_refused(
    state: ItemState, plant: Plant, product: Product | None, until_us: int, out: list[ViolationRow]
) -> int:
    """Violation rows for refused packs up to ``until_us`` whose row differs from the one
    confirmed (retractions for those no longer refused); returns the event time of the
    first one after it that still waits (0 if none)."""
    custody = state.custody
    waiting = 0
    revised = False
    for vid, row, before in _differing(state, plant, product):
        time_us = (row or before or {"time": 0})["time"]
        if time_us > until_us:
            waiting = min(waiting or time_us, time_us)
            continue
        if row is None and before is not None:
            row = before.copy()
            row["retracted"] = 1
        if row is None:
            continue
        if not revised:
            state.revision += 1  # above every row written for the item so far
            revised = True
        row["revision"] = state.revision
        out.append(row)
        if row["retracted"]:
            del custody.flagged[vid]
        else:
            custody.flagged[vid] = row
    return waiting


def refusals_waiting(state: ItemState, plant: Plant, product: Product | None) -> int:
    """The event time of the first refused pack whose row differs from the one confirmed
    (0 if none)."""
    times = [(row or before or {"time": 0})["time"] for _, row, before in _differing(state, plant, product)]
    return min(times, default=0)


def _differing(
    state: ItemState, plant: Plant, product: Product | None
) -> list[tuple[str, ViolationRow | None, ViolationRow | None]]:
    """(id, row as it stands or None, row confirmed or None) of the refused packs whose
    violation row would differ from the one confirmed."""
    custody = state.custody
    out = []
    for vid in sorted(custody.refused.keys() | custody.flagged.keys()):
        pack, before = custody.refused.get(vid), custody.flagged.get(vid)
        row = _refusal_row(state, plant, product, vid, pack) if pack else None
        if not _same(row, before):
            out.append((vid, row, before))
    return out


def _same(row: ViolationRow | None, before: ViolationRow | None) -> bool:
    """The same violation row, whatever its revision."""
    if row is None or before is None:
        return row is before
    return all(v == before[k] for k, v in row.items() if k != "revision")  # type: ignore[literal-required]


def _refusal_row(
    state: ItemState, plant: Plant, product: Product | None, vid: str, pack: RefusedPack
) -> ViolationRow:
    station = plant.stations().get(pack.station)
    return ViolationRow(
        pass_id=vid,
        item=state.item,
        site=pack.site,
        line=pack.line,
        station=pack.station,
        stage=station.stage if station else "",
        time=pack.time_us,
        type=ALREADY_IN_PARENT,
        detail=pack.detail,
        missing=[],
        product=product.product if product else "",
        job=state.job or "",
        retracted=0,
        revision=0,
    )
