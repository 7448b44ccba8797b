"""Dead-letter records: the rejected bytes, where they came from, and why."""

from __future__ import annotations

import orjson

from ingest.errors import InvalidInput
from ingest.schema import WIRE_VERSION, stable_id
from ingest.timefmt import format_us, now_us

# Enough of the payload to diagnose it; the full size is recorded beside it.
PAYLOAD_KEEP_BYTES = 64 * 1024


def dead_letter(error: InvalidInput, topic: str, partition: int, offset: int, payload: bytes) -> bytes:
    """The dead-letter message for a rejected payload. Its id is stable across replays."""
    return orjson.dumps(
        {
            "v": WIRE_VERSION,
            "type": "dead_letter",
            "dead_letter_id": stable_id("dead", topic, error.reason, payload),
            "time": format_us(now_us()),
            "reason": error.reason,
            "detail": error.detail[:2000],
            "source_topic": topic,
            "source_partition": partition,
            "source_offset": offset,
            "payload": payload[:PAYLOAD_KEEP_BYTES].decode("utf-8", errors="replace"),
            "payload_bytes": len(payload),
        }
    )
