"""The `verdicts` query on the real schema: each pass once with its latest verdict, open and
retracted violations, only in the window asked."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from ingest.settings import Settings
from storage.client import connect
from storage.service import run_query

pytestmark = pytest.mark.integration

PLACE = ["pass_id", "item", "site", "line", "station", "stage"]
PASS_COLUMNS = [*PLACE, "first_seen", "outcome", "revision"]
VIOLATION_COLUMNS = [*PLACE, "time", "type", "retracted", "revision"]


def at(minute: int) -> datetime:
    return datetime(2026, 6, 1, 8, minute, tzinfo=UTC)


def test_verdicts_counts_each_pass_once_with_its_latest_verdict(tmp_path: Path) -> None:
    store = connect(Settings(clickhouse_dsn=f"chdb://{tmp_path / 'ch'}"))
    try:
        store.insert(
            "passes",
            [
                ["p1", "i1", "S", "L", "C1", "a", at(1), "movement", 1],
                ["p2", "i1", "S", "L", "C3", "c", at(2), "skipped_stage", 1],
                ["p2", "i1", "S", "L", "C3", "c", at(2), "movement", 2],  # the late pass at b cleared it
                ["p3", "i2", "S", "L", "C3", "c", at(3), "skipped_stage", 1],
                ["p4", "i3", "S", "L", "C1", "a", at(30), "movement", 1],  # outside the window
            ],
            PASS_COLUMNS,
        )
        store.insert(
            "violations",
            [
                ["p2", "i1", "S", "L", "C3", "c", at(2), "skipped_stage", 0, 1],
                ["p2", "i1", "S", "L", "C3", "c", at(2), "skipped_stage", 1, 2],
                ["p3", "i2", "S", "L", "C3", "c", at(3), "skipped_stage", 0, 1],
            ],
            VIOLATION_COLUMNS,
        )
        window = {"since": "2026-06-01T08:00:00Z", "until": "2026-06-01T08:10:00Z"}
        answer = run_query(store, "verdicts", window)
        other_line = run_query(store, "verdicts", {**window, "line": "OTHER"})
    finally:
        store.close()

    assert answer == [{"passes": 3, "movements": 2, "violations_open": 1, "retracted_violations": 1}]
    assert other_line == [{"passes": 0, "movements": 0, "violations_open": 0, "retracted_violations": 0}]
