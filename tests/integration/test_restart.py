"""The whole local stack stopped and started again on the same embedded store: the local
broker keeps nothing, and `linetrace state restore` gives the items in process their route
state back from ClickHouse, so their next reads are judged as if nothing had stopped."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from confluent_kafka import TopicPartition

from ingest.broker import LocalBroker
from ingest.cli.stack import LocalStack, StackPlace, local_stack
from ingest.epc import item_key
from ingest.kafka import create_topics, make_consumer, read_partitions
from ingest.plant import Plant, parse_plant
from ingest.plantpub import publish_plant
from ingest.schema import Aggregation, HoldEvent, JobEvent, ReadCycleReport
from ingest.settings import Settings
from ingest.timefmt import now_us
from ingest.wire import encode_aggregation, encode_hold, encode_job_event, encode_report
from storage.client import connect
from tests.integration.conftest import Pipeline
from tests.integration.scenario import LINE, PLANT, SITE, Line, kit, part

pytestmark = pytest.mark.integration

S = 1_000_000
CASE = "urn:epc:id:sscc:0614141.1234567890"
UNBOUND_EPC = "E2801160600002054CC2096F"  # no GTIN: only its job binding gives it a route
READER = {"A1": "RA", "B1": "RB", "C1": "RC", "D1": "RD"}

# w1 halfway along its route, w2 in a rework loop, w3 on hold, k6 assembled from p4 and p5
# and packed into a case, u bound to a job before its first read.
EPC = {"w1": part(11), "w2": part(12), "w3": part(13), "p4": part(14), "p5": part(15)}
EPC |= {"k6": kit(16), "w7": part(17), "u": UNBOUND_EPC}
KEY = {name: item_key(epc) for name, epc in EPC.items()} | {"case": CASE}

FIRST_PASSES = 12  # w1 a b, w2 a b c b, w3 a, p4 a b, p5 a b, k6 c
ALL_PASSES = FIRST_PASSES + 8  # w1 c d, w2 c b, w3 b, k6 d, w7 a, u a
# Deliberate, and only these once the state is restored: the rework loop's limit, two holds.
EXPECTED_VIOLATIONS = {
    (KEY["w2"], "loop_limit_exceeded", "rework c>b #2 > 1"),
    (KEY["w3"], "on_hold", "hold H1 (material)"),
    (KEY["k6"], "on_hold", "hold H2 (material)"),
}


def _plant() -> dict[str, Any]:
    """The scenario line with a rework loop c -> b, allowed once."""
    doc = copy.deepcopy(PLANT)
    route = next(p for p in doc["sites"][0]["lines"][0]["products"] if p["product"] == "PART")["route"]
    route["rework"] = [{"from": "c", "to": "b", "max": 1}]
    return doc


class Scenario:
    def __init__(self, base_us: int):
        self.base = base_us
        self.line = Line(base_us)

    def reads(self, station: str, t_s: float, *names: str) -> ReadCycleReport:
        return self.line.at(READER[station], t_s, [EPC[n] for n in names])

    def hold(self, event: str, hold_id: str, name: str, t_s: float) -> HoldEvent:
        return HoldEvent(
            event=event,
            hold_id=hold_id,
            site=SITE,
            line=LINE,
            items=(KEY[name],),
            hold_type="material",
            owner="QA",
            reason="",
            time_us=self.base + int(t_s * S),
        )

    def pack(self, parent: str, children: tuple[str, ...], station: str, t_s: float) -> Aggregation:
        return Aggregation(
            site=SITE,
            line=LINE,
            station=station,
            parent=KEY[parent],
            children=tuple(KEY[c] for c in children),
            time_us=self.base + int(t_s * S),
        )

    def first_half(self) -> list[Any]:
        return [
            JobEvent(
                event="items_bound",
                job="J-9",
                site=SITE,
                line=LINE,
                product="PART",
                quantity=0,
                items=(KEY["u"],),
                time_us=self.base,
            ),
            self.reads("A1", 0, "w1", "w2", "w3", "p4", "p5"),
            self.hold("placed", "H1", "w3", 5),
            self.reads("B1", 10, "w1", "w2", "p4", "p5"),
            self.reads("C1", 20, "w2", "k6"),
            self.pack("k6", ("p4", "p5"), "C1", 20),
            self.reads("B1", 30, "w2"),  # rework c -> b, the one allowed
            self.pack("case", ("k6",), "C1", 35),
            self.hold("placed", "H2", "p4", 40),  # reaches k6 and the case through containment
        ]

    def second_half(self) -> list[Any]:
        return [
            self.reads("A1", 100, "w7", "u"),
            self.reads("C1", 100, "w1", "w2"),
            self.reads("B1", 100, "w3"),
            self.reads("D1", 100, "k6"),
            self.hold("placed", "H3", "p5", 105),  # placed after the restart: reaches k6 and the case
            self.hold("released", "H2", "p4", 106),
            self.reads("D1", 110, "w1"),
            self.reads("B1", 110, "w2"),  # a second rework: beyond the limit
        ]


def _send(p: Pipeline, messages: list[Any]) -> None:
    t = p.topics
    for m in messages:
        if isinstance(m, ReadCycleReport):
            p.send(t.reads, encode_report(m), m.reader_id.encode())
        elif isinstance(m, Aggregation):
            p.send(t.aggregations, encode_aggregation(m), m.parent.encode())
        elif isinstance(m, HoldEvent):
            p.send(t.jobs, encode_hold(m), m.hold_id.encode())
        else:
            p.send(t.jobs, encode_job_event(m), m.job.encode())
    p.flush()


def _passes(p: Pipeline) -> int:
    return int(p.query("summary")["passes"]["passes"] or 0)


def _held(p: Pipeline) -> set[str]:
    return {h["item"] for h in p.query("held")}


def _wait_drained(p: Pipeline, quiet_s: float = 2.0, timeout_s: float = 60.0) -> None:
    """Until the sink has committed everything the worker wrote to the trace and dead letters."""
    s = p.settings
    wanted = [TopicPartition(p.topics.trace, i) for i in range(s.partitions)]
    wanted.append(TopicPartition(p.topics.dead_letter, 0))
    consumer = make_consumer(s, f"{s.worker_id}-sink")  # never subscribes: only reads the group's offsets
    try:
        deadline, since = time.monotonic() + timeout_s, None
        while time.monotonic() < deadline:
            committed = {(c.topic, c.partition): c.offset for c in consumer.committed(wanted, timeout=10)}
            ends = {(w.topic, w.partition): consumer.get_watermark_offsets(w, timeout=10)[1] for w in wanted}
            if all(high == 0 or committed[k] >= high for k, high in ends.items()):
                since = since or time.monotonic()
                if time.monotonic() - since >= quiet_s:
                    return
            else:
                since = None
            time.sleep(0.2)
    finally:
        consumer.close()
    raise AssertionError("the sink did not catch up with the trace topic")


def assert_resumed_trace(p: Pipeline) -> None:
    """After a restart, the second half of the scenario judged with the first half's state:
    the expected violations and no others, the holds through containment, WIP and a history."""

    def confirmed() -> set[tuple[str, str, str]]:
        return {(v["item"], v["type"], v["detail"]) for v in p.query("violations")}

    p.wait_until(lambda: confirmed() == EXPECTED_VIOLATIONS, what="the expected violations, and no others")
    p.wait_until(
        lambda: _held(p) == {KEY["w3"], KEY["p5"], KEY["k6"], KEY["case"]},
        what="H3 through containment, H2 released",
    )
    assert {(w["stage"], w["items"]) for w in p.query("wip")} == {("a", 2), ("b", 2)}
    history = p.query("history", item=KEY["w1"])
    assert [(h["station"], h["outcome"]) for h in history] == [
        ("A1", "movement"),
        ("B1", "movement"),
        ("C1", "movement"),
        ("D1", "movement"),
    ]


def _restore(settings: Settings, *args: str) -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LINETRACE_")} | settings.to_env()
    return subprocess.run(
        [sys.executable, "-m", "ingest.cli", "state", "restore", *args],
        env=env,
        capture_output=True,
        timeout=180,
    )


def _changelog(settings: Settings) -> dict[int, list[tuple[bytes, bytes]]]:
    """The route-state records of each partition, in offset order."""
    found: dict[int, list[tuple[int, bytes, bytes]]] = {p: [] for p in range(settings.partitions)}
    for m in read_partitions(settings, f"{settings.topic_prefix}.route-state", list(found)):
        found[m.partition() or 0].append((m.offset() or 0, m.key() or b"", m.value() or b""))
    return {p: [(k, v) for _, k, v in sorted(recs)] for p, recs in found.items()}


def _first_run(broker_settings: Settings, plant: Plant, scenario: Scenario, log_dir: Path) -> Settings:
    """The first half on a stack of its own, stopped gracefully once all of it is stored;
    returns its settings (the store the second run starts on)."""
    broker = LocalBroker(log_path=log_dir / "broker-1.log").start()
    (log_dir / "run-1").mkdir()
    first = Pipeline(broker.tuned(broker_settings), plant, log_dir / "run-1")
    try:
        first.start()
        _send(first, scenario.first_half())
        first.wait_until(lambda: _passes(first) == FIRST_PASSES, what="the first half's passes")
        first.wait_until(
            lambda: _held(first) == {KEY["w3"], KEY["p4"], KEY["k6"], KEY["case"]},
            what="the holds through containment",
        )
        assert first.query("violations") == []
        first.processes["worker"].stop()  # SIGTERM, as every stop here
        _wait_drained(first)
        assert first.processes["sink"].stop() == 0, first.processes["sink"].log()
    finally:
        first.stop()
        broker.stop()
        del first.producer  # it would keep calling the broker that is gone
    return first.settings


@dataclass
class Restarted:
    """The second run of the stack, on the first run's store."""

    pipeline: Pipeline
    restored: dict[str, Any] | None


