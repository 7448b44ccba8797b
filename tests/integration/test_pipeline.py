"""The walking pipeline end to end: real broker, real stream worker, real sink and chDB."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import orjson
import pytest

from ingest.errors import InvalidInput
from ingest.kafka import read_partitions
from ingest.schema import HoldEvent
from ingest.timefmt import now_us
from ingest.wire import encode_aggregation, encode_hold, encode_report
from storage.client import connect
from tests.integration.conftest import Pipeline
from tests.integration.scenario import LINE, PLANT, SITE, build

pytestmark = pytest.mark.integration


def _stored_reports(p: Pipeline) -> int:
    return int(p.query("summary")["reads"]["reports"] or 0)


def test_scenario_gives_exact_trace(pipeline_factory: Callable[[dict[str, Any]], Pipeline]) -> None:
    p = pipeline_factory(PLANT)
    reports, assemblies, keys = build(now_us() - 600 * 1_000_000)
    t = p.topics
    for r in reports:
        p.send(t.reads, encode_report(r), r.reader_id.encode())
    p.send(t.reads, encode_report(reports[1]), reports[1].reader_id.encode())  # one cycle sent twice
    p.send(t.reads, b"{not json", b"RA")  # malformed, must not stop the stream
    bad_antenna = encode_report(reports[0]).replace(b'"antenna":1', b'"antenna":9', 1)
    p.send(t.reads, bad_antenna, b"RA")
    for a in assemblies:
        p.send(t.aggregations, encode_aggregation(a), a.parent.encode())
    late = dataclasses.replace(reports[-1], cycle_seq=7)  # read again after the bad messages
    p.send(t.reads, encode_report(late), b"RD")
    p.flush()

    p.wait_until(lambda: _stored_reports(p) == len(reports) + 1, what="every distinct cycle stored")
    expected_passes = 14
    p.wait_until(lambda: p.query("summary")["passes"]["passes"] == expected_passes, what="passes judged")

    violations = assert_scenario_answers(p, keys)
    dead = p.query("summary")["dead_letters"]
    assert {d["reason"]: d["records"] for d in dead} == {"malformed_json": 1, "unknown_read_point": 1}

    p.stop_sink()
    store = connect(p.settings)
    try:
        cycles = store.query("SELECT report_id, count() AS n FROM read_cycles FINAL GROUP BY report_id")
        assert all(c["n"] == 1 for c in cycles) and len(cycles) == len(reports) + 1
        assert store.query("SELECT count() AS n FROM passes FINAL")[0]["n"] == expected_passes
        links = store.query("SELECT node, other, direction FROM links FINAL ORDER BY direction, node, other")
        assert [(r["node"], r["other"], r["direction"]) for r in links] == sorted(
            [(keys["k4"], keys["p5"], "down"), (keys["k4"], keys["p6"], "down")]
        ) + sorted([(keys["p5"], keys["k4"], "up"), (keys["p6"], keys["k4"], "up")])
        states = {
            r["item"]: (r["stage"], r["route_stage"], r["status"])
            for r in store.query("SELECT item, stage, route_stage, status FROM item_state FINAL")
        }
        assert states == {
            keys["p1"]: ("d", "d", "complete"),
            keys["p2"]: ("c", "c", "in_process"),
            keys["p3"]: ("b", "c", "in_process"),  # back at b, out of sequence
            keys["k4"]: ("d", "d", "complete"),
            keys["p5"]: ("a", "a", "assembled"),
            keys["p6"]: ("a", "a", "assembled"),
        }
        engines = {
            r["name"]: r["engine_full"]
            for r in store.query("SELECT name, engine_full FROM system.tables WHERE database = 'linetrace'")
        }
        assert "toIntervalDay(90)" in engines["read_cycles"]  # the default retentions
        assert " TTL " not in engines["passes"]
        dead = store.query("SELECT reason, source_topic, detail FROM dead_letters FINAL ORDER BY reason")
        assert [(d["reason"], d["source_topic"]) for d in dead] == [
            ("malformed_json", p.topics.reads),
            ("unknown_read_point", p.topics.reads),
        ]
    finally:
        store.close()

    dead_topic = [
        orjson.loads(m.value() or b"")["reason"]
        for m in read_partitions(p.settings, p.topics.dead_letter, [0])
    ]
    assert sorted(dead_topic) == ["malformed_json", "unknown_read_point"]

    # With the sink stopped, the CLI opens the store itself and gives the same answer.
    env = {**os.environ, **p.settings.to_env()}
    out = subprocess.run(
        [sys.executable, "-m", "ingest.cli", "query", "violations", "--json"],
        env=env,
        capture_output=True,
        check=True,
        timeout=120,
    )
    cli_violations = {(v["item"], v["type"]) for v in json.loads(out.stdout)}
    assert cli_violations == {(i, t) for i, t, _ in violations}
    assert orjson.loads(out.stdout)


def assert_scenario_answers(p: Pipeline, keys: dict[str, str]) -> set[tuple[str, str, str]]:
    """The exact answers of every query on the scenario; returns the violations seen."""
    # Pass rows are written at once; violations once their pass leaves the reorder window.
    p.wait_until(lambda: len(p.query("violations")) == 2, what="violations confirmed")
    history = p.query("history", item=keys["p1"])
    assert [(h["station"], h["outcome"]) for h in history] == [
        ("A1", "movement"),
        ("B1", "movement"),
        ("C1", "movement"),
        ("D1", "movement"),
    ]
    down = p.query("genealogy", item=keys["k4"], direction="down")
    assert sorted(d["item"] for d in down) == sorted([keys["p5"], keys["p6"]])
    assert {d["status"] for d in down} == {"assembled"}
    recall = p.query("recall", item=keys["p5"])
    assert [(r["depth"], r["item"], r["status"]) for r in recall] == [
        (0, keys["p5"], "assembled"),
        (1, keys["k4"], "complete"),
    ]
    up = p.query("genealogy", item=keys["p5"], direction="up")
    assert [(u["item"], u["depth"]) for u in up] == [(keys["k4"], 1)]
    # p3 went back to b (out of sequence): WIP counts it where it is, at b
    assert p.query("wip") == [
        {"site": "SITE-1", "line": "LINE-1", "stage": "b", "items": 1},
        {"site": "SITE-1", "line": "LINE-1", "stage": "c", "items": 1},
    ]
    # Read rates, on the items seen downstream of each stage: p2 was not read at b.
    rates = {(r["stage"], r["observed"], r["read"]) for r in p.query("read_rates")}
    assert rates == {("a", 3, 3), ("b", 3, 2), ("c", 2, 2)}
    listed = p.query("violations")
    skipped = [v for v in listed if v["type"] == "skipped_stage"]
    assert [(v["missing"], v["p_missed_read"]) for v in skipped] == [(["b"], None)]  # too few gaps yet
    violations = {(v["item"], v["type"], v["detail"]) for v in listed}
    assert violations == {
        (keys["p2"], "skipped_stage", "missing b"),
        (keys["p3"], "out_of_sequence", "back to b from c"),
    }
    summary = p.query("summary")
    throughput = {r["station"]: r["passes"] for r in summary["throughput_by_station"]}
    assert throughput == {"A1": 5, "B1": 3, "C1": 4, "D1": 2}
    with pytest.raises(InvalidInput, match=f"site: 'OTHER' is not in the plant; known: {SITE}"):
        p.query("wip", site="OTHER")  # not an empty answer, as if the site had nothing in process

    assert p.query("wip_by_job") == [
        {"site": SITE, "line": LINE, "job": "", "stage": "b", "items": 1},
        {"site": SITE, "line": LINE, "job": "", "stage": "c", "items": 1},
    ]
    ageing = p.query("wip_ageing", older_than_s="60")
    assert [a["item"] for a in ageing] == [keys["p2"], keys["p3"]]
    # The board's columns, from the stream's WIP rollup: the same items, both waiting.
    flow = p.query("wip_flow", older_than_s="60")
    assert [(f["stage"], f["items"], f["waiting"]) for f in flow] == [("b", 1, 1), ("c", 1, 1)]
    assert all(f["oldest_s"] >= 60 for f in flow)
    cycle = {c["stage"]: (c["items"], c["avg_s"], c["p50_s"]) for c in p.query("cycle_time")}
    assert cycle == {"a": (3, 13.333, 10.0), "b": (2, 10.0, 10.0), "c": (3, 20.0, 10.0)}
    hourly: dict[str, int] = {}
    targets = set()
    for row in p.query("throughput", bucket="hour", minutes="120"):
        hourly[row["station"]] = hourly.get(row["station"], 0) + row["passes"]
        targets.add((row["station"], row["target"]))
    assert targets == {("A1", 120.0), ("B1", 0.0), ("C1", 0.0), ("D1", 0.0)}
    assert {(r["station"], r["target"]) for r in p.query("throughput", minutes="120")} == {
        ("A1", 2.0),
        ("B1", 0.0),
        ("C1", 0.0),
        ("D1", 0.0),
    }
    assert hourly == {"A1": 5, "B1": 3, "C1": 4, "D1": 2}
    return violations


def test_worker_killed_mid_stream_replays_without_doubles(
    pipeline_factory: Callable[[dict[str, Any]], Pipeline],
) -> None:
    p = pipeline_factory(PLANT)
    reports, assemblies, keys = build(now_us() - 600 * 1_000_000)
    t = p.topics
    half = len(reports) // 2
    for r in reports[:half]:
        p.send(t.reads, encode_report(r), r.reader_id.encode())
    p.flush()
    p.wait_until(lambda: _stored_reports(p) == half, what="first half stored")
    p.processes["worker"].stop(signal.SIGKILL)  # before faust's next offset commit, most likely
    for r in reports[half:]:
        p.send(t.reads, encode_report(r), r.reader_id.encode())
    for a in assemblies:
        p.send(t.aggregations, encode_aggregation(a), a.parent.encode())
    p.flush()
    p.start_process("worker")
    p.wait_until(lambda: _stored_reports(p) == len(reports), what="every cycle stored")
    p.wait_until(lambda: p.query("summary")["passes"]["passes"] == 14, what="passes judged")
    assert_scenario_answers(p, keys)
    p.stop_sink()
    store = connect(p.settings)
    try:
        revisions = store.query(
            "SELECT pass_id, count() AS n FROM passes FINAL GROUP BY pass_id HAVING n > 1"
        )
        assert revisions == []
        assert store.query("SELECT count() AS n FROM passes FINAL")[0]["n"] == 14
    finally:
        store.close()


def test_a_hold_reaches_what_the_item_went_into(
    pipeline_factory: Callable[[dict[str, Any]], Pipeline],
) -> None:
    p = pipeline_factory(PLANT)
    base = now_us() - 600 * 1_000_000
    reports, assemblies, keys = build(base)
    t = p.topics
    by_reader = {(r.reader_id, r.cycle_start_us - base): r for r in reports}
    first = by_reader[("RA", 0)]  # p1, p2, p3, p5 and p6 at A1
    p.send(t.reads, encode_report(first), b"RA")
    hold = HoldEvent(
        event="placed",
        hold_id="H-42",
        site=SITE,
        line=LINE,
        items=(keys["p5"],),
        hold_type="material",
        owner="QA",
        reason="bad lot",
        time_us=base + 5_000_000,
    )
    p.send(t.jobs, encode_hold(hold), b"H-42")
    for a in assemblies:  # k4 from p5 and p6 at 40 s
        p.send(t.aggregations, encode_aggregation(a), a.parent.encode())
    for key in (("RC", 40_000_000), ("RD", 50_000_000)):
        p.send(t.reads, encode_report(by_reader[key]), key[0].encode())
    p.flush()

    def k4_flagged() -> bool:
        history = p.query("history", item=keys["k4"])
        return [h["outcome"] for h in history] == ["on_hold", "on_hold"]

    p.wait_until(k4_flagged, what="the hold to reach k4 and flag its passes")
    assert sorted(h["item"] for h in p.query("held")) == sorted([keys["p5"], keys["k4"]])
    p.wait_until(
        lambda: any(v["type"] == "on_hold" for v in p.query("violations")),
        what="the on_hold violation confirmed",
    )
    on_hold = [v for v in p.query("violations") if v["type"] == "on_hold"]
    assert {(v["item"], v["detail"]) for v in on_hold} == {(keys["k4"], "hold H-42 (material)")}
