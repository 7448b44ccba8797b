"""storage/cluster/schema.sql against the single-node schema of storage/migrations (it is
generated from them: the last test runs the generator and compares).

No replicated engine runs here (chDB has no Keeper), so the local tables are created in
chDB with the plain engine their replicated one stands for, and compared with the tables
the migrations make: same columns (names, types, defaults, order), sorting key, version
column and settings. The Distributed tables are checked as text, and their sharding keys
evaluated on the local tables. What only a real cluster shows is listed in
docs/operations.md.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from functools import cache
from typing import Any

import pytest

from storage.client import migrations
from storage.serving import SERVED
from storage.sink import WITHDRAW, on_cluster
from tests.unit.k8s.manifests import ROOT, named, pod_spec, render

SCHEMA = ROOT / "storage" / "cluster" / "schema.sql"
PROBE_DB = "cluster_probe"
LOCAL = re.compile(r"CREATE TABLE IF NOT EXISTS linetrace\.(\w+) ON CLUSTER '\{cluster\}' \(")
KEY_VALUE = re.compile(r"\) ENGINE = EmbeddedRocksDB\nPRIMARY KEY [\w(), ]+$")
REPLICATED = re.compile(r"ENGINE = Replicated(\w+MergeTree)\('([^']+)', '\{replica\}'(?:, (\w+))?\)")
DISTRIBUTED = re.compile(
    r"CREATE TABLE IF NOT EXISTS linetrace\.(\w+) ON CLUSTER '\{cluster\}' AS linetrace\.(\w+)\s+"
    r"ENGINE = Distributed\('\{cluster\}', 'linetrace', '(\w+)', cityHash64\(([\w, ]+)\)\)$"
)
RECORDED = re.compile(r"\((\d+), '([\w.]+)'\)")


def statements(sql: str) -> list[str]:
    lines = [ln for ln in sql.splitlines() if not ln.strip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


def for_chdb(statement: str) -> str:
    """A local table's CREATE as chDB can run it: no cluster, the plain engine, the probe database."""
    statement = statement.replace(" ON CLUSTER '{cluster}'", "").replace("linetrace.", f"{PROBE_DB}.")
    return REPLICATED.sub(lambda m: f"ENGINE = {m[1]}" + (f"({m[3]})" if m[3] else ""), statement)


def withdrawal_on_probe(table: str) -> str:
    """The sink's delete of withdrawn rows as a cluster runs it (storage.sink.on_cluster), run
    here on the probe's copy of the local table: its columns and key expression hold there."""
    statement = on_cluster(WITHDRAW[table][2], table).replace(
        f"FROM {table}_local", f"FROM linetrace.{table}_local"
    )
    return for_chdb(statement).replace("{ids:Array(String)}", "['probe']")


