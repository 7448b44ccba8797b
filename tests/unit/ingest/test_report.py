"""Every query's answer prints for people (`linetrace query NAME`) and as JSON (`--json`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

import ingest.cli.queryclient
from ingest.cli import main
from ingest.cli.report import answer_text
from ingest.timefmt import ANSWER_JSON
from storage.service import QUERIES

T = datetime(2026, 3, 2, 8, 0, 0, 125000, tzinfo=UTC)
ITEM = "urn:epc:id:sgtin:0614141.000002.7"
NODE = {"item": "urn:epc:id:sgtin:0614141.000001.3", "depth": 1, "station": "ASSY-1", "time": T}
PASS = {"item": ITEM, "first_seen": T, "station": "QC-1", "stage": "qc", "outcome": "movement", "job": ""}
VIOLATION = {"time": T, "item": ITEM, "stage": "pack", "type": "skipped_stage", "missing": ["qc"]}
JOB = {"job": "J-1", "site": "S1", "line": "L1", "product": "KIT", "quantity": 10, "done": 4}

# One answer shaped like each query's: rows, rows of two kinds, one mapping with lists of rows
# (trace), one mapping of counts (progress), the summary.
ANSWERS: dict[str, Any] = {
    "history": [PASS, {**PASS, "station": "PACK-1", "stage": "pack"}],
    "genealogy": [{**NODE, "product": "PART", "job": "J-1", "stage": "assemble", "status": "assembled"}],
    "trace": {"item": ITEM, "direction": "down", "nodes": [NODE], "passes": [PASS]},
    "recall": [{"item": ITEM, "depth": 0, "status": "complete"}, {**NODE, "status": "assembled"}],
    "wip": [{"site": "S1", "line": "L1", "stage": "qc", "items": 3}],
    "wip_flow": [{"site": "S1", "line": "L1", "stage": "qc", "items": 3, "waiting": 1, "oldest_s": 1260}],
    "throughput": [{"station": "QC-1", "minute": T, "passes": 12, "target": 30.0}],
    "violations": [{**VIOLATION, "p_missed_read": 0.125}, {**VIOLATION, "p_missed_read": None}],
    "read_rates": [{"stage": "qc", "seen_after": 40, "read": 39, "rate": 0.975}],
    "held": [{"item": ITEM, "hold_id": "H-1", "type": "quality", "since": T}],
    "hold": [{"hold_id": "H-1", "item": ITEM, "hold_type": "material", "event": "placed", "time": T}],
    "wip_by_job": [{"job": "J-1", "stage": "qc", "items": 2}],
    "wip_ageing": [{"item": ITEM, "station": "QC-1", "last_seen": T, "age_s": 1200.5}],
    "cycle_time": [{"stage": "qc", "passes": 9, "p50_s": 41.0, "p95_s": 88.25}],
    "operators": [{"operator": "op-7", "station": "QC-1", "scans": 31}],
    "job_progress": [{"job": "J-1", "stage": "qc", "route_index": 1, "received": 5, "completed": 4}],
    "late_jobs": [{**JOB, "due": T, "remaining": 6, "target_rate_per_h": 0.0, "past_due": True}],
    "blocked_jobs": [
        {"kind": "blocker", "site": "S1", "line": "L1", "job": "J-1", "blocker_id": "B-1", "since": T},
        {"kind": "hold", "site": "S1", "line": "L1", "job": "J-2", "held_items": 3},
    ],
    "pending_qc": [{"item": ITEM, "job": "J-1", "station": "ASSY-1", "arrived": T}],
    "jobs": [{**JOB, "planned_start": T, "due": T, "target_rate_per_h": 0.0}],
    "item_holds": [{"hold_id": "H-1", "hold_type": "qc", "placed": T, "released": None}],
    "qc_results": [
        {"item": ITEM, "job": "J-1", "station": "QC-1", "result": "fail", "notes": "dent", "time": T}
    ],
    "job_events": [{"job": "J-1", "event": "delay", "time": T, "note": "no steel"}],
    "job_items": [{"item": ITEM, "stage": "qc", "status": "in_process", "on_hold": 0, "last_seen": None}],
    "carriers": [{"carrier": "urn:epc:id:sscc:0614141.1234567890", "item": ITEM, "status": "assembled"}],
    "ready_for_dispatch": [{**JOB, "flagged": False}],
    "progress": {"read_cycle_rows": 120, "pass_rows": 48, "dead_letter_rows": 0},
    "verdicts": [{"passes": 48, "movements": 46, "violations_open": 2, "retracted_violations": 1}],
    "summary": {
        "reads": {"reads": 200, "reports": 50, "raw_reads": 900},
        "items": {"items": 10, "in_process": 4, "complete": 5, "assembled": 1, "unknown": 0},
        "passes": {"passes": 48, "movements": 46},
        "violations_by_type": [{"type": "skipped_stage", "violations": 2}],
        "skipped_stages": [{**VIOLATION, "p_missed_read": None}],
        "wip_by_stage": [],
        "read_rates": [],
        "throughput_by_station": [{"station": "QC-1", "passes": 12}],
        "dead_letters": [],
        "genealogy": {"item": ITEM, "down": [NODE]},
    },
}


def test_every_query_has_an_answer_here() -> None:
    assert set(ANSWERS) == set(QUERIES)


@pytest.mark.parametrize("name", sorted(ANSWERS))
def test_every_query_prints_as_a_table_and_as_json(
    name: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(ingest.cli.queryclient, "query", lambda settings, n, params: ANSWERS[n])
    item = (
        [ITEM] if name in ("history", "genealogy", "trace", "recall") else ["H-1"] if name == "hold" else []
    )

    assert main(["query", name, *item]) == 0
    text = capsys.readouterr().out
    assert main(["query", name, *item, "--json"]) == 0
    as_json = orjson.loads(capsys.readouterr().out)

    assert text.strip() and "Traceback" not in text
    assert as_json == orjson.loads(orjson.dumps(ANSWERS[name], default=str, option=ANSWER_JSON))
    times = [v for row in _rows(as_json) for v in row.values() if isinstance(v, str) and v[:2] == "20"]
    assert all(t.endswith("Z") and "T" in t for t in times), times  # RFC 3339, UTC
    assert all(t in text for t in times), "the table shows the times as the JSON does"


def _rows(answer: Any) -> list[dict[str, Any]]:
    if isinstance(answer, list):
        return [r for r in answer if isinstance(r, dict)]
    if isinstance(answer, dict):
        return [answer, *(r for v in answer.values() for r in _rows(v))]
    return []


def test_a_trace_shows_its_item_then_its_nodes_and_passes() -> None:
    lines = answer_text("trace", ANSWERS["trace"]).splitlines()

    assert lines[0].split() == ["item", "direction"]
    assert lines[2].split() == [ITEM, "down"]
    assert lines[3] == "NODES" and lines.index("PASSES") > 3
    assert "2026-03-02T08:00:00.125000Z" in lines[-1]


def test_rows_of_two_kinds_show_every_column() -> None:
    header = answer_text("blocked_jobs", ANSWERS["blocked_jobs"]).splitlines()[0].split()

    assert header == ["kind", "site", "line", "job", "blocker_id", "since", "held_items"]


@pytest.mark.parametrize(
    "answer", [[], {}, [1, 2], 7], ids=["no rows", "empty mapping", "scalars", "one value"]
)
def test_unusual_answers_print(answer: Any) -> None:
    assert answer_text("wip", answer).strip()
