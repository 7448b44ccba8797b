"""Stage 2: one item's state, and what its own records (passes, job bindings, QC results) do
to it.

The state has three parts, each owned by one module: the item itself (this module: its
passes in event-time order, its job, its QC result), its route verdicts
(``streams/verdicts.py``: the passes judged against the route, and the rows that changed)
and its custody (``streams/custody.py``: what it is in and what is in it, and the holds
that bear on it). The changelog encoding of the whole is ``ingest/records/routestate.py``.
"""

from __future__ import annotations

import bisect
from dataclasses import KW_ONLY, dataclass, field, fields
from operator import attrgetter
from typing import Any

from ingest.records.bundles import PASS_KEYS
from ingest.schema import NO_CONTEXT, SCAN_CONTEXT, Pass, ScanContext, context_from, context_of, pass_id
from streams.counted import Counted
from streams.custody import Custody
from streams.verdicts import RouteVerdicts

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
    context: ScanContext = NO_CONTEXT  # what the report that opened the pass told of its reads
    merged: list[str] = field(default_factory=list)  # other candidates of the same visit taken in

    @classmethod
    def of(cls, p: Pass) -> PassRecord:
        """The pass as its item keeps it: every field of the pass but its item, its report's
        context as one shared object."""
        return cls(**dict(zip(_FROM_PASS, _pass_fields(p), strict=True)), context=context_of(p))

    @classmethod
    def of_record(cls, record: dict[str, Any]) -> PassRecord:
        """The pass an item-bundle record carries (ingest/records/bundles.py), as its item keeps
        it: ``of(pass_of(record))`` without the frozen ``Pass`` between, whose building cost
        as much as the rest of taking a pass candidate. The record's required keys are
        checked when its bundle is decoded."""
        first_us = record["first"]
        return cls(
            pass_id=pass_id(record["item"], record["station"], first_us),
            station=record["station"],
            stage=record["stage"],
            reader_id=record["reader"],
            first_us=first_us,
            last_us=record["last"],
            reads=record["reads"],
            site=record["site"],
            line=record["line"],
            direction=record.get("dir", ""),
            context=NO_CONTEXT
            if _CONTEXT_KEY_SET.isdisjoint(record)
            else context_from(record, _CONTEXT_KEYS),
        )

    def sort_key(self) -> tuple[int, str]:
        return (self.first_us, self.pass_id)


_FROM_PASS = tuple(f.name for f in fields(PassRecord) if f.name not in ("merged", "context"))
_pass_fields = attrgetter(*_FROM_PASS)
# The keys of a pass's context in its item-bundle record.
_CONTEXT_KEYS = tuple(PASS_KEYS.get(name, name) for name in SCAN_CONTEXT)
_CONTEXT_KEY_SET = frozenset(_CONTEXT_KEYS)  # most reports tell no context


@dataclass(slots=True, kw_only=True, order=True)
class QcOutcome:
    """A QC verdict, ordered by event time (then result, so a tie has one answer)."""

    time_us: int
    result: str  # pass, fail...


# QC results an item keeps, the latest last: one withdrawn (its EPCIS event declared in
# error) gives way to the one before it.
MAX_QC = 16


@dataclass(slots=True)
class ItemState:
    item: str
    _: KW_ONLY
    product: str | None = None
    job: str | None = None
    bound_us: int = 0  # event time of the job binding in force (the latest wins)
    history: list[PassRecord] = field(default_factory=list)  # in event-time order
    qcs: list[QcOutcome] = field(default_factory=list)  # in event-time order, the latest last
    revision: int = 0  # of the rows written for it: ClickHouse keeps the highest
    route: RouteVerdicts = field(default_factory=RouteVerdicts)
    custody: Custody = field(default_factory=Custody)
    dirty: set[str] = field(default_factory=set)  # passes whose row must be written again
    row_changed: bool = False  # the item row must be written again, even if no pass row is
    # Passes withdrawn from the history whose rows are still to say so (the next evaluation).
    withdrawn: list[PassRecord] = field(default_factory=list)
    # Where its last row counts it in the rollups (streams/counted.py; None: no row yet).
    counted: Counted | None = field(default=None, compare=False)

    @property
    def qc(self) -> QcOutcome | None:
        """The QC verdict in force: the latest by event time."""
        return self.qcs[-1] if self.qcs else None

    def rejudge(self) -> None:
        """Every pass is judged again and the item row written again (a hold or a containment
        changed what they say)."""
        self.dirty.update(r.pass_id for r in self.history)
        self.row_changed = True


# What add_pass did with a pass candidate.
UNCHANGED, UPDATED, ADDED = 0, 1, 2


def add_pass(state: ItemState, p: PassRecord, window_us: int) -> int:
    """Take a pass candidate into the history, in event-time order: ADDED (a new pass, each
    exactly once in the item's life, ``p`` itself), UPDATED (it extends or turns a known
    one) or UNCHANGED (already applied, or a duplicate)."""
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
    bisect.insort(state.history, p, key=PassRecord.sort_key)
    state.dirty.add(pid)
    return ADDED


def _merge(state: ItemState, rec: PassRecord, p: PassRecord) -> int:
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


def withdraw(state: ItemState, pass_id: str) -> PassRecord | None:
    """The pass ``pass_id`` leaves the history (its EPCIS event was declared in error) and
    the rest is judged again; returns it, or None when the item holds no pass of that id (a
    candidate merged into another pass is forgotten there: the visit stands on its other reads)."""
    for index, rec in enumerate(state.history):
        if rec.pass_id == pass_id:
            del state.history[index]
            state.withdrawn.append(rec)
            state.rejudge()
            return rec
        if pass_id in rec.merged:
            rec.merged.remove(pass_id)
            return None
    return None


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


def qc_result(state: ItemState, result: str, time_us: int, withdrawn: bool = False) -> bool:
    """Record a QC verdict, or take a withdrawn one back; the latest by event time is in force,
    whatever order they arrive in (a replay changes nothing). True if the item's results
    changed (its item row is written again only if the one in force did)."""
    before, outcome = state.qc, QcOutcome(result=result, time_us=time_us)
    if withdrawn == (outcome not in state.qcs):
        return False
    if withdrawn:
        state.qcs.remove(outcome)
    else:
        bisect.insort(state.qcs, outcome)
        del state.qcs[:-MAX_QC]
    if state.qc != before:
        state.row_changed = True
    return True
