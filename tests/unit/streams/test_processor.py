"""The stream worker's batches and rebalances without faust or a broker: a recording producer
stands in for Kafka, and its route-state records are the changelog a restore reads."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from typing import Any

import orjson
import pytest
from prometheus_client import CollectorRegistry

import streams.processor
from ingest.metrics import WorkerMetrics
from ingest.plant import Plant
from ingest.settings import Settings
from ingest.timefmt import now_us
from ingest.topics import Topics
from ingest.wire import encode_report
from streams.bundles import decode_bundle
from streams.guard import NotAssigned, TopicPartition
from streams.processor import Input, StreamProcessor
from streams.progress import source_of
from streams.shipping import Shipper
from tests.unit.factories import T0, part, part_epc, pass_record, report
from tests.unit.streams.test_assignment import PROGRESS_ONLY, bundle

SETTINGS = Settings(partitions=2, dedup_window_s=1.0, reorder_window_s=0.0)
TOPICS = Topics.of(SETTINGS)


class Producer:
    """Records what is produced; every message is acknowledged at the flush."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes | None, bytes, int | None]] = []
        self.flushes = 0
        self.restored: dict[int, int] = defaultdict(int)  # partition -> times its changelog was read

    def produce(
        self, topic: str, value: bytes, key: bytes | None = None, partition: int | None = None
    ) -> None:
        self.sent.append((topic, key, value, partition))

    def poll(self, timeout: float = 0) -> int:
        return 0

    def flush(self, timeout: float = 0) -> int:
        self.flushes += 1
        return 0

    def on(self, topic: str) -> list[tuple[bytes | None, bytes, int | None]]:
        return [(k, v, p) for t, k, v, p in self.sent if t == topic]


class Record:
    def __init__(self, key: bytes | None, value: bytes):
        self._key, self._value = key, value

    def key(self) -> bytes | None:
        return self._key

    def value(self) -> bytes:
        return self._value


class Offsets:
    def __init__(self) -> None:
        self.committed_at: dict[TopicPartition, int] = {}
        self.log_end: dict[TopicPartition, int] = {}  # as of the consumer's latest fetch

    def committed(self, tp: TopicPartition) -> int | None:
        return self.committed_at.get(tp)

    def highwater(self, tp: TopicPartition) -> int | None:
        return self.log_end.get(tp)


class Clock:
    """``time`` as the processor sees it, with a monotonic clock the test moves."""

    def __init__(self, now: float) -> None:
        self.now = now

    def monotonic(self) -> float:
        return self.now

    def perf_counter(self) -> float:
        return time.perf_counter()


@pytest.fixture
def producer(monkeypatch: pytest.MonkeyPatch) -> Producer:
    """The producer, whose route-state records are what a restore reads back."""
    producer = Producer()

    def read_partitions(settings: Settings, topic: str, partitions: list[int]) -> list[Record]:
        assert topic == TOPICS.route_state
        for p in partitions:
            producer.restored[p] += 1
        return [Record(k, v) for k, v, p in producer.on(topic) if p in partitions]

    monkeypatch.setattr(streams.processor, "read_partitions", read_partitions)
    return producer


def processor(plant: Plant, producer: Producer) -> StreamProcessor:
    shipper = Shipper(SETTINGS, producer=producer)  # type: ignore[arg-type]
    return StreamProcessor(SETTINGS, plant, Offsets(), shipper, WorkerMetrics(CollectorRegistry()))


def bundles(partition: int, *payloads: bytes, first: int = 0) -> list[Input]:
    return [Input(TOPICS.item_bundles, partition, first + i, p) for i, p in enumerate(payloads)]


def owning(p: StreamProcessor, *partitions: int) -> None:
    asyncio.run(p.assigned([(TOPICS.item_bundles, n) for n in partitions]))


def pass_bundle(serial: int, seconds: float = 1) -> bytes:
    return bundle(pass_record(part(serial), "CUT-1", seconds), progress=True)


def passes(producer: Producer) -> list[dict[str, Any]]:
    return [r for _, v, _ in producer.on(TOPICS.trace) for r in orjson.loads(v)["rows"].get("passes", [])]


def test_a_batch_ships_its_changelog_and_rows_and_flushes_before_it_returns(
    plant: Plant, producer: Producer
) -> None:
    p = processor(plant, producer)
    owning(p, 0, 1)

    asyncio.run(p.routes_batch(bundles(0, pass_bundle(1), b"\x00not a bundle")))

    keys = [k for k, _, _ in producer.on(TOPICS.route_state)]
    assert keys[0] == part(1).encode() and [k and k[:8] for k in keys[1:]] == [b"\x00passes:"]
    assert [r["item"] for r in passes(producer)] == [part(1)]
    assert [orjson.loads(v)["reason"] for _, v, _ in producer.on(TOPICS.dead_letter)] == ["bad_bundle"]
    assert producer.flushes == 1


