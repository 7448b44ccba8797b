"""The named queries of linetrace. SQL is parameterised (``{name:Type}``), never formatted.

Every query takes ``site`` and ``line`` filters; an empty filter means all. A filtered answer
holds only rows stamped with that site and line: passes where they happened, links where
they were made, item states where the item was last read. So an item query (history,
genealogy, trace, recall) filtered to one line shows nothing of the item's life elsewhere,
and the query API's token scopes rely on it (``storage.access``).
"""

from __future__ import annotations

from collections.abc import Callable
from operator import itemgetter
from typing import Any

from ingest.records.bundles import WITHDRAWN
from storage import gapqueries
from storage.client import Store

_SITE_LINE = "({site:String} = '' OR site = {site:String}) AND ({line:String} = '' OR line = {line:String})"

# Point lookups read the raw rows of their key (a few revisions each) and keep the latest
# revision in Python: the same answer as FINAL or argMax for a ReplacingMergeTree, at about
# half the cost of argMax on 100M passes (p50 4.9 ms against 9.7 ms).
ITEM_HISTORY = f"""
SELECT pass_id, first_seen, last_seen, site, line, stage, station, reader_id, reads, outcome, detail,
       product, job, direction, operator, revision
FROM passes
WHERE item = {{item:String}} AND {_SITE_LINE}
"""

# The point lookups of a trace read the key-value serving tables (storage/serving.py): one
# row per key, its elements (passes, closure rows) as arrays, the latest revision of each,
# withdrawn passes kept as tombstones: ~1-2 ms a lookup against 4-10 ms for the record. The
# arrays are taken apart in Python (``_elements``), which costs less than ARRAY JOIN and a
# filter in SQL; times are stored as DateTime64, since converting integers in the query
# costs ~1 ms more (docs/architecture.md, "Key-value serving tables"). ``Store.serving``
# off reads the record instead.
KV_ITEM_HISTORY = """
SELECT pass_id, first_seen, last_seen, site, line, stage, station, reader_id, reads, outcome, detail,
       product, job, direction, operator, revision
FROM kv_passes
WHERE item = {item:String}
"""


def _elements(rows: list[dict[str, Any]], site: str, line: str) -> list[dict[str, Any]]:
    """The elements of serving rows (arrays, one element per pass or closure row) as rows of the
    record: a row's other columns copied onto each, tombstones and rows outside the filter left out."""
    out: list[dict[str, Any]] = []
    for row in rows:
        arrays = [k for k, v in row.items() if isinstance(v, list)]
        scalars = {k: v for k, v in row.items() if not isinstance(v, list)}
        for values in zip(*(row[k] for k in arrays), strict=True):
            element = {**scalars, **dict(zip(arrays, values, strict=True))}
            if element.get("outcome") != WITHDRAWN and _within(element, site, line):
                out.append(element)
    return out


ITEM_STATES = """
SELECT item, site, line, product, job, stage, station, status, parent, last_seen, revision
FROM item_state
WHERE item IN {items:Array(String)}
"""

KV_ITEM_STATES = """
SELECT item, site, line, product, job, stage, station, status, parent, last_seen, revision
FROM kv_item_state
WHERE item IN {items:Array(String)}
"""


def _latest(
    rows: list[dict[str, Any]], key: Callable[[dict[str, Any]], Any], version: str
) -> list[dict[str, Any]]:
    """The row of the highest ``version`` per ``key`` (ReplacingMergeTree semantics), without it."""
    best: dict[Any, dict[str, Any]] = {}
    for row in rows:
        k = key(row)
        kept = best.get(k)
        if kept is None or row[version] >= kept[version]:
            best[k] = row
    for row in best.values():
        del row[version]
    return list(best.values())


ITEM_KNOWN = """
SELECT
    (SELECT count() FROM (SELECT 1 FROM item_state WHERE item = {item:String} LIMIT 1))
  + (SELECT count() FROM (SELECT 1 FROM genealogy WHERE node = {item:String} LIMIT 1)) AS found
"""


