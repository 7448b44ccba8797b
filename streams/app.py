"""The stream worker: faust agents wired to the stage-1 and stage-2 logic.

Crash-only on faults: any error other than bad input (which is dead-lettered) ends the
process at once, before faust can commit past unprocessed input; the supervisor (the
demo, systemd, Kubernetes) restarts it and the input replays from the committed offsets.
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
import time
from collections.abc import Callable
from typing import Any

import faust
import orjson
from prometheus_client import CollectorRegistry

from ingest.deadletter import dead_letter
from ingest.errors import InvalidInput
from ingest.kafka import read_partitions
from ingest.metrics import WorkerMetrics
from ingest.plant import Plant
from ingest.settings import Settings
from ingest.timefmt import now_us
from ingest.topics import Topics
from streams.bundles import decode_bundle
from streams.guard import NotAssigned, OffsetGuard
from streams.progress import PROGRESS, source_of
from streams.shipping import Shipper
from streams.stage1 import Batch, Stage1
from streams.stage2 import Changes, RouteStates

log = logging.getLogger(__name__)

EXIT_FAULT = 70

# How often a worker looks at its inputs' progress; it reports a change at once and the same
# progress again after the heartbeat, so a restarted stage 2 hears from every input within it.
PROGRESS_INTERVAL_S = 0.2
PROGRESS_HEARTBEAT_S = 1.0


def create_app(settings: Settings, plant: Plant, metrics: WorkerMetrics | None = None) -> faust.App:
    topics = Topics.of(settings)
    _limit_fetch_wait(settings.kafka_fetch_wait_ms)
    app = faust.App(
        settings.worker_id,
        broker=[f"kafka://{h.strip()}" for h in settings.kafka_bootstrap.split(",")],
        store="memory://",
        topic_partitions=settings.partitions,
        topic_allow_declare=False,
        broker_session_timeout=settings.kafka_session_timeout_s,
        broker_heartbeat_interval=settings.kafka_heartbeat_s,
        consumer_auto_offset_reset="earliest",
        broker_credentials=_credentials(settings),
        web_enabled=False,
        datadir=settings.state_dir,
        stream_wait_empty=False,
    )
    m = metrics or WorkerMetrics(CollectorRegistry())
    shipper = Shipper(settings)
    stage1 = Stage1(settings, plant)
    states = RouteStates(settings, plant)
    # faust keeps the committed offsets it sought to after an assignment; there is no public accessor.
    guard = OffsetGuard(lambda tp: app.consumer._committed_offset.get(faust.types.TP(*tp)))  # type: ignore[attr-defined]
    state_lock = asyncio.Lock()
    # item-bundles partitions assigned to this worker, kept from faust's rebalance signals:
    # consumer.assignment() still lists revoked partitions until the next assignment.
    owned: set[int] = set()
    # Input partitions assigned and not revoked since (all of them are revoked in a rebalance).
    held: set[tuple[str, int]] = set()

    def raw_topic(name: str) -> faust.TopicT:
        return app.topic(name, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")

    async def flush() -> None:
        await asyncio.get_running_loop().run_in_executor(None, shipper.flush)

    inputs = {topics.reads, topics.jobs, topics.aggregations}

    def check_idle() -> None:
        at_end = {source_of(*tp): _at_log_end(app, guard, tp) for tp in held if tp[0] in inputs}
        stage1.progress.check_idle(at_end, time.monotonic(), settings.idle_input_s)

    def stage1_agent(name: str, take: Callable[[Batch, bytes, tuple[str, int, int]], None]) -> None:
        async def agent(stream: faust.StreamT) -> None:
            async for events in stream.take_events(settings.batch_max, within=settings.batch_wait_s):  # type: ignore[attr-defined]
                async with _crash_only(name):
                    started = time.perf_counter()
                    batch = stage1.new_batch()
                    for ev in events:
                        msg = ev.message
                        guard.check((msg.topic, msg.partition), msg.offset)
                        stage1.progress.took(source_of(msg.topic, msg.partition))
                        take(batch, ev.value, (msg.topic, msg.partition, msg.offset))
                    check_idle()  # as of the latest fetch, which may have brought the others data
                    stage1.end_batch(batch)
                    shipper.stage1(batch)
                    await flush()
                    _count_stage1(m, batch)
                    m.batch_seconds.labels(name).observe(time.perf_counter() - started)

        app.agent(raw_topic(name), name=f"linetrace.{name}", concurrency=1)(agent)

    stage1_agent(topics.reads, lambda batch, value, where: stage1.take_report(batch, value, where, now_us()))
    stage1_agent(topics.jobs, stage1.take_job_event)
    stage1_agent(topics.aggregations, stage1.take_aggregation)

    async def restore(partition: int) -> None:
        def read() -> list[tuple[bytes, bytes]]:
            msgs = read_partitions(settings, topics.route_state, [partition])
            return [(k, v) for m in msgs if (k := m.key()) is not None and (v := m.value()) is not None]

        records = await asyncio.get_running_loop().run_in_executor(None, read)
        count = states.load(partition, records)
        log.info("restored %d item states of partition %d", count, partition)

    @app.agent(raw_topic(topics.item_bundles), name="linetrace.routes", concurrency=1)
    async def routes(stream: faust.StreamT) -> None:
        async for events in stream.take_events(settings.batch_max, within=settings.batch_wait_s):  # type: ignore[attr-defined]
            async with _crash_only("routes"), state_lock:
                started = time.perf_counter()
                dead: list[bytes] = []
                seen: set[int] = set()
                for ev in events:
                    msg = ev.message
                    if msg.partition not in owned:
                        if _progress_only(ev.value):
                            continue  # changes no state; the partition's new owner hears it again
                        # Fetched before a rebalance took the partition away: its state is
                        # another worker's now, and what this one wrote could land after it.
                        raise NotAssigned(f"{msg.topic}[{msg.partition}]@{msg.offset} is not assigned here")
                    guard.check((msg.topic, msg.partition), msg.offset)
                    if not states.is_loaded(msg.partition):
                        await restore(msg.partition)
                    try:
                        records = decode_bundle(ev.value)
                    except InvalidInput as exc:
                        dead.append(dead_letter(exc, msg.topic, msg.partition, msg.offset, ev.value))
                        continue
                    states.apply(msg.partition, records)
                    seen.add(msg.partition)
                changes = [states.settle(p) for p in sorted(seen)]
                shipper.stage2(*changes)
                shipper.dead_letters(dead)
                await flush()
                _count_stage2(m, changes, dead)
                m.batch_seconds.labels("routes").observe(time.perf_counter() - started)

    @app.timer(interval=0.5)
    async def restore_assigned() -> None:
        """Rebuild the state of item-bundles partitions assigned here that had no input since."""
        async with _crash_only("restore"), state_lock:
            for partition in sorted(owned - set(states.items)):
                await restore(partition)

    last_progress: dict[str, Any] = {"record": None, "at": 0.0}

    @app.timer(interval=PROGRESS_INTERVAL_S)
    async def report_progress() -> None:
        """Tell every item-bundles partition how far this worker's inputs have got and which
        are idle, when that changes and at least every PROGRESS_HEARTBEAT_S (a stage 2 that
        restarted learns it again)."""
        async with _crash_only("progress"):
            check_idle()
            now = time.monotonic()
            record = stage1.progress.record()
            if record == last_progress["record"] and now - last_progress["at"] < PROGRESS_HEARTBEAT_S:
                return
            last_progress.update(record=record, at=now)
            shipper.progress(record)
            await flush()

    @app.timer(interval=1.0)
    async def measure_lag() -> None:
        """Per owned partition: messages after the last one taken (highwater - last - 1)."""
        try:
            assigned = app.consumer.assignment()
        except Exception:
            return
        for tp in assigned:
            highwater = app.consumer.highwater(tp)
            if highwater is None:
                continue
            last = guard.last((tp.topic, tp.partition))
            taken = app.consumer._committed_offset.get(tp) if last is None else last + 1  # type: ignore[attr-defined]
            if taken is not None:
                m.lag.labels(tp.topic, str(tp.partition)).set(max(0, highwater - taken))
        m.items.set(sum(len(items) for items in states.items.values()))

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]
    async def revoked(app: faust.App, revoked: set[Any], **kwargs: Any) -> None:
        async with state_lock:
            guard.forget((tp.topic, tp.partition) for tp in revoked)
            stage1.progress.forget(source_of(tp.topic, tp.partition) for tp in revoked if tp.topic in inputs)
            held.difference_update((tp.topic, tp.partition) for tp in revoked)
            for tp in revoked:
                if tp.topic == topics.item_bundles:
                    states.drop(tp.partition)
                    owned.discard(tp.partition)

    @app.on_partitions_assigned.connect  # type: ignore[arg-type]
    async def assigned(app: faust.App, assigned: set[Any], **kwargs: Any) -> None:
        """Each assigned partition's state is rebuilt from its changelog as it is now (by the
        timer or the first input); none loaded before the assignment is kept. Offsets taken
        since the revocation (events fetched before the rebalance) are forgotten, so the guard
        checks the new assignment against the committed offsets."""
        async with state_lock:
            for partition in [p for p in states.items if p not in owned]:
                states.drop(partition)
            owned.clear()
            owned.update(tp.partition for tp in assigned if tp.topic == topics.item_bundles)
            guard.retain(held)
            held.clear()
            held.update((tp.topic, tp.partition) for tp in assigned)
            stage1.progress.hold(source_of(tp.topic, tp.partition) for tp in assigned if tp.topic in inputs)

    return app


def _progress_only(payload: bytes) -> bool:
    """Whether an item bundle holds only stage 1's input progress (no item's records)."""
    try:
        return all(r["k"] == PROGRESS for r in decode_bundle(payload))
    except (InvalidInput, KeyError, TypeError):
        return False


def _at_log_end(app: faust.App, guard: OffsetGuard, tp: tuple[str, int]) -> bool:
    """Whether the consumer's position in ``tp`` is its log end (nothing left to read there)."""
    key = faust.types.TP(*tp)
    highwater = app.consumer.highwater(key)
    if highwater is None:
        return False
    last = guard.last(tp)
    position = last + 1 if last is not None else app.consumer._committed_offset.get(key) or 0  # type: ignore[attr-defined]
    # The local broker reports the last batch's base offset + 1 as the end: at or past it is at the end.
    return bool(position >= highwater)


