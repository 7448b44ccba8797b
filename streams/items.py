"""Stage 2 logic: one item's route state, and the rows its changes produce.

The state holds the item's passes in event-time order. Every change re-judges the
history, and only verdicts that changed become rows, each stamped with the item's revision
so that ClickHouse keeps the latest (ReplacingMergeTree) and a replay produces identical
rows. Pass rows and the item row are written at once (a late pass revises them); a
violation is confirmed, as a violation row, only once its pass is older than the reorder
window, so a pass that was merely late never raises one.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Any

from ingest.epc import gtin_of
from ingest.plant import Plant, Product, Route
from ingest.records.rows import ItemStateRow, PassRow, ViolationRow
from ingest.schema import Pass
from streams.holds import Hold, held_by, in_force
from streams.readrates import Tally
from streams.readrates import settle as settle_tally
from streams.route import (
    ASSEMBLED,
    CONSUMED,
    DISPATCHED,
    MOVEMENT,
    NEW,
    ON_HOLD,
    REJECTED,
    UNKNOWN,
    UNKNOWN_ITEM,
    UNKNOWN_ROUTE,
    Position,
    Step,
    judge,
    missing_stages,
)

# Items rarely exceed a few dozen passes; older ones fold into ``base`` so state stays bounded.
MAX_HISTORY = 64


@dataclass(slots=True, kw_only=True)
class PassRecord:
    pass_id: str
    station: str
    stage: str
    reader_id: str
    first_us: int
    last_us: int
    reads: int
    site: str
    line: str
    direction: str = ""
    operator: str = ""
    merged: list[str] = field(default_factory=list)  # other candidates of the same visit taken in

    @classmethod
    def of(cls, p: Pass) -> PassRecord:
        return cls(
            pass_id=p.pass_id,
            station=p.station,
            stage=p.stage,
            reader_id=p.reader_id,
            first_us=p.first_us,
            last_us=p.last_us,
            reads=p.reads,
            site=p.site,
            line=p.line,
            direction=p.direction,
            operator=p.operator,
        )

    def sort_key(self) -> tuple[int, str]:
        return (self.first_us, self.pass_id)


def _record_dict(r: PassRecord) -> dict[str, Any]:
    d = {
        "pass_id": r.pass_id,
        "station": r.station,
        "stage": r.stage,
        "reader_id": r.reader_id,
        "first_us": r.first_us,
        "last_us": r.last_us,
        "reads": r.reads,
        "site": r.site,
        "line": r.line,
    }
    if r.direction:  # most portals tell no direction and most reads carry no operator
        d["direction"] = r.direction
    if r.operator:
        d["operator"] = r.operator
    if r.merged:
        d["merged"] = r.merged
    return d


@dataclass
class ItemState:
    item: str
    product: str | None = None
    job: str | None = None
    parent: str | None = None
    history: list[PassRecord] = field(default_factory=list)
    verdicts: dict[str, list[str]] = field(default_factory=dict)  # pass_id -> [outcome, detail]
    flagged: dict[str, list[str]] = field(default_factory=dict)  # violations confirmed: pass_id -> verdict
    base: Position = field(default_factory=Position)
    revision: int = 0
    dirty: set[str] = field(default_factory=set)  # passes whose row must be written again
    folded: int = 0  # passes folded into ``base``; the item row still counts them
    folded_first_us: int = 0  # first event time among the folded passes
    tally: Tally = field(default_factory=Tally)  # upstream stages counted for portal read rates
    # hold id -> when it is in force on this item, placed on it or through what is in it
    holds: dict[str, Hold] = field(default_factory=dict)
    qc: list[Any] = field(default_factory=list)  # the latest QC result: [result, time]
    parents: list[str] = field(default_factory=list)  # what it is in now (packed, assembled, consumed)
    consumed_into: list[str] = field(default_factory=list)  # the parents that are transformation outputs
    # what is in it, at any depth: member -> {via: depth}, a via being the direct child the
    # member came through; a member leaves when its last via is unpacked.
    members: dict[str, dict[str, int]] = field(default_factory=dict)
    closure_seq: int = 0  # version of this item's genealogy closure rows
    # parent -> [[event time, 1 packed/assembled/consumed into it or 0 unpacked], ...]: what it
    # was in and when, whatever order the events came in; ``parents`` is derived from it
    memberships: dict[str, list[list[int]]] = field(default_factory=dict)
    hold_seq: int = 0  # sequence of the hold reports this item sent to its parents
    bound_us: int = 0  # event time of the job binding in force (the latest wins)

    def to_dict(self) -> dict[str, Any]:
        # Written by hand: dataclasses.asdict deep-copies and cost ~4x the rest of stage 2.
        return {
            "item": self.item,
            "product": self.product,
            "job": self.job,
            "parent": self.parent,
            "history": [_record_dict(r) for r in self.history],
            "verdicts": self.verdicts,
            "flagged": self.flagged,
            "base": [self.base.index, self.base.status, [list(x) for x in self.base.loops]],
            "revision": self.revision,
            "dirty": sorted(self.dirty),
            "folded": self.folded,
            "folded_first_us": self.folded_first_us,
            "tally": [self.tally.upto, self.tally.missed, self.tally.uncounted],
            "holds": {h: v.to_list() for h, v in self.holds.items()},
            "qc": self.qc,
            "parents": self.parents,
            "consumed_into": self.consumed_into,
            "members": self.members,
            "closure_seq": self.closure_seq,
            "memberships": self.memberships,
            "hold_seq": self.hold_seq,
            "bound_us": self.bound_us,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ItemState:
        index, status, loops = d["base"]
        parents = d.get("parents", [d["parent"]] if d.get("parent") else [])
        return cls(
            d["item"],
            d["product"],
            d["job"],
            d["parent"],
            # States written with a reorder queue ("pending") take its passes into the history.
            sorted((PassRecord(**p) for p in d["history"] + d.get("pending", [])), key=PassRecord.sort_key),
            d["verdicts"],
            d.get("flagged", {}),
            Position(index, status, tuple((k, v) for k, v in loops)),
            d["revision"],
            set(d["dirty"]),
            d.get("folded", 0),  # absent in states written before folding was counted
            d.get("folded_first_us", 0),
            Tally(*d["tally"]) if "tally" in d else Tally(),
            {h: Hold.from_list(v if len(v) == 4 else [*v, [""]]) for h, v in d.get("holds", {}).items()},
            d.get("qc", []),
            parents,
            d.get("consumed_into", []),
            {m: v if isinstance(v, dict) else {"": v} for m, v in d.get("members", {}).items()},
            d.get("closure_seq", 0),
            # States written before containment was kept by event time: in since the start.
            d.get("memberships") or {p: [[0, 1]] for p in parents},
            d.get("hold_seq", 0),
            d.get("bound_us", 0),
        )


@dataclass
class Rows:
    """Rows for ClickHouse, by table."""

    passes: list[PassRow] = field(default_factory=list)
    violations: list[ViolationRow] = field(default_factory=list)
    item_state: list[ItemStateRow] = field(default_factory=list)
    # (site, line, stage, observed, read) deltas for the portal read rates; not a table
    read_deltas: list[tuple[str, str, str, int, int]] = field(default_factory=list)
    # event time of the earliest pass whose violation (or retraction) waits to be confirmed (0: none)
    waiting_us: int = 0

    def extend(self, other: Rows) -> None:
        self.passes.extend(other.passes)
        self.violations.extend(other.violations)
        self.item_state.extend(other.item_state)
        self.read_deltas.extend(other.read_deltas)

    def __len__(self) -> int:
        return len(self.passes) + len(self.violations) + len(self.item_state)


# What add_pass did with a pass candidate.
UNCHANGED, UPDATED, ADDED = 0, 1, 2


def add_pass(state: ItemState, p: Pass, window_us: int) -> int:
    """Take a pass candidate into the history, in event-time order: ADDED (a new pass, each
    exactly once in the item's life), UPDATED (it extends or turns a known one) or UNCHANGED
    (already applied, or a duplicate)."""
    pid = p.pass_id
    for rec in state.history:
        if rec.pass_id == pid:
            # Sent again, or sent once more by stage 1 when a later read told its direction.
            grew = p.last_us > rec.last_us
            turned = bool(p.direction) and not rec.direction
            if not (grew or turned):
                return UNCHANGED
            rec.last_us = max(rec.last_us, p.last_us)
            rec.direction = rec.direction or p.direction
            state.dirty.add(pid)
            return UPDATED
        if pid in rec.merged or (
            rec.station == p.station and rec.first_us - window_us <= p.first_us <= rec.last_us + window_us
        ):
            return _merge(state, rec, p)
    bisect.insort(state.history, PassRecord.of(p), key=PassRecord.sort_key)
    state.dirty.add(pid)
    return ADDED


def _merge(state: ItemState, rec: PassRecord, p: Pass) -> int:
    """Another candidate of the same visit: opened again by a stage 1 that had forgotten the
    pass (evicted, or lost with a worker), or read by another reader of the portal.

    A pass is what the report that opened it saw (stage 1 sends no later reads of an open
    pass), so the candidate adds no reads and no later end; it may tell the direction, and
    an earlier first read (another reader) moves the start. The pass keeps its id.
    """
    changed = False
    if p.pass_id not in rec.merged:
        rec.merged.append(p.pass_id)
        changed = True
    if p.direction and not rec.direction:
        rec.direction = p.direction
        state.dirty.add(rec.pass_id)
    if p.first_us < rec.first_us:
        rec.first_us = p.first_us
        state.history.sort(key=PassRecord.sort_key)
        state.dirty.add(rec.pass_id)
    return UPDATED if changed or rec.pass_id in state.dirty else UNCHANGED


def bind(state: ItemState, job: str, product: str, time_us: int = 0) -> bool:
    """The item is bound to a job (and its product); of several bindings the latest by event
    time holds, whatever order they arrive in."""
    if (time_us, job, product) <= (state.bound_us, state.job or "", state.product or ""):
        return False
    if (state.job, state.product) == (job, product):
        state.bound_us = time_us  # bound again later: only the time moves
        return True
    state.job, state.product, state.bound_us = job, product, time_us
    state.dirty.update(r.pass_id for r in state.history)
    return True


def qc_result(state: ItemState, result: str, time_us: int) -> bool:
    """Record a QC verdict; the latest by event time wins (a replay changes nothing)."""
    if state.qc and state.qc[1] >= time_us:
        return False
    state.qc = [result, time_us]
    state.dirty.add("")
    return True


def product_of(state: ItemState, plant: Plant) -> Product | None:
    if state.product is not None:
        return plant.products.get(state.product)
    gtin = gtin_of(state.item)
    return plant.product_by_gtin(gtin) if gtin else None


def evaluate(state: ItemState, plant: Plant, confirm_until_us: int) -> Rows:
    """Re-judge the history if it changed and return the rows of everything that changed.

    Violations (and retractions) are confirmed only for passes whose event time is at or
    before ``confirm_until_us``; ``waiting_us`` tells from when on any wait for a later call.
    """
    rows = Rows()
    # Confirmed violations whose pass row changes (its job, product, start...) are written
    # again with it, so they say the same whatever order the changes came in.
    restamp = state.dirty & state.flagged.keys()
    if state.dirty:
        product = product_of(state, plant)
        route = product.route if product else None
        reason = UNKNOWN_ROUTE if product else UNKNOWN_ITEM
        steps = [Step(r.pass_id, r.stage, r.first_us) for r in state.history]
        verdicts, position = judge(route, steps, state.base, no_route_reason=reason)
        state.revision += 1
        for rec, verdict in zip(state.history, verdicts, strict=True):
            new = [verdict.outcome, verdict.detail]
            held = held_by(state.holds, rec.first_us) if state.holds else ""
            if held:
                new = [ON_HOLD, held]
            old = state.verdicts.get(rec.pass_id)
            if old == new and rec.pass_id not in state.dirty:
                continue
            state.verdicts[rec.pass_id] = new
            row = _pass_row(state, rec, product, new)
            if old is None:
                row["first"] = 1  # its first row: the sink measures read-to-stored latency on it
            rows.passes.append(row)
        state.dirty.clear()
        if state.history and position.index > 0:
            last = state.history[-1]
            read_stages = {r.stage for r in state.history}
            deltas = settle_tally(state.tally, route, position.index, read_stages)
            rows.read_deltas.extend((last.site, last.line, s, o, r) for s, o, r in deltas)
        rows.item_state.append(_item_row(state, product, route, position))
        _fold_history(state, route, reason)
    rows.waiting_us = _confirm(state, plant, confirm_until_us, rows.violations, restamp)
    return rows


def _confirm(
    state: ItemState, plant: Plant, until_us: int, out: list[ViolationRow], restamp: set[str]
) -> int:
    """Violation rows for passes up to ``until_us`` whose verdict differs from what was
    confirmed, or whose confirmed violation is to be written again (``restamp``); returns the
    event time of the first pass after it that still waits (0 if none)."""
    waiting = 0
    product: Product | None = None
    flagged = state.flagged
    for rec in state.history:
        verdict = state.verdicts.get(rec.pass_id)
        if verdict is None:
            continue
        before = flagged.get(rec.pass_id)
        if verdict == before and rec.pass_id in restamp:
            before = None  # the same violation, confirmed already: its row written again
        elif verdict == before or (before is None and verdict[0] == MOVEMENT):
            continue
        elif rec.first_us > until_us:
            waiting = waiting or rec.first_us  # the history is in event-time order
            continue
        if not out:
            product = product_of(state, plant)
        out.append(_violation_row(state, rec, product, verdict, before))
        if verdict[0] == MOVEMENT:
            del flagged[rec.pass_id]
        else:
            flagged[rec.pass_id] = verdict
    return waiting


def waiting_since(state: ItemState) -> int:
    """The event time of the first pass whose verdict differs from the violation confirmed
    for it (0 if none)."""
    for rec in state.history:
        verdict = state.verdicts.get(rec.pass_id)
        before = state.flagged.get(rec.pass_id)
        if verdict is not None and verdict != before and not (before is None and verdict[0] == MOVEMENT):
            return rec.first_us
    return 0


def _fold_history(state: ItemState, route: Route | None, reason: str) -> None:
    """Keep the history bounded: the oldest passes fold into the base position."""
    excess = len(state.history) - MAX_HISTORY
    if excess <= 0:
        return
    folded = state.history[:excess]
    steps = [Step(r.pass_id, r.stage, r.first_us) for r in folded]
    _, state.base = judge(route, steps, state.base, no_route_reason=reason)
    state.history = state.history[excess:]
    first = folded[0].first_us
    state.folded_first_us = min(first, state.folded_first_us) if state.folded else first
    state.folded += excess
    for rec in folded:
        state.verdicts.pop(rec.pass_id, None)
        state.flagged.pop(rec.pass_id, None)


def _pass_row(state: ItemState, rec: PassRecord, product: Product | None, verdict: list[str]) -> PassRow:
    route = product.route if product else None
    return PassRow(
        pass_id=rec.pass_id,
        item=state.item,
        site=rec.site,
        line=rec.line,
        station=rec.station,
        stage=rec.stage,
        reader_id=rec.reader_id,
        first_seen=rec.first_us,
        last_seen=rec.last_us,
        reads=rec.reads,
        direction=rec.direction,
        operator=rec.operator,
        product=product.product if product else "",
        job=state.job or "",
        outcome=verdict[0],
        detail=verdict[1],
        route_index=route.stages.index(rec.stage) if route and rec.stage in route.stages else -1,
        revision=state.revision,
    )


def _violation_row(
    state: ItemState,
    rec: PassRecord,
    product: Product | None,
    new: list[str],
    old: list[str] | None,
) -> ViolationRow:
    retracted = new[0] == MOVEMENT
    outcome, detail = old if retracted and old else new
    return ViolationRow(
        pass_id=rec.pass_id,
        item=state.item,
        site=rec.site,
        line=rec.line,
        station=rec.station,
        stage=rec.stage,
        time=rec.first_us,
        type=outcome,
        detail=detail,
        missing=missing_stages(outcome, detail),
        product=product.product if product else "",
        job=state.job or "",
        retracted=1 if retracted else 0,
        revision=state.revision,
    )


def _item_row(
    state: ItemState, product: Product | None, route: Route | None, position: Position
) -> ItemStateRow:
    last = state.history[-1] if state.history else None
    status = ASSEMBLED if state.parent else (position.status if last else NEW)
    if state.consumed_into:
        status = CONSUMED
    if last is not None and position.status == DISPATCHED:
        status = DISPATCHED  # it left the plant, packed or not
    if route is None and last is not None:
        status = UNKNOWN
    if state.qc and state.qc[0] == "fail" and not state.parent:
        status = REJECTED
    first = state.history[0].first_us if state.history else 0
    if state.folded:
        first = min(first, state.folded_first_us)
    return ItemStateRow(
        item=state.item,
        site=last.site if last else "",
        line=last.line if last else "",
        product=product.product if product else "",
        job=state.job or "",
        stage=last.stage if last else "",  # where it is: WIP counts it here
        route_stage=route.stages[position.index] if route and position.index >= 0 else "",
        station=last.station if last else "",
        status=status,
        parent=state.parent or "",
        first_seen=first,
        last_seen=last.last_us if last else 0,
        passes=state.folded + len(state.history),
        on_hold=1 if in_force(state.holds) else 0,
        revision=state.revision,
    )