def item_known(store: Store, item: str) -> bool:
    """Whether anything of the item is stored: a state (read, held, bound) or a link."""
    return int(store.query(ITEM_KNOWN, {"item": item})[0]["found"]) > 0


PLACES = "SELECT DISTINCT site, line FROM stations"


def places(store: Store) -> list[tuple[str, str]]:
    """Every (site, line) of the plant the worker published to the store."""
    return [(str(r["site"]), str(r["line"])) for r in store.query(PLACES)]


HOLD_EVENTS = f"""
SELECT hold_id, item, site, line, hold_type, owner, reason, event, time
FROM holds FINAL
WHERE hold_id = {{hold_id:String}} AND via = '' AND {_SITE_LINE}
ORDER BY time, item, event
"""


def hold_events(store: Store, hold_id: str, site: str = "", line: str = "") -> list[dict[str, Any]]:
    """A hold's placements and releases, per item, as they were posted."""
    return store.query(HOLD_EVENTS, {"hold_id": hold_id, **_filters(site, line)})


# An item held before it is first read (a supplier lot quarantined before it arrives) is
# listed with no last read, not with the epoch.
HELD_ITEMS = f"""
SELECT item, site, line, product, job, stage, station, status, if(passes > 0, last_seen, NULL) AS last_seen
FROM item_state FINAL
WHERE on_hold = 1 AND {_SITE_LINE}
ORDER BY site, line, item
LIMIT {{limit:UInt32}}
"""

# Each partition's latest WIP histogram of each stage (the stream's rollup, one row per
# stage and partition), one row per bucket: ``last_read`` its minute, ``n`` its items.
_WIP_BUCKETS = f"""(
    SELECT site, line, stage, toDateTime(m * 60, 'UTC') AS last_read, n
    FROM (
        SELECT site, line, stage, partition,
               argMax(minutes, revision) AS ms, argMax(minute_items, revision) AS ns
        FROM wip_counts
        WHERE {_SITE_LINE}
        GROUP BY site, line, stage, partition
    )
    ARRAY JOIN ms AS m, ns AS n
)"""

WIP_BY_STAGE = f"""
SELECT site, line, stage, sum(n) AS items
FROM {_WIP_BUCKETS}
GROUP BY site, line, stage
ORDER BY site, line, stage
"""

# The line board's columns: per stage, the items in process, those whose last read is
# older_than_s ago or more (to the minute), and the longest wait among them.
WIP_FLOW = f"""
SELECT site, line, stage, sum(n) AS items,
       sumIf(n, last_read <= now() - toIntervalSecond({{older_than_s:UInt32}})) AS waiting,
       if(waiting = 0, 0, dateDiff('second', min(last_read), now())) AS oldest_s
FROM {_WIP_BUCKETS}
GROUP BY site, line, stage
ORDER BY site, line, stage
"""


# Passes per station and minute are the latest count of each partition (FINAL keeps the
# highest revision per sorting key, as argMax would), summed; each station's planned rate is
# the latest the worker wrote (stations FINAL). On 100M passes FINAL and a join USING the
# station take half the time of argMax per group and a join on argMax per station
# (docs/architecture.md, "Key-value serving tables").
def _throughput(bucket: str, start: str, target: str) -> str:
    """Passes per station per ``bucket`` (the bucket's start is ``start`` of the minute
    counted), beside the station's target per bucket (``target`` of its per_hour)."""
    return f"""
SELECT site, line, station, stage, {bucket}, passes, {target} AS target
FROM (
    SELECT site, line, station, stage, {start} AS {bucket}, sum(passes) AS passes
    FROM pass_counts FINAL
    WHERE {_SITE_LINE}
      AND minute >= {{since:DateTime64(6, 'UTC')}} AND minute < {{until:DateTime64(6, 'UTC')}}
    GROUP BY site, line, station, stage, {bucket}
) AS t
LEFT JOIN (SELECT site, line, station, target_per_hour AS per_hour FROM stations FINAL) AS g
    USING (site, line, station)
ORDER BY {bucket}, site, line, station
"""


