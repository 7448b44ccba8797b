"""The line board's figures from query answers: stage columns and station rates."""

from __future__ import annotations

import pytest

from storage.screens.board import StationRate, stage_columns, station_rates


def test_columns_follow_the_route_and_colour_by_the_longest_wait() -> None:
    wip = [{"stage": "machine", "items": 4}, {"stage": "cut", "items": 2}, {"stage": "rework", "items": 1}]
    waiting = [{"stage": "cut", "waiting_s": 1000}, {"stage": "machine", "waiting_s": 4000}]
    rates = [{"stage": "cut", "observed": 10, "read": 9, "read_rate": 0.9}]
    columns = stage_columns(["cut", "machine", "pack"], wip, waiting, rates)
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