@pytest.fixture
def restarted(settings: Settings, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Restarted]:
    """Run the first half, stop everything gracefully, start a fresh broker and (when the
    test is parametrised with restore=True) restore the route state before the workers."""
    restore: bool = request.param
    plant = parse_plant(_plant())
    scenario = Scenario(now_us() - 600 * S)
    on_the_same_store = _first_run(broker_settings=settings, plant=plant, scenario=scenario, log_dir=tmp_path)
    started: list[Any] = []
    try:
        second_broker = LocalBroker(log_path=tmp_path / "broker-2.log").start()
        started.append(second_broker)
        after = second_broker.tuned(on_the_same_store)
        create_topics(after)
        publish_plant(after, plant)
        restored = _restore_twice(after) if restore else None
        (tmp_path / "run-2").mkdir()
        second = Pipeline(after, plant, tmp_path / "run-2").start()
        started.append(second)
        _send(second, scenario.second_half())
        second.wait_until(lambda: _passes(second) == ALL_PASSES, what="every pass stored")
        yield Restarted(second, restored)
    finally:
        for thing in reversed(started):
            thing.stop()
            if isinstance(thing, Pipeline):
                del thing.producer  # it would keep calling the broker that is gone


def _restore_twice(settings: Settings) -> dict[str, Any]:
    """Restore, check that it refuses a changelog with records, and that forced it writes
    the same records again; returns the summary of the first."""
    done = _restore(settings)
    assert done.returncode == 0, done.stderr.decode()
    first = _changelog(settings)
    refused = _restore(settings)
    assert refused.returncode == 1 and b"already holds" in refused.stderr, refused.stderr
    forced = _restore(settings, "--force")
    assert forced.returncode == 0, forced.stderr.decode()
    assert _changelog(settings) == {p: recs + recs for p, recs in first.items()}
    summary: dict[str, Any] = orjson.loads(done.stdout)
    assert orjson.loads(forced.stdout) == summary
    return summary


