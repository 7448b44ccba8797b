"""Everything the stream worker writes goes through one confluent-kafka producer.

A batch's outputs (item bundles, changelog records, trace rows, dead letters) are all
flushed before the batch body returns, so faust commits its input offsets only after
every output is acknowledged by the broker.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from confluent_kafka import Producer

from ingest.kafka import deliver_or_raise, make_producer
from ingest.records.trace import CHUNK_ROWS
from ingest.records.trace import CODEC as TRACE
from ingest.settings import Settings
from ingest.topics import Topics
from streams.bundles import BundleBuilder
from streams.stage1 import Batch
from streams.stage2 import Changes

Row = Mapping[str, object]

# Kafka refuses messages over the topic's max.message.bytes (1 MiB by default); a chunk that
# encodes larger is split, so wide rows never make a message the broker would refuse.
TRACE_MAX_BYTES = 900_000


class Shipper:
    def __init__(self, settings: Settings, producer: Producer | None = None):
        self.topics = Topics.of(settings)
        self.partitions = settings.partitions
        self.producer = producer or make_producer(settings)

    def stage1(self, batch: Batch) -> None:
        for partition, payload in batch.bundles.messages():
            self.producer.produce(self.topics.item_bundles, payload, partition=partition)
        self.trace(batch.trace)
        self.dead_letters(batch.dead_letters)

    def progress(self, record: dict[str, object]) -> None:
        """Stage 1's input progress alone, to every item-bundles partition."""
        bundles = BundleBuilder(self.partitions)
        bundles.add_progress(record)
        for partition, payload in bundles.messages():
            self.producer.produce(self.topics.item_bundles, payload, partition=partition)

    def stage2(self, *all_changes: Changes) -> None:
        """Everything a batch changed, on every partition it touched, in as few messages as fit."""
        bundles = BundleBuilder(self.partitions)
        for changes in all_changes:
            for record in changes.forwards:
                bundles.add(record)
            for partition, item, state in changes.changelog:
                self.producer.produce(self.topics.route_state, state, key=item.encode(), partition=partition)
        for partition, payload in bundles.messages():
            self.producer.produce(self.topics.item_bundles, payload, partition=partition)
        self.trace(stage2_trace(*all_changes))

    def trace(self, rows: Mapping[str, Sequence[Row]]) -> None:
        """Rows of several tables share a message, up to CHUNK_ROWS rows per message."""
        for chunk in trace_chunks(rows):
            self._send_trace(chunk)

    def _send_trace(self, chunk: Mapping[str, Sequence[Row]]) -> None:
        for payload in encode_trace_messages(chunk, TRACE_MAX_BYTES):
            self.producer.produce(self.topics.trace, payload)
        self.producer.poll(0)

    def dead_letters(self, records: list[bytes]) -> None:
        for record in records:
            self.producer.produce(self.topics.dead_letter, record)

    def flush(self) -> None:
        deliver_or_raise(self.producer)


def stage2_trace(*all_changes: Changes) -> dict[str, list[Row]]:
    """The trace rows of stage 2's changes on every partition a batch touched, by table."""
    trace: dict[str, list[Row]] = {}
    for changes in all_changes:
        for table, table_rows in changes.tables():
            if table_rows:
                trace.setdefault(table, []).extend(table_rows)
    return trace


def trace_chunks(rows: Mapping[str, Sequence[Row]]) -> list[dict[str, list[Row]]]:
    """Rows of several tables share a chunk, up to CHUNK_ROWS rows per chunk (a table
    longer than that is cut across chunks)."""
    chunks: list[dict[str, list[Row]]] = []
    chunk: dict[str, list[Row]] = {}
    size = 0
    for table, table_rows in rows.items():
        for i in range(0, len(table_rows), CHUNK_ROWS):
            part = table_rows[i : i + CHUNK_ROWS]
            if size + len(part) > CHUNK_ROWS and chunk:
                chunks.append(chunk)
                chunk, size = {}, 0
            chunk.setdefault(table, []).extend(part)
            size += len(part)
    if chunk:
        chunks.append(chunk)
    return chunks


def encode_trace_messages(chunk: Mapping[str, Sequence[Row]], max_bytes: int) -> list[bytes]:
    """The chunk as one trace message, or halved until each part fits in ``max_bytes``."""
    payload = TRACE.encode(chunk)
    rows = sum(len(r) for r in chunk.values())
    if len(payload) <= max_bytes or rows <= 1:
        return [payload]
    first: dict[str, list[Row]] = {}
    second: dict[str, list[Row]] = {}
    taken = 0
    for table, table_rows in chunk.items():
        for row in table_rows:
            (first if taken < rows // 2 else second).setdefault(table, []).append(row)
            taken += 1
    return encode_trace_messages(first, max_bytes) + encode_trace_messages(second, max_bytes)
