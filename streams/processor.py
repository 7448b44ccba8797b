"""The stream worker's batches: stage 1 over the input topics, stage 2 over item bundles.

faust drives it (``streams/app.py``): its agents hand over batches of events, its timers
and rebalance signals call the methods below. Nothing here imports faust; the consumer's
offsets come through ``Offsets``. Every method that ships ends by flushing the producer,
so faust commits a batch's input offsets only after its outputs are acknowledged; any
exception ends the worker before that commit (``_crash_only`` in ``streams/app.py``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NamedTuple, Protocol

import orjson

from ingest.deadletter import dead_letter
from ingest.errors import InvalidInput
from ingest.kafka import read_partitions
from ingest.metrics import WorkerMetrics
from ingest.plant import Plant
from ingest.settings import Settings
from ingest.timefmt import now_us
from ingest.topics import Topics
from streams.assignment import Assignment
from streams.bundles import decode_bundle
from streams.guard import OffsetGuard, TopicPartition
from streams.progress import source_of
from streams.shipping import Shipper
from streams.stage1 import Batch, Stage1
from streams.stage2 import Changes, RouteStates

log = logging.getLogger(__name__)

# How often the progress timer looks at its inputs (streams/app.py); a change is reported at
# once and the same progress again after the heartbeat, so a restarted stage 2 hears from
# every input within it.
PROGRESS_HEARTBEAT_S = 1.0

Take = Callable[[Batch, bytes, tuple[str, int, int]], None]


class Input(NamedTuple):
    """One event as faust hands it over: where it was read, and its bytes."""

    topic: str
    partition: int
    offset: int
    value: bytes


class Offsets(Protocol):
    """The consumer's view of a partition: the offset it committed and the log end."""

    def committed(self, tp: TopicPartition) -> int | None: ...

    def highwater(self, tp: TopicPartition) -> int | None: ...


