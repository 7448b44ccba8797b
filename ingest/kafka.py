"""Kafka clients shared by every linetrace process (confluent-kafka)."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from ingest.settings import Settings
from ingest.topics import Topics

log = logging.getLogger(__name__)
# librdkafka's own log lines (connection failures, retries) go through Python logging under
# this name, so a command decides what reaches its user instead of librdkafka writing to stderr.
RDKAFKA_LOG = logging.getLogger("librdkafka")
# A connection the broker refused for good: a wrong user or password, an untrusted
# certificate. librdkafka retries these for ever; a producer stops waiting on the first.
REFUSALS = (KafkaError._AUTHENTICATION, KafkaError._SSL)
PURGED = (KafkaError._PURGE_QUEUE, KafkaError._PURGE_INFLIGHT)


def _not_transient(record: logging.LogRecord) -> bool:
    """Kafka answers a producer's first request for its idempotence id with "coordinator load
    in progress" for a moment after it starts; librdkafka retries it, so it says nothing."""
    return "Coordinator load in progress: retrying" not in record.getMessage()


RDKAFKA_LOG.addFilter(_not_transient)


def client_config(settings: Settings) -> dict[str, Any]:
    """Connection and security settings common to producers, consumers and the admin client."""
    config: dict[str, Any] = {
        "bootstrap.servers": settings.kafka_bootstrap,
        "security.protocol": settings.kafka_security_protocol,
        "logger": RDKAFKA_LOG,
    }
    if settings.kafka_sasl_mechanism:
        config["sasl.mechanism"] = settings.kafka_sasl_mechanism
        config["sasl.username"] = settings.kafka_sasl_username
        config["sasl.password"] = settings.kafka_sasl_password
    if settings.kafka_ssl_cafile:
        config["ssl.ca.location"] = settings.kafka_ssl_cafile
    return config


class TrackedProducer(Producer):
    """A producer that remembers failed deliveries until ``deliver_or_raise`` reports them.

    ``flush()`` counts only messages still queued: a message the broker refused (too large,
    not authorised, unknown partition) or that timed out has already left the queue, and
    only its delivery report says it was lost. A ``produce`` given its own ``on_delivery``
    bypasses this record and must check the report itself. ``refused``: the broker's last
    refusal of the connection (authentication, TLS), which no delivery report names.
    """

    def __init__(self, config: dict[str, Any]):
        self.failures: list[KafkaError] = []
        self.refusal = Refusal()
        super().__init__({**config, "on_delivery": self._delivered, "error_cb": self.refusal})

    @property
    def refused(self) -> KafkaError | None:
        return self.refusal.last

    def _delivered(self, err: KafkaError | None, msg: Message) -> None:
        if err is None:
            self.refusal.last = None  # a connection that was refused went through since
        else:
            self.failures.append(err)
            if err.code() in PURGED:
                return  # shut_down dropped it, after its sender was told it was not delivered
            log.error("delivery to %s[%s] failed: %s", msg.topic(), msg.partition(), err)


def make_producer(settings: Settings, **extra: Any) -> TrackedProducer:
    """The linetrace producer: acks=all, idempotent, murmur2 keys (the partition faust computes)."""
    return TrackedProducer(producer_config(settings, **extra))


@contextmanager
def producing(settings: Settings, **extra: Any) -> Iterator[TrackedProducer]:
    """A producer for one command, shut down on the way out, delivered or not.

    What ``deliver_or_raise`` did not deliver it has reported, so the queue is purged and the
    producer closed here, while the interpreter still runs: a producer left to the garbage
    collector (its callbacks refer back to it) is destroyed during interpreter shutdown,
    where librdkafka's last log and error callbacks can crash the process.
    """
    producer = make_producer(settings, **extra)
    try:
        yield producer
    finally:
        shut_down(producer)


def shut_down(producer: Producer) -> None:
    """Drop what is still queued (its sender has been told it was not delivered) and close."""
    producer.purge()
    producer.flush(0)
    producer.close()


def producer_config(settings: Settings, **extra: Any) -> dict[str, Any]:
    """Configuration of every linetrace producer: the security settings and ``extra``."""
    config = client_config(settings) | {
        "acks": "all",
        "enable.idempotence": True,
        # librdkafka defaults to consistent_random (CRC32); faust and Java clients use murmur2.
        "partitioner": "murmur2_random",
        "linger.ms": 5,
        "message.max.bytes": max(settings.max_message_bytes * 2, 1_000_000),
        "compression.type": settings.kafka_compression,
    }
    config.update(extra)
    return config


def make_consumer(settings: Settings, group_id: str, **extra: Any) -> Consumer:
    """A manually committing consumer that starts at the earliest offset of a new group."""
    return Consumer(consumer_config(settings, group_id, **extra))


