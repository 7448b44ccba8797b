"""Stage 2: an item's route verdicts, and the rows its changes produce.

Every change re-judges the item's passes (in event-time order, ``streams/route.py``), and
only verdicts that changed become rows, each stamped with the item's revision so that
ClickHouse keeps the latest (ReplacingMergeTree) and a replay produces identical rows.
Pass rows and the item row are written at once (a late pass revises them); a violation is
confirmed, as a violation row, only once its pass is older than the reorder window, so a
pass that was merely late never raises one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ingest.epc import gtin_of
from ingest.plant import Plant, Product, Route
from ingest.records.bundles import WITHDRAWN
from ingest.records.rows import ItemStateRow, PassAt, PassRow, ScanColumns, ViolationRow, scan_columns
from ingest.schema import NO_CONTEXT
from streams.custody import confirm_refused, refusals_waiting
from streams.holds import held_by, in_force
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
    Verdict,
    judge,
    missing_stages,
)

if TYPE_CHECKING:
    from streams.items import ItemState, PassRecord

# Items rarely exceed a few dozen passes; older ones fold into ``base`` so state stays bounded.
MAX_HISTORY = 64
NO_SCAN_COLUMNS: ScanColumns = scan_columns(NO_CONTEXT)  # most passes' (copied into each row)


@dataclass(slots=True, kw_only=True)
class RouteVerdicts:
    """The item's passes as judged: the verdict of each, and the violations confirmed."""

    verdicts: dict[str, Verdict] = field(default_factory=dict)  # by pass id
    flagged: dict[str, Verdict] = field(default_factory=dict)  # violations confirmed, by pass id
    base: Position = field(default_factory=Position)  # where the folded passes left the item
    folded: int = 0  # passes folded into ``base``; the item row still counts them
    folded_first_us: int = 0  # first event time among the folded passes
    tally: Tally = field(default_factory=Tally)  # upstream stages counted for portal read rates


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
    restamp = state.dirty & state.route.flagged.keys()
    if state.dirty or state.row_changed:
        _judge(state, plant, rows)
    waiting = _confirm(state, plant, confirm_until_us, rows.violations, restamp)
    if state.custody.refused or state.custody.flagged:
        product = product_of(state, plant)
        refused = confirm_refused(state, plant, product, confirm_until_us, rows.violations)
        waiting = min(waiting or refused, refused or waiting)
    rows.waiting_us = waiting
    return rows


def item_row_now(state: ItemState, plant: Plant) -> ItemStateRow:
    """The item row the state gives now, changing nothing (its last written row, unless the
    state has changes not yet judged)."""
    product = product_of(state, plant)
    route = product.route if product else None
    reason = UNKNOWN_ROUTE if product else UNKNOWN_ITEM
    _, position = judge(route, state.history, state.route.base, no_route_reason=reason)
    return _item_row(state, product, route, position)


def _judge(state: ItemState, plant: Plant, rows: Rows) -> None:
    """Pass rows of the verdicts that changed, the read-rate deltas and the item row."""
    product = product_of(state, plant)
    route = product.route if product else None
    reason = UNKNOWN_ROUTE if product else UNKNOWN_ITEM
    verdicts, position = judge(route, state.history, state.route.base, no_route_reason=reason)
    state.revision += 1
    for rec in state.withdrawn:
        _withdrawn_rows(state, rec, product, rows)
    state.withdrawn.clear()
    holds = state.custody.holds
    for rec, verdict in zip(state.history, verdicts, strict=True):
        held = held_by(holds, rec.first_us) if holds else ""
        new = Verdict(pass_id=rec.pass_id, outcome=ON_HOLD, detail=held) if held else verdict
        old = state.route.verdicts.get(rec.pass_id)
        if rec.pass_id not in state.dirty and old == new:
            continue
        state.route.verdicts[rec.pass_id] = new
        row = _pass_row(state, rec, product, new)
        if old is None:
            row["first"] = 1  # its first row: the sink measures read-to-stored latency on it
        rows.passes.append(row)
    state.dirty.clear()
    state.row_changed = False
    if state.history and position.index > 0:
        last = state.history[-1]
        read_stages = {r.stage for r in state.history}
        deltas = settle_tally(state.route.tally, route, position.index, read_stages)
        rows.read_deltas.extend((last.site, last.line, s, o, r) for s, o, r in deltas)
    rows.item_state.append(_item_row(state, product, route, position))
    _fold_history(state, route, reason)


def _withdrawn_rows(state: ItemState, rec: PassRecord, product: Product | None, rows: Rows) -> None:
    """A withdrawn pass's row (the sink deletes it) and, if it raised a violation, that
    violation retracted."""
    judged = state.route
    judged.verdicts.pop(rec.pass_id, None)
    rows.passes.append(_pass_row(state, rec, product, Verdict(pass_id=rec.pass_id, outcome=WITHDRAWN)))
    flagged = judged.flagged.pop(rec.pass_id, None)
    if flagged is not None:
        retraction = Verdict(pass_id=rec.pass_id, outcome=MOVEMENT)
        rows.violations.append(_violation_row(state, rec, product, retraction, flagged))


