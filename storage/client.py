"""ClickHouse access through clickhouse-connect only: embedded chDB or a server.

``chdb:///dir`` opens the embedded engine (one process per directory); ``http(s)://...``
talks to a server or cluster. The same DDL and queries run on both.
"""

from __future__ import annotations

import fcntl
import logging
import threading
from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import clickhouse_connect
from clickhouse_connect.datatypes.base import ClickHouseType
from clickhouse_connect.datatypes.temporal import DateTime, DateTime64
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError, DatabaseError
from clickhouse_connect.driver.insert import InsertContext

from ingest.errors import StorageError
from ingest.settings import Settings

log = logging.getLogger(__name__)

CHDB_SCHEME = "chdb://"

# Every insert is synchronous (acknowledged when it returns), and runs on one thread: the
# sink's inserts are blocks of tens to tens of thousands of rows, for which a pipeline of
# threads costs more than it saves (on chDB a small insert's fixed cost falls from about 6 to
# 3.5 ms, docs/architecture.md).
INSERT_SETTINGS = {"async_insert": 0, "max_threads": 1}
MICROS_PER_S = 1_000_000


def is_embedded(dsn: str) -> bool:
    return dsn.startswith(CHDB_SCHEME)


def embedded_dir(dsn: str) -> Path:
    return Path(dsn[len(CHDB_SCHEME) :]).resolve()


def embedded_holder(directory: Path) -> str | None:
    """Who holds an embedded store's directory (chDB locks ``<dir>/status`` while it has the
    directory open), as the status file tells it; None when nothing does."""
    status = directory / "status"
    if not status.exists():
        return None
    with open(status, "rb") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return _holder(f.read())
        fcntl.flock(f, fcntl.LOCK_UN)
    return None


def _holder(status: bytes) -> str:
    for line in status.decode(errors="replace").splitlines():
        if line.startswith("PID:"):
            return "process " + line.split(":", 1)[1].strip()
    return "another process"


