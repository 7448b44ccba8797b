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
from collections.abc import Iterable
from typing import Any

import faust
from prometheus_client import CollectorRegistry

from ingest.metrics import WorkerMetrics
from ingest.plant import Plant
from ingest.settings import Settings
from ingest.topics import Topics
from streams.guard import TopicPartition
from streams.processor import Input, StreamProcessor
from streams.shipping import Shipper

log = logging.getLogger(__name__)

EXIT_FAULT = 70

# How often a worker looks at its inputs' progress (it reports a change at once, and the same
# progress again after streams.processor.PROGRESS_HEARTBEAT_S).
PROGRESS_INTERVAL_S = 0.2


def create_app(settings: Settings, plant: Plant, metrics: WorkerMetrics | None = None) -> faust.App:
    """The faust app: its agents, timers and rebalance signals drive a ``StreamProcessor``."""
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
    processor = StreamProcessor(settings, plant, _ConsumerOffsets(app), Shipper(settings), m)
    for topic in (topics.reads, topics.jobs, topics.aggregations):
        _stage1_agent(app, settings, processor, topic)
    _routes_agent(app, settings, processor, topics.item_bundles)
    _timers(app, processor)

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]
    async def revoked(app: faust.App, revoked: set[Any], **kwargs: Any) -> None:
        await processor.revoked(_tps(revoked))

    @app.on_partitions_assigned.connect  # type: ignore[arg-type]
    async def assigned(app: faust.App, assigned: set[Any], **kwargs: Any) -> None:
        await processor.assigned(_tps(assigned))

    return app


def _raw_topic(app: faust.App, name: str) -> faust.TopicT:
    return app.topic(name, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")


def _inputs(events: Iterable[Any]) -> list[Input]:
    return [Input(ev.message.topic, ev.message.partition, ev.message.offset, ev.value) for ev in events]


def _tps(tps: Iterable[Any]) -> list[TopicPartition]:
    return [(tp.topic, tp.partition) for tp in tps]


def _stage1_agent(app: faust.App, settings: Settings, processor: StreamProcessor, topic: str) -> None:
    async def agent(stream: faust.StreamT) -> None:
        async for events in stream.take_events(settings.batch_max, within=settings.batch_wait_s):  # type: ignore[attr-defined]
            async with _crash_only(topic):
                await processor.stage1_batch(topic, _inputs(events))

    app.agent(_raw_topic(app, topic), name=f"linetrace.{topic}", concurrency=1)(agent)


def _routes_agent(app: faust.App, settings: Settings, processor: StreamProcessor, topic: str) -> None:
    async def routes(stream: faust.StreamT) -> None:
        async for events in stream.take_events(settings.batch_max, within=settings.batch_wait_s):  # type: ignore[attr-defined]
            async with _crash_only("routes"):
                await processor.routes_batch(_inputs(events))

    app.agent(_raw_topic(app, topic), name="linetrace.routes", concurrency=1)(routes)


def _timers(app: faust.App, processor: StreamProcessor) -> None:
    @app.timer(interval=0.5)
    async def restore_assigned() -> None:
        async with _crash_only("restore"):
            await processor.restore_assigned()

    @app.timer(interval=PROGRESS_INTERVAL_S)
    async def report_progress() -> None:
        async with _crash_only("progress"):
            await processor.report_progress()

    @app.timer(interval=1.0)
    async def measure_lag() -> None:
        try:
            assigned = app.consumer.assignment()
        except Exception:
            return
        processor.measure_lag(_tps(assigned))


class _ConsumerOffsets:
    """faust's consumer as ``streams.processor.Offsets``."""

    def __init__(self, app: faust.App):
        self.app = app

    def committed(self, tp: TopicPartition) -> int | None:
        # faust keeps the committed offsets it sought to after an assignment; there is no public accessor.
        offset: int | None = self.app.consumer._committed_offset.get(faust.types.TP(*tp))  # type: ignore[attr-defined]
        return offset

    def highwater(self, tp: TopicPartition) -> int | None:
        highwater: int | None = self.app.consumer.highwater(faust.types.TP(*tp))
        return highwater


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
