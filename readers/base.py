"""What every reader adapter shares: raw observations, read-cycle aggregation, and the outlet
that takes reports and rejections to Kafka.

An adapter (LLRP, a vendor JSON stream, a barcode scanner) turns what its device sends into
``Observation`` values and hands them to a ``CycleAggregator`` (one per reader). At the end
of each cycle the aggregator emits one ``ReadCycleReport`` with, per tag and antenna, the
first and last time seen, the read count and the peak RSSI (an ALE event cycle). Anything
the adapter cannot use goes to ``Outlet.reject`` with a reason: counted, logged and
dead-lettered, and the adapter keeps running.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, Self

from ingest.errors import InvalidInput
from ingest.schema import ReadCycleReport, TagRead

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Observation:
    """One read as a device reports it, before aggregation.

    RFID reads carry the tag's EPC as hex in ``epc``; barcode scans carry the item key the
    code decodes to in ``key`` (and no EPC). ``count`` is how many singulations the device
    already folded into this one report (1 for a single read).
    """

    reader_id: str
    antenna: int
    time_us: int
    epc: str = ""
    key: str = ""
    rssi: float | None = None
    count: int = 1


def within_clock(t: int, shown: str, now: int, max_future_us: int, max_age_us: int) -> int:
    """A device's time of a read, ``t`` (``shown`` as the device wrote it), if it lies within
    the limits of this host's clock ``now``; InvalidInput (future or stale) if not."""
    if t > now + max_future_us:
        raise InvalidInput(
            "future_timestamp",
            f"{shown} is {(t - now) / 1e6:.1f} s ahead of this host's clock "
            f"(limit {max_future_us / 1e6:g} s)",
        )
    if t < now - max_age_us:
        raise InvalidInput(
            "stale_timestamp", f"{shown} is {(now - t) / 1e6:.0f} s old (limit {max_age_us / 1e6:g} s)"
        )
    return t


class Outlet(Protocol):
    """Where adapters send their output (readers.forwarder.Forwarder in production)."""

    def publish_report(self, report: ReadCycleReport) -> None: ...

    def reject(self, source: str, reason: str, detail: str, payload: bytes) -> None: ...


@dataclass
class LinkHealth:
    """How a reader that the adapter connects to is doing: connected or not and how often, its
    reads, and the latest error (kept after a reconnect). Times on the reader's clock."""

    reader_id: str
    connected: bool = False
    connects: int = 0
    errors: int = 0
    reads: int = 0
    last_read_us: int = 0
    last_error: str = ""

    def up(self) -> None:
        self.connected = True
        self.connects += 1

    def failed(self, exc: BaseException) -> None:
        self.errors += 1
        self.last_error = f"{type(exc).__name__}: {exc}"

    def read(self, time_us: int) -> None:
        self.reads += 1
        self.last_read_us = time_us


class Served:
    """An adapter that serves its devices between ``start()`` and ``stop()`` (a listener):
    ``run(stop)`` serves until ``stop`` is set (``linetrace reader run`` gives it a thread),
    and ``with`` serves for the block."""

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def run(self, stop: threading.Event) -> None:
        self.start()
        try:
            stop.wait()
        finally:
            self.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass
class _Entry:
    first_us: int
    last_us: int
    count: int
    rssi: float | None


@dataclass
class CycleAggregator:
    """Folds one reader's observations into read-cycle reports of ``cycle_us`` each.

    Cycles are aligned to multiples of ``cycle_us`` by observation time; a report is emitted
    when an observation of a later cycle arrives or when ``tick`` sees the cycle is over
    (plus ``grace_us`` for stragglers). Observations of a cycle already emitted start a new
    report with the next sequence number, so nothing is dropped.
    """

    site: str
    line: str
    reader_id: str
    cycle_us: int
    emit: Callable[[ReadCycleReport], None]
    grace_us: int = 0
    operator: str = ""
    next_seq: int = 0
    cycle_start_us: int = -1
    entries: dict[tuple[str, str, int], _Entry] = field(default_factory=dict)
    emitted: int = 0

    def add(self, obs: Observation) -> None:
        start = obs.time_us - obs.time_us % self.cycle_us
        if self.entries and start != self.cycle_start_us:
            self.flush()
        if not self.entries:
            self.cycle_start_us = start
        k = (obs.epc, obs.key, obs.antenna)
        e = self.entries.get(k)
        if e is None:
            self.entries[k] = _Entry(obs.time_us, obs.time_us, obs.count, obs.rssi)
            return
        e.first_us = min(e.first_us, obs.time_us)
        e.last_us = max(e.last_us, obs.time_us)
        e.count += obs.count
        if obs.rssi is not None and (e.rssi is None or obs.rssi > e.rssi):
            e.rssi = obs.rssi

    def tick(self, now_us: int) -> None:
        """Emit the open cycle if it is over."""
        if self.entries and now_us >= self.cycle_start_us + self.cycle_us + self.grace_us:
            self.flush()

    def flush(self) -> None:
        if not self.entries:
            return
        reads = tuple(
            TagRead(epc, antenna, e.first_us, e.count, e.rssi, key, e.last_us)
            for (epc, key, antenna), e in sorted(self.entries.items(), key=lambda kv: kv[1].first_us)
        )
        start = min(self.cycle_start_us, reads[0].time_us)
        report = ReadCycleReport(
            site=self.site,
            line=self.line,
            reader_id=self.reader_id,
            cycle_seq=self.next_seq,
            cycle_start_us=start,
            reads=reads,
            operator=self.operator,
        )
        self.next_seq += 1
        self.entries = {}
        self.emitted += 1
        self.emit(report)
