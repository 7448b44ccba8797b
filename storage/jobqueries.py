"""Job card queries: every job's plan, progress per job and stage, late, blocked, pending QC,
ready for dispatch.

Parameterised SQL only; every query filters by site and line (empty means all).
"""

from __future__ import annotations

from typing import Any

from storage.client import Store
from storage.queries import _SITE_LINE

JOB_PROGRESS = f"""
WITH visits AS (
    SELECT job, item, stage, route_index
    FROM passes FINAL
    WHERE job != '' AND route_index >= 0 AND {_SITE_LINE}
      AND ({{job:String}} = '' OR job = {{job:String}})
    GROUP BY job, item, stage, route_index
),
reach AS (SELECT item, max(route_index) AS reached FROM visits GROUP BY item),
states AS (
    SELECT item, status, stage AS current_stage
    FROM item_state FINAL
    WHERE item IN (SELECT item FROM visits)
)
SELECT v.job AS job, v.stage AS stage, v.route_index AS route_index,
       count() AS received,
       countIf(r.reached > v.route_index OR s.status = 'complete') AS completed,
       countIf(s.status = 'rejected' AND s.current_stage = v.stage) AS rejected,
       received - completed - rejected AS pending
FROM visits AS v
LEFT JOIN reach AS r ON r.item = v.item
LEFT JOIN states AS s ON s.item = v.item
GROUP BY job, stage, route_index
ORDER BY job, route_index
"""

# Each job's items complete: the latest count of each (job, partition) stage 2 wrote
# (streams/jobcounts.py), summed over the partitions; only the jobs of the site and line.
_DONE = f"""
SELECT job, sum(latest) AS done
FROM (
    SELECT job, partition, argMax(complete, revision) AS latest
    FROM job_counts
    WHERE job IN (SELECT job FROM jobs WHERE {_SITE_LINE})
    GROUP BY job, partition
)
GROUP BY job
"""

# Jobs without a due date (0) come last.
JOBS = f"""
SELECT j.job AS job, j.site AS site, j.line AS line, j.product AS product, j.quantity AS quantity,
       j.planned_start AS planned_start, j.due AS due, j.target_rate_per_h AS target_rate_per_h,
       d.done AS done
FROM (
    SELECT * FROM jobs FINAL
    WHERE {_SITE_LINE} AND ({{job:String}} = '' OR job = {{job:String}})
) AS j
LEFT JOIN ({_DONE}) AS d ON d.job = j.job
ORDER BY toUnixTimestamp64Micro(j.due) = 0, j.due, j.job
"""

LATE_JOBS = f"""
SELECT j.job AS job, j.site AS site, j.line AS line, j.product AS product, j.quantity AS quantity,
       j.due AS due, d.done AS done, toInt64(j.quantity) - toInt64(d.done) AS remaining,
       j.target_rate_per_h AS target_rate_per_h,
       j.due < now64(6) AS past_due
FROM (SELECT * FROM jobs FINAL WHERE {_SITE_LINE}) AS j
LEFT JOIN ({_DONE}) AS d ON d.job = j.job
WHERE toUnixTimestamp64Micro(j.due) > 0 AND remaining > 0
  AND (j.due < now64(6)
       OR (j.target_rate_per_h > 0
           AND toUnixTimestamp64Micro(now64(6)) + remaining / j.target_rate_per_h * 3600e6
               > toUnixTimestamp64Micro(j.due)))
ORDER BY j.due, j.job
"""

OPEN_BLOCKERS = f"""
SELECT site, line, job, blocker_id,
       anyIf(blocker_type, event = 'blocker_opened') AS blocker_type,
       anyIf(owner, event = 'blocker_opened') AS owner,
       anyIf(note, event = 'blocker_opened') AS note,
       minIf(time, event = 'blocker_opened') AS since
FROM job_events FINAL
WHERE event IN ('blocker_opened', 'blocker_resolved') AND {_SITE_LINE}
GROUP BY site, line, job, blocker_id
HAVING argMax(event, time) = 'blocker_opened'
ORDER BY since, job, blocker_id
"""

HELD_BY_JOB = f"""
SELECT site, line, job, count() AS held_items
FROM item_state FINAL
WHERE on_hold = 1 AND job != '' AND {_SITE_LINE}
GROUP BY site, line, job
ORDER BY site, line, job
"""

PENDING_QC = f"""
SELECT a.item AS item, s.job AS job, s.station AS station, a.arrived AS arrived
FROM (
    SELECT item, max(first_seen) AS arrived
    FROM passes FINAL
    WHERE stage = {{stage:String}} AND {_SITE_LINE}
    GROUP BY item
) AS a
INNER JOIN (
    SELECT item, job, station FROM item_state FINAL
    WHERE status = 'in_process' AND stage = {{stage:String}} AND {_SITE_LINE}
) AS s ON s.item = a.item
LEFT JOIN (SELECT item, max(time) AS checked FROM qc_results FINAL GROUP BY item) AS q ON q.item = a.item
WHERE q.checked < a.arrived
ORDER BY arrived, item
"""

READY_FOR_DISPATCH = f"""
SELECT j.job AS job, j.site AS site, j.line AS line, j.product AS product, j.quantity AS quantity,
       d.done AS done, f.flagged = 1 AS flagged
FROM (SELECT * FROM jobs FINAL WHERE {_SITE_LINE}) AS j
LEFT JOIN ({_DONE}) AS d ON d.job = j.job
LEFT JOIN (
    SELECT job, 1 AS flagged FROM job_events FINAL WHERE event = 'ready_for_dispatch' GROUP BY job
) AS f ON f.job = j.job
WHERE f.flagged = 1 OR (j.quantity > 0 AND d.done >= j.quantity)
ORDER BY j.job
"""


def _f(site: str, line: str) -> dict[str, Any]:
    return {"site": site, "line": line}


def job_progress(store: Store, job: str = "", site: str = "", line: str = "") -> list[dict[str, Any]]:
    """Per job and route stage: items received there, completed (moved on), rejected, pending."""
    return store.query(JOB_PROGRESS, {"job": job, **_f(site, line)})


def jobs(store: Store, job: str = "", site: str = "", line: str = "") -> list[dict[str, Any]]:
    """Every job (or one) with its plan and how many of its items are complete."""
    return store.query(JOBS, {"job": job, **_f(site, line)})


def late_jobs(store: Store, site: str = "", line: str = "") -> list[dict[str, Any]]:
    """Jobs past their due date with items to go, or that will miss it at their target rate."""
    return store.query(LATE_JOBS, _f(site, line))


def blocked_jobs(store: Store, site: str = "", line: str = "") -> list[dict[str, Any]]:
    """Open blockers by job, and jobs with items under a hold."""
    blockers = [{"kind": "blocker", **b} for b in store.query(OPEN_BLOCKERS, _f(site, line))]
    holds = [{"kind": "hold", **h} for h in store.query(HELD_BY_JOB, _f(site, line))]
    return blockers + holds


def pending_qc(store: Store, stage: str = "qc", site: str = "", line: str = "") -> list[dict[str, Any]]:
    """Items in process at the QC stage without a QC result since they arrived there."""
    return store.query(PENDING_QC, {"stage": stage, **_f(site, line)})


def ready_for_dispatch(store: Store, site: str = "", line: str = "") -> list[dict[str, Any]]:
    """Jobs flagged ready for dispatch, or with every item of their quantity complete."""
    return store.query(READY_FOR_DISPATCH, _f(site, line))
