"""The line board's figures from query answers: stage columns, station rates and trends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from storage.screens.board import (
    StationRate,
    Trend,
    stage_columns,
    station_rates,
    station_trends,
    trend_window,
)


def test_columns_follow_the_route_and_colour_by_the_longest_wait() -> None:
    flow = [
        {"stage": "machine", "items": 4, "waiting": 1, "oldest_s": 4000},
        {"stage": "cut", "items": 2, "waiting": 1, "oldest_s": 1000},
        {"stage": "rework", "items": 1, "waiting": 0, "oldest_s": 0},
    ]
    rates = [{"stage": "cut", "observed": 10, "read": 9, "read_rate": 0.9}]
    columns = stage_columns(["cut", "machine", "pack"], flow, rates)
    assert [(c.stage, c.items, c.waiting, c.ageing) for c in columns] == [
        ("cut", 2, 1, "ageing"),
        ("machine", 4, 1, "stale"),
        ("pack", 0, 0, "fresh"),
        ("rework", 1, 0, "fresh"),
    ]
    assert columns[0].read_rate == 0.9 and columns[1].read_rate is None


@pytest.mark.parametrize(
    ("passes", "minutes_gone", "percent", "behind"),
    [
        pytest.param(30, 30, 100, False, id="on target half way"),
        pytest.param(20, 30, 67, True, id="behind half way"),
        pytest.param(3, 0.2, 300, False, id="first minute counts as one"),
        pytest.param(0, 45, 0, True, id="nothing yet"),
    ],
)
def test_a_station_is_judged_on_its_target_pro_rata(
    passes: int, minutes_gone: float, percent: int, behind: bool
) -> None:
    rows = [{"station": "CUT-1", "stage": "cut", "passes": passes, "target": 60.0}] if passes else []
    [rate] = station_rates([("CUT-1", "cut", 60.0)], rows, minutes_gone)
    assert (rate.passes, rate.percent, rate.behind) == (passes, percent, behind)


def test_a_station_without_a_target_is_never_behind_and_unknown_stations_follow() -> None:
    rows = [{"station": "X-9", "stage": "cut", "passes": 5, "target": 0.0}]
    rates = station_rates([("CUT-1", "cut", 0.0)], rows, 10)
    assert rates == [StationRate("CUT-1", "cut", 0, 0.0, None), StationRate("X-9", "cut", 5, 0.0, None)]
    assert not any(r.behind for r in rates)


@pytest.mark.parametrize(
    ("now", "since"),
    [
        pytest.param("10:37:12", "09:40", id="mid bucket"),
        pytest.param("10:35:00", "09:40", id="on a mark"),
        pytest.param("10:04:59", "09:05", id="just before a mark"),
    ],
)
def test_the_trend_is_the_last_hour_on_the_clocks_five_minute_marks(now: str, since: str) -> None:
    day = "2026-03-02T"
    start, end = trend_window(datetime.fromisoformat(f"{day}{now}+00:00"))
    assert start == datetime.fromisoformat(f"{day}{since}:00+00:00")
    assert end - start == timedelta(hours=1) and start <= datetime.fromisoformat(f"{day}{now}+00:00") < end


def test_a_station_trend_sums_its_minutes_into_five_minute_buckets() -> None:
    since = datetime(2026, 3, 2, 9, 45, tzinfo=UTC)

    def minute(m: int, station: str, passes: int) -> dict[str, object]:
        at = (since + timedelta(minutes=m)).replace(tzinfo=None)  # the store's are naive UTC
        return {"minute": at, "station": station, "stage": "cut", "passes": passes, "target": 1.0}

    rows = [minute(0, "CUT-1", 2), minute(4, "CUT-1", 3), minute(5, "CUT-1", 1), minute(59, "CUT-1", 4)]
    rows += [minute(60, "CUT-1", 9), minute(-1, "CUT-1", 9), minute(30, "X-9", 7)]  # outside; unknown
    trends = station_trends([("CUT-1", "cut", 60.0), ("MACH-1", "machine", 0.0)], rows, since)
    assert trends["CUT-1"].counts == (5, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4)
    assert trends["CUT-1"].target == 5.0  # 60 an hour is 5 per 5 minutes
    assert trends["MACH-1"] == Trend("MACH-1", (0,) * 12, 0.0)
    assert trends["X-9"].counts[6] == 7 and trends["X-9"].target == 5.0  # from the stored per-minute target


def test_a_trend_draws_bars_to_the_higher_of_its_busiest_bucket_and_its_target() -> None:
    trend = Trend("CUT-1", (10, 0, 5) + (0,) * 8 + (2,), 5.0)
    assert trend.bars(0, -1) == "M0 20v-20h4v20zM10 20v-10h4v10z"
    assert trend.bars(11) == "M55 20v-4h4v4z"  # the bucket still filling
    assert trend.goal_y == 10.0
    quiet = Trend("MACH-1", (1,) + (0,) * 11, 0.0)  # no target: its own busiest bucket is full height
    assert quiet.bars() == "M0 20v-20h4v20z" and quiet.goal_y is None
    assert Trend("PACK-1", (0,) * 12, 20.0).bars() == ""
