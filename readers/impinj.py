"""Impinj readers (R700, R720) through the Impinj IoT device interface's HTTP event stream.

``GET /api/v1/data/stream`` answers with newline-delimited JSON reader events (Impinj IoT
device interface OpenAPI 1.5 and 1.7, schema ``ReaderEvent``); ``readers.impinjevents``
says what each is: a tag read, reader status (antennas connected or not, inventory state,
overflow, diagnostics), or a keep-alive (a bare CRLF the reader sends when the stream is
idle, every ``StreamConfiguration.keepAliveIntervalSeconds``).

The client streams lines with the standard library, turns each tag event into an
``Observation`` for the reader's ``CycleAggregator``, gives status and every sign of life to
the reader's ``ReaderHealthBook``, rejects what it cannot use (counted, logged,
dead-lettered through ``Outlet.reject``), and reconnects with capped exponential backoff
when the stream fails or goes silent.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import urlsplit

from ingest.errors import InvalidInput
from ingest.timefmt import now_us
from readers.base import CycleAggregator, LinkHealth, Observation, Outlet
from readers.impinjevents import impinj_event, parse_impinj_event
from readers.status import ReaderHealthBook
from readers.vendorjson import DEFAULT_LIMITS, MAX_EPC_HEX, ReadLimits, Rejections

# The parsing lives in readers.impinjevents and readers.vendorjson; these names stay importable.
__all__ = [
    "DEFAULT_LIMITS",
    "MAX_EPC_HEX",
    "STREAM_PATH",
    "ImpinjStreamClient",
    "ReadLimits",
    "StreamHealth",
    "parse_impinj_event",
    "read_lines",
]

log = logging.getLogger(__name__)

STREAM_PATH = "/api/v1/data/stream"


class _Readable(Protocol):
    def readline(self, limit: int = -1, /) -> bytes: ...


def read_lines(stream: _Readable, max_bytes: int) -> Iterator[tuple[bytes, int]]:
    """Lines of a stream with their full length in bytes. A line longer than ``max_bytes`` is
    cut short (the rest is read and dropped), so one runaway frame cannot fill the memory."""
    limit = max_bytes + 2  # room for CRLF
    while line := stream.readline(limit):
        size = len(line)
        if not line.endswith(b"\n") and size >= limit:
            rest = line
            while rest and not rest.endswith(b"\n"):
                rest = stream.readline(limit)
                size += len(rest)
        yield line, size


@dataclass
class StreamHealth(LinkHealth):
    """How an Impinj stream is doing. Times: ``last_event_us`` on this host's clock (any line,
    keep-alives too, so a live but quiet stream shows), ``last_read_us`` on the reader's."""

    url: str = ""
    reconnects: int = 0
    ignored: int = 0  # reader status events (in the health book), not reads
    keepalives: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    last_event_us: int = 0


class StreamError(Exception):
    """The stream answered with something other than a stream, or ended."""


