"""``GET /epcis/events``: the captured events (as received) and the events linetrace derives
from its passes and links, read from the store within the token's site and line, matched by
``ingest.epcis.query`` and answered a page at a time.

The SQL narrows what is read by the query's identifiers, times, types, steps and places; the
matcher decides. Each source is read up to ``MAX_EVENTS``.
"""

from __future__ import annotations

from operator import itemgetter
from typing import Any

import orjson

from ingest.epcis.capture import item_key
from ingest.epcis.eventhash import Namespaces
from ingest.epcis.mapping import LinkFact, Mapper, PassFact, QcFact
from ingest.epcis.query import DERIVED_TYPES, MAX_EVENTS, EventQuery, matches, own_members, without_echoes
from ingest.errors import InvalidInput
from ingest.plant import Plant
from storage import queries
from storage.client import Store
from storage.queries import _SITE_LINE

# Beyond any time a DateTime64(6) holds: the upper bound of a query without LT_eventTime.
_NEVER_US = 9_000_000_000_000_000


def _within(time_column: str) -> str:
    """The query's time window over ``time_column`` (a column name, never a value), within the
    token's site and line."""
    return f"""{time_column} >= fromUnixTimestamp64Micro({{ge:Int64}}, 'UTC')
  AND {time_column} < fromUnixTimestamp64Micro({{lt:Int64}}, 'UTC')
  AND {_SITE_LINE}"""


CAPTURED = f"""
SELECT document FROM epcis_events FINAL
WHERE (empty({{types:Array(String)}}) OR has({{types:Array(String)}}, event_type))
  AND {_within("event_time")}
  AND (empty({{steps:Array(String)}}) OR has({{steps:Array(String)}}, biz_step))
  AND (empty({{dispositions:Array(String)}}) OR has({{dispositions:Array(String)}}, disposition))
  AND (empty({{points:Array(String)}}) OR has({{points:Array(String)}}, read_point))
  AND (empty({{locations:Array(String)}}) OR has({{locations:Array(String)}}, biz_location))
  AND (empty({{ids:Array(String)}}) OR hasAny(epcs, {{ids:Array(String)}}))
ORDER BY event_time, event_id
LIMIT {{cap:UInt32}}
"""
# The error declarations of captured events: an event declared in error is answered with its
# errorDeclaration (EPCIS 2.0 §7.4.1.2).
DECLARATIONS = """
SELECT event_id, declaration FROM epcis_error_declarations FINAL WHERE event_id IN {ids:Array(String)}
"""
DECLARATION_BATCH = 5_000
OWN_PASSES = f"""
SELECT pass_id, item, station, toUnixTimestamp64Micro(first_seen) AS first_us, revision FROM passes
WHERE (empty({{items:Array(String)}}) OR item IN {{items:Array(String)}})
  AND {_within("first_seen")}
ORDER BY first_seen
LIMIT {{cap:UInt32}}
"""
# Links as parent and child. Each link is stored in both key orders (node: the parent in a
# 'down' row, the child in an 'up' one), so the links of the query's items are read by the key
# alone, whichever end they are; a query naming no item reads the 'down' rows.
OWN_LINKS = f"""
SELECT DISTINCT if(direction = 'down', node, other) AS parent, if(direction = 'down', other, node) AS child,
       station, toUnixTimestamp64Micro(time) AS time_us, action, kind, transformation_id
FROM links
WHERE (empty({{items:Array(String)}}) AND direction = 'down' OR node IN {{items:Array(String)}})
  AND {_within("time")}
ORDER BY time
LIMIT {{cap:UInt32}}
"""
OWN_QC = f"""
SELECT DISTINCT item, station, result, toUnixTimestamp64Micro(time) AS time_us
FROM qc_results WHERE item IN {{items:Array(String)}} AND {_SITE_LINE}
"""
# The distinct values of a collection (/epcis/eventTypes ...) among the captured events in scope;
# the business step is stored as its bare CBV word where it is CBV's, as queries name it.
CAPTURED_MEMBERS = {
    "eventTypes": f"SELECT DISTINCT event_type AS member FROM epcis_events FINAL WHERE {_SITE_LINE}",
    "bizSteps": f"SELECT DISTINCT biz_step AS member FROM epcis_events FINAL WHERE {_SITE_LINE}",
    "readPoints": f"SELECT DISTINCT read_point AS member FROM epcis_events FINAL WHERE {_SITE_LINE}",
}


def events(store: Store, plant: Plant, query: EventQuery, site: str, line: str) -> list[dict[str, Any]]:
    """Every event answering ``query`` within ``site`` and ``line`` ('' for all), unordered."""
    where: dict[str, Any] = {
        "ge": query.ge_us or 0,
        "lt": query.lt_us if query.lt_us is not None else _NEVER_US,
        "site": site,
        "line": line,
        "cap": MAX_EVENTS,
    }
    captured = _captured(store, query, where)
    own = (
        _own(store, plant, query, where)
        if set(query.event_types or DERIVED_TYPES) & set(DERIVED_TYPES)
        else []
    )
    return captured + [e for e in without_echoes(own, captured) if matches(e, query)]


def _captured(store: Store, query: EventQuery, where: dict[str, Any]) -> list[dict[str, Any]]:
    narrowed = {
        **where,
        "types": list(query.event_types),
        "steps": list(query.biz_steps),
        "dispositions": list(query.dispositions),
        "points": list(query.read_points),
        "locations": list(query.biz_locations),
        "ids": list(query.identifiers),
    }
    found = []
    for row in store.query(CAPTURED, narrowed):
        event = orjson.loads(row["document"])
        if matches(event, query, Namespaces()):
            found.append(event)
    return with_declarations(store, found)


def with_declarations(store: Store, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The captured ``events``, each declared in error with its errorDeclaration (EPCIS 2.0
    answers an event declared in error with its declaration)."""
    ids = [str(e["eventID"]) for e in events]
    declared = {}
    for start in range(0, len(ids), DECLARATION_BATCH):
        for r in store.query(DECLARATIONS, {"ids": ids[start : start + DECLARATION_BATCH]}):
            declared[str(r["event_id"])] = orjson.loads(r["declaration"])
    for event in events:
        if event["eventID"] in declared:
            event["errorDeclaration"] = declared[event["eventID"]]
    return events


def _own(store: Store, plant: Plant, query: EventQuery, where: dict[str, Any]) -> list[dict[str, Any]]:
    items = []
    for identifier in query.identifiers:
        try:
            items.append(item_key(identifier))
        except InvalidInput:
            continue  # no item of linetrace's: only captured events can name it
    if query.identifiers and not items:
        return []
    narrowed = {**where, "items": items}
    latest = queries._latest(store.query(OWN_PASSES, narrowed), itemgetter("pass_id"), "revision")
    passes = [PassFact.of(r) for r in latest]
    links = [LinkFact.of(r, r["parent"], r["child"]) for r in store.query(OWN_LINKS, narrowed)]
    judged = sorted({p.item for p in passes})
    qc_rows = store.query(OWN_QC, {**where, "items": judged}) if judged else []
    qc = [QcFact.of(r) for r in qc_rows]
    return Mapper(plant).events(passes, links, qc)


def members(store: Store, plant: Plant, collection: str, site: str, line: str) -> set[str]:
    """The members of ``collection`` (a key of ``CAPTURED_MEMBERS``) within ``site`` and
    ``line``: those of the captured events and those linetrace's own events can hold."""
    rows = store.query(CAPTURED_MEMBERS[collection], {"site": site, "line": line})
    captured = {str(r["member"]) for r in rows} - {""}
    return captured | own_members(plant, site, line)[collection]
