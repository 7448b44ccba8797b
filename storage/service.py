"""The named queries, in one table that the CLI (``linetrace query``) and the query API both
take their queries from: each query's parameters (parsed from text, CLI and HTTP alike), its
answer's columns (the API's typed response model is made from them) and what runs it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import GenericAlias
from typing import Any

from pydantic import BaseModel, create_model

from ingest.errors import InvalidInput
from ingest.timefmt import parse_us, to_datetime
from storage import jobqueries, queries
from storage.client import Store

# A column's type, or (type, default) for a column only some rows have.
Columns = dict[str, Any]
Params = Mapping[str, Any]


@dataclass(frozen=True)
class Param:
    """A query parameter as the CLI and the API take it: text, parsed to ``kind``."""

    name: str
    description: str
    kind: type = str  # str, int or datetime (RFC 3339)
    default: Any = ""
    required: bool = False
    choices: tuple[str, ...] = ()

    def parse(self, raw: str | None) -> Any:
        """The value of ``raw`` (None: not given); InvalidInput says what is wrong with it."""
        if not raw:
            if self.required:
                raise InvalidInput("bad_parameter", f"{self.name} is required")
            return self.default
        if self.choices and raw not in self.choices:
            raise InvalidInput("bad_parameter", f"{self.name} must be {' or '.join(self.choices)}")
        if self.kind is int:
            try:
                return int(raw)
            except ValueError:
                raise InvalidInput("bad_parameter", f"{self.name}: not an integer: {raw!r}") from None
        if self.kind is datetime:
            try:
                return to_datetime(parse_us(raw))
            except InvalidInput as exc:
                raise InvalidInput("bad_parameter", f"{self.name}: {exc.detail}") from None
        return raw


@dataclass(frozen=True)
class Query:
    summary: str
    params: tuple[Param, ...]
    answer: Any  # the answer's type: a pydantic model, or a list of one
    run: Callable[[Store, Params], Any]

    def param(self, name: str) -> Param | None:
        return next((p for p in self.params if p.name == name), None)


def model(name: str, columns: Columns) -> type[BaseModel]:
    """The pydantic model of one row (or one record) of an answer."""
    fields: dict[str, Any] = {c: (t if isinstance(t, tuple) else (t, ...)) for c, t in columns.items()}
    return create_model(name, **fields)


def rows(name: str, columns: Columns) -> Any:
    """An answer of rows: a list of ``model(name, columns)``."""
    return GenericAlias(list, (model(name, columns),))


FILTERS = (
    Param("site", "Only this site (empty: every site of the token's scope; another site: 403)."),
    Param("line", "Only this line (empty: every line of the token's scope; another line: 403)."),
)
ITEM = Param("item", "Item key.", required=True)
DIRECTION = Param("direction", "up or down (default down).", default="down", choices=("up", "down"))
LIMIT_1000 = Param("limit", "At most this many (default 1000).", int, 1000)


def window(default_minutes: int, until: str = "RFC 3339 end.") -> tuple[Param, ...]:
    return (
        Param("minutes", f"Window ending now (default {default_minutes}).", int, default_minutes),
        Param("since", "RFC 3339 start (overrides minutes).", datetime, None),
        Param("until", until, datetime, None),
        *FILTERS,
    )


def _window(p: Params) -> tuple[datetime, datetime]:
    now = datetime.now(UTC)
    since = p["since"] or now - timedelta(minutes=p["minutes"])
    return since, p["until"] or now + timedelta(minutes=1)


def _where(p: Params) -> tuple[str, str]:
    return p["site"], p["line"]


PLACE: Columns = {"site": str, "line": str}
STATE: Columns = {"product": str, "job": str, "stage": str, "status": str}
NODE: Columns = {"item": str, "depth": int, "station": str, "time": datetime, **STATE}
PASS: Columns = {
    "pass_id": str,
    "first_seen": datetime,
    "last_seen": datetime,
    **PLACE,
    "stage": str,
    "station": str,
    "reader_id": str,
    "reads": int,
    "outcome": str,
    "detail": str,
    "product": str,
    "job": str,
    "direction": str,
    "operator": str,
}
TRACE_PASS: Columns = {
    "item": str,
    "first_seen": datetime,
    "station": str,
    "stage": str,
    "outcome": str,
    "job": str,
}
VIOLATION: Columns = {
    "time": datetime,
    **PLACE,
    "station": str,
    "stage": str,
    "item": str,
    "type": str,
    "detail": str,
    "missing": list[str],
    "product": str,
    "job": str,
    "pass_id": str,
    "p_missed_read": (float | None, None),  # skipped stages only
}
WIP: Columns = {**PLACE, "stage": str, "items": int}
READ_RATE: Columns = {**PLACE, "stage": str, "observed": int, "read": int, "read_rate": float}
JOB: Columns = {"job": str, **PLACE, "product": str, "quantity": int}


def _summary_model() -> type[BaseModel]:
    totals = {
        "reads": model("ReadTotals", {"reports": int, "reads": int, "raw_reads": int}),
        "items": model(
            "ItemTotals", dict.fromkeys(("items", "in_process", "complete", "assembled", "unknown"), int)
        ),
        "passes": model("PassTotals", {"passes": int, "movements": int}),
    }
    sample = model(
        "SampleGenealogy", {"item": (str | None, None), "down": (rows("SampleNode", NODE) | None, None)}
    )
    return model(
        "Summary",
        {
            **totals,
            "violations_by_type": rows("ViolationsOfType", {"type": str, "violations": int}),
            "skipped_stages": rows("SkippedStage", VIOLATION),
            "wip_by_stage": rows("SummaryWip", WIP),
            "read_rates": rows("SummaryReadRate", READ_RATE),
            "throughput_by_station": rows(
                "StationThroughput", {**PLACE, "station": str, "stage": str, "passes": int}
            ),
            "dead_letters": rows("DeadLetters", {"reason": str, "records": int}),
            "genealogy": sample,
        },
    )


QUERIES: dict[str, Query] = {
    "summary": Query(
        "Reads, items, passes, violations, WIP, read rates, throughput, one trace.",
        FILTERS,
        _summary_model(),
        lambda s, p: queries.summary(s, *_where(p)),
    ),
    "history": Query(
        "Every pass of an item in time order with its verdict.",
        (ITEM, *FILTERS),
        rows("Pass", PASS),
        lambda s, p: queries.item_history(s, p["item"], *_where(p)),
    ),
    "genealogy": Query(
        "Items linked to an item now: down = what is in it (assembled, packed, transformed into it), "
        "up = what it is in. Unpacked items are no longer linked.",
        (ITEM, DIRECTION, *FILTERS),
        rows("GenealogyNode", NODE),
        lambda s, p: queries.genealogy(s, p["item"], p["direction"], *_where(p)),
    ),
    "trace": Query(
        "Genealogy with every pass of every item found.",
        (ITEM, DIRECTION, *FILTERS),
        model(
            "Trace",
            {
                "item": str,
                "direction": str,
                "nodes": rows("TraceNode", NODE),
                "passes": rows("TracePass", TRACE_PASS),
            },
        ),
        lambda s, p: queries.trace(s, p["item"], p["direction"], *_where(p)),
    ),
    "recall": Query(
        "Recall scope: the item and everything it is in, at any depth, with stage, job and status.",
        (ITEM, *FILTERS),
        rows("RecallItem", {**NODE, "time": datetime | None, "via": (str | None, None)}),
        lambda s, p: queries.recall(s, p["item"], *_where(p)),
    ),
    "wip": Query(
        "Items in process by stage.",
        FILTERS,
        rows("Wip", WIP),
        lambda s, p: queries.wip_by_stage(s, *_where(p)),
    ),
    "throughput": Query(
        "Passes per station per minute or hour.",
        (
            Param("bucket", "minute or hour (default minute).", default="minute", choices=("minute", "hour")),
            *window(60),
        ),
        rows(
            "Throughput",
            {
                **PLACE,
                "station": str,
                "stage": str,
                "minute": (datetime | None, None),  # bucket=minute
                "hour": (datetime | None, None),  # bucket=hour
                "passes": int,
                "target": float,
            },
        ),
        lambda s, p: queries.throughput(s, *_window(p), *_where(p), p["bucket"]),
    ),
    "violations": Query(
        "Open violations, newest first; skipped stages carry p_missed_read.",
        (
            Param("type", "Only this violation type."),
            Param("limit", "At most this many (default 100).", int, 100),
            *FILTERS,
        ),
        rows("Violation", VIOLATION),
        lambda s, p: queries.violations(s, *_where(p), p["type"], p["limit"]),
    ),
    "read_rates": Query(
        "Portal read rate per route stage, from the items seen downstream of it.",
        FILTERS,
        rows("ReadRate", READ_RATE),
        lambda s, p: queries.read_rates(s, *_where(p)),
    ),
    "held": Query(
        "Items under a hold now, placed on them or on anything they were made from.",
        (LIMIT_1000, *FILTERS),
        rows("HeldItem", {"item": str, **PLACE, **STATE, "station": str, "last_seen": datetime}),
        lambda s, p: queries.held_items(s, *_where(p), p["limit"]),
    ),
    "wip_by_job": Query(
        "Items in process by job and stage.",
        FILTERS,
        rows("JobWip", {**PLACE, "job": str, "stage": str, "items": int}),
        lambda s, p: queries.wip_by_job(s, *_where(p)),
    ),
    "wip_ageing": Query(
        "Items in process not read for longer than older_than_s, longest waiting first.",
        (Param("older_than_s", "Seconds (default 900).", int, 900), LIMIT_1000, *FILTERS),
        rows(
            "WaitingItem",
            {
                "item": str,
                **PLACE,
                "product": str,
                "job": str,
                "stage": str,
                "station": str,
                "last_seen": datetime,
                "waiting_s": int,
            },
        ),
        lambda s, p: queries.wip_ageing(s, p["older_than_s"], *_where(p), p["limit"]),
    ),
    "cycle_time": Query(
        "Per stage: time from the first read there to the next stage reached.",
        window(24 * 60),
        rows(
            "CycleTime",
            {**PLACE, "stage": str, "items": int, "avg_s": float, "p50_s": float, "p90_s": float},
        ),
        lambda s, p: queries.cycle_time(s, *_window(p), *_where(p)),
    ),
    "operators": Query(
        "Operator performance per stage, from scans that carry an operator: passes, items, "
        "violations and passes per hour.",
        window(8 * 60),
        rows(
            "OperatorPerformance",
            {
                "operator": str,
                **PLACE,
                "stage": str,
                "passes": int,
                "items": int,
                "violations": int,
                "violation_rate": float,
                "first_pass": datetime,
                "last_pass": datetime,
                "passes_per_hour": float,
            },
        ),
        lambda s, p: queries.operator_performance(s, *_window(p), *_where(p)),
    ),
    "job_progress": Query(
        "Per job and route stage: received, completed, rejected, pending.",
        (Param("job", "Only this job."), *FILTERS),
        rows(
            "JobProgress",
            {
                "job": str,
                "stage": str,
                "route_index": int,
                **dict.fromkeys(("received", "completed", "rejected", "pending"), int),
            },
        ),
        lambda s, p: jobqueries.job_progress(s, p["job"], *_where(p)),
    ),
    "late_jobs": Query(
        "Jobs past due with items to go, or that will miss it at their target rate.",
        FILTERS,
        rows(
            "LateJob",
            {
                **JOB,
                "due": datetime,
                "done": int,
                "remaining": int,
                "target_rate_per_h": float,
                "past_due": int,
            },  # 1 past due, 0 will miss it
        ),
        lambda s, p: jobqueries.late_jobs(s, *_where(p)),
    ),
    "blocked_jobs": Query(
        "Open blockers by job, and jobs with items under a hold.",
        FILTERS,
        rows(
            "BlockedJob",
            {
                "kind": str,
                **PLACE,
                "job": str,
                # kind = blocker
                **dict.fromkeys(("blocker_id", "blocker_type", "owner", "note"), (str | None, None)),
                "since": (datetime | None, None),
                "held_items": (int | None, None),
            },  # kind = hold
        ),
        lambda s, p: jobqueries.blocked_jobs(s, *_where(p)),
    ),
    "pending_qc": Query(
        "Items at the QC stage without a QC result since they arrived.",
        (Param("stage", "The QC stage (default qc).", default="qc"), *FILTERS),
        rows("PendingQc", {"item": str, "job": str, "station": str, "arrived": datetime}),
        lambda s, p: jobqueries.pending_qc(s, p["stage"], *_where(p)),
    ),
    "ready_for_dispatch": Query(
        "Jobs flagged ready for dispatch or with their whole quantity complete.",
        FILTERS,
        rows("ReadyJob", {**JOB, "done": int, "flagged": int}),  # flagged: 1 or 0
        lambda s, p: jobqueries.ready_for_dispatch(s, *_where(p)),
    ),
    "progress": Query(
        "Rows stored so far, every site (cheap; for load tests; plant-wide tokens only).",
        (),
        model("Progress", dict.fromkeys(("read_cycle_rows", "pass_rows", "dead_letter_rows"), int)),
        lambda s, p: s.query(queries.PROGRESS)[0],
    ),
    "verdicts": Query(
        "Passes first seen in a window, each counted once with its latest verdict: passes, "
        "movements, open and retracted violations.",
        window(60, "RFC 3339 end (excluded)."),
        rows(
            "Verdicts",
            dict.fromkeys(("passes", "movements", "violations_open", "retracted_violations"), int),
        ),
        lambda s, p: queries.verdicts(s, *_window(p), *_where(p)),
    ),
}


def parse_params(name: str, raw: Mapping[str, str]) -> dict[str, Any]:
    """The parameters of query ``name`` parsed from text; others are ignored."""
    if name not in QUERIES:
        raise InvalidInput("unknown_query", f"{name!r}; known: {', '.join(QUERIES)}")
    return {p.name: p.parse(raw.get(p.name)) for p in QUERIES[name].params}


def run_query(store: Store, name: str, raw: Mapping[str, str]) -> Any:
    """The answer of query ``name`` to parameters given as text (CLI and HTTP alike)."""
    return QUERIES[name].run(store, parse_params(name, raw))
