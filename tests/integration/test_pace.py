"""The alert gauges' figures from a chDB store: each station with a target, its passes over
the last 15 complete minutes (none is 0, the current minute does not count), and the jobs
past their due date."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from ingest.settings import Settings
from storage import jobqueries
from storage.client import connect
from storage.serve import pace_figures
from tests.integration.test_screens import _put, _us


def test_station_paces_and_late_jobs_from_the_store(tmp_path: Path) -> None:
    store = connect(Settings(clickhouse_dsn=f"chdb://{tmp_path / 'ch'}"))
    now = datetime.now(UTC)
    minute = now.replace(second=0, microsecond=0)
    stations = (("A1", "a", 60.0), ("B1", "b", 120.0), ("C1", "c", 0.0))
    _put(
        store,
        "stations",
        *(dict(site="S", line="L", station=s, stage=g, target_per_hour=t) for s, g, t in stations),
    )
    counts = [
        ("A1", 3, 10),
        ("A1", 14, 5),
        ("B1", 0, 99),
        ("B1", 16, 40),
        ("C1", 5, 7),
    ]  # (station, minutes ago, passes)
    _put(
        store,
        "pass_counts",
        *(
            dict(
                site="S",
                line="L",
                station=s,
                stage="x",
                minute=_us(minute - timedelta(minutes=ago)),
                partition=0,
            )
            | dict(passes=n, revision=1)
            for s, ago, n in counts
        ),
    )
    due = {"J-1": now - timedelta(hours=1), "J-2": now + timedelta(days=1)}
    _put(
        store,
        "jobs",
        *(
            dict(job=j, site="S", line="L", product="P", quantity=5, created=_us(now - timedelta(days=1)))
            | dict(planned_start=0, planned_end=0, due=_us(d), target_rate_per_h=0.0)
            for j, d in due.items()
        ),
    )
    paces, late = pace_figures(store, now)
    assert [(p["station"], p["passes_per_hour"], p["target_per_hour"]) for p in paces] == [
        ("A1", 60.0, 60.0),
        ("B1", 0.0, 120.0),
    ]
    assert [j["job"] for j in late] == ["J-1"] and 3500 < late[0]["overdue_s"] < 3700
    assert {r["job"] for r in jobqueries.late_jobs(store)} == {"J-1"}