def _count_stage1(m: WorkerMetrics, batch: Batch) -> None:
    for (reader, antenna), n in batch.reads_by_point.items():
        m.reads.labels(reader, str(antenna)).inc(n)
    m.reports.inc(batch.reports)
    m.passes.inc(batch.passes)
    _count_dead(m, batch.dead_letters)


def _count_stage2(m: WorkerMetrics, changes: list[Changes], dead: list[bytes]) -> None:
    for c in changes:
        for v in c.rows.violations:
            if not v["retracted"]:
                m.violations.labels(v["type"]).inc()
    _count_dead(m, dead)


def _count_dead(m: WorkerMetrics, records: list[bytes]) -> None:
    for record in records:
        m.dead_letters.labels(orjson.loads(record)["reason"]).inc()


def _limit_fetch_wait(wait_ms: int) -> None:
    """Make faust's consumer use our fetch wait instead of its fixed 1500 ms.

    Kafka answers a fetch as soon as data arrives, so the wait rarely matters there; the
    local broker holds every fetch for the full wait, which would add 1.5 s to each hop.
    faust 0.15 offers no setting for it, so the consumer is adjusted as it is created.
    """
    from faust.transport.drivers import aiokafka as driver

    original = driver.AIOKafkaConsumerThread._create_worker_consumer
    if getattr(original, "_linetrace_wait", None) == wait_ms:
        return

    def create(self: Any, transport: Any) -> Any:
        consumer = original(self, transport)
        consumer._fetch_max_wait_ms = wait_ms
        return consumer

    create._linetrace_wait = wait_ms  # type: ignore[attr-defined]
    driver.AIOKafkaConsumerThread._create_worker_consumer = create  # type: ignore[method-assign]


def _credentials(settings: Settings) -> faust.auth.Credentials | None:
    """The same SASL/SSL settings the confluent-kafka clients get (ingest.kafka.client_config)."""
    protocol = settings.kafka_security_protocol.upper()
    context = None
    if "SSL" in protocol:
        context = ssl.create_default_context(cafile=settings.kafka_ssl_cafile or None)
    if settings.kafka_sasl_mechanism:
        return faust.SASLCredentials(
            username=settings.kafka_sasl_username,
            password=settings.kafka_sasl_password,
            mechanism=settings.kafka_sasl_mechanism,
            ssl_context=context,
        )
    return faust.SSLCredentials(context) if context is not None else None


class _crash_only:
    """Any error escaping a batch ends the process before faust can commit past it."""

    def __init__(self, where: str):
        self.where = where

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        if exc is not None and not isinstance(exc, asyncio.CancelledError):
            log.critical("stream worker stops in %s: %r", self.where, exc, exc_info=exc)
            logging.shutdown()
            os._exit(EXIT_FAULT)
