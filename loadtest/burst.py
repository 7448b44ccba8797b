"""The bench's burst: a line's reports at a paced rate from several producer processes.

One producer in the bench's own process stops keeping pace near 150k reads/s on two cores, so
the burst's reports are shared out over ``producers`` processes by the input partition their
reader's key goes to: each partition is written by one process, in the sequence's order, as
the stream expects of its inputs (it holds a verdict back until every input has passed it, and
takes what arrives later within the reorder window), whatever each process's lag. Each
encodes its share beforehand, reports ready, and then sends every report at its due time in
the whole sequence (``start + index / reports_per_s``), stamped with that due time: a process
that falls behind sends late, as a reader's spool does, but the line's event-time order stays
what the sequence says (stamped with their send times, one station's reports could come
before the station ahead of it). What each sent comes back: its reads, their event-time
window and when its last send went out.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Iterable
from dataclasses import dataclass
from multiprocessing.connection import Connection

from aiokafka.partitioner import murmur2

from ingest.kafka import deliver_or_raise, make_producer
from ingest.schema import ReadCycleReport
from ingest.settings import Settings
from ingest.timefmt import format_us
from ingest.wire import encode_report
from loadtest.benchcheck import ReadWindow, read_offsets
from loadtest.dataset import Shape, reports


@dataclass(frozen=True)
class BurstShare:
    """One producer's share of a burst: the readers whose input partition modulo ``producers``
    is ``index``."""

    settings: Settings
    topic: str
    shape: Shape
    items: int
    first_serial: int
    reads_per_s: float
    producers: int
    index: int


@dataclass(frozen=True)
class BurstSent:
    reads: int
    first_us: int | None
    last_us: int | None
    last_send: float  # wall clock (time.time()) of the last send


def send_burst(share_of: list[BurstShare], timeout_s: float = 600.0) -> tuple[BurstSent, float]:
    """Run every share in a process of its own; returns what they sent together and the wall
    clock the first report was due."""
    context = multiprocessing.get_context("spawn")  # the bench process runs Kafka client threads
    pipes: list[Connection] = []
    procs = []
    for share in share_of:
        ours, theirs = context.Pipe()
        proc = context.Process(target=_produce_share, args=(share, theirs), daemon=True)
        proc.start()
        pipes.append(ours)
        procs.append(proc)
    try:
        for pipe in pipes:
            if not pipe.poll(timeout_s):
                raise TimeoutError("a burst producer did not get its reports ready")
            pipe.recv()  # ready
        start = time.time() + 0.5
        for pipe in pipes:
            pipe.send(start)
        sent = []
        for pipe in pipes:
            if not pipe.poll(timeout_s):
                raise TimeoutError("a burst producer did not finish sending")
            sent.append(pipe.recv())
    finally:
        for proc in procs:
            proc.join(5)
            if proc.is_alive():
                proc.kill()
    return combined(sent), start


# A report encoded beforehand: key, payload, its cycle_start text, its reads' offsets, reads.
Planned = tuple[bytes, bytes, bytes, tuple[int, int], int]


def plan(made: Iterable[ReadCycleReport]) -> list[Planned]:
    """Each report encoded beforehand; a send stamps its time over the cycle_start text
    (reads are offsets from it), so sending stays cheap."""
    return [
        (
            r.reader_id.encode(),
            encode_report(r),
            format_us(r.cycle_start_us).encode(),
            read_offsets(r),
            len(r.reads),
        )
        for r in made
    ]


def reader_partition(reader_id: str, partitions: int) -> int:
    """The input partition of a reader's reports: murmur2 of its key, as linetrace's producers
    (``murmur2_random``) and faust compute it."""
    return (murmur2(reader_id.encode()) & 0x7FFFFFFF) % partitions


def in_share(reader_id: str, share: BurstShare) -> bool:
    """Whether ``share`` sends the reports of ``reader_id``."""
    return reader_partition(reader_id, share.settings.partitions) % share.producers == share.index


def combined(sent: list[BurstSent]) -> BurstSent:
    firsts = [s.first_us for s in sent if s.first_us is not None]
    lasts = [s.last_us for s in sent if s.last_us is not None]
    return BurstSent(
        reads=sum(s.reads for s in sent),
        first_us=min(firsts) if firsts else None,
        last_us=max(lasts) if lasts else None,
        last_send=max(s.last_send for s in sent),
    )


def _produce_share(share: BurstShare, pipe: Connection) -> None:
    shape = share.shape
    interval = shape.tags_per_cycle * shape.antennas / share.reads_per_s  # between reports
    mine: dict[int, int] = {}  # report index -> its position in the planned list

    def keep(index: int, station: int) -> bool:
        if not in_share(f"R{station}", share):
            return False
        mine[index] = len(mine)
        return True

    planned = plan(reports(share.items, shape, 0, share.first_serial, keep))
    due = sorted(mine, key=mine.__getitem__)  # each planned report's index in the sequence
    producer = make_producer(share.settings)
    pipe.send("ready")
    start: float = pipe.recv()
    window = ReadWindow()
    reads = 0
    for index, (key, template, placeholder, offsets, count) in zip(due, planned, strict=True):
        at = start + index * interval
        while (lag := at - time.time()) > 0:
            time.sleep(min(lag, 0.005))
            producer.poll(0)
        stamp = int(at * 1_000_000)
        producer.produce(share.topic, template.replace(placeholder, format_us(stamp).encode(), 1), key=key)
        producer.poll(0)
        window.add(stamp, offsets)
        reads += count
    last_send = time.time()
    deliver_or_raise(producer, 120)
    pipe.send(BurstSent(reads, window.first_us, window.last_us, last_send))
