"""Columns of each trace table as rows arrive from the trace topic (times in microseconds).

The columns come from the table's row type (ingest/records/rows.py), the one declaration
of them in the code; tests/unit/ingest/test_rows.py checks it against the migrations.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ingest.records.rows import ROW_TYPES, columns, time_columns
from ingest.timefmt import to_datetime

# table -> (columns, the columns holding microsecond timestamps)
TABLES: dict[str, tuple[tuple[str, ...], frozenset[str]]] = {
    table: (columns(table), time_columns(table)) for table in ROW_TYPES
}


def row_converter(table: str) -> Callable[[Mapping[str, Any]], list[Any]]:
    """A function turning one trace row (a dict) into the insert row of ``table``."""
    columns, times = TABLES[table]
    getters = [(c, c in times) for c in columns]

    def convert(row: Mapping[str, Any]) -> list[Any]:
        return [to_datetime(row[c]) if is_time else row[c] for c, is_time in getters]

    return convert
