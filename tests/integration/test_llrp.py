"""An LLRP reader end to end: llrpkit's reader emulator on loopback (a real LLRP peer), the
adapter with its read-cycle aggregation, the real broker, worker, sink and chDB. The reader
goes away mid-run and comes back; the adapter reconnects and nothing read is lost."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Callable
from typing import Any

import pytest
from llrpkit.emulator import LLRPEmulator
from llrpkit.emulator.core import EmulatedTag

from ingest.broker import free_port
from ingest.deadletter import dead_letter
from ingest.epc import item_key
from ingest.errors import InvalidInput
from ingest.kafka import deliver_or_raise, make_producer
from ingest.schema import ReadCycleReport
from ingest.settings import Settings
from ingest.topics import Topics
from ingest.wire import encode_report
from readers.base import CycleAggregator
from readers.llrp import LlrpAdapter
from tests.integration.conftest import Pipeline
from tests.integration.scenario import LINE, PLANT, SITE, part

pytestmark = pytest.mark.integration


class KafkaOutlet:
    """Reports and rejections straight to their topics (no spool)."""

    def __init__(self, settings: Settings):
        self.producer = make_producer(settings)
        self.topics = Topics.of(settings)
        self.reports = 0

    def publish_report(self, report: ReadCycleReport) -> None:
        self.producer.produce(self.topics.reads, encode_report(report), key=report.reader_id.encode())
        self.producer.poll(0)
        self.reports += 1

    def reject(self, source: str, reason: str, detail: str, payload: bytes) -> None:
        record = dead_letter(InvalidInput(reason, detail), f"reader:{source}", 0, 0, payload)
        self.producer.produce(self.topics.dead_letter, record)


def _plant() -> dict[str, Any]:
    doc = copy.deepcopy(PLANT)
    points = doc["sites"][0]["lines"][0]["read_points"]
    points += [
        {"reader": "LLRP-1", "antenna": 1, "station": "A1"},
        {"reader": "LLRP-1", "antenna": 2, "station": "B1"},
    ]
    return doc


def _tags(antenna: int, *epcs: str) -> list[EmulatedTag]:
    return [EmulatedTag(bytes.fromhex(e), antennas=(antenna,)) for e in epcs]


async def _until(check: Callable[[], bool], timeout_s: float = 15.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not check():
        if loop.time() > deadline:
            raise AssertionError("timed out")
        await asyncio.sleep(0.05)


def test_llrp_reader_to_trace_with_a_reconnect(
    pipeline_factory: Callable[[dict[str, Any]], Pipeline],
) -> None:
    p = pipeline_factory(_plant())
    outlet = KafkaOutlet(p.settings)
    e1, e2 = part(70), part(71)
    port = free_port()

    async def scenario() -> LlrpAdapter:
        aggregator = CycleAggregator(SITE, LINE, "LLRP-1", 250_000, outlet.publish_report)
        adapter = LlrpAdapter("LLRP-1", "127.0.0.1", port, aggregator, outlet, backoff_s=(0.1, 0.5))
        stop = asyncio.Event()
        first = LLRPEmulator(port=port, tags=_tags(1, e1, e2), antenna_count=2, reads_per_sec=80)
        await first.start()
        task = asyncio.create_task(adapter.run(stop))
        try:
            await _until(lambda: adapter.health.reads >= 40)  # both items pass A1
            await first.stop()  # the reader goes away (power cycle, network)
            await _until(lambda: not adapter.health.connected)
            await asyncio.sleep(0.5)  # it stays away through a few reconnect attempts
            second = LLRPEmulator(port=port, tags=_tags(2, e1, e2), antenna_count=2, reads_per_sec=80)
            await second.start()
            try:
                await _until(lambda: adapter.health.connects == 2)
                reads_before = adapter.health.reads
                await _until(lambda: adapter.health.reads >= reads_before + 40)  # both pass B1
            finally:
                stop.set()
                await task
                await second.stop()
        finally:
            stop.set()
            await first.stop()
        return adapter

    adapter = asyncio.run(scenario())
    deliver_or_raise(outlet.producer)
    assert (adapter.health.connects, adapter.health.disconnects, adapter.health.rejected) == (2, 2, 0)
    assert adapter.health.errors >= 2 and adapter.health.last_error.startswith("LLRP")
    assert adapter.health.model == 700

    keys = [item_key(e1), item_key(e2)]

    def stored() -> bool:
        return all([h["station"] for h in p.query("history", item=k)] == ["A1", "B1"] for k in keys)

    p.wait_until(stored, what="both items' passes at A1 then B1")
    for k in keys:
        assert [h["outcome"] for h in p.query("history", item=k)] == ["movement", "movement"]
    # Read cycles are stored with the sink's commit, up to sink_commit_s after the passes.
    p.wait_until(lambda: p.query("summary")["reads"]["reports"] >= outlet.reports, what="every read cycle")
    summary = p.query("summary")
    assert summary["reads"]["reports"] == outlet.reports  # every cycle the adapter emitted, once
    assert summary["reads"]["raw_reads"] == adapter.health.reads  # every singulation it received
    assert summary["dead_letters"] == []