def _confirm(
    state: ItemState, plant: Plant, until_us: int, out: list[ViolationRow], restamp: set[str]
) -> int:
    """Violation rows for passes up to ``until_us`` whose verdict differs from what was
    confirmed, or whose confirmed violation is to be written again (``restamp``); returns the
    event time of the first pass after it that still waits (0 if none)."""
    waiting = 0
    product: Product | None = None
    judged = state.route
    for rec in state.history:
        verdict = judged.verdicts.get(rec.pass_id)
        if verdict is None:
            continue
        before = judged.flagged.get(rec.pass_id)
        if before is None and verdict.outcome == MOVEMENT:
            continue  # what the branches below say of it, without comparing a verdict to None
        if verdict == before and rec.pass_id in restamp:
            before = None  # the same violation, confirmed already: its row written again
        elif verdict == before or (before is None and verdict.outcome == MOVEMENT):
            continue
        elif rec.first_us > until_us:
            waiting = waiting or rec.first_us  # the history is in event-time order
            continue
        if not out:
            product = product_of(state, plant)
        out.append(_violation_row(state, rec, product, verdict, before))
        if verdict.outcome == MOVEMENT:
            del judged.flagged[rec.pass_id]
        else:
            judged.flagged[rec.pass_id] = verdict
    return waiting


def waiting_since(state: ItemState, plant: Plant) -> int:
    """The event time of the first pass (or refused pack) whose verdict differs from the
    violation confirmed for it (0 if none)."""
    waiting = 0
    for rec in state.history:
        verdict = state.route.verdicts.get(rec.pass_id)
        before = state.route.flagged.get(rec.pass_id)
        if verdict is not None and verdict != before and not (before is None and verdict.outcome == MOVEMENT):
            waiting = rec.first_us
            break
    if state.custody.refused or state.custody.flagged:
        refused = refusals_waiting(state, plant, product_of(state, plant))
        waiting = min(waiting or refused, refused or waiting)
    return waiting


def _fold_history(state: ItemState, route: Route | None, reason: str) -> None:
    """Keep the history bounded: the oldest passes fold into the base position."""
    excess = len(state.history) - MAX_HISTORY
    if excess <= 0:
        return
    judged = state.route
    folded = state.history[:excess]
    _, judged.base = judge(route, folded, judged.base, no_route_reason=reason)
    state.history = state.history[excess:]
    first = folded[0].first_us
    judged.folded_first_us = min(first, judged.folded_first_us) if judged.folded else first
    judged.folded += excess
    for rec in folded:
        judged.verdicts.pop(rec.pass_id, None)
        judged.flagged.pop(rec.pass_id, None)


def _pass_at(state: ItemState, rec: PassRecord) -> PassAt:
    """Which pass, of which item, where: the columns a pass row and a violation row begin with."""
    return PassAt(
        pass_id=rec.pass_id,
        item=state.item,
        site=rec.site,
        line=rec.line,
        station=rec.station,
        stage=rec.stage,
    )


def _pass_row(state: ItemState, rec: PassRecord, product: Product | None, verdict: Verdict) -> PassRow:
    """One dict literal, the columns in the order ``PassRow`` declares them: built by keywords
    from ``_pass_at`` and ``scan_columns`` it cost a third of judging the item."""
    route = product.route if product else None
    return {
        "pass_id": rec.pass_id,
        "item": state.item,
        "site": rec.site,
        "line": rec.line,
        "station": rec.station,
        "stage": rec.stage,
        "reader_id": rec.reader_id,
        "first_seen": rec.first_us,
        "last_seen": rec.last_us,
        "reads": rec.reads,
        "direction": rec.direction,
        **(NO_SCAN_COLUMNS if rec.context is NO_CONTEXT else scan_columns(rec.context)),
        "product": product.product if product else "",
        "job": state.job or "",
        "outcome": verdict.outcome,
        "detail": verdict.detail,
        "route_index": route.stages.index(rec.stage) if route and rec.stage in route.stages else -1,
        "revision": state.revision,
    }


def _violation_row(
    state: ItemState,
    rec: PassRecord,
    product: Product | None,
    new: Verdict,
    old: Verdict | None,
) -> ViolationRow:
    retracted = new.outcome == MOVEMENT
    shown = old if retracted and old else new
    return ViolationRow(
        **_pass_at(state, rec),
        time=rec.first_us,
        type=shown.outcome,
        detail=shown.detail,
        missing=missing_stages(shown.outcome, shown.detail),
        product=product.product if product else "",
        job=state.job or "",
        retracted=1 if retracted else 0,
        revision=state.revision,
    )


def _item_row(
    state: ItemState, product: Product | None, route: Route | None, position: Position
) -> ItemStateRow:
    last = state.history[-1] if state.history else None
    parent = state.custody.parent
    status = ASSEMBLED if parent else (position.status if last else NEW)
    if state.custody.consumed_into:
        status = CONSUMED
    if last is not None and position.status == DISPATCHED:
        status = DISPATCHED  # it left the plant, packed or not
    if route is None and last is not None:
        status = UNKNOWN
    if state.qc is not None and state.qc.result == "fail" and not parent:
        status = REJECTED
    first = state.history[0].first_us if state.history else 0
    if state.route.folded:
        first = min(first, state.route.folded_first_us)
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
        parent=parent or "",
        first_seen=first,
        last_seen=last.last_us if last else 0,
        passes=state.route.folded + len(state.history),
        on_hold=1 if in_force(state.custody.holds) else 0,
        revision=state.revision,
    )
