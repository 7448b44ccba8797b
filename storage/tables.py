"""Columns of each trace table as rows arrive from the trace topic (times in microseconds).

The columns come from the table's row type (ingest/records/rows.py), the one declaration
of them in the code; tests/unit/ingest/test_rows.py checks it against the migrations.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ingest.records.rows import ROW_TYPES, columns, time_columns
from storage.client import Store

# table -> (columns, the columns holding microsecond timestamps)
TABLES: dict[str, tuple[tuple[str, ...], frozenset[str]]] = {
    table: (columns(table), time_columns(table)) for table in ROW_TYPES
}


def append_rows(
    columns: Sequence[str], buffer: Sequence[list[Any]], rows: Sequence[Mapping[str, Any]]
) -> None:
    """Append trace rows (dicts) to ``buffer``, one list per column of ``columns``: the
    column-oriented form the sink inserts, built a column at a time with no list per row.
    Times stay integer microseconds; the store writes them as its column types need."""
    for name, column in zip(columns, buffer, strict=True):
        column.extend([row[name] for row in rows])


def new_buffer(table: str) -> list[list[Any]]:
    """An empty column-oriented buffer of ``table``: one list per column, in TABLES' order."""
    return [[] for _ in TABLES[table][0]]


def insert_rows(store: Store, table: str, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert trace rows of ``table`` as the sink does, for code that writes rows directly
    (tests that seed a store with the stream's rows)."""
    buffer = new_buffer(table)
    append_rows(TABLES[table][0], buffer, rows)
    store.insert_columns(table, TABLES[table][0], buffer, TABLES[table][1])