THROUGHPUT = _throughput("minute", "minute", "round(per_hour / 60, 2)")
THROUGHPUT_HOURLY = _throughput("hour", "toStartOfHour(minute)", "per_hour")

WIP_BY_JOB = f"""
SELECT site, line, job, stage, count() AS items
FROM item_state FINAL
WHERE status = 'in_process' AND {_SITE_LINE}
GROUP BY site, line, job, stage
ORDER BY site, line, job, stage
"""

WIP_AGEING = f"""
SELECT item, site, line, product, job, stage, station, last_seen,
       dateDiff('second', last_seen, now64(6)) AS waiting_s
FROM item_state FINAL
WHERE status = 'in_process' AND {_SITE_LINE}
  AND last_seen <= now64(6) - toIntervalSecond({{older_than_s:UInt32}})
ORDER BY last_seen, item
LIMIT {{limit:UInt32}}
"""

# Time from an item's first read at a stage to its first read at the next stage it reached.
CYCLE_TIME = f"""
SELECT site, line, stage, count() AS items,
       round(avg(seconds), 3) AS avg_s, round(quantileExact(0.5)(seconds), 3) AS p50_s,
       round(quantileExact(0.9)(seconds), 3) AS p90_s
FROM (
    SELECT site, line, stage,
           (toUnixTimestamp64Micro(next_seen) - toUnixTimestamp64Micro(first_seen)) / 1e6 AS seconds
    FROM (
        SELECT site, line, item, stage, first_seen,
               leadInFrame(first_seen) OVER (
                   PARTITION BY item ORDER BY first_seen, pass_id
                   ROWS BETWEEN CURRENT ROW AND 1 FOLLOWING) AS next_seen,
               leadInFrame(stage) OVER (
                   PARTITION BY item ORDER BY first_seen, pass_id
                   ROWS BETWEEN CURRENT ROW AND 1 FOLLOWING) AS next_stage
        FROM passes FINAL
        WHERE {_SITE_LINE}
          AND first_seen >= {{since:DateTime64(6, 'UTC')}} AND first_seen < {{until:DateTime64(6, 'UTC')}}
    )
    WHERE next_stage != '' AND next_stage != stage
)
GROUP BY site, line, stage
ORDER BY site, line, stage
"""

# Per operator and stage, over the passes of scans that carried an operator: how many
# passes and items, how many were violations, and the rate while they were scanning.
OPERATOR_PERFORMANCE = f"""
SELECT operator, site, line, stage, count() AS passes, uniqExact(item) AS items,
       countIf(outcome != 'movement') AS violations,
       round(countIf(outcome != 'movement') / count(), 4) AS violation_rate,
       min(first_seen) AS first_pass, max(last_seen) AS last_pass,
       round(count() * 3600 / greatest(dateDiff('second', first_pass, last_pass), 60), 1) AS passes_per_hour
FROM passes FINAL
WHERE operator != '' AND {_SITE_LINE}
  AND first_seen >= {{since:DateTime64(6, 'UTC')}} AND first_seen < {{until:DateTime64(6, 'UTC')}}
GROUP BY operator, site, line, stage
ORDER BY site, line, stage, operator
"""

THROUGHPUT_TOTAL = f"""
SELECT site, line, station, stage, sum(latest) AS passes
FROM (
    SELECT site, line, station, stage, minute, partition, argMax(passes, revision) AS latest
    FROM pass_counts
    WHERE {_SITE_LINE}
    GROUP BY site, line, station, stage, minute, partition
)
GROUP BY site, line, station, stage
ORDER BY site, line, station
"""

VIOLATIONS = f"""
SELECT time, site, line, station, stage, item, type, detail, missing, product, job, pass_id
FROM violations FINAL
WHERE retracted = 0 AND {_SITE_LINE} AND ({{type:String}} = '' OR type = {{type:String}})
ORDER BY time DESC, pass_id
LIMIT {{limit:UInt32}}
"""