class StreamProcessor:
    def __init__(
        self, settings: Settings, plant: Plant, offsets: Offsets, shipper: Shipper, metrics: WorkerMetrics
    ):
        self.settings = settings
        self.topics = Topics.of(settings)
        self.inputs = frozenset({self.topics.reads, self.topics.jobs, self.topics.aggregations})
        self.offsets = offsets
        self.shipper = shipper
        self.metrics = metrics
        self.stage1 = Stage1(settings, plant)
        self.states = RouteStates(settings, plant)
        self.guard = OffsetGuard(offsets.committed)
        self.assignment = Assignment.before_any(self.topics.item_bundles, self.guard)
        self.lock = asyncio.Lock()  # route states: one batch, restore or rebalance at a time
        self.takes: dict[str, Take] = {
            self.topics.reads: lambda batch, value, where: self.stage1.take_report(
                batch, value, where, now_us()
            ),
            self.topics.jobs: self.stage1.take_job_event,
            self.topics.aggregations: self.stage1.take_aggregation,
        }
        self._progress: tuple[dict[str, Any] | None, float] = (None, 0.0)  # last sent, and when

    async def stage1_batch(self, topic: str, events: Sequence[Input]) -> None:
        """Turn a batch of one input topic into item bundles and trace rows, and ship them.

        Before faust may commit the batch's input offsets, in this order:

        1. Check each event's offset against the guard (a hole ends the worker) and take it:
           reads into passes, job events into bindings, aggregations into links; bad input
           becomes a dead letter.
        2. Recheck which inputs are idle, as of the latest fetch.
        3. End the batch: passes no read can extend are forgotten, and every item-bundles
           partition gets this worker's input progress after the batch's records.
        4. Produce the item bundles, the trace rows and the dead letters.
        5. Flush the producer: every output acknowledged, or an error that ends the worker.
        """
        started = time.perf_counter()
        take, batch = self.takes[topic], self.stage1.new_batch()
        for ev in events:
            self.guard.check((ev.topic, ev.partition), ev.offset)
            self.stage1.progress.took(source_of(ev.topic, ev.partition))
            take(batch, ev.value, (ev.topic, ev.partition, ev.offset))
        self.check_idle()  # as of the latest fetch, which may have brought the others data
        self.stage1.end_batch(batch)
        self.shipper.stage1(batch)
        await self._flush()
        _count_stage1(self.metrics, batch)
        self.metrics.batch_seconds.labels(topic).observe(time.perf_counter() - started)

    async def routes_batch(self, events: Sequence[Input]) -> None:
        """Apply a batch of item bundles to the route states and ship what changed.

        Before faust may commit the batch's input offsets, in this order:

        1. Admit each event (``Assignment.admit``): an event of a partition taken away ends
           the worker, unless it holds input progress alone (skipped); an offset hole ends it.
        2. Rebuild from its changelog the state of each admitted partition not loaded yet.
        3. Apply the bundles in order; one that cannot be decoded becomes a dead letter.
        4. Settle each partition applied: the rows of what changed, the changelog records of
           the changed item states and counters, and the records for other items.
        5. Produce them: records to item-bundles, changelog records to route-state, rows to
           trace, dead letters to dead-letter.
        6. Flush the producer: every output acknowledged, or an error that ends the worker.
        """
        async with self.lock:
            started = time.perf_counter()
            admitted = [
                ev for ev in events if self.assignment.admit((ev.topic, ev.partition), ev.offset, ev.value)
            ]
            for partition in self.assignment.to_restore(self.states.items, {ev.partition for ev in admitted}):
                await self._restore(partition)
            dead: list[bytes] = []
            applied: set[int] = set()
            for ev in admitted:
                try:
                    records = decode_bundle(ev.value)
                except InvalidInput as exc:
                    dead.append(dead_letter(exc, ev.topic, ev.partition, ev.offset, ev.value))
                    continue
                self.states.apply(ev.partition, records)
                applied.add(ev.partition)
            changes = [self.states.settle(p) for p in sorted(applied)]
            self.shipper.stage2(*changes)
            self.shipper.dead_letters(dead)
            await self._flush()
            _count_stage2(self.metrics, changes, dead)
            self.metrics.batch_seconds.labels("routes").observe(time.perf_counter() - started)

    async def restore_assigned(self) -> None:
        """Rebuild the state of owned item-bundles partitions that had no input since their assignment."""
        async with self.lock:
            for partition in self.assignment.to_restore(self.states.items):
                await self._restore(partition)

    async def report_progress(self) -> None:
        """Tell every item-bundles partition how far this worker's inputs have got and which
        are idle, when that changes and at least every PROGRESS_HEARTBEAT_S (a stage 2 that
        restarted learns it again)."""
        self.check_idle()
        now = time.monotonic()
        record = self.stage1.progress.record()
        last, at = self._progress
        if record == last and now - at < PROGRESS_HEARTBEAT_S:
            return
        self._progress = (record, now)
        self.shipper.progress(record)
        await self._flush()

    async def revoked(self, revoked: Iterable[TopicPartition]) -> None:
        async with self.lock:
            taken = set(revoked)
            self.stage1.progress.forget(source_of(*tp) for tp in taken if tp[0] in self.inputs)
            for partition in self.assignment.revoke(taken):
                self.states.drop(partition)

    async def assigned(self, assigned: Iterable[TopicPartition]) -> None:
        """Start the next assignment (``streams/assignment.py`` says why each rule exists)."""
        async with self.lock:
            given = set(assigned)
            self.assignment, stale = self.assignment.next(given, list(self.states.items))
            for partition in stale:
                self.states.drop(partition)
            self.stage1.progress.hold(source_of(*tp) for tp in given if tp[0] in self.inputs)

    def check_idle(self) -> None:
        at_end = {source_of(*tp): self._at_log_end(tp) for tp in self.assignment.inputs(self.inputs)}
        self.stage1.progress.check_idle(at_end, time.monotonic(), self.settings.idle_input_s)

    def measure_lag(self, assigned: Iterable[TopicPartition]) -> None:
        """Per assigned partition: messages after the last one taken (highwater - last - 1)."""
        for tp in assigned:
            highwater = self.offsets.highwater(tp)
            if highwater is None:
                continue
            last = self.guard.last(tp)
            taken = self.offsets.committed(tp) if last is None else last + 1
            if taken is not None:
                self.metrics.lag.labels(tp[0], str(tp[1])).set(max(0, highwater - taken))
        self.metrics.items.set(sum(len(items) for items in self.states.items.values()))

    def _at_log_end(self, tp: TopicPartition) -> bool:
        """Whether the consumer's position in ``tp`` is its log end (nothing left to read there)."""
        highwater = self.offsets.highwater(tp)
        if highwater is None:
            return False
        last = self.guard.last(tp)
        position = last + 1 if last is not None else self.offsets.committed(tp) or 0
        # The local broker reports the last batch's base offset + 1 as the end: at or past it is at the end.
        return bool(position >= highwater)

    async def _restore(self, partition: int) -> None:
        def read() -> list[tuple[bytes, bytes]]:
            msgs = read_partitions(self.settings, self.topics.route_state, [partition])
            return [(k, v) for m in msgs if (k := m.key()) is not None and (v := m.value()) is not None]

        records = await asyncio.get_running_loop().run_in_executor(None, read)
        count = self.states.load(partition, records)
        log.info("restored %d item states of partition %d", count, partition)

    async def _flush(self) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self.shipper.flush)


def _count_stage1(m: WorkerMetrics, batch: Batch) -> None:
    for (reader, antenna), n in batch.reads_by_point.items():
        m.reads.labels(reader, str(antenna)).inc(n)
    m.reports.inc(batch.reports)
    m.passes.inc(batch.passes)
    _count_dead(m, batch.dead_letters)


def _count_stage2(m: WorkerMetrics, changes: list[Changes], dead: list[bytes]) -> None:
    for c in changes:
        for outcome, n in c.candidates.items():
            m.pass_candidates.labels(outcome).inc(n)
        for v in c.rows.violations:
            if not v["retracted"]:
                m.violations.labels(v["type"]).inc()
    _count_dead(m, dead)


def _count_dead(m: WorkerMetrics, records: list[bytes]) -> None:
    for record in records:
        m.dead_letters.labels(orjson.loads(record)["reason"]).inc()
