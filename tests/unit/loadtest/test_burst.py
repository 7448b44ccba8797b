"""The burst's producers: how the line is shared out among them, and what they sent together."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.cli.stack import LocalStack
from ingest.settings import Settings
from loadtest.burst import BurstSent, BurstShare, combined, in_share, reader_partition
from loadtest.dataset import Shape, bench_plant, report_slots, reports


def share(index: int, producers: int, partitions: int) -> BurstShare:
    return BurstShare(Settings(partitions=partitions), "reads", Shape(), 10, 1, 1000.0, producers, index)


@pytest.mark.parametrize(("producers", "partitions"), [(4, 4), (3, 4), (2, 4), (4, 12), (1, 4)])
def test_every_reader_is_sent_by_one_producer_and_a_partition_by_one(producers: int, partitions: int) -> None:
    readers = [f"R{i}" for i in range(Shape().stations)]
    owners = {
        r: [i for i in range(producers) if in_share(r, share(i, producers, partitions))] for r in readers
    }
    assert all(len(found) == 1 for found in owners.values())
    by_partition: dict[int, set[int]] = {}
    for r, (owner,) in owners.items():
        by_partition.setdefault(reader_partition(r, partitions), set()).add(owner)
    assert all(len(o) == 1 for o in by_partition.values())


def test_reader_partitions_are_the_producers_murmur2() -> None:
    # Kafka's murmur2 of these keys, positive, modulo 4 (what the bench's readers hash to).
    assert [reader_partition(f"R{i}", 4) for i in range(8)] == [0, 2, 3, 3, 1, 1, 1, 3]


def test_a_share_keeps_its_reports_in_the_sequence_order() -> None:
    shape = Shape()
    kept: list[int] = []

    def keep(index: int, station: int) -> bool:
        if station % 2:
            return False
        kept.append(index)
        return True

    every = list(reports(30, shape, 0))
    mine = list(reports(30, shape, 0, keep=keep))
    assert mine == [every[i] for i in kept]
    assert kept == sorted(kept)
    assert len(every) == len(list(report_slots(30, shape)))


def test_what_the_producers_sent_together() -> None:
    sent = combined([BurstSent(10, 5, 9, 2.0), BurstSent(0, None, None, 1.0), BurstSent(4, 3, 7, 3.5)])
    assert sent == BurstSent(14, 3, 9, 3.5)


def test_a_stack_of_several_workers_gives_each_its_own_ports_and_state(tmp_path: Path) -> None:
    settings = Settings(metrics_port=9100, state_dir=str(tmp_path / "worker"))
    stack = LocalStack(settings, bench_plant(Shape()), tmp_path, workers=3)
    ports = [s.metrics_port for s in stack.worker_settings]
    dirs = [s.state_dir for s in stack.worker_settings]
    assert ports[0] == 9100 and len(set(ports)) == 3
    assert dirs == [
        str(tmp_path / "worker"),
        str(tmp_path / "worker") + "-2",
        str(tmp_path / "worker") + "-3",
    ]
    assert stack.worker_metrics()[0] == "http://127.0.0.1:9100/metrics"
