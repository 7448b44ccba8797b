"""p_missed_read from ClickHouse: the statistics the SQL computes from stored passes equal the
in-memory reference the calibration is measured with, and the violations query scores each
skipped stage with them."""

from __future__ import annotations

import dataclasses
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from ingest.settings import Settings
from storage import gapqueries, queries
from storage.client import connect
from storage.missedread import fit_lines, missed_read_probabilities, transit_rows
from storage.tables import insert_rows
from tests.unit.storage.calibration import SCENARIOS, simulate
from tests.unit.streams.memory import _latest

pytestmark = pytest.mark.integration

S = 1_000_000


def _key(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return sorted(
        (r["kind"], r["before"], r["stage"], r["after"], int(r["bin"]), int(r["items"])) for r in rows
    )


def test_stored_passes_give_the_reference_statistics_and_chances(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scenario = dataclasses.replace(SCENARIOS[0], minutes=3)
    start = int(time.time() * S) - 3600 * S  # within the model's window
    _, stream = simulate(scenario, start)
    store = connect(Settings(clickhouse_dsn=f"chdb://{tmp_path / 'ch'}"))
    try:
        for table in ("passes", "violations"):  # every revision: the queries keep the latest
            insert_rows(store, table, stream.tables[table])
        passes = [
            {**r, "first_us": r["first_seen"], "last_us": r["last_seen"]}
            for r in _latest(stream.tables["passes"], ("pass_id",), "revision")
        ]
        site, line = passes[0]["site"], passes[0]["line"]
        since = datetime.fromtimestamp(start / S - 60, UTC)
        reference = transit_rows(passes)
        assert _key(gapqueries.span_transits(store, site, line, since)) == _key(reference)

        listed = queries.violations(store, limit=100_000)
        skipped = [v for v in listed if v["missing"]]
        assert len(skipped) > 100
        expected = missed_read_probabilities(skipped, passes, fit_lines(reference))
        assert [v["p_missed_read"] for v in skipped] == expected
        assert sum(p is not None for p in expected) == len(skipped)

        # A busy line's window is fitted on a share of its items, each item whole.
        monkeypatch.setattr(gapqueries, "MODEL_PASSES", len(passes) // 3)
        sampled = gapqueries.span_transits(store, site, line, since)
        assert 0.15 < sum(r["items"] for r in sampled) / sum(r["items"] for r in reference) < 0.5
        assert {r["kind"] for r in sampled} == {"leg", "passed", "gap"}
    finally:
        store.close()