@pytest.mark.parametrize("restarted", [pytest.param(True, id="restored")], indirect=True)
def test_restored_items_resume_without_false_violations(restarted: Restarted) -> None:
    p, restored = restarted.pipeline, restarted.restored
    assert restored is not None
    # Not finished: w1, w2, w3 (in process), p4, p5, k6 (assembled), the case, u (bound only).
    assert restored["items"] == 8
    assert sum(restored["items_by_partition"].values()) == 8

    assert_resumed_trace(p)
    # The running sink holds the embedded store: the restore says so.
    locked = _restore(p.settings, "--force")
    assert locked.returncode == 1 and b"locked by process" in locked.stderr, locked.stderr

    p.stop_sink()
    store = connect(p.settings)
    try:
        counts = store.query("SELECT pass_id, count() AS n FROM passes FINAL GROUP BY pass_id")
        assert len(counts) == ALL_PASSES and {c["n"] for c in counts} == {1}  # none lost, none twice
        stored = store.query("SELECT item, type, detail FROM violations FINAL WHERE retracted = 0")
        assert {(v["item"], v["type"], v["detail"]) for v in stored} == EXPECTED_VIOLATIONS
        bound = store.query(
            "SELECT job, product, stage FROM item_state FINAL WHERE item = {item:String}", {"item": KEY["u"]}
        )
        assert bound == [{"job": "J-9", "product": "PART", "stage": "a"}]
    finally:
        store.close()


