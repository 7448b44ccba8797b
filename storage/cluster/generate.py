"""Generate storage/cluster/schema.sql from storage/migrations.

    python -m storage.cluster.generate          # write schema.sql
    python -m storage.cluster.generate --check  # exit 1 if schema.sql is not what it generates

The migrations run on a fresh chDB store in a temporary directory, and every table they
leave becomes a ReplicatedReplacingMergeTree ``<table>_local`` on every node, with the
columns, sorting key, version column and settings ClickHouse reports for it, and a
Distributed ``<table>`` over it. What only a cluster has is declared here: each table's
sharding key (SHARDING) and the TTLs the sink cannot set through a Distributed table.
tests/unit/k8s/test_cluster_ddl.py checks that the checked-in file is this output.
"""

from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path

from ingest.settings import Settings
from storage.client import Store, connect, migrations

SCHEMA = Path(__file__).with_name("schema.sql")

# Rows that replace each other share their sorting key, so every sharding key is a hash of
# sorting-key columns: the item for what is looked up by item, the node for genealogy,
# otherwise the most selective sorting-key columns. A new table needs its entry here.
SHARDING = {
    "read_cycles": "reader_id, cycle_seq",
    "passes": "item",
    "violations": "pass_id",
    "item_state": "item",
    "links": "node",
    "jobs": "job",
    "dead_letters": "dead_letter_id",
    "portal_read_rates": "stage, partition",
    "holds": "item",
    "job_events": "job",
    "qc_results": "item",
    "genealogy": "node",
    "stations": "station",
    "pass_counts": "station, minute",
    "wip_counts": "stage, partition",
    "job_counts": "job",
    "job_bindings": "item",
    "epcis_events": "event_id",
    "epcis_error_declarations": "event_id",
    "epcis_capture_jobs": "capture_id",
    "shipments": "item",
    # the serving tables shard as their record, so a replica refills them from its own
    "kv_passes": "item",
    "kv_item_state": "item",
    "kv_genealogy": "node",
}

# The sink cannot set a TTL through a Distributed table, so on a cluster retention lives here.
TTL = {
    "read_cycles": (
        "toDateTime(cycle_start) + INTERVAL 90 DAY",
        "LINETRACE_RETENTION_READ_CYCLES_DAYS's default",
    ),
}

# ClickHouse reports the default granularity in every engine; the file leaves it out.
_DEFAULT_SETTINGS = " SETTINGS index_granularity = 8192"

HEADER = """\
-- The linetrace schema on a ClickHouse cluster (shards of replicas, ClickHouse Keeper),
-- for deployments where LINETRACE_CLICKHOUSE_DSN points at a cluster rather than chDB or
-- one server. Generated from storage/migrations by `python -m storage.cluster.generate`;
-- do not edit it by hand (tests/unit/k8s/test_cluster_ddl.py fails until it is generated
-- again). It is the state the migrations reach after the last one:
--
-- * each table is a ReplicatedReplacingMergeTree `<table>_local` on every node, with the
--   same columns, sorting key, version column and index granularity as the single-node
--   table, and a Distributed table `<table>` over it that the sink and the query API use
--   under the single-node name;
-- * rows that replace each other have equal sorting keys, so every sharding key below is a
--   hash of sorting-key columns: a row and its later revisions land on the same shard, and
--   FINAL (or the latest revision) per shard is the latest overall;
-- * the key-value serving tables (kv_*, storage/serving.py) are EmbeddedRocksDB tables
--   `<table>_local` on every node, not replicated, and a Distributed table over each,
--   sharded as its record; docs/operations.md says how each replica's are filled;
-- * schema_migrations is replicated to every node of every shard (one Keeper path without
--   {shard}) and records the migrations this file already contains, so the sink, which
--   applies storage/migrations when it starts, finds nothing left to apply.
--
-- Every statement is idempotent; the k8s Job linetrace-clickhouse-schema runs this file
-- with clickhouse-client. {cluster}, {shard} and {replica} are macros the ClickHouse
-- operator defines on every node; {database} is the table's database. A database that
-- already holds an older version of this schema needs the ALTER ... ON CLUSTER '{cluster}'
-- of each new migration, for both `<table>_local` and `<table>`.

CREATE DATABASE IF NOT EXISTS linetrace ON CLUSTER '{cluster}';
"""

_TABLES = "SELECT name, engine_full FROM system.tables WHERE database = currentDatabase()"
_COLUMNS = """
SELECT table, name, type, default_kind, default_expression FROM system.columns
WHERE database = currentDatabase() ORDER BY table, position
"""
_ENGINE = re.compile(r"^(\w*MergeTree)(?:\((\w*)\))? (.*)$")
_KEY_VALUE = re.compile(r"^EmbeddedRocksDB (PRIMARY KEY .*)$")
_CREATED = re.compile(r"CREATE TABLE IF NOT EXISTS (\w+)")
BOOKKEEPING = "schema_migrations"


