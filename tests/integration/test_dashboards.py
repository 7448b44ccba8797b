"""Every ClickHouse panel of the dashboards runs on chDB with the real schema and real rows."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from ingest.settings import Settings
from storage.client import connect

pytestmark = pytest.mark.integration

DASHBOARDS = sorted(
    (Path(__file__).resolve().parents[2] / "k8s" / "monitoring" / "dashboards").glob("*.json")
)
FROM, TO = "toDateTime64('2026-01-01 00:00:00', 6, 'UTC')", "toDateTime64('2027-01-01 00:00:00', 6, 'UTC')"


def clickhouse_panels() -> list[tuple[str, str]]:
    out = []
    for path in DASHBOARDS:
        dashboard: dict[str, Any] = json.loads(path.read_text())
        for p in dashboard["panels"]:
            if p["datasource"]["type"] == "grafana-clickhouse-datasource":
                out += [(f"{path.stem}: {p['title']}", t["rawSql"]) for t in p["targets"]]
    return out


def render(sql: str, site: str = "", line: str = "") -> str:
    """What Grafana sends: macros and dashboard variables filled in."""
    sql = re.sub(r"\$__timeFilter\((\w+)\)", rf"(\1 >= {FROM} AND \1 <= {TO})", sql)
    return sql.replace("${site}", site).replace("${line}", line)


def test_every_panel_runs_on_the_real_schema(tmp_path: Path) -> None:
    panels = clickhouse_panels()
    assert len(panels) >= 6
    store = connect(Settings(clickhouse_dsn=f"chdb://{tmp_path / 'ch'}"))
    try:
        store.command(
            "INSERT INTO item_state (item, site, line, product, job, stage, station, status, parent, "
            "first_seen, last_seen, passes, on_hold, revision) VALUES "
            "('i1', 'S', 'L', 'P', 'J', 'cut', 'C1', 'in_process', '', now64(6), now64(6), 1, 1, 1)"
        )
        store.command(
            "INSERT INTO violations (pass_id, item, site, line, station, stage, time, type, detail, missing, "
            "product, job, retracted, revision) VALUES "
            "('p1', 'i1', 'S', 'L', 'C1', 'cut', '2026-06-01 08:00:00', 'skipped_stage', 'missing a', ['a'], "
            "'P', 'J', 0, 1)"
        )
        store.command(
            "INSERT INTO pass_counts (site, line, station, stage, minute, partition, passes, revision) "
            "VALUES ('S', 'L', 'C1', 'cut', '2026-06-01 08:00:00', 0, 7, 1)"
        )
        store.command(
            "INSERT INTO stations (site, line, station, stage, target_per_hour) "
            "VALUES ('S', 'L', 'C1', 'cut', 600)"
        )
        store.command(
            "INSERT INTO portal_read_rates (site, line, stage, partition, observed, read, revision) "
            "VALUES ('S', 'L', 'cut', 0, 10, 9, 1)"
        )
        answers = {title: store.query(render(sql)) for title, sql in panels}
        filtered = {title: store.query(render(sql, site="OTHER")) for title, sql in panels}
    finally:
        store.close()
    assert all(rows for rows in answers.values()), [t for t, rows in answers.items() if not rows]
    assert answers["plant-floor: WIP by stage"] == [{"stage": "cut", "items": 1}]
    [minute] = answers["plant-floor: Throughput per station per minute against target"]
    assert (minute["station"], minute["passes"], minute["target"]) == ("C1", 7, 10.0)
    assert filtered["plant-floor: WIP by stage"] == []
