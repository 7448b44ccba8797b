"""The transport's own pace, measured in the same run as the pipeline: one plain consumer
reading the reads topic from its start and decoding every report with orjson, nothing else.
Beside it, the pipeline's ingest rate is a share of what the broker and client could carry."""

from __future__ import annotations

import time

import orjson

from ingest.kafka import read_partitions
from ingest.settings import Settings
from ingest.topics import Topics


def transport_rate(settings: Settings) -> dict[str, float]:
    """Reads per second one consumer takes the reads topic at, decoding each report; the
    clock runs from its first message to its last (not the connection before, nor the quiet
    wait after)."""
    topics = Topics.of(settings)
    reads = messages = 0
    first = last = 0.0
    for msg in read_partitions(settings, topics.reads, list(range(topics.partitions))):
        reads += len(orjson.loads(msg.value() or b"{}").get("reads", ()))
        messages += 1
        last = time.monotonic()
        first = first or last
    seconds = max(last - first, 1e-9)
    return {
        "transport_reads": reads,
        "transport_reports": messages,
        "transport_reads_per_s": round(reads / seconds),
    }