def table_order() -> list[str]:
    """Tables in the order the migrations first create them (dropped ones are left out later)."""
    names = [m for _, _, sql in migrations() for m in _CREATED.findall(sql)]
    return list(dict.fromkeys(names))


def _body(columns: list[dict[str, str]]) -> str:
    return ",\n".join(
        f"    {c['name']} {c['type']}"
        + (f" {c['default_kind']} {c['default_expression']}" if c["default_kind"] else "")
        for c in columns
    )


def local_table(table: str, engine_full: str, columns: list[dict[str, str]], shard: str) -> str:
    m = _ENGINE.match(engine_full)
    if m is None and (kv := _KEY_VALUE.match(engine_full)):
        create = f"CREATE TABLE IF NOT EXISTS linetrace.{table}_local ON CLUSTER '{{cluster}}'"
        return f"{create} (\n{_body(columns)}\n) ENGINE = EmbeddedRocksDB\n{kv[1]};\n"
    if m is None:
        raise ValueError(f"{table}: no MergeTree or EmbeddedRocksDB engine in {engine_full!r}")
    engine, version, rest = m[1], m[2], m[3]
    keeper = f"'/clickhouse/tables/{shard}/{{database}}/{table}', '{{replica}}'" + (
        f", {version}" if version else ""
    )
    body = _body(columns)
    order, _, settings = rest.removesuffix(_DEFAULT_SETTINGS).partition(" SETTINGS ")
    clauses = [order]
    if table in TTL:
        expression, why = TTL[table]
        clauses += [f"-- {why}; the cluster's retention.", f"TTL {expression}"]
    if settings:
        clauses.append(f"SETTINGS {settings}")
    tail = "\n".join(clauses)
    return (
        f"CREATE TABLE IF NOT EXISTS linetrace.{table}_local ON CLUSTER '{{cluster}}' (\n{body}\n"
        f") ENGINE = Replicated{engine}({keeper})\n{tail};\n"
    )


def distributed_table(table: str) -> str:
    if table not in SHARDING:
        raise ValueError(f"{table} has no sharding key: add it to SHARDING in {__name__}")
    return (
        f"CREATE TABLE IF NOT EXISTS linetrace.{table} ON CLUSTER '{{cluster}}' AS linetrace.{table}_local\n"
        f"ENGINE = Distributed('{{cluster}}', 'linetrace', '{table}_local', cityHash64({SHARDING[table]}));\n"
    )


def render(store: Store) -> str:
    """The cluster schema of the tables in ``store`` (migrated)."""
    engines = {r["name"]: r["engine_full"] for r in store.query(_TABLES)}
    columns: dict[str, list[dict[str, str]]] = {}
    for c in store.query(_COLUMNS):
        columns.setdefault(c["table"], []).append(c)
    tables = [t for t in table_order() if t in engines]
    missing = set(engines) - set(tables) - {BOOKKEEPING}
    if missing:
        raise ValueError(f"tables not created by a CREATE TABLE IF NOT EXISTS: {sorted(missing)}")
    recorded = ",\n".join(f"    ({version}, '{name}')" for version, name, _ in migrations())
    return "\n".join(
        [
            HEADER,
            *(local_table(t, engines[t], columns[t], "{shard}") for t in tables),
            "-- The tables the sink and the queries use.\n",
            *(distributed_table(t) for t in tables),
            "-- Written last: a sink waiting for this table's rows (the init container of the sink) starts\n"
            "-- only once everything above exists.",
            local_table(BOOKKEEPING, engines[BOOKKEEPING], columns[BOOKKEEPING], "all").replace(
                f"{BOOKKEEPING}_local", BOOKKEEPING
            ),
            f"INSERT INTO linetrace.{BOOKKEEPING} (version, name) VALUES\n{recorded};\n",
        ]
    )


def generate() -> str:
    """Run the migrations on a fresh embedded store and render its cluster schema."""
    with tempfile.TemporaryDirectory(prefix="linetrace-cluster-") as directory:
        store = connect(Settings(clickhouse_dsn=f"chdb://{directory}/store"))
        try:
            return render(store)
        finally:
            store.close()


def main(argv: list[str]) -> int:
    text = generate()
    if "--check" in argv:
        if SCHEMA.read_text() != text:
            print(f"{SCHEMA} is not what storage/migrations generate; run python -m storage.cluster.generate")
            return 1
        return 0
    SCHEMA.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
