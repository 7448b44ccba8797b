"""Run in a child process by test_cluster_ddl: apply storage/migrations to a fresh chDB
store, run the given statements, and print what ClickHouse says about every table.

A child process because chDB holds one data directory per process.

stdin: {"dir": "...", "statements": ["...", ...], "queries": ["SELECT ...", ...]}
stdout: {"tables": {"db.table": {"columns": [...], "sorting_key": "...", "primary_key": "...",
                                 "engine_full": "..."}},
         "results": [[row, ...], ...]}
"""

from __future__ import annotations

import json
import sys
from typing import Any

from ingest.settings import Settings
from storage.client import connect

TABLES = """
SELECT database, name, sorting_key, primary_key, engine_full FROM system.tables
WHERE database NOT IN ('system', 'INFORMATION_SCHEMA', 'information_schema', 'default')
"""
COLUMNS = """
SELECT database, table, name, type, default_kind, default_expression FROM system.columns
WHERE database NOT IN ('system', 'INFORMATION_SCHEMA', 'information_schema', 'default')
ORDER BY database, table, position
"""


def main() -> None:
    job: dict[str, Any] = json.load(sys.stdin)
    store = connect(Settings(clickhouse_dsn=f"chdb://{job['dir']}"))
    try:
        for statement in job["statements"]:
            store.command(statement)
        results = [[list(r.values()) for r in store.query(q)] for q in job["queries"]]
        tables: dict[str, dict[str, Any]] = {}
        for t in store.query(TABLES):
            key = f"{t['database']}.{t['name']}"
            tables[key] = {
                "sorting_key": t["sorting_key"],
                "primary_key": t["primary_key"],
                "engine_full": t["engine_full"],
                "columns": [],
            }
        for c in store.query(COLUMNS):
            column = [c["name"], c["type"], c["default_kind"], c["default_expression"]]
            tables[f"{c['database']}.{c['table']}"]["columns"].append(column)
    finally:
        store.close()
    json.dump({"tables": tables, "results": results}, sys.stdout)


if __name__ == "__main__":
    main()