def consumer_config(settings: Settings, group_id: str, **extra: Any) -> dict[str, Any]:
    """Configuration of every linetrace consumer: the security settings and ``extra``."""
    config = client_config(settings) | {
        "group.id": group_id,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "session.timeout.ms": int(settings.kafka_session_timeout_s * 1000),
        "heartbeat.interval.ms": int(settings.kafka_heartbeat_s * 1000),
        "fetch.wait.max.ms": settings.kafka_fetch_wait_ms,
        # After a kill -9 the local broker hangs the rejoin unless this is short.
        "max.poll.interval.ms": 10_000 if settings.kafka_session_timeout_s < 10 else 300_000,
    }
    config.update(extra)
    return config


def create_topics(settings: Settings, timeout_s: float = 30.0) -> list[str]:
    """Create every linetrace topic that does not exist yet; returns the ones created."""
    admin = AdminClient(client_config(settings))
    existing = set(admin.list_topics(timeout=timeout_s).topics)
    wanted = [
        NewTopic(name, num_partitions=n, replication_factor=settings.replication_factor)
        for name, n in Topics.of(settings).layout().items()
        if name not in existing
    ]
    if not wanted:
        return []
    created = []
    for name, future in admin.create_topics(wanted, request_timeout=timeout_s).items():
        try:
            future.result()
            created.append(name)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise
    return created


def read_partitions(
    settings: Settings, topic: str, partitions: list[int], quiet_s: float = 0.3, last: int | None = None
) -> Iterator[Message]:
    """Every record of the given partitions from the beginning (``last``: about the last
    ``last`` of each partition) to the end, without a group.

    Reads to the end by listening until the partitions stay quiet past the high watermark:
    the local broker reports the last batch's base offset + 1 as its high watermark, so the
    watermark alone would stop short of records produced in one batch.
    """
    # A throwaway group under the worker id, which the ACLs of ingest/kafkaacl.py allow: a
    # consumer with a group looks up its coordinator even when it only assigns partitions.
    refusal = Refusal()
    consumer = make_consumer(settings, f"{settings.worker_id}-read-{uuid.uuid4().hex}", error_cb=refusal)
    try:
        ends = {}
        assignment = []
        for p in partitions:
            low, high = _watermarks(consumer, TopicPartition(topic, p), refusal)
            ends[p] = high
            assignment.append(TopicPartition(topic, p, low if last is None else max(low, high - last)))
        consumer.assign(assignment)
        pending = {p for p, high in ends.items() if high > 0}
        quiet_deadline = time.monotonic() + quiet_s
        while pending or time.monotonic() < quiet_deadline:
            msgs = consumer.consume(num_messages=10_000, timeout=0.1)
            for msg in msgs:
                partition, offset = msg.partition(), msg.offset()
                if msg.error() or partition is None or offset is None:
                    continue
                if offset + 1 >= ends.get(partition, 0):
                    pending.discard(partition)
                yield msg
            if msgs or pending:
                quiet_deadline = time.monotonic() + quiet_s
    finally:
        consumer.close()


class Refusal:
    """A client's ``error_cb`` that keeps the broker's last refusal of the connection."""

    def __init__(self) -> None:
        self.last: KafkaError | None = None

    def __call__(self, err: KafkaError) -> None:
        if err.code() in REFUSALS:
            self.last = err


def _watermarks(
    consumer: Consumer, partition: TopicPartition, refusal: Refusal, timeout_s: float = 10.0
) -> tuple[int, int]:
    """The low and high watermark of ``partition``; raises the broker's refusal, as soon as it
    is known, instead of the "all broker connections are down" a timeout would give."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            low, high = consumer.get_watermark_offsets(partition, timeout=0.5)
            return low, high
        except KafkaException:
            consumer.poll(0)  # serves the error callbacks, when a logger takes librdkafka's log
            if refusal.last is not None:
                raise KafkaException(refusal.last) from None
            if time.monotonic() > deadline:
                raise


def deliver_or_raise(producer: Producer, timeout_s: float = 30.0) -> None:
    """Flush the producer; raise if anything is still undelivered after the timeout, or if a
    delivery failed since the last call (a ``TrackedProducer`` records those), or at once
    when the broker refuses the connection (a ``TrackedProducer`` records that too)."""
    deadline = time.monotonic() + timeout_s
    remaining = producer.flush(min(timeout_s, 0.5))
    while remaining and time.monotonic() < deadline:
        refused = getattr(producer, "refused", None)
        if refused is not None:
            raise KafkaException(refused)
        remaining = producer.flush(min(deadline - time.monotonic(), 0.5))
    failures = getattr(producer, "failures", None)
    if failures:
        first, count = failures[0], len(failures)
        failures.clear()
        raise KafkaException(KafkaError(first.code(), f"{count} deliveries failed, first: {first.str()}"))
    if remaining:
        raise KafkaException(
            KafkaError(
                KafkaError._MSG_TIMED_OUT,
                f"{remaining} message(s) not delivered within {timeout_s:g} s (no broker answered)",
            )
        )
