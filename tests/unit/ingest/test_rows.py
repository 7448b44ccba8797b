"""Every row type (ingest/records/rows.py) against the tables storage/migrations creates.

The migrations run on a fresh chDB store in a child process (tests/unit/k8s/schema_probe.py:
chDB holds one data directory per process), and ``system.columns`` must list exactly the
row type's columns, in its order and of matching types, besides ``stored_at`` (filled by
ClickHouse). A column added to a migration and not to its row, or the other way round,
fails here.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ingest.records.rows import ROW_TYPES, column_types, columns, time_columns
from storage.serving import SERVED
from storage.tables import TABLES

ROOT = Path(__file__).resolve().parents[3]
FILLED_BY_CLICKHOUSE = {"stored_at"}
BOOKKEEPING = {"schema_migrations"}  # the migrations' own record, written by storage/client.py
# The serving tables hold record rows merged per key (storage/serving.py), not rows of their own.
SERVING = {spec.table for spec in SERVED.values()}


def _family(clickhouse_type: str) -> str:
    """The Python type a ClickHouse column type takes in a row."""
    inner = clickhouse_type.removeprefix("LowCardinality(").removesuffix(")")
    if inner.startswith("DateTime"):
        return "micros"
    if inner.startswith("Array(String"):
        return "list[str]"
    if inner.startswith(("Array(UInt", "Array(Int")):
        return "list[int]"
    if inner.startswith(("UInt", "Int")):
        return "int"
    if inner.startswith("Float"):
        return "float"
    if inner.startswith(("String", "Enum8")):
        return "str"
    raise AssertionError(f"no row type for ClickHouse type {clickhouse_type}")


def _row_family(table: str, column: str) -> str:
    if column in time_columns(table):
        return "micros"
    kind = column_types(table)[column]
    return getattr(kind, "__name__", str(kind)) if kind in (int, float, str) else str(kind)


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[list[Any]]]:
    """Each migrated table's columns: [name, type, default kind, default expression]."""
    job = {"dir": str(tmp_path_factory.mktemp("chdb")), "statements": [], "queries": []}
    done = subprocess.run(
        [sys.executable, "-m", "tests.unit.k8s.schema_probe"],
        input=json.dumps(job),
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    tables = json.loads(done.stdout)["tables"]
    return {k.split(".", 1)[1]: v["columns"] for k, v in tables.items() if k.startswith("linetrace.")}


def test_every_table_has_a_row_type(migrated: dict[str, list[list[Any]]]) -> None:
    assert set(ROW_TYPES) == set(migrated) - BOOKKEEPING - SERVING


@pytest.mark.parametrize("record", sorted(SERVED))
def test_a_serving_table_keeps_columns_of_its_records_rows(
    record: str, migrated: dict[str, list[list[Any]]]
) -> None:
    spec = SERVED[record]
    stored = {c[0]: c[1] for c in migrated[spec.table]}

    assert list(stored) == [*spec.key, *spec.columns]
    assert set(spec.key) | set(spec.columns) <= set(columns(record))
    assert spec.times == set(spec.columns) & time_columns(record)
    assert all("DateTime64(6, 'UTC')" in stored[c] for c in spec.times)


@pytest.mark.parametrize("table", sorted(ROW_TYPES))
def test_a_row_has_the_columns_of_its_table_in_order(
    table: str, migrated: dict[str, list[list[Any]]]
) -> None:
    stored = [c for c in migrated[table] if c[0] not in FILLED_BY_CLICKHOUSE]

    assert columns(table) == tuple(c[0] for c in stored)
    assert {c: _row_family(table, c) for c in columns(table)} == {c[0]: _family(c[1]) for c in stored}


def test_the_sink_writes_the_row_types_columns() -> None:
    for table in ROW_TYPES:
        assert TABLES[table] == (columns(table), time_columns(table)), table


def test_a_transport_mark_is_not_a_column() -> None:
    assert "first" not in columns("passes")
