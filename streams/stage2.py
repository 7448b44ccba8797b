"""Stage 2: item route state per owned partition, updated per bundle, durable by changelog.

Framework-free: the faust agent feeds bundles and ships the rows and changelog records
this returns, flushing both before the batch's offsets can be committed.
"""

from __future__ import annotations

import heapq
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from ingest.plant import Plant
from ingest.records.routestate import CODEC as ROUTE_STATE
from ingest.settings import Settings
from ingest.topics import Topics
from streams import closure, custody, items
from streams.bundles import ASSEMBLED, BIND, HOLD, JOINED, LEFT, PASS, QC, UNPACKED, WITHDRAWN
from streams.closure import Outbox
from streams.counted import UNKNOWN as COUNTED_UNKNOWN
from streams.counted import counted_of
from streams.items import ADDED, UNCHANGED, UPDATED, ItemState
from streams.jobcounts import JobCounts
from streams.passcounts import KEY_PREFIX as PASS_COUNTS_PREFIX
from streams.passcounts import PassCounts
from streams.progress import END_OF_TIME, PROGRESS, Watermarks, source_of
from streams.readrates import CHANGELOG_KEY as READ_RATES_KEY
from streams.readrates import ReadRates
from streams.verdicts import Rows, evaluate, item_row_now, waiting_since
from streams.wipcounts import WipCounts

Record = dict[str, Any]

# What became of a pass candidate: a new pass, merged into a pass its item held (another
# candidate of the same visit, from a stage 1 that forgot the pass or another reader of the
# portal), or a duplicate of one already taken. Stage 1 sends each pass once while it keeps
# its state, so on a plain run every candidate is new.
CANDIDATE_OUTCOMES = {ADDED: "new", UPDATED: "merged", UNCHANGED: "duplicate"}


@dataclass
class Changes:
    rows: Rows = field(default_factory=Rows)
    changelog: list[tuple[int, str, bytes]] = field(default_factory=list)  # (partition, item, state)
    read_rates: list[dict[str, Any]] = field(default_factory=list)
    forwards: list[dict[str, Any]] = field(default_factory=list)  # item records for item-bundles
    closure: list[dict[str, Any]] = field(default_factory=list)
    pass_counts: list[dict[str, Any]] = field(default_factory=list)
    wip_counts: list[dict[str, Any]] = field(default_factory=list)
    job_counts: list[dict[str, Any]] = field(default_factory=list)
    candidates: Counter[str] = field(default_factory=Counter)  # pass candidates taken, by outcome

    def tables(self) -> list[tuple[str, Sequence[Mapping[str, Any]]]]:
        """The trace rows, by ClickHouse table."""
        rows = self.rows
        return [
            ("passes", rows.passes),
            ("violations", rows.violations),
            ("item_state", rows.item_state),
            ("portal_read_rates", self.read_rates),
            ("genealogy", self.closure),
            ("pass_counts", self.pass_counts),
            ("wip_counts", self.wip_counts),
            ("job_counts", self.job_counts),
        ]


