"""Columns of each trace table as rows arrive from the trace topic (times in microseconds)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ingest.timefmt import to_datetime

# table -> (columns, the columns holding microsecond timestamps)
TABLES: dict[str, tuple[tuple[str, ...], frozenset[str]]] = {
    "read_cycles": (
        (
            "report_id",
            "site",
            "line",
            "reader_id",
            "cycle_seq",
            "cycle_start",
            "entries",
            "read_count",
            "tags",
            "passes",
        ),
        frozenset({"cycle_start"}),
    ),
    "passes": (
        (
            "pass_id",
            "item",
            "site",
            "line",
            "station",
            "stage",
            "reader_id",
            "first_seen",
            "last_seen",
            "reads",
            "direction",
            "operator",
            "product",
            "job",
            "outcome",
            "detail",
            "route_index",
            "revision",
        ),
        frozenset({"first_seen", "last_seen"}),
    ),
    "portal_read_rates": (
        ("site", "line", "stage", "partition", "observed", "read", "revision"),
        frozenset(),
    ),
    "violations": (
        (
            "pass_id",
            "item",
            "site",
            "line",
            "station",
            "stage",
            "time",
            "type",
            "detail",
            "missing",
            "product",
            "job",
            "retracted",
            "revision",
        ),
        frozenset({"time"}),
    ),
    "item_state": (
        (
            "item",
            "site",
            "line",
            "product",
            "job",
            "stage",
            "station",
            "status",
            "parent",
            "first_seen",
            "last_seen",
            "passes",
            "on_hold",
            "revision",
            "route_stage",
        ),
        frozenset({"first_seen", "last_seen"}),
    ),
    "holds": (
        ("hold_id", "item", "site", "line", "hold_type", "owner", "reason", "event", "time", "via"),
        frozenset({"time"}),
    ),
    "job_events": (
        ("job", "site", "line", "event", "time", "blocker_id", "blocker_type", "owner", "note", "items"),
        frozenset({"time"}),
    ),
    "qc_results": (
        ("item", "job", "site", "line", "station", "result", "notes", "time"),
        frozenset({"time"}),
    ),
    "job_bindings": (("item", "job", "product", "site", "line", "time"), frozenset({"time"})),
    "genealogy": (
        ("node", "direction", "other", "depth", "present", "version", "site", "line", "station", "time"),
        frozenset({"time"}),
    ),
    "stations": (("site", "line", "station", "stage", "target_per_hour"), frozenset()),
    "pass_counts": (
        ("site", "line", "station", "stage", "minute", "partition", "passes", "revision"),
        frozenset({"minute"}),
    ),
    "links": (
        ("node", "other", "direction", "link_id", "action", "kind", "site", "line", "station", "time"),
        frozenset({"time"}),
    ),
    "jobs": (
        (
            "job",
            "site",
            "line",
            "product",
            "quantity",
            "created",
            "planned_start",
            "planned_end",
            "due",
            "target_rate_per_h",
        ),
        frozenset({"created", "planned_start", "planned_end", "due"}),
    ),
    "dead_letters": (
        (
            "dead_letter_id",
            "time",
            "reason",
            "detail",
            "source_topic",
            "source_partition",
            "source_offset",
            "payload",
            "payload_bytes",
        ),
        frozenset({"time"}),
    ),
}


def row_converter(table: str) -> Callable[[dict[str, Any]], list[Any]]:
    """A function turning one trace row (a dict) into the insert row of ``table``."""
    columns, times = TABLES[table]
    getters = [(c, c in times) for c in columns]

    def convert(row: dict[str, Any]) -> list[Any]:
        return [to_datetime(row[c]) if is_time else row[c] for c, is_time in getters]

    return convert