@pytest.mark.parametrize("restarted", [pytest.param(False, id="not restored")], indirect=True)
def test_without_the_restore_items_start_afresh(restarted: Restarted) -> None:
    """The negative control: the same restart without the restore shows the false violations."""
    p = restarted.pipeline

    def types() -> set[tuple[str, str]]:
        return {(v["item"], v["type"]) for v in p.query("violations")}

    false = {
        (KEY["w1"], "skipped_stage"),  # at c with no a or b known
        (KEY["w2"], "skipped_stage"),
        (KEY["w3"], "skipped_stage"),  # at b with no a known, and no longer on hold
        (KEY["k6"], "skipped_stage"),  # at d with no c known, and no longer on hold
        (KEY["u"], "unknown_item"),  # its job binding is gone
    }
    p.wait_until(lambda: false <= types(), what="the items judged as new")
    found = types()
    assert (KEY["k6"], "on_hold") not in found and (KEY["w3"], "on_hold") not in found
    assert (KEY["w2"], "loop_limit_exceeded") not in found


def test_the_local_stack_restores_by_itself(tmp_path: Path) -> None:
    """``linetrace demo --keep`` and the rest of ``local_stack``: a kept store gets its route state back."""
    plant = parse_plant(_plant())
    scenario = Scenario(now_us() - 600 * S)
    base = Settings(partitions=2, reorder_window_s=0.5)
    data_dir = tmp_path / "local"

    with local_stack(base, plant, StackPlace(data_dir=data_dir)) as stack:
        assert stack.restored is None  # a fresh store: nothing to restore
        p = _stack_pipeline(stack, plant, tmp_path)
        _send(p, [scenario.reads("A1", 0, "w1"), scenario.reads("B1", 10, "w1")])
        p.wait_until(lambda: _passes(p) == 2, what="w1 at a and b")
        stack.children["worker"].stop()  # the worker first, so the sink stores all it wrote
        _wait_drained(p)
        del p.producer

    with local_stack(base, plant, StackPlace(data_dir=data_dir, keep=True)) as stack:
        assert stack.restored is not None and stack.restored["items"] == 1
        p = _stack_pipeline(stack, plant, tmp_path)
        _send(p, [scenario.reads("C1", 100, "w1")])
        p.wait_until(lambda: _passes(p) == 3, what="w1 at c")
        history = p.query("history", item=KEY["w1"])
        assert [h["outcome"] for h in history] == ["movement", "movement", "movement"]


def _stack_pipeline(stack: LocalStack, plant: Plant, log_dir: Path) -> Pipeline:
    """A Pipeline over a running local stack: its producer and its query API."""
    p = Pipeline(stack.settings, plant, log_dir)
    p.api = stack.api
    return p
