"""The ``route-state`` topic: stage 2's changelog, one record per item key.

Partition p holds the items of item-bundles partition p. The key is the item key and the
value the item's state as JSON (``ItemState``, streams/items.py, with its route verdicts
and its custody), versioned by ``v``. Each partition also keeps its counters under keys no
item key starts with (a NUL first: portal read rates and pass counts, encoded by
streams/readrates.py and streams/passcounts.py). Stage 2 and `linetrace state restore`
(streams/restore.py) encode; stage 2 decodes when it rebuilds a partition.

Versions: records without ``v`` were written before the state was versioned (they are in
the changelogs of running plants) and still decode; version 2 adds ``v``, the custody's
transformation outputs (``outputs``) and its confirmed ``already_in_parent`` violations
(``refusals``), and drops ``parent`` (the last of ``parents``) and ``consumed_into`` (the
``parents`` among ``outputs``). A version 2 record may carry ``counted``, where the item is
counted in the WIP and job rollups (streams/counted.py); without it, stage 2 works that out
when it loads the record.
"""

from __future__ import annotations

from typing import Any

import orjson

from ingest.errors import InvalidInput
from ingest.records.rows import ViolationRow
from ingest.schema import NO_CONTEXT, SCAN_CONTEXT, context_from, context_values
from streams.counted import UNKNOWN as COUNTED_UNKNOWN
from streams.counted import Counted
from streams.custody import Custody, Move, settle
from streams.holds import END, Hold, HoldReport
from streams.items import ItemState, PassRecord, QcOutcome
from streams.readrates import Tally
from streams.route import Position, Verdict
from streams.verdicts import RouteVerdicts

TOPIC = "route-state"  # Topics.route_state: <prefix>.route-state

VERSION = 2

# The first character of every counter key; no item key starts with it.
COUNTER_KEY_START = "\x00"

Encoded = dict[str, Any]


def is_item_key(key: str) -> bool:
    return not key.startswith(COUNTER_KEY_START)


class RouteStateCodec:
    """Encode an item's state into its changelog record, and decode one back."""

    def encode(self, state: ItemState) -> tuple[bytes, bytes]:
        """(key, value) of the item's changelog record."""
        return state.item.encode(), orjson.dumps(to_record(state))

    def encode_value(self, state: ItemState) -> bytes:
        return orjson.dumps(to_record(state))

    def decode(self, value: bytes) -> ItemState:
        try:
            return from_record(orjson.loads(value))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
            raise InvalidInput("bad_state", repr(exc)) from exc


def to_record(state: ItemState) -> Encoded:
    """The state as the latest version's record. Written by hand: dataclasses.asdict
    deep-copies and cost ~4x the rest of stage 2."""
    judged, custody = state.route, state.custody
    base = judged.base
    return {
        "v": VERSION,
        "item": state.item,
        "product": state.product,
        "job": state.job,
        "history": [_pass(r) for r in state.history],
        "verdicts": {pid: [v.outcome, v.detail] for pid, v in judged.verdicts.items()},
        "flagged": {pid: [v.outcome, v.detail] for pid, v in judged.flagged.items()},
        "base": [base.index, base.status, [list(x) for x in base.loops]],
        "revision": state.revision,
        "dirty": sorted(state.dirty),
        "row_changed": state.row_changed,
        "folded": judged.folded,
        "folded_first_us": judged.folded_first_us,
        "tally": [judged.tally.upto, judged.tally.missed, judged.tally.uncounted],
        "holds": {h: _hold(v) for h, v in custody.holds.items()},
        "qc": [state.qc.result, state.qc.time_us] if state.qc else [],
        **({"qc_before": [[q.result, q.time_us] for q in state.qcs[:-1]]} if len(state.qcs) > 1 else {}),
        "parents": custody.parents,
        "outputs": sorted(custody.outputs),
        "members": custody.members,
        "closure_seq": custody.closure_seq,
        "memberships": {p: [_move(m) for m in ms] for p, ms in custody.memberships.items()},
        "refusals": custody.flagged,
        "hold_seq": custody.hold_seq,
        "bound_us": state.bound_us,
        **({} if state.counted == COUNTED_UNKNOWN else {"counted": list(state.counted or ()) or None}),
    }


def from_record(d: Encoded) -> ItemState:
    version = d.get("v", 1)
    if version == VERSION:
        return _from_v2(d)
    if version == 1:
        return _from_v1(d)
    raise ValueError(f"route-state version {version} is newer than this worker's {VERSION}")


def _from_v2(d: Encoded) -> ItemState:
    custody = Custody(
        memberships={p: [_move_of(m) for m in ms] for p, ms in d["memberships"].items()},
        outputs=set(d["outputs"]),
        parents=d["parents"],
        members=d["members"],
        closure_seq=d["closure_seq"],
        holds={h: _hold_of(v) for h, v in d["holds"].items()},
        hold_seq=d["hold_seq"],
        flagged={vid: _violation_row(row) for vid, row in d["refusals"].items()},
    )
    state = ItemState(
        d["item"],
        product=d["product"],
        job=d["job"],
        bound_us=d["bound_us"],
        history=[_pass_of(p) for p in d["history"]],
        qcs=[
            QcOutcome(result=r, time_us=t)
            for r, t in [*d.get("qc_before", []), *([d["qc"]] if d["qc"] else [])]
        ],
        revision=d["revision"],
        route=_verdicts_of(d, d["tally"]),
        custody=custody,
        dirty=set(d["dirty"]),
        row_changed=d["row_changed"],
        counted=_counted_of(d),
    )
    _settle_custody(state)
    return state


