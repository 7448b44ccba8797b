"""Item records between stage 1 and stage 2, bundled per partition of their item key.

Stage 2 owns an item's state on partition ``item_partition(item)``; stage 1 sends one
bundle message per destination partition per batch, so stage 2 pays per message for
many items instead of per item. The format is ingest/records/bundles.py's.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from ingest.records.bundles import (
    ASSEMBLED,
    BIND,
    CODEC,
    HOLD,
    JOINED,
    LEFT,
    PASS,
    QC,
    UNPACKED,
    WITHDRAWN,
    item_partition,
    pass_of,
    pass_record,
)
from ingest.schema import Pass

__all__ = [
    "ASSEMBLED",
    "BIND",
    "HOLD",
    "JOINED",
    "LEFT",
    "PASS",
    "QC",
    "UNPACKED",
    "WITHDRAWN",
    "BundleBuilder",
    "decode_bundle",
    "item_partition",
    "pass_of",
]


class BundleBuilder:
    """Collects item records of one batch, grouped by owning partition."""

    def __init__(self, partitions: int):
        self.partitions = partitions
        self.by_partition: dict[int, list[dict[str, Any]]] = defaultdict(list)

    def add(self, record: dict[str, Any]) -> None:
        self.by_partition[item_partition(record["item"], self.partitions)].append(record)

    def add_progress(self, record: dict[str, Any]) -> None:
        """The same record last on every partition (stage 1's input progress)."""
        for partition in range(self.partitions):
            self.by_partition[partition].append(record)

    def add_pass(self, p: Pass) -> None:
        self.add(pass_record(p))

    def messages(self, max_records: int = 5_000) -> list[tuple[int, bytes]]:
        """(partition, encoded bundle) pairs, at most ``max_records`` records per message."""
        out = []
        for partition, records in sorted(self.by_partition.items()):
            for i in range(0, len(records), max_records):
                out.append((partition, CODEC.encode(records[i : i + max_records])))
        return out


def decode_bundle(payload: bytes) -> list[dict[str, Any]]:
    """The records of a bundle message (InvalidInput if it is not one)."""
    return CODEC.decode(payload)
