"""The named queries, in one table that the CLI (``linetrace query``) and the query API both
take their queries from: each query's parameters (parsed from text, CLI and HTTP alike), its
answer's columns (the API's typed response model is made from them) and what runs it."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel

from ingest.errors import InvalidInput, NotFound
from ingest.records.rows import (
    HoldRow,
    ItemStateRow,
    JobEventRow,
    PassRow,
    QcResultRow,
    ViolationRow,
    columns,
)
from ingest.schema import JOB_EVENTS, VIOLATION_TYPES
from storage import cardqueries, jobqueries, queries
from storage.client import Store
from storage.querytable import (
    DIRECTION,
    FILTERS,
    ITEM,
    LIMIT_1000,
    Columns,
    Param,
    Params,
    Query,
    columns_of,
    model,
    rows,
    window,
)


def _window(p: Params) -> tuple[datetime, datetime]:
    now = datetime.now(UTC)
    since = p["since"] or now - timedelta(minutes=p["minutes"])
    return since, p["until"] or now + timedelta(minutes=1)


def _where(p: Params) -> tuple[str, str]:
    return p["site"], p["line"]


PLACE: Columns = {"site": str, "line": str}
STATE: Columns = columns_of(ItemStateRow, "product", "job", "stage", "status")
NODE: Columns = {"item": str, "depth": int, "station": str, "time": datetime, **STATE}
PASS: Columns = columns_of(
    PassRow,
    *("pass_id", "first_seen", "last_seen", "site", "line", "stage", "station", "reader_id", "reads"),
    *("outcome", "detail", "product", "job", "direction", "operator"),
)
TRACE_PASS: Columns = columns_of(PassRow, "item", "first_seen", "station", "stage", "outcome", "job")
VIOLATION: Columns = {
    **columns_of(ViolationRow, "time", "site", "line", "station", "stage", "item", "type", "detail"),
    **columns_of(ViolationRow, "missing", "product", "job", "pass_id"),
    "p_missed_read": (float | None, None),  # skipped stages only
}
HOLD_EVENT: Columns = columns_of(HoldRow, "hold_id", "item", "hold_type", "owner", "reason", "event", "time")
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
        "Recall scope: the item and everything it is in, at any depth, with stage, job and status, "
        "and the shipments (TYPE:REF) and destinations (TYPE:URI) each left in.",
        (ITEM, *FILTERS),
        rows(
            "RecallItem",
            {
                **NODE,
                "time": datetime | None,
                "via": (str | None, None),
                "shipments": (list[str], []),
                "destinations": (list[str], []),
            },
        ),
        lambda s, p: queries.recall(s, p["item"], *_where(p)),
    ),
    "wip": Query(
        "Items in process by stage.",
        FILTERS,
        rows("Wip", WIP),
        lambda s, p: queries.wip_by_stage(s, *_where(p)),
    ),
    "wip_flow": Query(
        "Items in process by stage, how many have waited older_than_s or longer (to the minute), "
        "and the longest wait: the line board's columns.",
        (Param("older_than_s", "Seconds (default 900).", int, 900, minimum=0), *FILTERS),
        rows("WipFlow", {**WIP, "waiting": int, "oldest_s": int}),
        lambda s, p: queries.wip_flow(s, p["older_than_s"], *_where(p)),
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
            Param("type", "Only this violation type.", choices=VIOLATION_TYPES),
            Param("limit", "At most this many (default 100).", int, 100, minimum=1),
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
        rows("HeldItem", {"item": str, **PLACE, **STATE, "station": str, "last_seen": datetime | None}),
        lambda s, p: queries.held_items(s, *_where(p), p["limit"]),
    ),
    "hold": Query(
        "A hold's placements and releases, per item, as posted.",
        (Param("hold_id", "The hold's id.", required=True), *FILTERS),
        rows("HoldEvent", {**PLACE, **HOLD_EVENT}),
        lambda s, p: queries.hold_events(s, p["hold_id"], *_where(p)),
    ),
    "wip_by_job": Query(
        "Items in process by job and stage.",
        FILTERS,
        rows("JobWip", {**PLACE, "job": str, "stage": str, "items": int}),
        lambda s, p: queries.wip_by_job(s, *_where(p)),
    ),
    "wip_ageing": Query(
        "Items in process not read for longer than older_than_s, longest waiting first.",
        (Param("older_than_s", "Seconds (default 900).", int, 900, minimum=0), LIMIT_1000, *FILTERS),
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
    "jobs": Query(
        "Every job with its plan (quantity, planned start, due, target rate) and items complete; "
        "no due date reads as 1970-01-01.",
        (Param("job", "Only this job."), *FILTERS),
        rows(
            "Job",
            {
                **JOB,
                "planned_start": datetime,
                "due": datetime,
                "target_rate_per_h": float,
                "done": int,
            },
        ),
        lambda s, p: jobqueries.jobs(s, p["job"], *_where(p)),
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
    "item_holds": Query(
        "Holds placed on an item itself: type, owner, reason, placed, released (null: in force).",
        (ITEM, *FILTERS),
        rows(
            "ItemHold",
            {
                **columns_of(HoldRow, "hold_id", "site", "line", "hold_type", "owner", "reason"),
                "placed": datetime,
                "released": datetime | None,
            },
        ),
        lambda s, p: cardqueries.item_holds(s, p["item"], *_where(p)),
    ),
    "qc_results": Query(
        "QC results, newest first, of an item or a job (or every one).",
        (Param("item", "Only this item."), Param("job", "Only this job."), LIMIT_1000, *FILTERS),
        rows("QcRecord", columns_of(QcResultRow, *columns("qc_results"))),
        lambda s, p: cardqueries.qc_results(s, p["item"], p["job"], *_where(p), p["limit"]),
    ),
    "job_events": Query(
        "A job's events as posted, newest first: created, items bound, blockers opened and "
        "resolved, delays, ready for dispatch.",
        (
            Param("job", "Only this job."),
            Param("event", "Only this event.", choices=JOB_EVENTS),
            LIMIT_1000,
            *FILTERS,
        ),
        rows("JobEventRecord", columns_of(JobEventRow, *JobEventRow.__annotations__)),
        lambda s, p: cardqueries.job_events(s, p["job"], p["event"], *_where(p), p["limit"]),
    ),
    "job_items": Query(
        "Every item of a job: its stage, station, status, whether it is held, its last read.",
        (Param("job", "The job.", required=True), LIMIT_1000, *FILTERS),
        rows(
            "JobItem",
            {
                "item": str,
                **PLACE,
                **columns_of(ItemStateRow, "product", "stage", "station", "status", "on_hold"),
                "last_seen": datetime | None,
            },
        ),
        lambda s, p: cardqueries.job_items(s, p["job"], *_where(p), p["limit"]),
    ),
    "carriers": Query(
        "Carriers (cases, pallets, kits) and the items in them now, one row per item, with "
        "where the carrier is.",
        (Param("status", "Only carriers of this status (e.g. complete)."), LIMIT_1000, *FILTERS),
        rows(
            "CarrierItem",
            {
                "carrier": str,
                **PLACE,
                "carrier_stage": str,  # '' when the carrier itself was never read
                "carrier_status": str,
                "item": str,
                **columns_of(ItemStateRow, "product", "job", "status"),
            },
        ),
        lambda s, p: cardqueries.carriers(s, p["status"], *_where(p), p["limit"]),
    ),
    "progress": Query(
        "Rows stored so far, every site (cheap; for load tests; plant-wide tokens only).",
        (),
        model(
            "Progress",
            dict.fromkeys(("read_cycle_rows", "pass_rows", "dead_letter_rows", "epcis_event_rows"), int),
        ),
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


# The queries about one item: an item linetrace has never heard of is said to be unknown
# (an empty answer would read as "known, with nothing to show").
ABOUT_AN_ITEM = frozenset({"history", "genealogy", "trace", "recall"})


def parse_params(name: str, raw: Mapping[str, str]) -> dict[str, Any]:
    """The parameters of query ``name`` parsed from text; others are ignored."""
    if name not in QUERIES:
        raise InvalidInput("unknown_query", f"{name!r}; known: {', '.join(QUERIES)}")
    params = {p.name: p.parse(raw.get(p.name)) for p in QUERIES[name].params}
    if params.get("since") and params.get("until") and params["since"] >= params["until"]:
        raise InvalidInput("bad_parameter", "since must be before until")
    return params


def run_query(store: Store, name: str, raw: Mapping[str, str]) -> Any:
    """The answer of query ``name`` to parameters given as text (CLI and HTTP alike)."""
    params = parse_params(name, raw)
    if params.get("site") or params.get("line"):
        _check_place(store, params.get("site", ""), params.get("line", ""))
    if name in ABOUT_AN_ITEM and not queries.item_known(store, params["item"]):
        raise NotFound("unknown_item", f"no read, state or link of {params['item']} is stored")
    return QUERIES[name].run(store, params)


def _check_place(store: Store, site: str, line: str) -> None:
    """InvalidInput unless the plant the worker published has the site (and line)."""
    places = queries.places(store)
    if not places:  # no worker has published the plant to this store yet
        return
    sites = sorted({s for s, _ in places})
    if site and site not in sites:
        raise InvalidInput("bad_parameter", f"site: {site!r} is not in the plant; known: {', '.join(sites)}")
    lines = sorted({ln for s, ln in places if site in ("", s)})
    if line and line not in lines:
        where = f"a line of site {site}" if site else "a line of the plant"
        raise InvalidInput("bad_parameter", f"line: {line!r} is not {where}; known: {', '.join(lines)}")
