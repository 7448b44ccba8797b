"""``linetrace state restore``: the route-state changelog rebuilt from ClickHouse.

For an empty ``route-state`` topic (the local broker after a restart keeps nothing, or a
changelog re-created on purpose): read what ClickHouse holds of the items not finished,
rebuild their stage-2 state (streams/restore.py) and write it as changelog records, each on
the partition that owns the item, before any worker starts. The same store gives the same
records, so running it twice (``--force``) writes nothing new.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from confluent_kafka import Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from ingest.errors import LinetraceError
from ingest.kafka import client_config, deliver_or_raise, make_consumer, producing
from ingest.plantpub import fetch_plant
from ingest.settings import Settings
from ingest.topics import Topics
from storage.api import endpoint_file
from storage.client import connect, embedded_dir, embedded_holder, is_embedded
from storage.staterestore import read_route_state
from streams.passcounts import KEEP_MINUTES
from streams.restore import StoredTrace, changelog_records, restore_states, summary

log = logging.getLogger(__name__)

# Finished items read this long before the newest read are restored too: a late read of
# one is still judged against its route (seen_after_completion, not a fresh start).
DEFAULT_RECENT_S = 86_400


def restore_route_state(
    settings: Settings, force: bool = False, recent_s: int = DEFAULT_RECENT_S
) -> dict[str, Any]:
    """Rebuild and write the changelog; returns what was written (items per partition)."""
    topic = Topics.of(settings).route_state
    held = records_in(settings, topic)
    if held and not force:
        raise LinetraceError(
            f"{topic} already holds {held} records: the workers rebuild their state from it, "
            "so there is nothing to restore (--force writes the states from ClickHouse anyway)"
        )
    ensure_store_free(settings)
    plant = fetch_plant(settings, wait_s=10.0)
    store = connect(settings)
    try:
        rows = read_route_state(store, recent_s, KEEP_MINUTES)
    finally:
        store.close()
    trace = StoredTrace(**rows)
    states = restore_states(trace, plant)
    records = changelog_records(states, trace, settings.partitions)
    _write(settings, topic, records)
    log.info("restored %d item states to %s", len(states), topic)
    return {"topic": topic, **summary(records, states)}


def records_in(settings: Settings, topic: str) -> int:
    """How many records the topic holds; it must exist with the configured partitions."""
    admin = AdminClient(client_config(settings))
    found = admin.list_topics(timeout=10).topics.get(topic)  # all topics: naming one may create it
    if found is None or found.error is not None:
        raise LinetraceError(f"no topic {topic}: create the topics first ('linetrace topics')")
    if len(found.partitions) != settings.partitions:
        raise LinetraceError(
            f"{topic} has {len(found.partitions)} partitions, LINETRACE_PARTITIONS says "
            f"{settings.partitions}: item ownership would not match the workers'"
        )
    consumer = make_consumer(settings, f"linetrace-restore-{uuid.uuid4().hex}")
    try:
        marks = [
            consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10) for p in found.partitions
        ]
    finally:
        consumer.close()
    return sum(max(0, high - low) for low, high in marks)


def ensure_store_free(settings: Settings) -> None:
    """An embedded store opens in one process at a time: say who holds it, if anyone does."""
    if not is_embedded(settings.clickhouse_dsn):
        return
    directory = embedded_dir(settings.clickhouse_dsn)
    holder = embedded_holder(directory)
    if holder is None:
        return
    sink = " (the sink announces itself in " + str(endpoint_file(directory)) + ")"
    raise LinetraceError(
        f"the embedded store {directory} is locked by {holder}, most likely a running sink"
        f"{sink if endpoint_file(directory).exists() else ''}: stop it first, the restore "
        "opens the directory itself"
    )


def _write(settings: Settings, topic: str, records: dict[int, list[tuple[bytes, bytes]]]) -> None:
    with producing(settings) as producer:
        for partition, partition_records in sorted(records.items()):
            for key, value in partition_records:
                _produce(producer, topic, partition, key, value)
        deliver_or_raise(producer)


def _produce(producer: Producer, topic: str, partition: int, key: bytes, value: bytes) -> None:
    while True:
        try:
            producer.produce(topic, value, key=key, partition=partition)
            return
        except BufferError:  # the local queue is full: let deliveries drain it
            producer.poll(0.5)
