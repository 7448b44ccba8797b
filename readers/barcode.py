"""Barcode scanners: fixed scanners over a TCP line protocol, and the scan batches handhelds POST
(their HTTP endpoint is ``readers.barcode_http``).

``BarcodeTcpServer`` listens where a fixed scanner connects (the usual "TCP client, one code
per line" mode of fixed scanners): every line, ended by CR, LF or CRLF, is one code, with or
without a symbology identifier (``]C1``, ``]d2``, ``]Q3``). One listen port is one scanner
(its reader id, site, line, port number as antenna, and operator are the server's).

``parse_batch`` reads the body of a ``POST /v1/scans`` from handhelds and scanners that POST::

    {"reader_id": "HAND-1", "site": "S1", "line": "L1", "operator": "anna",
     "scans": [{"code": "]C10100614141000012211234", "time": "2025-01-02T10:00:00Z", "antenna": 0}]}

``time`` (RFC 3339, default: when the POST arrived) and ``antenna`` (default 0) are optional.
A bad scan is rejected alone; the answer (202) counts what was accepted and rejected, and why.
The TCP line protocol carries no credentials (the HTTP endpoint asks for a token): its listen
address belongs on a trusted network segment.

Codes become item keys through ``ingest.gs1``; scans go through a ``CycleAggregator`` per
reader to the outlet. Anything unusable is rejected with a reason (``oversized``,
``malformed_frame``, ``bad_code``, ``malformed_json``, ``missing_field``, ``bad_field``,
``bad_timestamp``, ``future_timestamp``, ``stale_timestamp``): counted, logged, dead-lettered
through ``Outlet.reject``, and the server keeps running.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Self

import orjson

from ingest.deadletter import PAYLOAD_KEEP_BYTES
from ingest.errors import InvalidInput
from ingest.gs1 import NO_PREFIXES, check_company_prefixes, parse_code, scan_key
from ingest.settings import Settings
from ingest.timefmt import now_us, parse_us
from ingest.wire import json_object
from readers.base import CycleAggregator, Observation, Outlet, Served, within_clock

log = logging.getLogger(__name__)

# A GS1-128 symbol holds at most 48 data characters and a GS1 DataMatrix a few hundred in
# practice; a longer line is a scanner talking another protocol or noise on the port.
MAX_LINE_BYTES = 512
MAX_SCANS = 1000  # per POST: keeps one batch's read-cycle reports well under the message limit
_TERMINATOR = re.compile(rb"[\r\n]")
_CHUNK = 64 * 1024


# --- pure: framing, codes, times, batches ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Frame:
    """One line without its terminator; ``size`` is its full length (only ``data`` is kept of
    an oversized line: its first bytes, for the dead letter)."""

    data: bytes
    size: int
    oversized: bool = False


@dataclass
class LineSplitter:
    """Splits a byte stream into lines ended by CR, LF or CRLF; empty lines are skipped.

    A line longer than ``max_bytes`` comes out once as an oversized frame, and the rest of
    it up to the next terminator is discarded without being buffered.
    """

    max_bytes: int = MAX_LINE_BYTES
    buffer: bytearray = field(default_factory=bytearray)
    skipped: int = 0  # length so far of the oversized line being discarded (0: none)

    def feed(self, chunk: bytes) -> list[Frame]:
        frames: list[Frame] = []
        start = 0
        while start < len(chunk):
            end = _next_terminator(chunk, start)
            piece = chunk[start : len(chunk) if end < 0 else end]
            if self.skipped:
                self.skipped += len(piece)
            else:
                self.buffer += piece
                if len(self.buffer) > self.max_bytes:
                    self.skipped = len(self.buffer)
                    del self.buffer[self.max_bytes :]
            if end < 0:
                break
            frames.extend(self._close())
            start = end + 1
        return frames

    def _close(self) -> list[Frame]:
        if self.skipped:
            frame = Frame(bytes(self.buffer), self.skipped, oversized=True)
        elif self.buffer:
            frame = Frame(bytes(self.buffer), len(self.buffer))
        else:
            return []
        self.buffer.clear()
        self.skipped = 0
        return [frame]

    def rest(self) -> Frame | None:
        """What is left at the end of the stream: a line never ended (None if nothing is)."""
        frames = self._close()
        return frames[0] if frames else None


def _next_terminator(chunk: bytes, start: int) -> int:
    found = _TERMINATOR.search(chunk, start)
    return -1 if found is None else found.start()


def line_key(
    frame: Frame, company_prefixes: Mapping[str, int] = NO_PREFIXES, max_bytes: int = MAX_LINE_BYTES
) -> str:
    """The item key of one line from a scanner; InvalidInput with the reason it has none."""
    if frame.oversized or frame.size > max_bytes:
        raise InvalidInput("oversized", f"a line of {frame.size} bytes exceeds the limit of {max_bytes}")
    try:
        text = frame.data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput("malformed_frame", f"the line is not UTF-8 text: {exc}") from exc
    return scan_key(parse_code(text), company_prefixes)


@dataclass(frozen=True)
class TimeLimits:
    """How far a scan's time may be from this host's clock."""

    max_future_us: int = 300_000_000
    max_age_us: int = 604_800_000_000

    @classmethod
    def of(cls, settings: Settings) -> TimeLimits:
        return cls(int(settings.max_future_skew_s * 1_000_000), int(settings.max_age_s * 1_000_000))


DEFAULT_LIMITS = TimeLimits()


def scan_time(value: Any, now: int, limits: TimeLimits) -> int:
    """A scan's time in microseconds (``now`` when it has none), checked against ``now``."""
    if value is None:
        return now
    if not isinstance(value, str):
        raise InvalidInput("bad_timestamp", f"time must be RFC 3339 text, got {value!r}")
    return within_clock(parse_us(value), value, now, limits.max_future_us, limits.max_age_us)