class FairLock:
    """A reentrant lock taken in the order it was asked for.

    The sink's thread inserts statement after statement while the query API's threads wait
    for the same store; with a plain lock the thread that has just released it takes it again
    before a woken waiter runs, and a query could wait out a whole backlog. Here each
    first acquire takes a ticket and waits for its turn."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._next = self._serving = 0
        self._owner: int | None = None
        self._depth = 0

    def __enter__(self) -> None:
        me = threading.get_ident()
        with self._cond:
            if self._owner == me:
                self._depth += 1
                return
            ticket = self._next
            self._next += 1
            while ticket != self._serving:
                self._cond.wait()
            self._owner, self._depth = me, 1

    def __exit__(self, *exc: object) -> None:
        with self._cond:
            self._depth -= 1
            if self._depth == 0:
                self._owner = None
                self._serving += 1
                self._cond.notify_all()


class Store:
    """A clickhouse-connect client bound to the linetrace database; safe to share across threads."""

    def __init__(self, client: Client, database: str, serving: bool = False):
        self.client = client
        self.database = database
        # whether the sink keeps the serving tables (storage/serving.py) and lookups read them
        self.serving = serving
        self._lock = FairLock()
        self._contexts: dict[tuple[str, tuple[str, ...]], InsertContext] = {}

    def query(self, sql: str, parameters: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        with self._lock:
            try:
                result = self.client.query(sql, parameters=parameters or {})
            except (ClickHouseError, DatabaseError) as exc:
                raise StorageError(str(exc), getattr(exc, "code", None)) from exc
        return [dict(zip(result.column_names, row, strict=True)) for row in result.result_rows]

    def command(self, sql: str, parameters: dict[str, Any] | None = None) -> None:
        with self._lock:
            try:
                self.client.command(sql, parameters=parameters or {})
            except (ClickHouseError, DatabaseError) as exc:
                raise StorageError(str(exc), getattr(exc, "code", None)) from exc

    def insert(self, table: str, rows: list[list[Any]], columns: list[str]) -> None:
        """Insert synchronously: returns only once ClickHouse has acknowledged the rows."""
        if not rows:
            return
        with self._lock:
            try:
                self.client.insert(table, rows, column_names=columns, settings=INSERT_SETTINGS)
            except (ClickHouseError, DatabaseError) as exc:
                raise StorageError(str(exc), getattr(exc, "code", None)) from exc

    def insert_columns(
        self, table: str, columns: Sequence[str], data: Sequence[Sequence[Any]], micros: frozenset[str]
    ) -> None:
        """Insert column-oriented ``data`` (one sequence per column of ``columns``) synchronously,
        as ``insert``. The ``micros`` columns hold integer microseconds; they are written as the
        integer ticks of the table's column type, with no datetime per value.

        The insert context (the table's column types) is kept per table and columns, so they
        are asked of ClickHouse once, not before every insert."""
        if not data or not data[0]:
            return
        with self._lock:
            try:
                context = self._contexts.get((table, tuple(columns)))
                if context is None:
                    context = self.client.create_insert_context(
                        table, list(columns), column_oriented=True, settings=INSERT_SETTINGS
                    )
                    self._contexts[(table, tuple(columns))] = context
                ticks = [
                    _ticks(t) if c in micros else None
                    for c, t in zip(columns, context.column_types, strict=True)
                ]
                converted = [
                    col if tick is None else tick(col) for col, tick in zip(data, ticks, strict=True)
                ]
                self.client.insert(table, converted, context=context)
            except (ClickHouseError, DatabaseError) as exc:
                raise StorageError(str(exc), getattr(exc, "code", None)) from exc

    def close(self) -> None:
        with self._lock:
            self.client.close()


def _ticks(column_type: ClickHouseType) -> Callable[[Sequence[int]], Sequence[int]] | None:
    """How integer microseconds become the integer ticks clickhouse-connect writes to a column
    of ``column_type`` as they are (DateTime64: 10^-scale s; DateTime: seconds); None when
    they are written as they are."""
    if isinstance(column_type, DateTime64):
        if column_type.prec == MICROS_PER_S:
            return None
        prec = column_type.prec
        return lambda col: [us * prec // MICROS_PER_S for us in col]
    if isinstance(column_type, DateTime):
        return lambda col: [us // MICROS_PER_S for us in col]
    raise StorageError(f"a column of type {column_type.name} cannot hold microseconds")


def connect(settings: Settings, migrate: bool = True) -> Store:
    """Open the store named by the settings and bring its schema up to date."""
    dsn = settings.clickhouse_dsn
    if is_embedded(dsn):
        directory = embedded_dir(dsn)
        directory.mkdir(parents=True, exist_ok=True)
        bootstrap = clickhouse_connect.get_client(dsn=f"{CHDB_SCHEME}{directory}")
    else:
        bootstrap = clickhouse_connect.get_client(dsn=dsn, password=settings.clickhouse_password)
    db = settings.clickhouse_database
    bootstrap.command(f"CREATE DATABASE IF NOT EXISTS `{_ident(db)}`")
    if is_embedded(dsn):
        bootstrap.database = db
        client = bootstrap
    else:
        client = clickhouse_connect.get_client(dsn=dsn, password=settings.clickhouse_password, database=db)
        bootstrap.close()
    store = Store(client, db, settings.serving_tables)
    if migrate:
        apply_migrations(store)
    return store


def _ident(name: str) -> str:
    if not name.replace("_", "").isalnum():
        raise StorageError(f"invalid database name {name!r}")
    return name


def migrations() -> list[tuple[int, str, str]]:
    """(version, name, sql) of every migration shipped in storage/migrations, in order."""
    found = []
    for entry in resources.files("storage.migrations").iterdir():
        if entry.name.endswith(".sql"):
            version = int(entry.name.split("_", 1)[0])
            found.append((version, entry.name, entry.read_text(encoding="utf-8")))
    return sorted(found)


def apply_migrations(store: Store) -> list[str]:
    """Apply the migrations not yet recorded in schema_migrations; each statement is idempotent."""
    store.command(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version UInt32, name String, "
        "applied_at DateTime64(6, 'UTC') DEFAULT now64(6)) ENGINE = ReplacingMergeTree ORDER BY version"
    )
    done = {r["version"] for r in store.query("SELECT version FROM schema_migrations FINAL")}
    applied = []
    for version, name, sql in migrations():
        if version in done:
            continue
        for statement in statements(sql):
            store.command(statement)
        store.insert("schema_migrations", [[version, name]], ["version", "name"])
        applied.append(name)
        log.info("applied migration %s", name)
    return applied


def statements(sql: str) -> list[str]:
    """The statements of a migration, comments left out."""
    lines = [ln for ln in sql.splitlines() if not ln.strip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]