class ImpinjStreamClient:
    """One Impinj reader's event stream feeding one read-cycle aggregator.

    ``run(stop)`` blocks until ``stop`` is set. A second thread ticks the aggregator (so a
    cycle is reported when it is over, not when the next read arrives) and, once ``stop`` is
    set, closes the connection to end a read in progress.
    """

    def __init__(
        self,
        url: str,
        reader_id: str,
        aggregator: CycleAggregator,
        outlet: Outlet,
        limits: ReadLimits = DEFAULT_LIMITS,
        username: str = "",
        password: str = "",
        ssl_context: ssl.SSLContext | None = None,
        idle_timeout_s: float = 60.0,
        backoff_s: tuple[float, float] = (0.5, 30.0),
        clock: Callable[[], int] = now_us,
        heartbeat_s: float = 0.0,
    ):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"an Impinj stream URL must be http(s)://host[:port][/path], got {url!r}")
        self.scheme, self.host, self.port = parts.scheme, parts.hostname, parts.port
        path = parts.path if parts.path not in ("", "/") else STREAM_PATH
        self.path = path + (f"?{parts.query}" if parts.query else "")
        self.headers = {"Accept": "application/json"}
        if username:
            token = base64.b64encode(f"{username}:{password}".encode()).decode()
            self.headers["Authorization"] = f"Basic {token}"
        self.reader_id, self.aggregator, self.outlet, self.limits = reader_id, aggregator, outlet, limits
        self.ssl_context = ssl_context
        # The reader sends a keep-alive when idle; a stream silent for longer than this is dead.
        self.idle_timeout_s = idle_timeout_s
        self.backoff_s = backoff_s
        self.clock = clock
        self.health = StreamHealth(reader_id, url=f"{parts.scheme}://{parts.netloc}{self.path}")
        self.rejections = Rejections(self.health.rejected)
        # Every line is a sign of life: the reader sends a keep-alive when it has nothing else.
        self.book = ReaderHealthBook(reader_id, heartbeat_s)
        self._lock = threading.Lock()  # the aggregator is fed by run() and ticked by the ticker
        self._conn: http.client.HTTPConnection | None = None

    def run(self, stop: threading.Event) -> None:
        """Stream until ``stop`` is set, reconnecting with backoff; flushes the open cycle at the end."""
        done = threading.Event()
        ticker = threading.Thread(target=self._tick, args=(stop, done), name=f"{self.reader_id}-tick")
        ticker.start()
        delay = self.backoff_s[0]
        try:
            while not stop.is_set():
                started = time.monotonic()
                try:
                    self._session(stop)
                except (OSError, http.client.HTTPException, StreamError) as exc:
                    if not stop.is_set():
                        self.health.failed(exc)
                        log.warning("reader %s (%s): %s", self.reader_id, self.health.url, exc)
                self.health.connected = False
                if time.monotonic() - started > 10 * self.backoff_s[0]:
                    delay = self.backoff_s[0]  # it had been working: start the backoff again
                if stop.wait(delay):
                    break
                delay = min(delay * 2, self.backoff_s[1])
        finally:
            done.set()
            ticker.join()
            with self._lock:
                self.aggregator.flush()

    def _session(self, stop: threading.Event) -> None:
        conn = self._connection()
        self._conn = conn
        try:
            if stop.is_set():
                return
            conn.request("GET", self.path, headers=self.headers)
            response = conn.getresponse()
            if response.status != 200:
                raise StreamError(f"HTTP {response.status} {response.reason}: {response.read(300)!r}")
            self.health.up()
            self.health.reconnects = self.health.connects - 1
            log.info("reader %s: streaming %s", self.reader_id, self.health.url)
            for line, size in read_lines(response, self.limits.max_bytes):
                if stop.is_set():
                    return
                self._take(line, size)
            if not stop.is_set():
                raise StreamError("the reader ended the stream")
        finally:
            self._conn = None
            conn.close()

    def _connection(self) -> http.client.HTTPConnection:
        if self.scheme == "https":
            return http.client.HTTPSConnection(
                self.host, self.port, timeout=self.idle_timeout_s, context=self.ssl_context
            )
        return http.client.HTTPConnection(self.host, self.port, timeout=self.idle_timeout_s)

    def _take(self, line: bytes, size: int) -> None:
        now = self.clock()
        self.health.last_event_us = now
        self.book.beat(now)
        if not line.strip():
            self.health.keepalives += 1
            return
        try:
            if size > len(line):
                raise InvalidInput("oversized", f"{size} bytes exceeds the limit of {self.limits.max_bytes}")
            taken = impinj_event(line, self.reader_id, now, self.limits)
        except InvalidInput as error:
            self.rejections.record(self.outlet, self.reader_id, error, line)
            return
        if not isinstance(taken, Observation):
            self.health.ignored += 1
            if taken is not None:
                self.book.take(taken)
            return
        with self._lock:
            self.aggregator.add(taken)
        self.book.read(taken.antenna, taken.count)
        self.health.read(taken.time_us)

    def _tick(self, stop: threading.Event, done: threading.Event) -> None:
        period = max(0.01, self.aggregator.cycle_us / 4_000_000)
        while not done.is_set():
            if stop.is_set():
                self._abort()  # again each period: a connection may be opening right now
                done.wait(period)
                continue
            with self._lock:
                self.aggregator.tick(self.clock())
            stop.wait(period)

    def _abort(self) -> None:
        conn = self._conn
        sock = conn.sock if conn is not None else None
        if isinstance(sock, socket.socket):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
