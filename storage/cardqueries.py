"""The records behind an item page and a job card, and what dispatch packs: the holds placed on
an item, QC results, a job's events (blockers opened and resolved, delays), a job's items,
and the carriers packed now with their contents.

Parameterised SQL only; every query filters by site and line (empty means all).
"""

from __future__ import annotations

from typing import Any

from storage.client import Store
from storage.queries import _SITE_LINE

# One row per (hold, item, event): a hold placed again after its release replaces both.
ITEM_HOLDS = f"""
SELECT hold_id, site, line, anyIf(hold_type, event = 'placed') AS hold_type,
       anyIf(owner, event = 'placed') AS owner, anyIf(reason, event = 'placed') AS reason,
       minIf(time, event = 'placed') AS placed,
       if(countIf(event = 'released') > 0
              AND maxIf(time, event = 'released') >= minIf(time, event = 'placed'),
          maxIf(time, event = 'released'), NULL) AS released
FROM holds FINAL
WHERE item = {{item:String}} AND via = '' AND {_SITE_LINE}
GROUP BY hold_id, site, line
ORDER BY placed DESC, hold_id
"""

QC_RESULTS = f"""
SELECT item, job, site, line, station, result, notes, time
FROM qc_results FINAL
WHERE ({{item:String}} = '' OR item = {{item:String}}) AND ({{job:String}} = '' OR job = {{job:String}})
  AND {_SITE_LINE}
ORDER BY time DESC, item
LIMIT {{limit:UInt32}}
"""

JOB_EVENTS = f"""
SELECT job, site, line, event, time, blocker_id, blocker_type, owner, note, items
FROM job_events FINAL
WHERE ({{job:String}} = '' OR job = {{job:String}}) AND ({{event:String}} = '' OR event = {{event:String}})
  AND {_SITE_LINE}
ORDER BY time DESC, job, event
LIMIT {{limit:UInt32}}
"""

# An item held before it is first read has no last read (as in ``held``).
JOB_ITEMS = f"""
SELECT item, site, line, product, stage, station, status, on_hold,
       if(passes > 0, last_seen, NULL) AS last_seen
FROM item_state FINAL
WHERE job = {{job:String}} AND {_SITE_LINE}
ORDER BY item
LIMIT {{limit:UInt32}}
"""

# A carrier is any parent an item is in now (a case, a pallet, a kit), dispatched or not.
CARRIERS = f"""
SELECT c.parent AS carrier, c.site AS site, c.line AS line, p.stage AS carrier_stage,
       p.status AS carrier_status, c.item AS item, c.product AS product, c.job AS job,
       c.status AS status
FROM (
    SELECT item, site, line, product, job, status, parent FROM item_state FINAL
    WHERE parent != '' AND {_SITE_LINE}
) AS c
LEFT JOIN (SELECT item, stage, status FROM item_state FINAL WHERE {_SITE_LINE}) AS p ON p.item = c.parent
WHERE ({{status:String}} = '' OR p.status = {{status:String}})
ORDER BY carrier, item
LIMIT {{limit:UInt32}}
"""


def _f(site: str, line: str) -> dict[str, Any]:
    return {"site": site, "line": line}


def item_holds(store: Store, item: str, site: str = "", line: str = "") -> list[dict[str, Any]]:
    """Each hold placed on the item itself: when, by whom, why, and when it was released (null:
    still in force)."""
    return store.query(ITEM_HOLDS, {"item": item, **_f(site, line)})


def qc_results(
    store: Store, item: str = "", job: str = "", site: str = "", line: str = "", limit: int = 1000
) -> list[dict[str, Any]]:
    """QC results, newest first, of one item or one job (or every one)."""
    return store.query(QC_RESULTS, {"item": item, "job": job, "limit": limit, **_f(site, line)})


def job_events(
    store: Store, job: str = "", event: str = "", site: str = "", line: str = "", limit: int = 1000
) -> list[dict[str, Any]]:
    """A job's events as posted, newest first: created, items bound, blockers opened and
    resolved, delays, ready for dispatch."""
    return store.query(JOB_EVENTS, {"job": job, "event": event, "limit": limit, **_f(site, line)})


def job_items(
    store: Store, job: str, site: str = "", line: str = "", limit: int = 1000
) -> list[dict[str, Any]]:
    """Every item of a job with where it is, its status and whether it is held."""
    return store.query(JOB_ITEMS, {"job": job, "limit": limit, **_f(site, line)})


def carriers(
    store: Store, status: str = "", site: str = "", line: str = "", limit: int = 1000
) -> list[dict[str, Any]]:
    """Carriers (cases, pallets, kits) and the items in them now, one row per item."""
    return store.query(CARRIERS, {"status": status, "limit": limit, **_f(site, line)})
