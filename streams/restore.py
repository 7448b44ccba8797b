"""Stage-2 route state rebuilt from the trace in ClickHouse, for when the changelog is gone.

The local broker keeps its topics in memory, so a restart empties ``route-state`` while
ClickHouse still holds the trace. This turns the stored rows back into the item states
(and the per-partition counters) the changelog held, so that the next pass of a restored
item is judged exactly as it would have been without the restart. Pure: rows in (as
storage/staterestore.py reads them, times in microseconds), states and changelog records out.

Where each part of an ItemState comes from:

- ``product``, ``job``: the item's latest row in ``job_bindings``; else the job of its
  ``item_state`` row (an item not bound to a job keeps ``product`` None: its GTIN says it).
- ``history``, ``route.verdicts``: its ``passes`` rows (latest revision), the newest
  MAX_HISTORY of them; older ones fold into ``route.base``, judged from the start as the
  stream folded them.
- ``route.flagged``: its ``violations`` rows (latest revision) not retracted, of its passes;
  ``custody.flagged``: those of its refused packs (``already_in_parent``).
- ``revision``: the highest revision among its item, pass and violation rows, so rows
  written after the restore replace the stored ones.
- ``route.tally``: the route stages below the furthest one its passes reached, and those of
  them never read (read-rate counting then goes on from there).
- ``custody`` (what it is in and when, what is in it, its holds, its refused packs) and
  ``qc``: the ``links``, ``holds`` and ``qc_results`` rows of the item and of everything
  ever in it, replayed in event-time order through stage 2's own functions, so a hold
  reaches through containment and an unpack ends it exactly as the stream does.
- ``custody.closure_seq``: the highest version of its ``genealogy`` rows.
- ``dirty`` is empty, as in every state the stream writes (``evaluate`` clears it first).

The partition counters come from ``portal_read_rates`` and ``pass_counts`` (latest revision
per partition), so their next rows carry a higher revision than the stored ones.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import orjson

from ingest.plant import Plant, Route
from ingest.records.routestate import CODEC as ROUTE_STATE
from ingest.records.rows import ItemStateRow, PassRow, ViolationRow
from ingest.schema import context_from
from ingest.settings import Settings
from streams.bundles import ASSEMBLED, HOLD, QC, UNPACKED, item_partition
from streams.counted import UNKNOWN as COUNTED_UNKNOWN
from streams.custody import ALREADY_IN_PARENT
from streams.items import ItemState, PassRecord
from streams.passcounts import KEEP_MINUTES, MINUTE_US
from streams.passcounts import KEY_PREFIX as PASS_COUNTS_PREFIX
from streams.readrates import ReadRates, Tally
from streams.route import UNKNOWN_ITEM, UNKNOWN_ROUTE, Position, Step, Verdict, judge
from streams.stage2 import READ_RATES_KEY, RouteStates
from streams.verdicts import MAX_HISTORY, product_of

Row = dict[str, Any]
R = TypeVar("R", bound=Mapping[str, Any])

# Forwards between items settle within the depth of the genealogy; a cycle in the links
# (an item packed into itself through others) must not spin the replay for ever.
MAX_FORWARD_ROUNDS = 1_000

# Same-time events in the order the stream most likely took them: packed, then held, QC, unpacked.
_EVENT_RANK = {ASSEMBLED: 0, HOLD: 1, QC: 2, UNPACKED: 3}


@dataclass
class StoredTrace:
    """What ClickHouse holds for a restore, one list of rows per source, with the columns
    storage/staterestore.py selects (times as integer microseconds):

    items (item: the keys to restore); item_rows, passes and violations (the latest row of
    each item, pass and violation, whole, as their row types declare them); links (child, parent,
    action, kind, site, line, station, time_us); holds (hold_id, item, hold_type, event,
    time_us); qc (item, result, time_us); bindings (item, job, product, time_us);
    closure_versions (item, version); read_rates (site, line, stage, partition, observed,
    read, revision); pass_counts (site, line, station, stage, minute_us, partition, passes,
    revision).
    """

    items: list[Row] = field(default_factory=list)
    item_rows: list[ItemStateRow] = field(default_factory=list)
    passes: list[PassRow] = field(default_factory=list)
    violations: list[ViolationRow] = field(default_factory=list)
    links: list[Row] = field(default_factory=list)
    holds: list[Row] = field(default_factory=list)
    qc: list[Row] = field(default_factory=list)
    bindings: list[Row] = field(default_factory=list)
    closure_versions: list[Row] = field(default_factory=list)
    read_rates: list[Row] = field(default_factory=list)
    pass_counts: list[Row] = field(default_factory=list)


def restore_states(trace: StoredTrace, plant: Plant) -> dict[str, ItemState]:
    """The state of every item ``trace.items`` names, as the stream would hold it now."""
    replayed = replay_genealogy(trace, plant)
    passes = _group(trace.passes, "item")
    violations = _group(trace.violations, "item")
    item_rows = {r["item"]: r for r in trace.item_rows}
    bindings = _latest_bindings(trace.bindings)
    versions = {r["item"]: int(r["version"]) for r in trace.closure_versions}
    states = {}
    for item in sorted({r["item"] for r in trace.items}):
        state = replayed.get(item) or ItemState(item)
        row = item_rows.get(item)
        _bind(state, bindings.get(item), row)
        _order_parents(state, row)
        _history(state, passes.get(item, []), violations.get(item, []), plant)
        state.revision = max(
            [int(row["revision"]) if row else 0]
            + [int(r["revision"]) for r in passes.get(item, [])]
            + [int(r["revision"]) for r in violations.get(item, [])]
        )
        state.custody.closure_seq = versions.get(item, 0)
        state.dirty.clear()
        state.row_changed = False
        state.counted = COUNTED_UNKNOWN  # stage 2 counts it when it loads the partition
        states[item] = state
    return states


def replay_genealogy(trace: StoredTrace, plant: Plant) -> dict[str, ItemState]:
    """Containment, holds and QC results: the stored events through stage 2's own logic.

    Everything runs on one partition here; which partition owns an item does not change
    what its state becomes. Each event settles (its forwards to parents, at any depth)
    before the next, in event-time order.
    """
    states = RouteStates(Settings(), plant)
    states.load(0, [])
    for event in _events(trace):
        pending = [event]
        for _ in range(MAX_FORWARD_ROUNDS):
            if not pending:
                break
            states.apply(0, pending)
            pending, states.out.forwards = states.out.forwards, []
        states.out.closure.clear()  # the genealogy rows are stored already
    states.touched.clear()
    return states.items[0]


def _events(trace: StoredTrace) -> list[Row]:
    events: list[Row] = []
    for r in trace.links:
        events.append(
            {
                "k": ASSEMBLED if r["action"] == "add" else UNPACKED,
                "item": r["child"],
                "parent": r["parent"],
                "consumed": r["kind"] == "transformation",
                "site": r["site"],
                "line": r["line"],
                "station": r["station"],
                "time": int(r["time_us"]),
            }
        )
    for r in trace.holds:
        events.append(
            {
                "k": HOLD,
                "item": r["item"],
                "hold_id": r["hold_id"],
                "placed": r["event"] == "placed",
                "hold_type": r["hold_type"],
                "time": int(r["time_us"]),
            }
        )
    for r in trace.qc:
        events.append({"k": QC, "item": r["item"], "result": r["result"], "time": int(r["time_us"])})
    # A total order, so the same rows in any order rebuild the same states.
    return sorted(
        events, key=lambda e: (e["time"], _EVENT_RANK[e["k"]], orjson.dumps(e, option=orjson.OPT_SORT_KEYS))
    )


def _latest_bindings(rows: Iterable[Row]) -> dict[str, Row]:
    latest: dict[str, Row] = {}
    for r in sorted(rows, key=lambda r: (int(r["time_us"]), r["job"], r["product"])):
        latest[r["item"]] = r
    return latest


def _bind(state: ItemState, binding: Row | None, row: ItemStateRow | None) -> None:
    if binding is not None:
        state.job, state.product = binding["job"], binding["product"]
        state.bound_us = int(binding["time_us"])
    elif row is not None and row["job"]:
        # A store written before job bindings were kept per item: the item row says it.
        state.job, state.product = row["job"], row["product"]


def _order_parents(state: ItemState, row: ItemStateRow | None) -> None:
    """The parent the item row names is the one the item went into last."""
    parents = state.custody.parents
    if row is not None and row["parent"] in parents:
        parents.remove(row["parent"])
        parents.append(row["parent"])


def _history(state: ItemState, passes: list[PassRow], violations: list[ViolationRow], plant: Plant) -> None:
    records = sorted((_pass_record(r) for r in passes), key=PassRecord.sort_key)
    outcome = {
        r["pass_id"]: Verdict(pass_id=r["pass_id"], outcome=r["outcome"], detail=r["detail"]) for r in passes
    }
    product = product_of(state, plant)
    route = product.route if product else None
    reason = UNKNOWN_ROUTE if product else UNKNOWN_ITEM
    steps = [Step(r.pass_id, r.stage, r.first_us) for r in records]
    folded = max(0, len(records) - MAX_HISTORY)
    judged = state.route
    if folded:
        _, judged.base = judge(route, steps[:folded], Position(), no_route_reason=reason)
        judged.folded = folded
        judged.folded_first_us = records[0].first_us
    state.history = records[folded:]
    kept = {r.pass_id for r in state.history}
    judged.verdicts = {pid: outcome[pid] for pid in (r.pass_id for r in state.history)}
    standing = [v for v in sorted(violations, key=lambda v: v["pass_id"]) if not v["retracted"]]
    judged.flagged = {
        v["pass_id"]: Verdict(pass_id=v["pass_id"], outcome=v["type"], detail=v["detail"])
        for v in standing
        if v["pass_id"] in kept
    }
    state.custody.flagged = {v["pass_id"]: v for v in standing if v["type"] == ALREADY_IN_PARENT}
    judged.tally = _tally(route, steps, {r.stage for r in records})


# The fields of a pass record that its pass row carries under the same name.
_CARRIED = tuple(f.name for f in dataclasses.fields(PassRecord) if f.name in PassRow.__required_keys__)


def _pass_record(r: PassRow) -> PassRecord:
    """The pass as stage 2 held it: every field its row carries, the times renamed, and its
    context from its context's columns."""
    carried: dict[str, Any] = {name: r[name] for name in _CARRIED}  # type: ignore[literal-required]
    return PassRecord(
        **carried, first_us=int(r["first_seen"]), last_us=int(r["last_seen"]), context=context_from(r)
    )