@dataclass
class ScanBatch:
    """One POST: who sent it, the scans it holds, and the scans rejected (index, error, payload)."""

    reader_id: str
    site: str
    line: str
    operator: str
    observations: list[Observation] = field(default_factory=list)
    rejected: list[tuple[int, InvalidInput, bytes]] = field(default_factory=list)


def parse_batch(
    body: bytes,
    now: int,
    limits: TimeLimits = DEFAULT_LIMITS,
    company_prefixes: Mapping[str, int] = NO_PREFIXES,
    max_scans: int = MAX_SCANS,
) -> ScanBatch:
    """The scans of one POST body. InvalidInput if the body as a whole is unusable; a bad
    scan is rejected alone (``ScanBatch.rejected``), with the batch's envelope in its payload."""
    doc = json_object(body, "the body")
    reader_id, site, line = (_text(doc, k, required=True) for k in ("reader_id", "site", "line"))
    scans = doc.get("scans")
    if not isinstance(scans, list) or not scans:
        raise InvalidInput("missing_field", "scans must be a non-empty list")
    if len(scans) > max_scans:
        raise InvalidInput("oversized", f"{len(scans)} scans exceeds the limit of {max_scans} per POST")
    batch = ScanBatch(reader_id, site, line, _text(doc, "operator"))
    for i, scan in enumerate(scans):
        try:
            batch.observations.append(_observation(scan, reader_id, now, limits, company_prefixes))
        except InvalidInput as error:
            envelope = {"reader_id": reader_id, "site": site, "line": line, "operator": batch.operator}
            batch.rejected.append((i, error, orjson.dumps({**envelope, "index": i, "scan": scan})))
    return batch


def _observation(
    scan: Any, reader_id: str, now: int, limits: TimeLimits, company_prefixes: Mapping[str, int]
) -> Observation:
    if not isinstance(scan, dict):
        raise InvalidInput("bad_field", "a scan must be a JSON object")
    code, antenna = scan.get("code"), scan.get("antenna", 0)
    if not isinstance(code, str):
        raise InvalidInput("bad_code", f"code must be text, got {code!r}")
    # type() is not isinstance(): JSON true would pass as the integer 1.
    if type(antenna) is not int or not 0 <= antenna <= 65535:
        raise InvalidInput("bad_field", f"antenna must be a port number 0-65535, got {antenna!r}")
    key = scan_key(parse_code(code), company_prefixes)
    return Observation(reader_id, antenna, scan_time(scan.get("time"), now, limits), key=key)


def _text(doc: dict[str, Any], name: str, required: bool = False) -> str:
    value = doc.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value) or len(value) > 256:
        reason = "missing_field" if required else "bad_field"
        raise InvalidInput(reason, f"{name} must be {'non-empty ' if required else ''}text of at most 256")
    return value


# --- shared by both servers --------------------------------------------------------------------


@dataclass
class ScannerHealth:
    """How a scanner endpoint is doing (times on this host's clock)."""

    name: str
    listen: str
    connections: int = 0  # TCP connections open now
    posts: int = 0  # HTTP POSTs answered
    lines: int = 0  # lines (TCP) or scans (HTTP) received
    scans: int = 0  # accepted
    rejected: dict[str, int] = field(default_factory=dict)
    last_scan_us: int = 0


def record_rejection(
    health: ScannerHealth, outlet: Outlet, source: str, error: InvalidInput, payload: bytes
) -> None:
    n = health.rejected[error.reason] = health.rejected.get(error.reason, 0) + 1
    outlet.reject(source, error.reason, error.detail, payload[:PAYLOAD_KEEP_BYTES])
    # The 1st, 10th, 100th... of a reason: a scanner gone wrong must not flood the log.
    if n == 10 ** (len(str(n)) - 1):
        log.warning("scanner %s: rejected %d as %s; latest: %s", source, n, error.reason, error.detail)


