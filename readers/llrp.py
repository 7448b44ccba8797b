"""LLRP RFID readers (Impinj Speedway and R700, Zebra FX and others speaking LLRP 1.0.1).

The adapter connects with llrpkit's asyncio client, reads the reader's capabilities, adds
one ROSpec with an explicit id and a Null start trigger, enables and starts it with
START_ROSPEC (a sequence every LLRP 1.0.1 reader accepts), and turns each TagReportData of
the RO_ACCESS_REPORTs into an ``Observation`` for the read-cycle aggregator, and each
READER_EVENT_NOTIFICATION it has use for into reader status for the reader's health book. When the
connection drops or the reader refuses a command, it reconnects with exponential backoff;
``health`` says how the reader is doing at any moment.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import TypeGuard

import orjson
from llrpkit import LLRPError, Reader, TagReport
from llrpkit.protocol import enums, messages

from ingest.timefmt import now_us
from readers.base import CycleAggregator, LinkHealth, Observation, Outlet
from readers.status import ReaderHealthBook, ReaderStatus, StatusKind, text

log = logging.getLogger(__name__)

# An LLRP reader reports at most one EPC of up to 496 bits; longer is a malformed report.
MAX_EPC_BYTES = 62
# LLRP 1.0.1 field sizes: AntennaID and TagCount are 16-bit, the UTC timestamps 64-bit.
_UINT16_MAX = 0xFFFF
_UINT64_MAX = 0xFFFF_FFFF_FFFF_FFFF


@dataclass
class ReaderHealth(LinkHealth):
    """What an operator asks of a reader: is it connected, is it reading, what went wrong."""

    disconnects: int = 0
    rejected: int = 0
    model: int = 0
    firmware: str = ""
    dropped_by_client: int = 0  # reports the LLRP client dropped because we fell behind


def observation_of(
    tag: TagReport, reader_id: str, now: int, max_future_us: int, max_age_us: int
) -> tuple[Observation | None, str]:
    """The observation of one tag report, or (None, reason) when it cannot be used.

    An EPC whose length in bits is not whole bytes cannot be written as hex: a bad read.
    Times are the reader's first-seen timestamp (its UTC clock) when it sends one, else now.
    Fields must hold what LLRP can carry (the antenna and tag-seen count are 16-bit, the
    timestamp 64-bit, the RSSI a signed 8-bit dBm value): anything else in a report is a bad read, not a
    read the wire would refuse later.
    """
    if not _is_epc(tag):
        return None, "bad_read"
    if not _is_uint(tag.antenna, _UINT16_MAX):
        return None, "bad_read"
    first, count, rssi = tag.first_seen_us, tag.seen_count, tag.rssi_dbm
    if (first is not None and not _is_uint(first, _UINT64_MAX)) or (
        count is not None and not _is_uint(count, _UINT16_MAX)
    ):
        return None, "bad_read"
    # PeakRSSI is a signed 8-bit dBm value in LLRP.
    if rssi is not None and (
        type(rssi) not in (int, float) or not math.isfinite(rssi) or not -128 <= rssi <= 127
    ):
        return None, "bad_read"
    first = first or now
    if first > now + max_future_us:
        return None, "future_timestamp"
    if first < now - max_age_us:
        return None, "stale_timestamp"
    return Observation(
        reader_id, tag.antenna, first, epc=tag.epc.hex().upper(), rssi=rssi, count=count or 1
    ), ""


def llrp_status(message: object, reader_id: str, now: int) -> list[ReaderStatus]:
    """The reader status a READER_EVENT_NOTIFICATION holds (LLRP 1.0.1 §13.2.6): antennas
    connected or disconnected, reader exceptions, the report buffer filling or overflowing,
    ROSpec starts and ends, GPI. Connection events are the adapter's own business: none."""
    data = getattr(message, "reader_event_notification_data", None)
    if not isinstance(message, messages.READER_EVENT_NOTIFICATION) or data is None:
        return []
    found: list[ReaderStatus] = []
    if (antenna := data.antenna_event) is not None:
        connected = int(antenna.event_type) == int(enums.AntennaEventType.Antenna_Connected)
        found.append(
            ReaderStatus(reader_id, StatusKind.ANTENNA, now, antennas=((antenna.antenna_id, connected),))
        )
    if (exception := data.reader_exception_event) is not None:
        found.append(ReaderStatus(reader_id, StatusKind.ERROR, now, detail=text(exception.message)))
    if data.report_buffer_overflow_error_event is not None:
        found.append(
            ReaderStatus(reader_id, StatusKind.ERROR, now, detail="report buffer overflow: reads lost")
        )
    if (level := data.report_buffer_level_warning_event) is not None:
        detail = f"report buffer {level.report_buffer_percentage_full}% full"
        found.append(ReaderStatus(reader_id, StatusKind.WARNING, now, detail=detail))
    if (spec := data.ro_spec_event) is not None:
        detail = f"ROSpec {spec.ro_spec_id}: {_enum_name(enums.ROSpecEventType, spec.event_type)}"
        found.append(ReaderStatus(reader_id, StatusKind.STATE, now, detail=detail))
    if data.gpi_event is not None:
        found.append(ReaderStatus(reader_id, StatusKind.OTHER, now, detail="GPI"))
    return found


def _enum_name(kind: type[IntEnum], value: int) -> str:
    try:
        return kind(int(value)).name
    except ValueError:
        return str(value)