def _tally(route: Route | None, steps: list[Step], read_stages: set[str]) -> Tally:
    """Stages counted for read rates: those below the furthest stage reached; the missed
    ones are those never read (a later read still moves them to read)."""
    if route is None:
        return Tally()
    position, reached = Position(), 0
    for step in steps:
        _, position = judge(route, [step], position)
        reached = max(reached, position.index)
    unread = [s for s in route.stages[:reached] if s not in read_stages]
    return Tally(
        reached, [s for s in unread if s not in route.optional], [s for s in unread if s in route.optional]
    )


def changelog_records(
    states: dict[str, ItemState], trace: StoredTrace, partitions: int
) -> dict[int, list[tuple[bytes, bytes]]]:
    """(key, value) changelog records per route-state partition, in the format the worker
    loads (streams/stage2.py ``RouteStates.load``): each item on the partition that owns it,
    then the partition's read-rate and pass-count counters."""
    out: dict[int, list[tuple[bytes, bytes]]] = {p: [] for p in range(partitions)}
    for item in sorted(states):
        out[item_partition(item, partitions)].append(ROUTE_STATE.encode(states[item]))
    for partition, rates in sorted(_read_rates(trace.read_rates).items()):
        if partition < partitions:
            out[partition].append((READ_RATES_KEY.encode(), orjson.dumps(rates.to_dict())))
    for partition, minutes in sorted(_pass_counts(trace.pass_counts).items()):
        if partition < partitions:
            for minute, counts in sorted(minutes.items()):
                out[partition].append((f"{PASS_COUNTS_PREFIX}{minute}".encode(), orjson.dumps(counts)))
    return out


