"""Retention: TTLs on the trace tables, from settings, applied when the sink starts.

Read cycles (per-report summaries) are operational data and expire sooner; the trace
(passes, violations, links, the genealogy closure, item state, holds, QC results, job events
and bindings, shipments) is what a recall needs, so by default it is kept until an operator sets a
retention. 0 means keep forever; a negative value leaves the table's TTL to the schema (a
ClickHouse cluster, where the sink cannot alter the local tables through the Distributed ones).
"""

from __future__ import annotations

import logging

from ingest.errors import StorageError
from ingest.settings import Settings
from storage.client import Store

log = logging.getLogger(__name__)

# table -> the time column its rows expire by
TRACE_TABLES = {
    "passes": "first_seen",
    "violations": "time",
    "links": "time",
    "genealogy": "time",
    "item_state": "last_seen",
    "holds": "time",
    "qc_results": "time",
    "job_events": "time",
    "job_bindings": "time",
    "shipments": "time",
    "dead_letters": "time",
}


def retention_plan(settings: Settings) -> dict[str, tuple[str, int]]:
    """table -> (time column, days to keep; 0 keeps forever, negative leaves the TTL alone)."""
    plan = {"read_cycles": ("cycle_start", int(settings.retention_read_cycles_days))}
    plan.update({t: (c, int(settings.retention_trace_days)) for t, c in TRACE_TABLES.items()})
    return plan


def apply_retention(store: Store, settings: Settings) -> dict[str, int]:
    """Set each table's TTL to the plan when it differs. Existing rows are not rewritten at
    once (``materialize_ttl_after_modify = 0``); merges drop expired rows over time."""
    current = {
        r["name"]: r["engine_full"]
        for r in store.query(
            "SELECT name, engine_full FROM system.tables WHERE database = {db:String}", {"db": store.database}
        )
    }
    applied = {}
    for table, (column, days) in retention_plan(settings).items():
        if table not in current or days < 0:
            continue
        has_ttl = " TTL " in current[table]
        wanted = f"INTERVAL {days} DAY"
        if days == 0 and has_ttl:
            _alter(store, f"ALTER TABLE {table} REMOVE TTL")
        elif days > 0 and (not has_ttl or f"toIntervalDay({days})" not in current[table]):
            # DDL cannot take query parameters; the table, column and day count are ours, not input.
            _alter(store, f"ALTER TABLE {table} MODIFY TTL toDateTime({column}) + {wanted}")
        applied[table] = days
    return applied


def _alter(store: Store, sql: str) -> None:
    try:
        store.command(sql + " SETTINGS materialize_ttl_after_modify = 0")
        log.info("retention: %s", sql)
    except StorageError as exc:
        log.error("retention not applied (%s): %s", sql, exc)
