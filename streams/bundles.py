"""Item records between stage 1 and stage 2, bundled per partition of their item key.

Stage 2 owns an item's state on partition ``item_partition(item)``; stage 1 sends one
bundle message per destination partition per batch, so stage 2 pays per message for
many items instead of per item.
"""

from __future__ import annotations

import zlib
from collections import defaultdict
from typing import Any

import orjson

from ingest.errors import InvalidInput
from ingest.schema import WIRE_VERSION, Pass

PASS, BIND, HOLD, QC = "pass", "bind", "hold", "qc"
# Genealogy: sent to the child (assembled into / unpacked from a parent), then from the child
# to the parent and on up (what joined it, what left it).
ASSEMBLED, UNPACKED, JOINED, LEFT = "assembled", "unpacked", "joined", "left"


def item_partition(item: str, partitions: int) -> int:
    """The item-bundle (and route-state) partition that owns ``item``."""
    return zlib.crc32(item.encode()) % partitions


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
        record = {
            "k": PASS,
            "item": p.item,
            "site": p.site,
            "line": p.line,
            "station": p.station,
            "stage": p.stage,
            "reader": p.reader_id,
            "first": p.first_us,
            "last": p.last_us,
            "reads": p.reads,
        }
        if p.direction:
            record["dir"] = p.direction
        if p.operator:
            record["op"] = p.operator
        self.add(record)

    def messages(self, max_records: int = 5_000) -> list[tuple[int, bytes]]:
        """(partition, encoded bundle) pairs, at most ``max_records`` records per message."""
        out = []
        for partition, records in sorted(self.by_partition.items()):
            for i in range(0, len(records), max_records):
                chunk = records[i : i + max_records]
                out.append(
                    (partition, orjson.dumps({"v": WIRE_VERSION, "type": "item_bundle", "records": chunk}))
                )
        return out


def decode_bundle(payload: bytes) -> list[dict[str, Any]]:
    try:
        obj = orjson.loads(payload)
        if obj["v"] != WIRE_VERSION or obj["type"] != "item_bundle":
            raise InvalidInput("unsupported_version", f"bundle v={obj.get('v')} type={obj.get('type')}")
        records: list[dict[str, Any]] = obj["records"]
        return records
    except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
        raise InvalidInput("bad_bundle", repr(exc)) from exc


def pass_of(r: dict[str, Any]) -> Pass:
    return Pass(
        r["item"],
        r["site"],
        r["line"],
        r["station"],
        r["stage"],
        r["reader"],
        r["first"],
        r["last"],
        r["reads"],
        r.get("dir", ""),
        r.get("op", ""),
    )