READ_RATES = f"""
SELECT site, line, stage, sum(observed) AS observed, sum(read) AS read,
       if(observed = 0, 0, read / observed) AS read_rate
FROM portal_read_rates FINAL
WHERE {_SITE_LINE}
GROUP BY site, line, stage
ORDER BY site, line, stage
"""

VIOLATIONS_BY_TYPE = f"""
SELECT type, count() AS violations
FROM violations FINAL
WHERE retracted = 0 AND {_SITE_LINE}
GROUP BY type
ORDER BY violations DESC, type
"""

READ_TOTALS = f"""
SELECT count() AS reports, sum(entries) AS reads, sum(read_count) AS raw_reads
FROM read_cycles FINAL
WHERE {_SITE_LINE}
"""

ITEM_TOTALS = f"""
SELECT count() AS items, countIf(status = 'in_process') AS in_process,
       countIf(status = 'complete') AS complete, countIf(status = 'assembled') AS assembled,
       countIf(status = 'unknown') AS unknown
FROM item_state FINAL
WHERE passes > 0 AND {_SITE_LINE}
"""

PASS_TOTALS = f"""
SELECT count() AS passes, countIf(outcome = 'movement') AS movements
FROM passes FINAL
WHERE {_SITE_LINE}
"""

DEAD_LETTERS = """
SELECT reason, count() AS records
FROM dead_letters FINAL
GROUP BY reason
ORDER BY records DESC, reason
"""

SAMPLE_PARENT = f"""
SELECT node AS item, count() AS children
FROM links FINAL
WHERE direction = 'down' AND {_SITE_LINE}
GROUP BY node
ORDER BY max(time) DESC, node
LIMIT 1
"""

# Rows stored so far, without FINAL: cheap enough to poll while a load runs.
PROGRESS = """
SELECT (SELECT count() FROM read_cycles) AS read_cycle_rows,
       (SELECT count() FROM passes) AS pass_rows,
       (SELECT count() FROM dead_letters) AS dead_letter_rows,
       (SELECT count() FROM epcis_events) AS epcis_event_rows
"""

# Passes first seen in a window, each once with its latest verdict (FINAL: count() alone
# counts revisions), and the violations of those passes, open and retracted: whether a run
# was stored complete and judged as expected (the bench checks each of its phases with it).
VERDICTS = f"""
SELECT p.passes AS passes, p.movements AS movements,
       v.violations_open AS violations_open, v.retracted_violations AS retracted_violations
FROM (
    SELECT count() AS passes, countIf(outcome = 'movement') AS movements
    FROM passes FINAL
    WHERE {_SITE_LINE}
      AND first_seen >= {{since:DateTime64(6, 'UTC')}} AND first_seen < {{until:DateTime64(6, 'UTC')}}
) AS p
CROSS JOIN (
    SELECT countIf(retracted = 0) AS violations_open, countIf(retracted = 1) AS retracted_violations
    FROM violations FINAL
    WHERE {_SITE_LINE} AND time >= {{since:DateTime64(6, 'UTC')}} AND time < {{until:DateTime64(6, 'UTC')}}
) AS v
"""


def _filters(site: str, line: str) -> dict[str, Any]:
    return {"site": site, "line": line}


def item_history(store: Store, item: str, site: str = "", line: str = "") -> list[dict[str, Any]]:
    if store.serving:
        rows = _elements(store.query(KV_ITEM_HISTORY, {"item": item}), site, line)
    else:
        rows = store.query(ITEM_HISTORY, {"item": item, **_filters(site, line)})
    return sorted(_latest(rows, itemgetter("pass_id"), "revision"), key=itemgetter("first_seen", "pass_id"))


# Every closure row of an item in one direction; the latest version of each pair counts
# (a member that was unpacked has present = 0 there).
CLOSURE = """
SELECT other AS item, depth, present, version, station, time, site, line
FROM genealogy
WHERE node = {item:String} AND direction = {direction:String}
"""

KV_CLOSURE = """
SELECT other AS item, depth, present, version, station, time, site, line
FROM kv_genealogy
WHERE node = {item:String} AND direction = {direction:String}
"""