def _read_rates(rows: Iterable[Row]) -> dict[int, ReadRates]:
    rates: dict[int, ReadRates] = defaultdict(ReadRates)
    for r in rows:
        counters = rates[int(r["partition"])]
        counters.counts[(r["site"], r["line"], r["stage"])] = [int(r["observed"]), int(r["read"])]
        counters.revision = max(counters.revision, int(r["revision"]))
    return rates


def _pass_counts(rows: Iterable[Row]) -> dict[int, dict[int, dict[str, Any]]]:
    """partition -> minute -> changelog value, for the minutes the worker still counts."""
    out: dict[int, dict[int, dict[str, Any]]] = {}
    for partition, part_rows in _group(rows, "partition").items():
        revision = max(int(r["revision"]) for r in part_rows)
        horizon = max(int(r["minute_us"]) for r in part_rows) - KEEP_MINUTES * MINUTE_US
        minutes: dict[int, list[list[Any]]] = defaultdict(list)
        for r in sorted(part_rows, key=lambda r: (r["site"], r["line"], r["station"], r["stage"])):
            if int(r["minute_us"]) >= horizon:
                minutes[int(r["minute_us"])].append(
                    [r["site"], r["line"], r["station"], r["stage"], int(r["passes"])]
                )
        out[partition] = {m: {"revision": revision, "counts": c} for m, c in minutes.items()}
    return out


def _group(rows: Iterable[R], column: str) -> dict[Any, list[R]]:
    grouped: dict[Any, list[R]] = defaultdict(list)
    for r in rows:
        grouped[r[column]].append(r)
    return grouped


def summary(records: dict[int, list[tuple[bytes, bytes]]], states: dict[str, ItemState]) -> dict[str, Any]:
    """Items restored per partition, and how many records went to the changelog in all."""
    partitions = len(records)
    items = dict.fromkeys(range(partitions), 0)
    for item in states:
        items[item_partition(item, partitions)] += 1
    return {
        "items": len(states),
        "items_by_partition": {str(p): n for p, n in items.items()},
        "records": sum(len(recs) for recs in records.values()),
    }