class RouteStates:
    def __init__(self, settings: Settings, plant: Plant):
        self.plant = plant
        self.window_us = int(settings.dedup_window_s * 1_000_000)
        self.reorder_us = int(settings.reorder_window_s * 1_000_000)
        self.items: dict[int, dict[str, ItemState]] = {}
        # Per partition: how far every input of stage 1 has got in event time.
        self.watermarks: dict[int, Watermarks] = {}
        topics = Topics.of(settings)
        self.sources = frozenset(
            source_of(t, p)
            for t in (topics.reads, topics.jobs, topics.aggregations)
            for p in range(settings.partitions)
        )
        # Items with a violation (or retraction) waiting for its pass to leave the reorder window.
        # Per partition, items with a violation (or retraction) waiting to be confirmed: the event
        # time of the first such pass, and a heap of them by that time, so a settle looks only
        # at the items the watermark has reached (a stale heap entry is skipped).
        self.unconfirmed: dict[int, dict[str, int]] = defaultdict(dict)
        self.due: dict[int, list[tuple[int, str]]] = defaultdict(list)
        self.touched: dict[int, set[str]] = defaultdict(set)
        self.candidates: dict[int, Counter[str]] = defaultdict(Counter)
        self.read_rates: dict[int, ReadRates] = {}
        self.pass_counts: dict[int, PassCounts] = {}
        self.wip_counts: dict[int, WipCounts] = {}
        self.job_counts: dict[int, JobCounts] = {}
        # Item records for other items (holds and closure news travelling to what an item went
        # into) and the genealogy closure rows, taken by the next settle.
        self.out = Outbox()

    def is_loaded(self, partition: int) -> bool:
        return partition in self.items

    def load(self, partition: int, records: Iterable[tuple[bytes, bytes]]) -> int:
        """Rebuild a partition from its changelog records (the latest record per item wins)."""
        states: dict[str, ItemState] = {}
        rates = ReadRates()
        counts = PassCounts()
        for raw_key, value in records:
            key = raw_key.decode()
            if key == READ_RATES_KEY:
                rates = ReadRates.from_dict(orjson.loads(value))
            elif key.startswith(PASS_COUNTS_PREFIX):
                counts.load(key, orjson.loads(value))
            else:
                states[key] = ROUTE_STATE.decode(value)
        self.items[partition] = states
        self.read_rates[partition] = rates
        self.pass_counts[partition] = counts
        for state in states.values():
            if state.counted == COUNTED_UNKNOWN:
                state.counted = counted_of(item_row_now(state, self.plant))
        self.wip_counts[partition] = WipCounts.of(s.counted for s in states.values())
        self.job_counts[partition] = JobCounts.of(s.counted for s in states.values())
        waiting = {k: t for k, s in states.items() if (t := waiting_since(s, self.plant))}
        self.unconfirmed[partition] = waiting
        self.due[partition] = sorted((t, k) for k, t in waiting.items())
        self.watermarks[partition] = Watermarks(self.sources)
        return len(states)

    def drop(self, partition: int) -> None:
        for table in (
            self.items,
            self.watermarks,
            self.unconfirmed,
            self.due,
            self.touched,
            self.candidates,
            self.read_rates,
            self.pass_counts,
            self.wip_counts,
            self.job_counts,
        ):
            table.pop(partition, None)

    def apply(self, partition: int, records: list[Record]) -> None:
        """Each record goes to the module that owns its concern; the item is touched (to be
        evaluated at the next settle) if the record changed it."""
        items_here = self.items[partition]
        for r in records:
            kind = r["k"]
            if kind == PROGRESS:  # stage 1's inputs have got this far; the records before it are in
                self.watermarks[partition].update(r["sources"])
                continue
            key = r["item"]
            state = items_here.get(key)
            if state is None:
                state = items_here[key] = ItemState(key)
            if kind == PASS:
                changed = self._pass(partition, state, r)
            elif kind == BIND:
                changed = items.bind(state, r["job"], r["product"], r.get("time", 0))
            elif kind == QC:
                changed = items.qc_result(state, r["result"], r["time"], r.get("withdrawn", False))
            elif kind in (ASSEMBLED, UNPACKED):
                changed = custody.contain(state, r, self.out)
            elif kind == HOLD:
                changed = custody.hold(state, r, self.out)
            elif kind == JOINED:
                changed = closure.joined(state, r, self.out)
            elif kind == LEFT:
                changed = closure.left(state, r, self.out)
            elif kind == WITHDRAWN:
                changed = self._withdraw(partition, state, r["pass_id"])
            else:
                continue
            if changed:
                self.touched[partition].add(key)

    def _pass(self, partition: int, state: ItemState, r: Record) -> bool:
        """A pass joins the item's history; a new one is counted once, when it joins, and every
        candidate by what became of it (a direction told later, with no reads, is none)."""
        p = items.PassRecord.of_record(r)
        added = items.add_pass(state, p, self.window_us)
        if added == ADDED:
            self.pass_counts[partition].count(p.site, p.line, p.station, p.stage, p.first_us)
        if p.reads:
            self.candidates[partition][CANDIDATE_OUTCOMES[added]] += 1
        return added != UNCHANGED

    def _withdraw(self, partition: int, state: ItemState, pass_id: str) -> bool:
        """A captured pass withdrawn: it no longer counts in its minute's throughput."""
        rec = items.withdraw(state, pass_id)
        if rec is not None:
            self.pass_counts[partition].count(rec.site, rec.line, rec.station, rec.stage, rec.first_us, -1)
        return rec is not None

    def settle(self, partition: int, idle: bool = False) -> Changes:
        """Rows of what changed; violations are confirmed for passes that every input of
        stage 1 has passed by the reorder window (all of them when ``idle``)."""
        low = END_OF_TIME if idle else self.watermarks[partition].low_us()
        cutoff = low if low == END_OF_TIME else low - self.reorder_us
        states = self.items[partition]
        touched = self.touched.pop(partition, set())
        waiting, due = self.unconfirmed[partition], self.due[partition]
        reached = set()
        while due and due[0][0] <= cutoff:
            since, key = heapq.heappop(due)
            if waiting.get(key) == since:
                reached.add(key)
        changes = Changes(candidates=self.candidates.pop(partition, Counter()))
        rates, wip, jobs = self.read_rates[partition], self.wip_counts[partition], self.job_counts[partition]
        for key in sorted(touched | reached):
            state = states[key]
            rows = evaluate(state, self.plant, cutoff)
            for row in rows.item_state:
                counted = counted_of(row)
                wip.move(state.counted, counted)
                jobs.move(state.counted, counted)
                state.counted = counted
            if not rows.waiting_us:
                waiting.pop(key, None)
            elif waiting.get(key) != rows.waiting_us or key in reached:
                waiting[key] = rows.waiting_us
                heapq.heappush(due, (rows.waiting_us, key))
            for site, line, stage, observed, read in rows.read_deltas:
                rates.add(site, line, [(stage, observed, read)])
            changes.rows.extend(rows)
            if key in touched or rows.violations or rows.item_state:
                changes.changelog.append((partition, key, ROUTE_STATE.encode_value(state)))
        changes.forwards, changes.closure = self.out.forwards, self.out.closure
        self.out = Outbox()
        taken_rates, taken_counts = rates.take(partition), self.pass_counts[partition].take(partition)
        changes.read_rates, changes.pass_counts = taken_rates.rows, taken_counts.rows
        changes.wip_counts, changes.job_counts = wip.take(partition).rows, jobs.take(partition).rows
        for key, value in [*taken_rates.changelog, *taken_counts.changelog]:
            changes.changelog.append((partition, key, orjson.dumps(value)))
        return changes

    def has_unconfirmed(self) -> bool:
        return any(self.unconfirmed.values())