# A recall of a raw-material lot can reach far; beyond this many items the answer is cut.
MAX_GENEALOGY_ITEMS = 100_000


def genealogy(
    store: Store, item: str, direction: str, site: str = "", line: str = ""
) -> list[dict[str, Any]]:
    """What is in an item (``down``) or what it is in (``up``), at any depth, with each one's
    current state: one lookup in the closure the stream maintains, one for states. Unpacked
    members are no longer in it (the links keep the history)."""
    found = _closure(store, item, direction, site, line)
    if found:
        states = {s["item"]: s for s in item_states(store, [f["item"] for f in found], site, line)}
        for f in found:
            state = states.get(f["item"], {})
            f.update({k: state.get(k, "") for k in ("product", "job", "stage", "status")})
    return found


def _closure(store: Store, item: str, direction: str, site: str, line: str) -> list[dict[str, Any]]:
    """The items of an item's closure in ``direction`` that are in it now, nearest first."""
    if direction not in ("up", "down"):
        raise ValueError("direction must be 'up' or 'down'")
    params = {"item": item, "direction": direction}
    found = (
        _elements(store.query(KV_CLOSURE, params), "", "") if store.serving else store.query(CLOSURE, params)
    )
    rows = _latest(found, itemgetter("item"), "version")
    return sorted(
        (
            {"item": r["item"], "depth": r["depth"], "station": r["station"], "time": r["time"]}
            for r in rows
            if r["present"] and _within(r, site, line)
        ),
        key=itemgetter("depth", "item"),
    )[:MAX_GENEALOGY_ITEMS]


def _within(row: dict[str, Any], site: str, line: str) -> bool:
    return site in ("", row["site"]) and line in ("", row["line"])


def item_states(store: Store, items: list[str], site: str = "", line: str = "") -> list[dict[str, Any]]:
    """The current state of each item (an item never stored, or last read outside the filter, is
    absent)."""
    sql = KV_ITEM_STATES if store.serving else ITEM_STATES
    latest = _latest(store.query(sql, {"items": items}), itemgetter("item"), "revision")
    return [s for s in latest if _within(s, site, line)]


TRACE_PASSES = f"""
SELECT item, pass_id, first_seen, station, stage, outcome, job, revision
FROM passes
WHERE item IN {{items:Array(String)}} AND {_SITE_LINE}
"""

# A trace's states and passes in one lookup: each item joined to its serving rows by key
# (``direct``: a key lookup per item, not a scan), the state's columns prefixed ``state_``.
KV_TRACE = """
SELECT i.item AS item, s.item AS state_item, s.site AS state_site, s.line AS state_line,
       s.product AS state_product, s.job AS state_job, s.stage AS state_stage, s.status AS state_status,
       p.pass_id AS pass_id, p.first_seen AS first_seen,
       p.station AS station, p.stage AS stage, p.outcome AS outcome, p.job AS job, p.revision AS revision,
       p.site AS site, p.line AS line
FROM (SELECT arrayJoin({items:Array(String)}) AS item) AS i
LEFT JOIN kv_item_state AS s ON s.item = i.item
LEFT JOIN kv_passes AS p ON p.item = i.item
SETTINGS join_algorithm = 'direct'
"""
_TRACE_PASS_COLUMNS = (
    "pass_id",
    "first_seen",
    "station",
    "stage",
    "outcome",
    "job",
    "revision",
    "site",
    "line",
)


def trace(store: Store, item: str, direction: str, site: str = "", line: str = "") -> dict[str, Any]:
    """Genealogy up or down with every pass of every item found (and of the item itself)."""
    if store.serving:
        nodes, found = _served_trace(store, item, direction, site, line)
    else:
        nodes = genealogy(store, item, direction, site, line)
        items = [item, *(n["item"] for n in nodes)]
        found = store.query(TRACE_PASSES, {"items": items, **_filters(site, line)})
    rows = _latest(found, itemgetter("item", "pass_id"), "revision")
    passes = sorted(rows, key=itemgetter("item", "first_seen", "pass_id"))
    for p in passes:
        del p["pass_id"]
    return {"item": item, "direction": direction, "nodes": nodes, "passes": passes}