def test_pass_candidates_are_counted_by_what_became_of_them(plant: Plant, producer: Producer) -> None:
    registry = CollectorRegistry()
    shipper = Shipper(SETTINGS, producer=producer)  # type: ignore[arg-type]
    p = StreamProcessor(SETTINGS, plant, Offsets(), shipper, WorkerMetrics(registry))
    owning(p, 0)
    first = pass_record(part(1), "CUT-1", 1, 1.2)
    candidates = bundle(
        first,
        pass_record(part(2), "CUT-1", 1),
        first,  # sent twice
        pass_record(part(1), "CUT-1", 1.8),  # the same visit, opened again by a stage 1 that forgot it
        {**first, "reads": 0, "dir": "enter", "last": first["last"] + 1},  # its direction, told later
        progress=True,
    )

    asyncio.run(p.routes_batch(bundles(0, candidates)))

    counted = {
        outcome: registry.get_sample_value("linetrace_pass_candidates_total", {"outcome": outcome})
        for outcome in ("new", "merged", "duplicate")
    }
    assert counted == {"new": 2, "merged": 1, "duplicate": 1}


def test_each_partition_is_rebuilt_once_before_its_first_input(plant: Plant, producer: Producer) -> None:
    first = processor(plant, producer)
    owning(first, 0)
    asyncio.run(first.routes_batch(bundles(0, pass_bundle(1))))

    producer.restored.clear()
    second = processor(plant, producer)  # takes the partition over: its state is in the changelog
    owning(second, 0)
    asyncio.run(second.routes_batch(bundles(0, pass_bundle(1), pass_bundle(2, 2), first=1)))

    assert producer.restored == {0: 1}
    assert set(second.states.items[0]) == {part(1), part(2)}
    assert sorted(r["item"] for r in passes(producer)) == [part(1), part(2)]  # the replay adds nothing


def test_the_timer_rebuilds_owned_partitions_without_input(plant: Plant, producer: Producer) -> None:
    p = processor(plant, producer)
    owning(p, 1)

    asyncio.run(p.restore_assigned())
    asyncio.run(p.restore_assigned())

    assert producer.restored == {1: 1}
    assert set(p.states.items) == {1}


def test_a_revoked_partition_is_dropped_its_progress_skipped_and_its_items_end_the_worker(
    plant: Plant, producer: Producer
) -> None:
    p = processor(plant, producer)
    owning(p, 0, 1)
    asyncio.run(p.routes_batch(bundles(1, pass_bundle(1))))
    assert 1 in p.states.items

    asyncio.run(p.revoked([(TOPICS.item_bundles, 1)]))
    assert 1 not in p.states.items

    asyncio.run(p.routes_batch(bundles(1, PROGRESS_ONLY, first=1)))
    assert 1 not in p.states.items
    with pytest.raises(NotAssigned):
        asyncio.run(p.routes_batch(bundles(1, pass_bundle(2), first=2)))


def test_a_state_rebuilt_between_revocation_and_assignment_is_not_kept(
    plant: Plant, producer: Producer
) -> None:
    p = processor(plant, producer)
    owning(p, 0)
    asyncio.run(p.routes_batch(bundles(0, pass_bundle(1))))
    asyncio.run(p.revoked([(TOPICS.item_bundles, 0)]))
    p.states.load(0, [])  # as the worker did when it read consumer.assignment() in the gap

    owning(p, 0)

    assert 0 not in p.states.items  # rebuilt from the changelog as it is now, by input or timer
    asyncio.run(p.restore_assigned())
    assert set(p.states.items[0]) == {part(1)}


def test_a_quiet_input_waits_again_when_another_s_log_end_moves_before_its_records_are_taken(
    plant: Plant, producer: Producer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On Kafka the latest fetch can show one partition's new log end while another's new
    records are not fetched yet: the first is seen behind (not idle) before any of its
    records is taken, and its batch must not report the second as idle."""
    clock = Clock(100.0)
    monkeypatch.setattr(streams.processor, "time", clock)
    offsets = Offsets()
    shipper = Shipper(SETTINGS, producer=producer)  # type: ignore[arg-type]
    p = StreamProcessor(SETTINGS, plant, offsets, shipper, WorkerMetrics(CollectorRegistry()))
    reads = [(TOPICS.reads, 0), (TOPICS.reads, 1)]
    asyncio.run(p.assigned(reads))
    offsets.committed_at.update(dict.fromkeys(reads, 0))
    offsets.log_end.update(dict.fromkeys(reads, 0))
    for clock.now in (100.0, 100.0 + SETTINGS.idle_input_s):  # both quiet for a while: idle
        asyncio.run(p.report_progress())
    assert p.stage1.progress.idle == {source_of(*tp): True for tp in reads}

    offsets.log_end[(TOPICS.reads, 0)] = 1  # traffic resumes; reads/1's share is still unseen
    clock.now += 0.2
    asyncio.run(p.report_progress())
    seconds = (now_us() - T0) / 1e6 - 60
    payload = encode_report(report("R-CUT", [(part_epc(1), 1, seconds)]))
    del producer.sent[:]
    clock.now += 0.2
    asyncio.run(p.stage1_batch(TOPICS.reads, [Input(TOPICS.reads, 0, 0, payload)]))

    records = [r for _, v, _ in producer.on(TOPICS.item_bundles) for r in decode_bundle(v)]
    assert [r["k"] for r in records].count("pass") == 1
    progress = [r["sources"] for r in records if r["k"] == "progress"]
    assert len(progress) == SETTINGS.partitions
    assert all(s[source_of(*reads[1])][1] == 0 for s in progress)  # not idle
