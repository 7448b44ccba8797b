"""What ClickHouse holds of the stream's route state: the named queries `linetrace state
restore` reads (streams/restore.py turns the rows back into item states).

Which items: every item not finished (status other than complete, dispatched or consumed),
finished items read within ``recent_s`` of the newest read (so a late read is still judged
against their route), items bound to a job and not read yet, and everything those are in
or hold now, at any depth (so holds reach through containment and unpack works). For the
holds, the links and holds of everything ever in them are read too.

Times come back as integer microseconds; each query reads the latest revision (FINAL). The
item, pass and violation rows come back whole, as their row types (ingest/records/rows.py)
declare them, so a column added there is restored without a change here.
The same SQL runs on chDB and a server (on a cluster, with the profile's
``distributed_product_mode = global``).
"""

from __future__ import annotations

from typing import Any

from ingest.records.rows import columns, time_columns
from storage.client import Store

# Statuses of items whose route is over (streams/route.py).
FINISHED = ("complete", "dispatched", "consumed")

# The items to restore (``restored``) and everything ever in them (``family``): the
# prelude of each query below. SQL text only; every value is a bound parameter.
_ITEMS = """
WITH
    (SELECT max(last_seen) FROM item_state) AS newest,
    seeds AS (
        SELECT item FROM item_state FINAL
        WHERE status NOT IN {finished:Array(String)}
           OR ({recent_s:UInt32} > 0 AND last_seen >= newest - toIntervalSecond({recent_s:UInt32}))
        UNION DISTINCT
        SELECT item FROM job_bindings WHERE item NOT IN (SELECT item FROM item_state)
    ),
    restored AS (
        SELECT item FROM seeds
        UNION DISTINCT
        SELECT other AS item FROM genealogy FINAL
        WHERE node IN (SELECT item FROM seeds) AND present = 1
    ),
    family AS (
        SELECT item FROM restored
        UNION DISTINCT
        SELECT other AS item FROM genealogy FINAL
        WHERE node IN (SELECT item FROM restored) AND direction = 'down'
    )
"""

RESTORED_ITEMS = _ITEMS + "SELECT item FROM restored"


def row_columns(table: str) -> str:
    """The select list of a whole row of ``table``: every column of its row type, times as
    integer microseconds under their own names (identifiers only, no values)."""
    times = time_columns(table)
    return ", ".join(f"toUnixTimestamp64Micro({c}) AS {c}" if c in times else c for c in columns(table))


def _whole_rows_of_restored(table: str) -> str:
    """Every column of ``table``'s latest rows of the items being restored (``table`` is one
    of linetrace's own table names, never a value)."""
    return (
        _ITEMS
        + f"""
SELECT {row_columns(table)}
FROM {table} FINAL
WHERE item IN (SELECT item FROM restored)
"""
    )


ITEM_ROWS = _whole_rows_of_restored("item_state")
PASSES = _whole_rows_of_restored("passes")
VIOLATIONS = _whole_rows_of_restored("violations")

# Each link as the child sees it: what it went into (or came out of), and when.
LINKS = (
    _ITEMS
    + """
SELECT node AS child, other AS parent, toString(action) AS action, kind, site, line, station,
       toUnixTimestamp64Micro(time) AS time_us
FROM links FINAL
WHERE direction = 'up' AND node IN (SELECT item FROM family)
"""
)

# Holds placed on the items themselves; the stream carries them on to what they are in.
HOLDS = (
    _ITEMS
    + """
SELECT hold_id, item, hold_type, event, toUnixTimestamp64Micro(time) AS time_us
FROM holds FINAL
WHERE via = '' AND item IN (SELECT item FROM family)
"""
)

QC_RESULTS = (
    _ITEMS
    + """
SELECT item, result, toUnixTimestamp64Micro(time) AS time_us
FROM qc_results FINAL
WHERE item IN (SELECT item FROM restored)
"""
)

JOB_BINDINGS = (
    _ITEMS
    + """
SELECT item, job, product, toUnixTimestamp64Micro(time) AS time_us
FROM job_bindings FINAL
WHERE item IN (SELECT item FROM restored)
"""
)

# The version of an item's closure rows: every change writes a 'down' row on the item.
CLOSURE_VERSIONS = (
    _ITEMS
    + """
SELECT node AS item, max(version) AS version
FROM genealogy
WHERE direction = 'down' AND node IN (SELECT item FROM restored)
GROUP BY node
"""
)

READ_RATES = """
SELECT site, line, stage, partition, observed, read, revision
FROM portal_read_rates FINAL
"""

# Minutes the worker still counts (streams/passcounts.py KEEP_MINUTES).
PASS_COUNTS = """
SELECT site, line, station, stage, toInt64(toUnixTimestamp(minute)) * 1000000 AS minute_us,
       partition, passes, revision
FROM pass_counts FINAL
WHERE minute >= (SELECT max(minute) FROM pass_counts) - toIntervalMinute({keep_minutes:UInt32})
"""

_ITEM_QUERIES = {
    "items": RESTORED_ITEMS,
    "item_rows": ITEM_ROWS,
    "passes": PASSES,
    "violations": VIOLATIONS,
    "links": LINKS,
    "holds": HOLDS,
    "qc": QC_RESULTS,
    "bindings": JOB_BINDINGS,
    "closure_versions": CLOSURE_VERSIONS,
}


def read_route_state(store: Store, recent_s: int, keep_minutes: int) -> dict[str, list[Any]]:
    """Rows by source, as streams.restore.StoredTrace takes them."""
    params = {"finished": list(FINISHED), "recent_s": recent_s}
    rows = {name: store.query(sql, params) for name, sql in _ITEM_QUERIES.items()}
    rows["read_rates"] = store.query(READ_RATES)
    rows["pass_counts"] = store.query(PASS_COUNTS, {"keep_minutes": keep_minutes})
    return rows
