"""Throughput on real chDB: the latest count of each partition (revisions, replays, several
partitions) summed per station and minute or hour, beside the latest target the worker wrote:
the same rows as argMax per group would give."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ingest.settings import Settings
from storage import queries
from storage.client import Store, connect
from storage.tables import insert_rows

pytestmark = pytest.mark.integration

S = 1_000_000
T0 = datetime(2026, 1, 1, 6, tzinfo=UTC)

# What the query was before FINAL: argMax per group and a join on argMax per station.
REFERENCE = """
SELECT t.site AS site, t.line AS line, t.station AS station, t.stage AS stage, t.minute AS minute,
       t.passes AS passes, round(g.per_hour / 60, 2) AS target
FROM (
    SELECT site, line, station, stage, minute, sum(latest) AS passes
    FROM (
        SELECT site, line, station, stage, minute, partition, argMax(passes, revision) AS latest
        FROM pass_counts
        WHERE minute >= {since:DateTime64(6, 'UTC')} AND minute < {until:DateTime64(6, 'UTC')}
        GROUP BY site, line, station, stage, minute, partition
    )
    GROUP BY site, line, station, stage, minute
) AS t
LEFT JOIN (
    SELECT site, line, station, argMax(target_per_hour, stored_at) AS per_hour
    FROM stations GROUP BY site, line, station
) AS g ON g.site = t.site AND g.line = t.line AND g.station = t.station
ORDER BY minute, site, line, station
"""


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = connect(Settings(clickhouse_dsn=f"chdb://{tmp_path / 'ch'}"))
    try:
        yield store
    finally:
        store.close()


def count(station: str, minute: int, partition: int, passes: int, revision: int) -> dict[str, object]:
    return {
        "site": "S1",
        "line": "L1",
        "station": station,
        "stage": station.lower(),
        "minute": int((T0 + timedelta(minutes=minute)).timestamp()) * S,
        "partition": partition,
        "passes": passes,
        "revision": revision,
    }


def test_throughput_sums_each_partitions_latest_count_beside_the_latest_target(store: Store) -> None:
    insert_rows(
        store,
        "stations",
        [{"site": "S1", "line": "L1", "station": "A1", "stage": "a", "target_per_hour": 60.0}],
    )
    insert_rows(
        store,
        "stations",
        [{"site": "S1", "line": "L1", "station": "A1", "stage": "a", "target_per_hour": 120.0}],
    )
    rows = [count("A1", m, p, 10 * (m + 1) + p, 1) for m in range(90) for p in range(3)]
    rows += [count("A1", 5, 0, 99, 3), count("A1", 5, 0, 7, 2), count("B1", 5, 1, 4, 1)]  # revised, replayed
    for i in range(0, len(rows), 50):
        insert_rows(store, "pass_counts", rows[i : i + 50])
    window = {"since": T0, "until": T0 + timedelta(hours=1)}

    minutes = queries.throughput(store, window["since"], window["until"])

    assert minutes == store.query(REFERENCE, window)
    at_5 = {
        r["station"]: (r["passes"], r["target"]) for r in minutes if r["minute"] == datetime(2026, 1, 1, 6, 5)
    }
    assert at_5 == {"A1": (99 + 61 + 62, 2.0), "B1": (4, 0.0)}
    hours = queries.throughput(store, window["since"], window["until"], bucket="hour")
    assert [(r["station"], r["passes"], r["target"]) for r in hours] == [
        ("A1", sum(r["passes"] for r in minutes if r["station"] == "A1"), 120.0),
        ("B1", 4, 0.0),
    ]
