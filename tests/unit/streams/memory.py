"""The stream on plain data: stage 1, stage 2 on every partition, and the rows the sink keeps.

Messages go through the same pure functions the worker calls (and the same wire encoding),
without Kafka or ClickHouse; the tables keep every row, and ``stored`` reads them the way
storage/staterestore.py reads ClickHouse (the latest revision of each key, times in µs).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeVar

from ingest.plant import Plant
from ingest.schema import Aggregation, HoldEvent, JobEvent, QcResult, ReadCycleReport, Transformation
from ingest.settings import Settings
from ingest.wire import (
    encode_aggregation,
    encode_hold,
    encode_job_event,
    encode_qc,
    encode_report,
    encode_transformation,
)
from streams.bundles import BundleBuilder, decode_bundle
from streams.restore import StoredTrace
from streams.stage1 import Batch, Stage1
from streams.stage2 import Changes, RouteStates

Row = dict[str, Any]
R = TypeVar("R", bound=Mapping[str, Any])
WHERE = ("in-memory", 0, 0)


class MemoryStream:
    """A stream worker's two stages, fed message by message, settling each at once."""

    def __init__(self, settings: Settings, plant: Plant, states: RouteStates | None = None):
        self.settings = settings
        self.stage1 = Stage1(settings, plant)
        if states is None:
            states = RouteStates(settings, plant)
            for p in range(settings.partitions):
                states.load(p, [])
        self.states = states
        self.tables: dict[str, list[Any]] = defaultdict(list)  # rows of every table, as the sink takes them

    def send(self, message: Any, now_us: int) -> list[Changes]:
        """One input message, and everything it causes downstream, to the end."""
        batch = self.stage1.new_batch()
        if isinstance(message, ReadCycleReport):
            self.stage1.take_report(batch, encode_report(message), WHERE, now_us)
        elif isinstance(message, Aggregation):
            self.stage1.take_aggregation(batch, encode_aggregation(message), WHERE)
        elif isinstance(message, Transformation):
            self.stage1.take_aggregation(batch, encode_transformation(message), WHERE)
        elif isinstance(message, JobEvent):
            self.stage1.take_job_event(batch, encode_job_event(message), WHERE)
        elif isinstance(message, QcResult):
            self.stage1.take_job_event(batch, encode_qc(message), WHERE)
        elif isinstance(message, HoldEvent):
            self.stage1.take_job_event(batch, encode_hold(message), WHERE)
        else:
            raise TypeError(message)
        self.stage1.end_batch(batch)
        self._keep(batch.trace)
        return self._route(batch)

    def _route(self, batch: Batch) -> list[Changes]:
        out = []
        messages = batch.bundles.messages()
        while messages:
            touched = set()
            for partition, payload in messages:
                self.states.apply(partition, decode_bundle(payload))
                touched.add(partition)
            forwards = BundleBuilder(self.settings.partitions)
            for partition in sorted(touched):
                changes = self.states.settle(partition, idle=True)
                out.append(changes)
                self._keep_changes(changes)
                for record in changes.forwards:
                    forwards.add(record)
            messages = forwards.messages()
        return out

    def _keep(self, rows: Mapping[str, Sequence[Mapping[str, Any]]]) -> None:
        for table, table_rows in rows.items():
            self.tables[table].extend(table_rows)

    def _keep_changes(self, c: Changes) -> None:
        self._keep(
            {
                "passes": c.rows.passes,
                "violations": c.rows.violations,
                "item_state": c.rows.item_state,
                "portal_read_rates": c.read_rates,
                "genealogy": c.closure,
                "pass_counts": c.pass_counts,
            }
        )

    def stored(self, items: Iterable[str] | None = None) -> StoredTrace:
        """What ClickHouse would hold, as the restore reads it; every item known by default."""
        t = self.tables
        item_rows = _latest(t["item_state"], ("item",), "revision")
        known = {r["item"] for r in item_rows} | {r["item"] for r in t["job_bindings"]}
        known |= {r["node"] for r in t["genealogy"]} | {r["item"] for r in t["holds"]}
        wanted = set(known if items is None else items)
        versions: dict[str, int] = {}
        for r in t["genealogy"]:
            if r["direction"] == "down" and r["node"] in wanted:
                versions[r["node"]] = max(versions.get(r["node"], 0), r["version"])
        return StoredTrace(
            items=[{"item": i} for i in sorted(wanted)],
            item_rows=[r for r in item_rows if r["item"] in wanted],
            passes=[r for r in _latest(t["passes"], ("pass_id",), "revision") if r["item"] in wanted],
            violations=[r for r in _latest(t["violations"], ("pass_id",), "revision") if r["item"] in wanted],
            links=[
                {**r, "child": r["node"], "parent": r["other"], "time_us": r["time"]}
                for r in t["links"]
                if r["direction"] == "up"
            ],
            holds=[{**r, "time_us": r["time"]} for r in t["holds"] if not r["via"]],
            qc=[{**r, "time_us": r["time"]} for r in t["qc_results"] if r["item"] in wanted],
            bindings=[{**r, "time_us": r["time"]} for r in t["job_bindings"] if r["item"] in wanted],
            closure_versions=[{"item": i, "version": v} for i, v in sorted(versions.items())],
            read_rates=_latest(t["portal_read_rates"], ("site", "line", "stage", "partition"), "revision"),
            pass_counts=[
                {**r, "minute_us": r["minute"]}
                for r in _latest(
                    t["pass_counts"], ("site", "line", "station", "stage", "minute", "partition"), "revision"
                )
            ],
        )


def _latest(rows: list[R], key: tuple[str, ...], version: str) -> list[R]:
    """ReplacingMergeTree(version) read FINAL: the row of the highest version per key."""
    latest: dict[tuple[Any, ...], R] = {}
    for r in rows:
        k = tuple(r[c] for c in key)
        if k not in latest or r[version] >= latest[k][version]:
            latest[k] = r
    return list(latest.values())
