"""The ``trace`` topic: rows for ClickHouse, by table, from the stream stages to the sink.

``{"v": 1, "type": "trace", "rows": {"<table>": [{column: value}]}}``, times in
microseconds. Each row is the table's row type (ingest/records/rows.py). The stages
encode, the sink decodes; a message the sink cannot take is dead-lettered as ``bad_trace``
(or with the envelope's own reason), whole, before any of its rows is buffered.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from ingest.errors import InvalidInput
from ingest.records.rows import ROW_TYPES, columns
from ingest.schema import WIRE_VERSION
from ingest.wire import decode_object

TOPIC = "trace"  # Topics.trace: <prefix>.trace
MESSAGE_TYPE = "trace"

# The sink takes any size the broker delivered; the stage splits what it sends (streams/shipping.py).
MAX_BYTES = 1 << 30

# Rows per trace message at most: few large messages are cheaper for the sink to take in.
CHUNK_ROWS = 5_000

TraceRows = Mapping[str, Sequence[Mapping[str, Any]]]


class TraceCodec:
    """Encode rows by table into one trace message, and decode one back, checked."""

    def encode(self, rows: TraceRows) -> bytes:
        """One trace message; tables without rows are left out."""
        return orjson.dumps(
            {"v": WIRE_VERSION, "type": MESSAGE_TYPE, "rows": {t: r for t, r in rows.items() if r}}
        )

    def decode(self, payload: bytes) -> dict[str, list[dict[str, Any]]]:
        """The rows by table; InvalidInput if a table is unknown or a row lacks a column."""
        obj = decode_object(payload, MESSAGE_TYPE, MAX_BYTES)
        tables = obj.get("rows")
        if not isinstance(tables, dict):
            raise InvalidInput("bad_trace", "rows must be an object of tables")
        for table, rows in tables.items():
            if table not in ROW_TYPES:
                raise InvalidInput("bad_trace", f"no table {table!r}")
            if not isinstance(rows, list):
                raise InvalidInput("bad_trace", f"{table}: rows must be a list")
            _check_rows(table, rows)
        return tables


def _check_rows(table: str, rows: list[Any]) -> None:
    needed = frozenset(columns(table))
    for i, row in enumerate(rows):
        if not isinstance(row, dict) or not needed <= row.keys():
            missing = sorted(needed - row.keys()) if isinstance(row, dict) else "a row object"
            raise InvalidInput("bad_trace", f"{table} row {i} lacks {missing}")


CODEC = TraceCodec()