@cache
def cluster() -> dict[str, Any]:
    """The cluster schema, parsed: local CREATEs, Distributed tables, recorded migrations."""
    found: dict[str, Any] = {
        "local": {},
        "keeper_paths": {},
        "key_value": set(),
        "distributed": {},
        "recorded": [],
        "insert": "",
    }
    for s in statements(SCHEMA.read_text()):
        if (m := LOCAL.match(s)) and (engine := REPLICATED.search(s)):
            found["local"][m[1]] = s
            found["keeper_paths"][m[1]] = engine[2]
        elif (m := LOCAL.match(s)) and KEY_VALUE.search(s):
            found["local"][m[1]] = s
            found["key_value"].add(m[1])
        elif m := DISTRIBUTED.match(s):
            found["distributed"][m[1]] = {
                "as": m[2],
                "local": m[3],
                "key": [c.strip() for c in m[4].split(",")],
            }
        elif s.startswith("INSERT INTO linetrace.schema_migrations"):
            found["recorded"] = [(int(v), name) for v, name in RECORDED.findall(s)]
            found["insert"] = s
        else:
            assert s.startswith("CREATE DATABASE IF NOT EXISTS linetrace ON CLUSTER"), f"unexpected: {s[:80]}"
    return found


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """What chDB says about the migrated single-node tables and the cluster's local tables."""
    c = cluster()
    job = {
        "dir": str(tmp_path_factory.mktemp("chdb")),
        "statements": [
            f"CREATE DATABASE {PROBE_DB}",
            *(for_chdb(s) for s in c["local"].values()),
            for_chdb(c["insert"]),
            *(withdrawal_on_probe(table) for table in WITHDRAW),
        ],
        "queries": [
            f"SELECT cityHash64({', '.join(d['key'])}) FROM {PROBE_DB}.{d['local']} LIMIT 0"
            for d in c["distributed"].values()
        ],
    }
    done = subprocess.run(
        [sys.executable, "-m", "tests.unit.k8s.schema_probe"],
        input=json.dumps(job),
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    tables: dict[str, Any] = json.loads(done.stdout)["tables"]
    return tables


def single_node(engine: dict[str, Any]) -> dict[str, Any]:
    return {k.split(".", 1)[1]: v for k, v in engine.items() if k.startswith("linetrace.")}


def cluster_local(engine: dict[str, Any]) -> dict[str, Any]:
    return {
        k.split(".", 1)[1].removesuffix("_local"): v
        for k, v in engine.items()
        if k.startswith(f"{PROBE_DB}.")
    }


def without_ttl(engine_full: str) -> str:
    return re.sub(r" TTL .*?(?= SETTINGS|$)", "", engine_full)


def test_every_single_node_table_has_a_cluster_table(engine: dict[str, Any]) -> None:
    single = set(single_node(engine))

    assert set(cluster_local(engine)) == single
    assert set(cluster()["distributed"]) == single - {"schema_migrations"}


def test_columns_keys_and_engines_are_the_single_node_ones(engine: dict[str, Any]) -> None:
    local = cluster_local(engine)
    for table, expected in single_node(engine).items():
        assert local[table]["columns"] == expected["columns"], table
        assert local[table]["sorting_key"] == expected["sorting_key"], table
        assert local[table]["primary_key"] == expected["primary_key"], table
        assert without_ttl(local[table]["engine_full"]) == expected["engine_full"], table


def test_each_local_table_replicates_under_its_own_keeper_path() -> None:
    """But the serving tables (storage/serving.py): each node keeps its own (docs/operations.md)."""
    paths = cluster()["keeper_paths"]

    assert set(paths) | cluster()["key_value"] == set(cluster()["local"])
    assert {t.removesuffix("_local") for t in cluster()["key_value"]} == {s.table for s in SERVED.values()}

    assert len(set(paths.values())) == len(paths)
    for table, path in paths.items():
        shard = "all" if table == "schema_migrations" else "{shard}"
        name = table.removesuffix("_local")
        assert path == f"/clickhouse/tables/{shard}/{{database}}/{name}", table


def test_distributed_tables_shard_by_sorting_key_columns(engine: dict[str, Any]) -> None:
    """Rows that replace each other share their sorting key, so they share a shard."""
    local = cluster_local(engine)
    for table, d in cluster()["distributed"].items():
        assert d["as"] == d["local"] == f"{table}_local", table
        sorting = {c.strip() for c in (local[table]["sorting_key"] or local[table]["primary_key"]).split(",")}
        assert set(d["key"]) <= sorting, f"{table} shards by {d['key']}, not all in ({sorting})"


def test_the_cluster_schema_records_every_migration() -> None:
    assert cluster()["recorded"] == [(version, name) for version, name, _ in migrations()]


def test_the_schema_job_runs_this_file() -> None:
    docs = render("overlays/prod")
    job = named(docs, "Job", "linetrace-clickhouse-schema")
    volume = next(v for v in pod_spec(job)["volumes"] if v["name"] == "schema")
    mounted = named(docs, "ConfigMap", volume["configMap"]["name"])

    assert mounted["data"]["schema.sql"] == SCHEMA.read_text()
    assert "--queries-file /etc/linetrace/schema/schema.sql" in pod_spec(job)["containers"][0]["args"][0]


def test_the_checked_in_schema_is_what_the_migrations_generate() -> None:
    """Never edited by hand: `python -m storage.cluster.generate` writes it from the migrations."""
    done = subprocess.run(
        [sys.executable, "-m", "storage.cluster.generate", "--check"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )

    assert done.returncode == 0, done.stdout + done.stderr[-3000:]


def test_withdrawn_rows_are_deleted_through_every_shards_local_table() -> None:
    """A Distributed table takes no lightweight delete; the sink's fallback names the local
    table and the cluster (the fixture runs each on the local tables' definitions)."""
    for table, (_, _, sql) in WITHDRAW.items():
        statement = on_cluster(sql, table)
        assert statement.startswith(f"DELETE FROM {table}_local ON CLUSTER '{{cluster}}' WHERE "), statement
        assert f"{table}_local" in cluster()["local"]
