"""The line board's figures from the named queries' answers: WIP by stage as a flow of
columns with an ageing colour, each station's throughput this hour against its target.
Pure functions over the answers; no I/O."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from storage.pace import BEHIND_SHARE, StationPace, station_paces

# An item not read for this long is waiting: wip_ageing's default threshold.
AGEING_S = 15 * 60
# A stage holding an item not read for an hour is shown as stale.
STALE_S = 60 * 60
# A station below this share of its target is behind (the target-against-actual alert's 80%).
BEHIND_PERCENT = round(BEHIND_SHARE * 100)


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
    order: Sequence[str],
    wip: Iterable[dict[str, Any]],
    waiting: Iterable[dict[str, Any]],
    read_rates: Iterable[dict[str, Any]],
) -> list[StageColumn]:
    """One column per stage: the line's stages in route order, then any other stage seen."""
    items: dict[str, int] = {}
    for row in wip:
        items[row["stage"]] = items.get(row["stage"], 0) + int(row["items"])
    late: dict[str, list[int]] = {}
    for row in waiting:
        late.setdefault(row["stage"], []).append(int(row["waiting_s"]))
    rates = {r["stage"]: float(r["read_rate"]) for r in read_rates if int(r["observed"]) > 0}
    stages = list(order) + sorted((set(items) | set(late)) - set(order))
    return [
        StageColumn(s, items.get(s, 0), len(late.get(s, [])), max(late.get(s, [0])), rates.get(s))
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
