"""The line board's figures from the named queries' answers: WIP by stage as a flow of
columns with an ageing colour, each station's throughput this hour against its target, and
its passes per 5 minutes over the last hour as a row of bars. Pure functions over the
answers; no I/O."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from storage.pace import BEHIND_SHARE, StationPace, station_paces

# An item not read for this long is waiting: wip_ageing's default threshold.
AGEING_S = 15 * 60
# A stage holding an item not read for an hour is shown as stale.
STALE_S = 60 * 60
# A station below this share of its target is behind (the target-against-actual alert's 80%).
BEHIND_PERCENT = round(BEHIND_SHARE * 100)
# A station's trend: passes per TREND_BUCKET over the last hour, one bar each, the last one
# the bucket still filling. Five minutes smooths a single slow cycle but still shows a stop.
TREND_BUCKET = timedelta(minutes=5)
TREND_BUCKETS = 12
# The bars' drawing box (SVG user units): a bar TREND_BAR wide every TREND_STEP.
TREND_HEIGHT, TREND_STEP, TREND_BAR = 20, 5, 4


@dataclass(frozen=True)
class StageColumn:
    stage: str
    items: int  # in process at the stage
    waiting: int  # of them, not read for AGEING_S or longer
    oldest_s: int  # the longest wait among them (0: none waiting)
    read_rate: float | None  # the stage's portal read rate (None: not measured yet)

    @property
    def ageing(self) -> str:
        if self.oldest_s >= STALE_S:
            return "stale"
        return "ageing" if self.waiting else "fresh"


@dataclass(frozen=True)
class StationRate:
    station: str
    stage: str
    passes: int  # this hour
    target_per_hour: float
    percent: int | None  # of the target pro rata for the minutes of the hour gone (None: no target)

    @property
    def behind(self) -> bool:
        return self.percent is not None and self.percent < BEHIND_PERCENT


def stage_columns(
    order: Sequence[str], flow: Iterable[dict[str, Any]], read_rates: Iterable[dict[str, Any]]
) -> list[StageColumn]:
    """One column per stage (``flow``: the wip_flow query's rows): the line's stages in route
    order, then any other stage seen."""
    rows = {r["stage"]: r for r in flow}
    rates = {r["stage"]: float(r["read_rate"]) for r in read_rates if int(r["observed"]) > 0}
    stages = list(order) + sorted(set(rows) - set(order))
    empty = {"items": 0, "waiting": 0, "oldest_s": 0}
    return [
        StageColumn(
            s,
            int(rows.get(s, empty)["items"]),
            int(rows.get(s, empty)["waiting"]),
            int(rows.get(s, empty)["oldest_s"]),
            rates.get(s),
        )
        for s in stages
    ]


def station_rates(
    stations: Sequence[tuple[str, str, float]], throughput: Iterable[dict[str, Any]], minutes_gone: float
) -> list[StationRate]:
    """Each station's passes this hour against its target per hour, pro rata for the
    ``minutes_gone`` of the hour (at least one, so the hour's first minute is not judged on
    nothing). ``stations``: (station, stage, target per hour) of the plant, in its order; a
    station with passes that the plant does not name follows with the target it was stored with."""
    passes: dict[str, int] = {}
    known: dict[str, tuple[str, float]] = {}
    for row in throughput:
        passes[row["station"]] = passes.get(row["station"], 0) + int(row["passes"])
        known.setdefault(row["station"], (row["stage"], float(row["target"] or 0)))
    listed = list(stations) + [(s, *known[s]) for s in sorted(known) if s not in {x[0] for x in stations}]
    share = max(1.0, minutes_gone) / 60
    out = []
    for station, stage, target in listed:
        done = passes.get(station, 0)
        percent = round(100 * done / (target * share)) if target > 0 else None
        out.append(StationRate(station, stage, done, target, percent))
    return out


def behind_target(
    site: str, line: str, stations: Sequence[tuple[str, str, float]], recent: Iterable[dict[str, Any]]
) -> list[StationPace]:
    """The stations with a target whose pace over the pace window (``recent``: the throughput
    query's minutes of it) is under 80% of it: the condition of the LinetraceStationBehindTarget
    alert, from the board's own queries."""
    passes: dict[str, int] = {}
    for row in recent:
        passes[row["station"]] = passes.get(row["station"], 0) + int(row["passes"])
    rows = [
        dict(site=site, line=line, station=s, stage=g, target_per_hour=t, passes=passes.get(s, 0))
        for s, g, t in stations
        if t > 0
    ]
    return [p for p in station_paces(rows) if p.behind]


@dataclass(frozen=True)
class Trend:
    station: str
    counts: tuple[int, ...]  # passes per bucket, oldest first; the last bucket is still filling
    target: float  # passes per bucket at the station's target per hour (0: no target)

    @property
    def scale(self) -> float:
        """Passes a full-height bar stands for: the busiest bucket or the target, if higher."""
        return float(max(*self.counts, self.target, 1))

    def bars(self, first: int = 0, last: int | None = None) -> str:
        """SVG path data of the bars of buckets ``first`` to ``last`` (exclusive; None: to the
        end); an empty bucket draws nothing."""
        out = []
        for i, count in enumerate(self.counts[first:last], first):
            if h := round(TREND_HEIGHT * count / self.scale, 1):
                out.append(f"M{i * TREND_STEP} {TREND_HEIGHT}v-{h:g}h{TREND_BAR}v{h:g}z")
        return "".join(out)

    @property
    def goal_y(self) -> float | None:
        """Where the target per bucket is drawn, from the top (None: no target)."""
        return round(TREND_HEIGHT * (1 - self.target / self.scale), 1) if self.target > 0 else None


def trend_window(now: datetime) -> tuple[datetime, datetime]:
    """The trend's hour: TREND_BUCKETS buckets on the clock's 5-minute marks, the last one
    holding ``now``, so the bars stay put between polls."""
    step = int(TREND_BUCKET.total_seconds())
    mark = datetime.fromtimestamp(int(now.timestamp()) // step * step, UTC)
    until = mark + TREND_BUCKET
    return until - TREND_BUCKETS * TREND_BUCKET, until


def minute_of(row: dict[str, Any]) -> datetime:
    """The minute of a throughput row, in UTC (the store may answer it without a zone)."""
    minute: datetime = row["minute"]
    return minute if minute.tzinfo else minute.replace(tzinfo=UTC)


def station_trends(
    stations: Sequence[tuple[str, str, float]], throughput: Iterable[dict[str, Any]], since: datetime
) -> dict[str, Trend]:
    """Each station's passes per bucket from ``since`` (the throughput query's minutes of the
    trend window), for the stations the plant names and any other with passes in it."""
    counts: dict[str, list[int]] = {}
    targets = {station: target for station, _, target in stations}
    for row in throughput:
        bucket = (minute_of(row) - since) // TREND_BUCKET
        if 0 <= bucket < TREND_BUCKETS:
            counts.setdefault(row["station"], [0] * TREND_BUCKETS)[bucket] += int(row["passes"])
        targets.setdefault(row["station"], 60 * float(row["target"] or 0))  # the query's is per minute
    share = TREND_BUCKET / timedelta(hours=1)
    return {
        station: Trend(station, tuple(counts.get(station, [0] * TREND_BUCKETS)), target * share)
        for station, target in targets.items()
    }
