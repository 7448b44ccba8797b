"""The ``item-bundles`` topic: item records from stage 1 (and stage 2) to stage 2.

``{"v": 1, "type": "item_bundle", "records": [{"k": kind, "item": key, ...}]}``, one
message per destination partition per batch: the partition that owns the records' items
(``item_partition``). A pass record is a ``Pass`` (ingest/schema.py) field for field, under
the short names of ``PASS_KEYS``; a field at its default is left out. The other kinds are
listed in docs/wire-format.md. Stage 1 and stage 2 encode; stage 2 decodes, and a bundle it
cannot take raises InvalidInput (``bad_bundle``), so the message is dead-lettered.
"""

from __future__ import annotations

import dataclasses
import zlib
from collections.abc import Sequence
from typing import Any

import orjson

from ingest.errors import InvalidInput
from ingest.schema import WIRE_VERSION, Pass

TOPIC = "item-bundles"  # Topics.item_bundles: <prefix>.item-bundles
MESSAGE_TYPE = "item_bundle"

PASS, BIND, HOLD, QC = "pass", "bind", "hold", "qc"
# Genealogy: sent to the child (assembled into / unpacked from a parent), then from the child
# to the parent and on up (what joined it, what left it).
ASSEMBLED, UNPACKED, JOINED, LEFT = "assembled", "unpacked", "joined", "left"
# A captured pass withdrawn: the EPCIS event its read was made of was declared in error. Also
# the outcome of the pass row stage 2 writes for it, which the sink deletes instead of storing.
WITHDRAWN = "withdrawn"

Record = dict[str, Any]

# Pass fields whose record key is shorter than the field name; every other field keeps its name.
PASS_KEYS = {
    "reader_id": "reader",
    "first_us": "first",
    "last_us": "last",
    "direction": "dir",
    "operator": "op",
}

_NO_DEFAULT = dataclasses.MISSING
# (field, record key, default or MISSING) for every field of a Pass, in order.
_PASS_FIELDS = tuple((f.name, PASS_KEYS.get(f.name, f.name), f.default) for f in dataclasses.fields(Pass))
_PASS_REQUIRED = frozenset(key for _, key, default in _PASS_FIELDS if default is _NO_DEFAULT)


def item_partition(item: str, partitions: int) -> int:
    """The item-bundle (and route-state) partition that owns ``item``."""
    return zlib.crc32(item.encode()) % partitions


def pass_record(p: Pass) -> Record:
    """The bundle record of a pass; fields at their default are left out."""
    record: Record = {"k": PASS}
    for name, key, default in _PASS_FIELDS:
        value = getattr(p, name)
        if default is _NO_DEFAULT or value != default:
            record[key] = value
    return record


def pass_of(record: Record) -> Pass:
    """The pass a bundle record carries (checked when its bundle was decoded)."""
    values = {name: record.get(key, default) for name, key, default in _PASS_FIELDS}
    return Pass(**values)


class BundleCodec:
    """Encode item records into one bundle message, and decode one back, checked."""

    def encode(self, records: Sequence[Record]) -> bytes:
        return orjson.dumps({"v": WIRE_VERSION, "type": MESSAGE_TYPE, "records": records})

    def decode(self, payload: bytes) -> list[Record]:
        try:
            obj = orjson.loads(payload)
            if obj["v"] != WIRE_VERSION or obj["type"] != MESSAGE_TYPE:
                raise InvalidInput("unsupported_version", f"bundle v={obj.get('v')} type={obj.get('type')}")
            records: list[Record] = obj["records"]
            for r in records:
                if r["k"] == PASS and not r.keys() >= _PASS_REQUIRED:
                    raise InvalidInput(
                        "bad_bundle", f"a pass record lacks {sorted(_PASS_REQUIRED - r.keys())}"
                    )
            return records
        except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
            raise InvalidInput("bad_bundle", repr(exc)) from exc


CODEC = BundleCodec()
