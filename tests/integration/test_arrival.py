"""The same events give the same trace live and replayed all at once, through the real
broker, stream worker, sink and chDB.

A simulated line (duplicate and missed reads, clock offsets, assemblies, rework, skipped
stages, cycles sent twice) is published twice, each time into a pipeline of its own: once
as fast as the producer goes, once at the pace the line made it. Every table a user's
answers come from must end identical.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

from ingest.broker import free_port
from ingest.cli.commands import DEMO_PLANT
from ingest.plant import load_plant
from ingest.schema import ReadCycleReport
from ingest.settings import Settings
from ingest.timefmt import now_us
from readers.publisher import EventPublisher
from readers.simulator import LineSimulator, S, SimConfig
from storage.client import connect
from tests.integration.conftest import Pipeline

LINE_S = 24  # seconds of line
STEP_S = 0.5  # the simulator's reader cycle

# Each table as the queries read it: the latest revision of every key, without revisions
# or storage times (which differ between runs by design).
TABLES = {
    "passes": "SELECT * EXCEPT (revision, stored_at) FROM passes FINAL",
    "open violations": "SELECT * EXCEPT (revision, stored_at) FROM violations FINAL WHERE retracted = 0",
    "item state": "SELECT * EXCEPT (revision, stored_at) FROM item_state FINAL",
    "genealogy": "SELECT node, direction, other, depth FROM genealogy FINAL WHERE present = 1",
    "links": "SELECT * EXCEPT (stored_at) FROM links FINAL",
    "read rates": "SELECT stage, sum(observed) AS observed, sum(read) AS read FROM "
    "(SELECT * FROM portal_read_rates FINAL) GROUP BY stage",
    "read cycles": "SELECT * EXCEPT (stored_at) FROM read_cycles FINAL",
}


def _line(start_us: int) -> list[tuple[float, object]]:
    """(seconds after the start when it is sent, event) of LINE_S seconds of simulated line."""
    sim = LineSimulator(load_plant(DEMO_PLANT), SimConfig(items_per_minute=90, seed=11), start_us)
    out: list[tuple[float, object]] = []
    steps = int(LINE_S / STEP_S)
    for i in range(1, steps + 1):
        out.extend((i * STEP_S, e) for e in sim.advance(start_us + int(i * STEP_S * S)))
    return out


def _own(settings: Settings, tmp_path: Path, name: str) -> Settings:
    run = uuid.uuid4().hex[:8]
    return settings.with_(
        topic_prefix=f"t{run}",
        worker_id=f"w{run}",
        clickhouse_dsn=f"chdb://{tmp_path / name / 'clickhouse'}",
        state_dir=str(tmp_path / name / "worker"),
        api_port=free_port(),
        metrics_port=free_port(),
    )


def _run(
    settings: Settings, tmp_path: Path, name: str, events: list[tuple[float, object]], live: bool
) -> dict[str, list[tuple[Any, ...]]]:
    (tmp_path / name).mkdir()
    p = Pipeline(settings, load_plant(DEMO_PLANT), tmp_path / name).start()
    try:
        publisher = EventPublisher(p.producer, p.topics)
        started = time.monotonic()
        for at_s, event in events:
            if live and (wait := started + at_s - time.monotonic()) > 0:
                time.sleep(wait)
            publisher.publish(event)
        p.flush()
        reports = len({e.report_id for _, e in events if isinstance(e, ReadCycleReport)})
        p.wait_until(lambda: _settled(p, reports), timeout_s=120, what=f"{name}: every report stored")
        p.stop_sink()
        store = connect(p.settings)
        try:
            return {table: _rows(store.query(sql)) for table, sql in TABLES.items()}
        finally:
            store.close()
    finally:
        p.stop()


def _settled(p: Pipeline, reports: int) -> bool:
    """Every report stored (a cycle sent twice counts once), and the answers still for a while."""
    summary = p.query("summary")
    if summary["reads"]["reports"] < reports:  # a cycle sent twice is stored once
        return False
    before = p.query("violations")
    time.sleep(3 * p.settings.sink_commit_s + p.settings.idle_input_s)
    return bool(p.query("violations") == before and p.query("summary") == summary)


def _rows(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return sorted(tuple(str(v) for _, v in sorted(r.items())) for r in rows)


def test_live_and_all_at_once_give_the_same_trace(settings: Settings, tmp_path: Path) -> None:
    events = _line(now_us() - 60 * S)
    assert sum(1 for _, e in events if type(e).__name__ == "Aggregation") >= 2  # assemblies happened

    replayed = _run(_own(settings, tmp_path, "replay"), tmp_path, "replay", events, live=False)
    live = _run(_own(settings, tmp_path, "live"), tmp_path, "live", events, live=True)

    assert replayed["passes"] and replayed["open violations"] and replayed["genealogy"]
    for table in TABLES:
        only_replayed = sorted(set(replayed[table]) - set(live[table]))
        only_live = sorted(set(live[table]) - set(replayed[table]))
        assert (only_replayed, only_live) == ([], []), f"{table}: {only_replayed} {only_live}"
