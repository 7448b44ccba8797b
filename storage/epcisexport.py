"""A recall's scope as an EPCIS 2.0 document: the item, what is in it (``down``) or what it is
in (``up``), every pass of each, the links between them and the shipments each left in, read
from the store and mapped by ``ingest.epcis.mapping``; and the captured events naming them, as
received, in place of the events derived from what they made (``ingest.epcis.scope``)."""

from __future__ import annotations

from operator import itemgetter
from typing import Any

import orjson

from ingest.epcis.mapping import LinkFact, Mapper, PassFact, QcFact, ShipmentFact, document
from ingest.epcis.scope import identifiers, scope_events
from ingest.plant import Plant
from ingest.timefmt import now_us
from storage import queries
from storage.client import Store
from storage.epcisquery import with_declarations
from storage.queries import _SITE_LINE

SCOPE_PASSES = f"""
SELECT pass_id, item, station, toUnixTimestamp64Micro(first_seen) AS first_us, revision
FROM passes WHERE item IN {{items:Array(String)}} AND {_SITE_LINE}
"""
# Down: every link out of a parent in scope (what was ever packed into it); up: every link
# into a child in scope (what it was ever packed into).
SCOPE_LINKS = f"""
SELECT DISTINCT node, other, station, toUnixTimestamp64Micro(time) AS time_us, action, kind,
       transformation_id
FROM links WHERE direction = {{direction:String}} AND node IN {{items:Array(String)}} AND {_SITE_LINE}
"""
SCOPE_QC = f"""
SELECT DISTINCT item, station, result, toUnixTimestamp64Micro(time) AS time_us
FROM qc_results WHERE item IN {{items:Array(String)}} AND {_SITE_LINE}
"""

# The captured events naming an identifier of the scope (``ingest.epcis.scope`` decides which
# belong to it).
SCOPE_CAPTURED = f"""
SELECT document FROM epcis_events FINAL
WHERE hasAny(epcs, {{ids:Array(String)}}) AND {_SITE_LINE}
"""


def scope_items(store: Store, item: str, direction: str, site: str = "", line: str = "") -> list[str]:
    """The item and what the genealogy reaches from it in ``direction`` (a recall's scope is ``up``)."""
    return [item, *(r["item"] for r in queries.genealogy(store, item, direction, site, line))]


def export(
    store: Store, plant: Plant, item: str, direction: str, site: str = "", line: str = ""
) -> dict[str, Any]:
    """The EPCISDocument of the scope, within ``site`` and ``line`` where given."""
    items = scope_items(store, item, direction, site, line)
    where = {"items": items, "site": site, "line": line}
    latest = queries._latest(store.query(SCOPE_PASSES, where), itemgetter("pass_id"), "revision")
    passes = [PassFact.of(r) for r in latest]
    links = []
    for r in store.query(SCOPE_LINKS, {**where, "direction": direction}):
        parent, child = (r["node"], r["other"]) if direction == "down" else (r["other"], r["node"])
        links.append(LinkFact.of(r, parent, child))
    qc = [QcFact.of(r) for r in store.query(SCOPE_QC, where)]
    shipped = queries.shipments(store, items, site, line)
    shipments = [ShipmentFact.of(r) for rows in shipped.values() for r in rows]
    own = Mapper(plant).events(passes, links, qc, shipments)
    captured = with_declarations(store, _captured(store, items, site, line))
    return document(scope_events(own, captured, set(items), direction), now_us())


def _captured(store: Store, items: list[str], site: str, line: str) -> list[dict[str, Any]]:
    where = {"ids": identifiers(items), "site": site, "line": line}
    return [orjson.loads(r["document"]) for r in store.query(SCOPE_CAPTURED, where)]
