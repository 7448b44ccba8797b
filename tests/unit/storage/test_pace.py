"""Target against actual: a station's pace over the last 15 complete minutes against 80% of
its target, the jobs past their due date, and the sink's gauges of both."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from ingest.metrics import PaceCollector
from storage.pace import late_jobs, pace_window, station_paces
from storage.screens.board import behind_target

NOW = datetime(2026, 3, 2, 8, 7, 42, tzinfo=UTC)


def test_the_window_is_the_last_15_complete_minutes() -> None:
    assert pace_window(NOW) == (
        datetime(2026, 3, 2, 7, 52, tzinfo=UTC),
        datetime(2026, 3, 2, 8, 7, tzinfo=UTC),
    )


@pytest.mark.parametrize(
    ("passes", "behind"),
    [
        pytest.param(15, False, id="on target"),
        pytest.param(12, False, id="at 80 percent"),
        pytest.param(11, True, id="under 80 percent"),
        pytest.param(0, True, id="stopped"),
    ],
)
def test_a_station_under_80_percent_of_its_target_is_behind(passes: int, behind: bool) -> None:
    row = dict(site="S", line="L", station="A1", stage="a", target_per_hour=60.0, passes=passes)
    (pace,) = station_paces([row])
    assert (pace.passes_per_hour, pace.behind) == (passes * 4, behind)


def test_the_board_flags_stations_with_a_target_from_its_own_minutes() -> None:
    stations = [("A1", "a", 60.0), ("B1", "b", 0.0), ("C1", "c", 120.0)]
    recent = [
        {"station": "A1", "passes": 10},
        {"station": "A1", "passes": 5},
        {"station": "C1", "passes": 20},
    ]
    assert [p.station for p in behind_target("S", "L", stations, recent)] == ["C1"]


def test_only_jobs_past_their_due_date_are_late() -> None:
    rows: list[dict[str, Any]] = [
        dict(site="S", line="L", job="J-1", due=NOW - timedelta(hours=2), past_due=1),
        dict(site="S", line="L", job="J-2", due=NOW + timedelta(hours=2), past_due=0),  # at risk only
    ]
    assert [(j.job, j.overdue_s) for j in late_jobs(rows, NOW)] == [("J-1", 7200.0)]


def test_the_sink_exports_pace_target_and_overdue_gauges() -> None:
    stations = [dict(site="S", line="L", station="A1", stage="a", passes_per_hour=40.0, target_per_hour=60.0)]
    late = [dict(site="S", line="L", job="J-1", overdue_s=7200.0)]
    registry = CollectorRegistry()
    registry.register(PaceCollector(lambda: (stations, late), lambda: 0.0))
    place = {"site": "S", "line": "L", "station": "A1", "stage": "a"}
    assert registry.get_sample_value("linetrace_station_passes_per_hour", place) == 40
    assert registry.get_sample_value("linetrace_station_target_per_hour", place) == 60
    job = {"site": "S", "line": "L", "job": "J-1"}
    assert registry.get_sample_value("linetrace_job_overdue_seconds", job) == 7200