def _served_trace(
    store: Store, item: str, direction: str, site: str, line: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A trace's nodes with their states, and its passes, from the serving tables: the closure,
    then each item's state and passes in one lookup (KV_TRACE)."""
    nodes = _closure(store, item, direction, site, line)
    found = store.query(KV_TRACE, {"items": [item, *(n["item"] for n in nodes)]})
    states = {
        r["item"]: r
        for r in found
        if r["state_item"] and _within({"site": r["state_site"], "line": r["state_line"]}, site, line)
    }
    for n in nodes:
        state = states.get(n["item"], {})
        n.update({k: state.get(f"state_{k}", "") for k in ("product", "job", "stage", "status")})
    passes = []
    for r in found:
        for values in zip(*(r[k] for k in _TRACE_PASS_COLUMNS), strict=True):
            p = dict(zip(_TRACE_PASS_COLUMNS, values, strict=True))
            if p["outcome"] != WITHDRAWN and _within(p, site, line):
                del p["site"], p["line"]
                passes.append({"item": r["item"], **p})
    return nodes, passes


def recall(store: Store, item: str, site: str = "", line: str = "") -> list[dict[str, Any]]:
    """Recall scope of an item or lot: the item and everything it is in now (assembled,
    packed or transformed into, at any depth), each with its current stage, job and status,
    and the shipments it left in and their destinations (``TYPE:ID``, in time order)."""
    reached = genealogy(store, item, "up", site, line)
    own = item_states(store, [item], site, line)
    state = own[0] if own else {}
    itself = {"depth": 0, "item": item, "via": "", "station": "", "time": None}
    itself.update({k: state.get(k, "") for k in ("product", "job", "stage", "status")})
    scope = [itself, *reached]
    shipped = shipments(store, [r["item"] for r in scope], site, line)
    for r in scope:
        found = shipped.get(r["item"], [])
        r["shipments"] = _typed(found, "transaction_types", "transactions")
        r["destinations"] = _typed(found, "destination_types", "destinations")
    return scope


SHIPMENTS = f"""
SELECT DISTINCT item, shipment_id, site, line, station, toUnixTimestamp64Micro(time) AS time_us,
       transaction_types, transactions, destination_types, destinations
FROM shipments
WHERE item IN {{items:Array(String)}} AND {_SITE_LINE}
"""


def shipments(
    store: Store, items: list[str], site: str = "", line: str = ""
) -> dict[str, list[dict[str, Any]]]:
    """The shipments each of ``items`` left in, in time order (items never shipped are absent)."""
    found: dict[str, list[dict[str, Any]]] = {}
    rows = store.query(SHIPMENTS, {"items": items, **_filters(site, line)}) if items else []
    for r in sorted(rows, key=itemgetter("time_us", "shipment_id")):
        found.setdefault(r["item"], []).append(r)
    return found


def _typed(shipments: list[dict[str, Any]], types: str, ids: str) -> list[str]:
    """The distinct ``TYPE:ID`` (``ID`` when no type was told) of the shipments' ``ids``."""
    out = (f"{t}:{i}" if t else i for s in shipments for t, i in zip(s[types], s[ids], strict=True))
    return list(dict.fromkeys(out))


def held_items(store: Store, site: str = "", line: str = "", limit: int = 1000) -> list[dict[str, Any]]:
    """Items under a hold now (placed on them or on anything they were made from)."""
    return store.query(HELD_ITEMS, {"limit": limit, **_filters(site, line)})


def wip_by_stage(store: Store, site: str = "", line: str = "") -> list[dict[str, Any]]:
    return store.query(WIP_BY_STAGE, _filters(site, line))


def wip_flow(store: Store, older_than_s: int, site: str = "", line: str = "") -> list[dict[str, Any]]:
    """Per stage: items in process, how many have waited ``older_than_s`` or longer, the longest wait."""
    return store.query(WIP_FLOW, {"older_than_s": older_than_s, **_filters(site, line)})


def throughput(
    store: Store, since: Any, until: Any, site: str = "", line: str = "", bucket: str = "minute"
) -> list[dict[str, Any]]:
    """Passes per station per minute (or per hour), from the idempotent rollup."""
    sql = THROUGHPUT_HOURLY if bucket == "hour" else THROUGHPUT
    return store.query(sql, {"since": since, "until": until, **_filters(site, line)})


def wip_by_job(store: Store, site: str = "", line: str = "") -> list[dict[str, Any]]:
    return store.query(WIP_BY_JOB, _filters(site, line))


def wip_ageing(
    store: Store, older_than_s: int, site: str = "", line: str = "", limit: int = 1000
) -> list[dict[str, Any]]:
    """Items in process whose last read is older than ``older_than_s``, longest waiting first."""
    return store.query(WIP_AGEING, {"older_than_s": older_than_s, "limit": limit, **_filters(site, line)})


def cycle_time(store: Store, since: Any, until: Any, site: str = "", line: str = "") -> list[dict[str, Any]]:
    """Per stage: how long items take from their first read there to the next stage they reach."""
    return store.query(CYCLE_TIME, {"since": since, "until": until, **_filters(site, line)})


def operator_performance(
    store: Store, since: Any, until: Any, site: str = "", line: str = ""
) -> list[dict[str, Any]]:
    """Passes, items and violations per operator and stage; the rate counts at least a minute."""
    return store.query(OPERATOR_PERFORMANCE, {"since": since, "until": until, **_filters(site, line)})


def verdicts(store: Store, since: Any, until: Any, site: str = "", line: str = "") -> list[dict[str, Any]]:
    """One row: passes first seen in the window (each once), how many are movements, and their
    open and retracted violations."""
    return store.query(VERDICTS, {"since": since, "until": until, **_filters(site, line)})


def throughput_total(store: Store, site: str = "", line: str = "") -> list[dict[str, Any]]:
    return store.query(THROUGHPUT_TOTAL, _filters(site, line))


def violations(
    store: Store, site: str = "", line: str = "", type_: str = "", limit: int = 100
) -> list[dict[str, Any]]:
    """Open violations, newest first; a skipped stage carries ``p_missed_read``: the chance
    that the item did pass the missing stages and only their reads were missed
    (``storage.missedread``), or null while its line has too few passes to tell."""
    rows = store.query(VIOLATIONS, {"type": type_, "limit": limit, **_filters(site, line)})
    if any(r["missing"] for r in rows):
        for r, chance in zip(rows, gapqueries.score_violations(store, rows), strict=True):
            r["p_missed_read"] = chance
    return rows


def read_rates(store: Store, site: str = "", line: str = "") -> list[dict[str, Any]]:
    """Per route stage: items seen downstream of it, how many were read there, the rate."""
    return store.query(READ_RATES, _filters(site, line))


def summary(store: Store, site: str = "", line: str = "") -> dict[str, Any]:
    """Everything a plant person asks first, in one answer. Dead letters carry no site or line
    (they could not be read as one), so only the unfiltered summary counts them."""
    f = _filters(site, line)
    sample = store.query(SAMPLE_PARENT, f)
    trace: dict[str, Any] = {}
    if sample:
        parent = sample[0]["item"]
        trace = {"item": parent, "down": genealogy(store, parent, "down", site, line)}
    return {
        "reads": store.query(READ_TOTALS, f)[0],
        "items": store.query(ITEM_TOTALS, f)[0],
        "passes": store.query(PASS_TOTALS, f)[0],
        "violations_by_type": store.query(VIOLATIONS_BY_TYPE, f),
        "skipped_stages": violations(store, site, line, "skipped_stage", 5),
        "wip_by_stage": wip_by_stage(store, site, line),
        "read_rates": read_rates(store, site, line),
        "throughput_by_station": throughput_total(store, site, line),
        "dead_letters": store.query(DEAD_LETTERS) if not site and not line else [],
        "genealogy": trace,
    }
