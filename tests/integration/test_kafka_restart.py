"""The whole stack stopped and started again on Apache Kafka, the broker included, with its log
directory kept: the worker rebuilds its items' route state from the route-state changelog the
broker kept, with no `linetrace state restore`, and the trace comes out exact.

Kafka only: Tansu keeps topics in memory, so the same restart there needs the restore
(tests/integration/test_restart.py)."""

from __future__ import annotations

from pathlib import Path

from ingest.kafkabroker import KafkaBroker
from ingest.plant import parse_plant
from ingest.settings import Settings
from ingest.timefmt import now_us
from storage.client import connect
from tests.integration.brokers import kafka_only
from tests.integration.conftest import Pipeline
from tests.integration.test_restart import (
    ALL_PASSES,
    EXPECTED_VIOLATIONS,
    FIRST_PASSES,
    KEY,
    S,
    Scenario,
    _held,
    _passes,
    _plant,
    _send,
    _wait_drained,
    assert_resumed_trace,
)

pytestmark = kafka_only


def test_the_worker_resumes_from_the_changelog_kafka_kept(settings: Settings, tmp_path: Path) -> None:
    plant = parse_plant(_plant())
    scenario = Scenario(now_us() - 600 * S)
    broker = KafkaBroker(tmp_path / "kafka").start()
    settings = broker.tuned(settings)
    started: list[Pipeline] = []
    try:
        (tmp_path / "run-1").mkdir()
        first = Pipeline(settings, plant, tmp_path / "run-1").start()
        started.append(first)
        _send(first, scenario.first_half())
        first.wait_until(lambda: _passes(first) == FIRST_PASSES, what="the first half's passes")
        first.wait_until(
            lambda: _held(first) == {KEY["w3"], KEY["p4"], KEY["k6"], KEY["case"]},
            what="the holds through containment",
        )
        assert first.query("violations") == []
        first.processes["worker"].stop()
        _wait_drained(first)
        assert first.processes["sink"].stop() == 0, first.processes["sink"].log()
        first.stop()

        broker.stop()  # SIGTERM: a controlled shutdown; the log directory stays
        broker.start()

        (tmp_path / "run-2").mkdir()
        second = Pipeline(settings, plant, tmp_path / "run-2").start()  # no restore
        started.append(second)
        _send(second, scenario.second_half())
        second.wait_until(lambda: _passes(second) == ALL_PASSES, what="every pass stored")
        assert_resumed_trace(second)

        second.stop_sink()
        store = connect(second.settings)
        try:
            counts = store.query("SELECT pass_id, count() AS n FROM passes FINAL GROUP BY pass_id")
            assert len(counts) == ALL_PASSES and {c["n"] for c in counts} == {1}  # none lost, none twice
            stored = store.query("SELECT item, type, detail FROM violations FINAL WHERE retracted = 0")
            assert {(v["item"], v["type"], v["detail"]) for v in stored} == EXPECTED_VIOLATIONS
            bound = store.query(
                "SELECT job, product, stage FROM item_state FINAL WHERE item = {item:String}",
                {"item": KEY["u"]},
            )
            assert bound == [{"job": "J-9", "product": "PART", "stage": "a"}]
        finally:
            store.close()
    finally:
        for p in reversed(started):
            p.stop()
            del p.producer  # it would keep calling the broker that is gone
        broker.stop()
