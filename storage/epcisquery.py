"""``GET /epcis/events``: the captured events (as received) and the events linetrace derives
from its passes and links, read from the store within the token's site and line, matched by
``ingest.epcis.query`` and answered a page at a time.

The SQL narrows what is read by the query's identifiers, times, types, steps and places, by
those the query gives only; the matcher decides. Each source is read up to ``MAX_EVENTS``.
"""

from __future__ import annotations

from collections.abc import Mapping
from operator import itemgetter
from string import Template
from typing import Any

import orjson

from ingest.epcis.capture import item_key
from ingest.epcis.eventhash import Namespaces
from ingest.epcis.mapping import LinkFact, Mapper, PassFact, QcFact, ShipmentFact
from ingest.epcis.query import DERIVED_TYPES, MAX_EVENTS, EventQuery, matches, own_members, without_echoes
from ingest.errors import InvalidInput
from ingest.plant import Plant
from storage import queries
from storage.client import Store
from storage.queries import _SITE_LINE


def _where(conditions: Mapping[str, str], params: Mapping[str, Any]) -> str:
    """The ``conditions`` (constants of this module, by the parameter each binds) of the
    parameters given (not None, '' or empty), joined by AND. chDB analyses every condition a
    query writes, one that cannot narrow too (0.5-1 ms each), so only those are written."""
    given = [sql for name, sql in conditions.items() if params.get(name) not in (None, "", [])]
    return " AND ".join(given) or "1"


def _within(time_column: str) -> dict[str, str]:
    """The conditions of the query's time window over ``time_column`` (a column name, never a
    value) and of the token's site and line."""
    return {
        "ge": f"{time_column} >= fromUnixTimestamp64Micro({{ge:Int64}}, 'UTC')",
        "lt": f"{time_column} < fromUnixTimestamp64Micro({{lt:Int64}}, 'UTC')",
        "site": "site = {site:String}",
        "line": "line = {line:String}",
    }


CAPTURED = Template("""
SELECT document FROM epcis_events FINAL WHERE $where ORDER BY event_time, event_id LIMIT {cap:UInt32}
""")
CAPTURED_CONDITIONS = {
    "types": "has({types:Array(String)}, event_type)",
    **_within("event_time"),
    "steps": "has({steps:Array(String)}, biz_step)",
    "dispositions": "has({dispositions:Array(String)}, disposition)",
    "points": "has({points:Array(String)}, read_point)",
    "locations": "has({locations:Array(String)}, biz_location)",
    "ids": "hasAny(epcs, {ids:Array(String)})",
}
# The error declarations of captured events: an event declared in error is answered with its
# errorDeclaration (EPCIS 2.0 §7.4.1.2).
DECLARATIONS = """
SELECT event_id, declaration FROM epcis_error_declarations FINAL WHERE event_id IN {ids:Array(String)}
"""
DECLARATION_BATCH = 5_000
OWN_PASSES = Template("""
SELECT pass_id, item, station, toUnixTimestamp64Micro(first_seen) AS first_us, revision FROM passes
WHERE $where ORDER BY first_seen LIMIT {cap:UInt32}
""")
OWN_PASSES_CONDITIONS = {"items": "item IN {items:Array(String)}", **_within("first_seen")}
# Links as parent and child. Each link is stored in both key orders (node: the parent in a
# 'down' row, the child in an 'up' one), so the links of the query's items are read by the key
# alone, whichever end they are; a query naming no item reads every 'down' row.
OWN_LINKS = Template("""
SELECT DISTINCT if(direction = 'down', node, other) AS parent, if(direction = 'down', other, node) AS child,
       station, toUnixTimestamp64Micro(time) AS time_us, action, kind, transformation_id
FROM links WHERE $where ORDER BY time LIMIT {cap:UInt32}
""")
OWN_LINKS_CONDITIONS = {
    "items": "node IN {items:Array(String)}",
    "every": "direction = 'down'",
    **_within("time"),
}
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
        "ge": query.ge_us,
        "lt": query.lt_us,
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
    for row in store.query(CAPTURED.substitute(where=_where(CAPTURED_CONDITIONS, narrowed)), narrowed):
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
    narrowed = {**where, "items": items, "every": "" if items else "down"}
    pass_rows = store.query(OWN_PASSES.substitute(where=_where(OWN_PASSES_CONDITIONS, narrowed)), narrowed)
    passes = [PassFact.of(r) for r in queries._latest(pass_rows, itemgetter("pass_id"), "revision")]
    link_rows = store.query(OWN_LINKS.substitute(where=_where(OWN_LINKS_CONDITIONS, narrowed)), narrowed)
    links = [LinkFact.of(r, r["parent"], r["child"]) for r in link_rows]
    judged = sorted({p.item for p in passes})
    qc_rows = store.query(OWN_QC, {**where, "items": judged}) if judged else []
    qc = [QcFact.of(r) for r in qc_rows]
    shipped = queries.shipments(store, judged, where["site"], where["line"])
    shipments = [ShipmentFact.of(r) for rows in shipped.values() for r in rows]
    return Mapper(plant).events(passes, links, qc, shipments)


def members(store: Store, plant: Plant, collection: str, site: str, line: str) -> set[str]:
    """The members of ``collection`` (a key of ``CAPTURED_MEMBERS``) within ``site`` and
    ``line``: those of the captured events and those linetrace's own events can hold."""
    rows = store.query(CAPTURED_MEMBERS[collection], {"site": site, "line": line})
    captured = {str(r["member"]) for r in rows} - {""}
    return captured | own_members(plant, site, line)[collection]