def _counted_of(d: Encoded) -> Counted | None:
    if "counted" not in d:
        return COUNTED_UNKNOWN  # written before the rollups
    c = d["counted"]
    return (c[0], c[1], c[2], c[3], c[4], c[5]) if c else None


def _from_v1(d: Encoded) -> ItemState:
    """A record written before versions, in any of the shapes it took over time."""
    parents = d.get("parents", [d["parent"]] if d.get("parent") else [])
    custody = Custody(
        # Written before containment was kept by event time: in since the start.
        memberships={
            p: [_move_of(m) for m in ms]
            for p, ms in (d.get("memberships") or {p: [[0, 1]] for p in parents}).items()
        },
        outputs=set(d.get("consumed_into", [])),
        parents=parents,
        # Written before members kept the child they came through: "" stands for it.
        members={m: v if isinstance(v, dict) else {"": v} for m, v in d.get("members", {}).items()},
        closure_seq=d.get("closure_seq", 0),
        holds={h: _hold_of_v1(v) for h, v in d.get("holds", {}).items()},
        hold_seq=d.get("hold_seq", 0),
    )
    dirty = set(d["dirty"])
    qc = d.get("qc", [])
    state = ItemState(
        d["item"],
        product=d["product"],
        job=d["job"],
        bound_us=d.get("bound_us", 0),
        # States written with a reorder queue ("pending") take its passes into the history.
        history=sorted((_pass_of(p) for p in d["history"] + d.get("pending", [])), key=PassRecord.sort_key),
        qcs=[QcOutcome(result=qc[0], time_us=qc[1])] if qc else [],
        revision=d["revision"],
        route=_verdicts_of(d, d.get("tally")),
        custody=custody,
        dirty=dirty - {""},
        row_changed="" in dirty,  # "" marked the item row
        counted=COUNTED_UNKNOWN,
    )
    _settle_custody(state)
    return state


def _settle_custody(state: ItemState) -> None:
    """The refused packs follow from the moves; the order of ``parents`` is the record's
    (a restore may have taken it from the item row)."""
    parents = state.custody.parents
    settle(state)
    state.custody.parents = parents


def _violation_row(row: Encoded) -> ViolationRow:
    if set(row) != ViolationRow.__required_keys__:
        raise ValueError(f"not a violation row: {sorted(row)}")
    return row  # type: ignore[return-value]


def _verdicts_of(d: Encoded, tally: list[Any] | None) -> RouteVerdicts:
    index, status, loops = d["base"]
    return RouteVerdicts(
        verdicts={pid: Verdict(pass_id=pid, outcome=o, detail=t) for pid, (o, t) in d["verdicts"].items()},
        flagged={
            pid: Verdict(pass_id=pid, outcome=o, detail=t) for pid, (o, t) in d.get("flagged", {}).items()
        },
        base=Position(index, status, tuple((k, v) for k, v in loops)),
        folded=d.get("folded", 0),  # absent in states written before folding was counted
        folded_first_us=d.get("folded_first_us", 0),
        tally=Tally(*tally) if tally else Tally(),
    )


def _pass(r: PassRecord) -> Encoded:
    d: Encoded = {
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
    if r.direction:  # most portals tell no direction and most reports no context
        d["direction"] = r.direction
    if r.context is not NO_CONTEXT:  # the shared empty one tells nothing (half the cost of a pass)
        d.update(context_values(r.context))
    if r.merged:
        d["merged"] = r.merged
    return d


def _pass_of(d: Encoded) -> PassRecord:
    """A pass record back: its context's fields (at the top level, as ``_pass`` writes them) as
    one shared ``ScanContext``."""
    told = {name: d.pop(name) for name in SCAN_CONTEXT if name in d}
    return PassRecord(**d, context=context_from(told))


def _move(m: Move) -> list[Any]:
    """[time, 1 in or 0 out], with where it happened when known."""
    if m.site or m.line or m.station:
        return [m.time_us, int(m.into), m.site, m.line, m.station]
    return [m.time_us, int(m.into)]


def _move_of(v: list[Any]) -> Move:
    time_us, into, *where = v
    site, line, station = where or ("", "", "")
    return Move(time_us=time_us, into=bool(into), site=site, line=line, station=station)


def _hold(h: Hold) -> list[Any]:
    vias = {via: [r.seq, [list(i) for i in r.intervals]] for via, r in h.vias.items()}
    return [h.hold_type, h.placed_us, h.released_us, vias]


def _hold_of(v: list[Any]) -> Hold:
    hold_type, placed, released, vias = v
    reports = {
        via: HoldReport(seq=seq, intervals=[(start, end) for start, end in ivs])
        for via, (seq, ivs) in vias.items()
    }
    return Hold(hold_type=hold_type, placed_us=placed, released_us=released, vias=reports)


def _hold_of_v1(v: list[Any]) -> Hold:
    if len(v) == 3:  # written before holds came through children: [type, placed, released]
        v = [*v, [""]]
    hold_type, placed, released, vias = v
    if not isinstance(vias, list):
        return _hold_of(v)
    # Written before holds were intervals: [type, placed, released, [vias]], "" for itself.
    start, end = placed, released or END
    own = placed if "" in vias else 0
    through = {via: HoldReport(seq=0, intervals=[(start, end)]) for via in vias if via}
    return Hold(hold_type=hold_type, placed_us=own, released_us=released if own else 0, vias=through)


CODEC = RouteStateCodec()