def _is_epc(tag: TagReport) -> bool:
    """An EPC of whole bytes, at most 496 bits. An EPCData parameter says its length in bits;
    llrpkit hands over the bytes that hold them, so a 9-bit EPC would pass as 16 bits."""
    epc = tag.epc
    if not isinstance(epc, bytes) or not epc or len(epc) > MAX_EPC_BYTES:
        return False
    holder = getattr(tag.raw, "epc_parameter", None)
    bits = getattr(getattr(holder, "epc", None), "bit_len", None)
    return bits is None or bits == 8 * len(epc)


def _is_uint(value: object, limit: int) -> TypeGuard[int]:
    # type() is not isinstance(): a bool is not an antenna or a count.
    return type(value) is int and 0 <= value <= limit


def _describe(tag: TagReport) -> bytes:
    """The rejected report for the dead letter; a field JSON cannot hold is written as its repr."""
    fields = {
        "epc": tag.epc.hex() if isinstance(tag.epc, bytes) else tag.epc,
        "antenna": tag.antenna,
        "first_seen_us": tag.first_seen_us,
        "last_seen_us": tag.last_seen_us,
        "seen_count": tag.seen_count,
        "rssi_dbm": tag.rssi_dbm,
    }
    return orjson.dumps({k: v if _is_plain(v) else repr(v) for k, v in fields.items()})


def _is_plain(value: object) -> bool:
    if type(value) is int:
        return -(2**63) <= value <= _UINT64_MAX  # orjson writes 64-bit integers only
    return value is None or type(value) in (bool, str) or (type(value) is float and math.isfinite(value))


class LlrpAdapter:
    """One LLRP reader feeding one read-cycle aggregator."""

    def __init__(
        self,
        reader_id: str,
        host: str,
        port: int,
        aggregator: CycleAggregator,
        outlet: Outlet,
        antennas: Sequence[int] = (),
        ro_spec_id: int = 1,
        backoff_s: tuple[float, float] = (0.5, 30.0),
        max_future_s: float = 300.0,
        max_age_s: float = 604_800.0,
        clock: Callable[[], int] = now_us,
    ):
        self.reader_id, self.host, self.port = reader_id, host, port
        self.aggregator, self.outlet = aggregator, outlet
        self.antennas = tuple(antennas)
        self.ro_spec_id = ro_spec_id
        self.backoff_s = backoff_s
        self.max_future_us = int(max_future_s * 1_000_000)
        self.max_age_us = int(max_age_s * 1_000_000)
        self.clock = clock
        self.health = ReaderHealth(reader_id)
        self.book = ReaderHealthBook(reader_id)

    async def run(self, stop: asyncio.Event) -> None:
        """Read until ``stop`` is set, reconnecting with backoff; flushes the open cycle at the end."""
        ticker = asyncio.create_task(self._tick(stop))
        delay = self.backoff_s[0]
        try:
            while not stop.is_set():
                started = time.monotonic()
                try:
                    await self._session(stop)
                except (LLRPError, OSError, TimeoutError) as exc:
                    self.health.failed(exc)
                    log.warning("reader %s (%s:%s): %s", self.reader_id, self.host, self.port, exc)
                if self.health.connected:
                    self.health.connected = False
                    self.health.disconnects += 1
                if stop.is_set():
                    break
                if time.monotonic() - started > 10 * self.backoff_s[0]:
                    delay = self.backoff_s[0]  # it had been working: start the backoff again
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
                delay = min(delay * 2, self.backoff_s[1])
        finally:
            ticker.cancel()
            self.aggregator.flush()

    async def _session(self, stop: asyncio.Event) -> None:
        reader = Reader(self.host, self.port)
        try:
            await reader.connect()
            self.health.up()
            self.health.model = reader.model_number
            self.health.firmware = reader.firmware
            log.info(
                "reader %s connected (model %s, %s)", self.reader_id, reader.model_number, reader.firmware
            )
            stream = reader.inventory(antennas=self.antennas, ro_spec_id=self.ro_spec_id)
            stopping = asyncio.create_task(stop.wait())
            watching = asyncio.create_task(self._watch(reader))
            try:
                while True:
                    nxt = asyncio.ensure_future(anext(stream))
                    done, _ = await asyncio.wait({nxt, stopping}, return_when=asyncio.FIRST_COMPLETED)
                    if nxt not in done:
                        nxt.cancel()
                        with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                            await nxt
                        return
                    try:
                        tag = nxt.result()
                    except StopAsyncIteration:
                        return
                    self._take(tag)
                    self.health.dropped_by_client = reader.client.dropped_reports
            finally:
                stopping.cancel()
                watching.cancel()
                await stream.aclose()  # stops and deletes the ROSpec while connected
        finally:
            await reader.close()

    async def _watch(self, reader: Reader) -> None:
        """READER_EVENT_NOTIFICATIONs (antenna events, exceptions, the report buffer) to the
        health book, while the session lasts."""
        async for message in reader.events():
            for status in llrp_status(message, self.reader_id, self.clock()):
                self.book.take(status)
                if status.kind in (StatusKind.ERROR, StatusKind.WARNING) or status.antennas:
                    log.warning(
                        "reader %s: %s %s", self.reader_id, status.kind, status.antennas or status.detail
                    )

    def _take(self, tag: TagReport) -> None:
        obs, reason = observation_of(tag, self.reader_id, self.clock(), self.max_future_us, self.max_age_us)
        if obs is None:
            self.health.rejected += 1
            self.outlet.reject(
                self.reader_id, reason, f"LLRP tag report from {self.reader_id}", _describe(tag)
            )
            return
        self.health.read(obs.time_us)
        self.book.read(obs.antenna, obs.count)
        self.aggregator.add(obs)

    async def _tick(self, stop: asyncio.Event) -> None:
        period = max(0.01, self.aggregator.cycle_us / 4_000_000)
        while not stop.is_set():
            self.aggregator.tick(self.clock())
            await asyncio.sleep(period)