# --- TCP line protocol ------------------------------------------------------------------------


class BarcodeTcpServer(Served):
    """A fixed scanner's TCP endpoint: one code per line, one reader per listen port.

    ``start()`` serves in its own thread with its own event loop (port 0: a free port, see
    ``port``); ``stop()`` closes the connections and reports the open cycle. From a running
    event loop, ``await serve(stop)`` does the same until ``stop`` is set.
    """

    def __init__(
        self,
        reader_id: str,
        site: str,
        line: str,
        outlet: Outlet,
        *,
        host: str = "127.0.0.1",
        port: int = 9100,
        antenna: int = 0,
        operator: str = "",
        cycle_s: float = 0.2,
        max_line_bytes: int = MAX_LINE_BYTES,
        company_prefixes: Mapping[str, int] = NO_PREFIXES,
        clock: Callable[[], int] = now_us,
    ):
        check_company_prefixes(company_prefixes)
        self.reader_id, self.outlet, self.antenna = reader_id, outlet, antenna
        self.host, self.port, self.max_line_bytes = host, port, max_line_bytes
        self.company_prefixes, self.clock = company_prefixes, clock
        cycle_us = int(cycle_s * 1_000_000)
        self.aggregator = CycleAggregator(
            site, line, reader_id, cycle_us, outlet.publish_report, operator=operator
        )
        self.health = ScannerHealth(reader_id, f"{host}:{port}")
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._bound = threading.Event()
        self._failure: BaseException | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._handlers: set[asyncio.Task[None]] = set()

    def take(self, frame: Frame) -> None:
        """One line: its observation to the aggregator, or a rejection."""
        self.health.lines += 1
        try:
            key = line_key(frame, self.company_prefixes, self.max_line_bytes)
        except InvalidInput as error:
            record_rejection(self.health, self.outlet, self.reader_id, error, frame.data)
            return
        now = self.clock()
        self.aggregator.add(Observation(self.reader_id, self.antenna, now, key=key))
        self.health.scans += 1
        self.health.last_scan_us = now

    async def serve(self, stop: asyncio.Event) -> None:
        server = await asyncio.start_server(self._connection, self.host, self.port)
        self.port = int(server.sockets[0].getsockname()[1])
        self.health.listen = f"{self.host}:{self.port}"
        log.info("scanner %s: listening for codes on tcp://%s", self.reader_id, self.health.listen)
        self._bound.set()
        ticker = asyncio.create_task(self._tick(stop))
        try:
            await stop.wait()
        finally:
            server.close()
            for writer in list(self._writers):
                writer.close()  # lines already received are still read and taken
            await server.wait_closed()
            if self._handlers:
                await asyncio.wait(set(self._handlers), timeout=5.0)
            await ticker
            self.aggregator.flush()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        self._writers.add(writer)
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
        self.health.connections += 1
        log.info("scanner %s: %s connected", self.reader_id, peer)
        splitter = LineSplitter(self.max_line_bytes)
        try:
            while chunk := await reader.read(_CHUNK):
                for frame in splitter.feed(chunk):
                    self.take(frame)
            rest = splitter.rest()
            if rest is not None:
                error = InvalidInput(
                    "malformed_frame", f"the connection closed in a line of {rest.size} bytes"
                )
                record_rejection(self.health, self.outlet, self.reader_id, error, rest.data)
        except ConnectionError as exc:
            log.info("scanner %s: %s dropped: %r", self.reader_id, peer, exc)
        finally:
            self._writers.discard(writer)
            if task is not None:
                self._handlers.discard(task)
            self.health.connections -= 1
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
            log.info("scanner %s: %s disconnected", self.reader_id, peer)

    async def _tick(self, stop: asyncio.Event) -> None:
        period = max(0.01, self.aggregator.cycle_us / 4_000_000)
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), period)
            self.aggregator.tick(self.clock())

    def start(self, timeout_s: float = 10.0) -> Self:
        self._thread = threading.Thread(
            target=asyncio.run, args=(self._main(),), name=self.reader_id, daemon=True
        )
        self._thread.start()
        if not self._bound.wait(timeout_s) or self._failure is not None:
            self._thread.join(timeout_s)
            raise OSError(
                f"scanner {self.reader_id} could not listen on {self.health.listen}: {self._failure}"
            )
        return self

    async def _main(self) -> None:
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        try:
            await self.serve(self._stop)
        except OSError as exc:
            self._failure = exc
            self._bound.set()

    def stop(self) -> None:
        if self._thread is None:
            return
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join()
        self._thread = None
