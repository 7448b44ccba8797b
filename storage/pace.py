"""Target against actual: each station's pace over the last complete minutes against its
target per hour, and the jobs past their due date with items to go. The sink exports them
as gauges for the alert rules (k8s/monitoring/alerts.yaml: LinetraceStationBehindTarget,
LinetraceJobLate), and the line board shows the same conditions as banners."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from storage.client import Store

# The window a station's pace is judged over: the alert's "for 15 minutes".
PACE_MINUTES = 15
# A station under this share of its target is behind (the alert's 80%).
BEHIND_SHARE = 0.8

# Every station with a target, with its passes in the window (0 when it made none).
STATION_PACE = """
SELECT g.site AS site, g.line AS line, g.station AS station, g.stage AS stage,
       g.per_hour AS target_per_hour, t.passes AS passes
FROM (
    SELECT site, line, station, argMax(stage, stored_at) AS stage,
           argMax(target_per_hour, stored_at) AS per_hour
    FROM stations
    GROUP BY site, line, station
) AS g
LEFT JOIN (
    SELECT site, line, station, sum(latest) AS passes
    FROM (
        SELECT site, line, station, minute, partition, argMax(passes, revision) AS latest
        FROM pass_counts
        WHERE minute >= {since:DateTime64(6, 'UTC')} AND minute < {until:DateTime64(6, 'UTC')}
        GROUP BY site, line, station, minute, partition
    )
    GROUP BY site, line, station
) AS t ON t.site = g.site AND t.line = g.line AND t.station = g.station
WHERE g.per_hour > 0
ORDER BY site, line, station
"""


@dataclass(frozen=True)
class StationPace:
    site: str
    line: str
    station: str
    stage: str
    passes_per_hour: float  # over the last PACE_MINUTES complete minutes
    target_per_hour: float

    @property
    def behind(self) -> bool:
        return self.passes_per_hour < BEHIND_SHARE * self.target_per_hour


@dataclass(frozen=True)
class LateJob:
    site: str
    line: str
    job: str
    overdue_s: float  # since its due date


def pace_window(now: datetime) -> tuple[datetime, datetime]:
    """The last PACE_MINUTES complete minutes before ``now`` (the current minute is still filling)."""
    until = now.replace(second=0, microsecond=0)
    return until - timedelta(minutes=PACE_MINUTES), until


def station_paces(rows: Iterable[dict[str, Any]]) -> list[StationPace]:
    """Paces from rows of (site, line, station, stage, target_per_hour, passes in the window)."""
    per_hour = 60 / PACE_MINUTES
    return [
        StationPace(
            str(r["site"]),
            str(r["line"]),
            str(r["station"]),
            str(r["stage"]),
            int(r["passes"] or 0) * per_hour,
            float(r["target_per_hour"]),
        )
        for r in rows
    ]


def late_jobs(rows: Iterable[dict[str, Any]], now: datetime) -> list[LateJob]:
    """Of the ``late_jobs`` query's rows (late or at risk), the jobs past their due date."""
    late = []
    for r in rows:
        due = r["due"] if r["due"].tzinfo else r["due"].replace(tzinfo=UTC)  # the store's are naive UTC
        if r["past_due"] and due < now:
            late.append(LateJob(str(r["site"]), str(r["line"]), str(r["job"]), (now - due).total_seconds()))
    return late


def read_paces(store: Store, now: datetime) -> list[StationPace]:
    since, until = pace_window(now)
    return station_paces(store.query(STATION_PACE, {"since": since, "until": until}))
