"""Zebra readers (FX7500, FX9600, ATR7000, FXR90) through the Zebra IoT Connector, configured to
HTTP POST its tag data events, and its management events (heartbeats, errors, warnings), to
linetrace. ``readers.zebraevents`` says what each event is (Zebra IoT Connector documentation,
https://zebradevs.github.io/rfid-ziotc-docs, and ZebraDevs/RFID_ZIOTC_Examples).

``ZebraHttpReceiver`` takes a POST only with a token whose scope covers the reader's site and
line (``readers.auth``: Bearer, or Basic with the token as password; the IoT Connector's HTTP
POST endpoint sends either): 401 without one, 403 for another line, both counted and logged
but not dead-lettered. It answers 202 when the whole body was taken (reads to the read-cycle
aggregator, reader status to the reader's ``ReaderHealthBook``), 400 with the reason when it
was not (the body goes to ``Outlet.reject``: counted, logged, dead-lettered), 411 without a
Content-Length and 413 when the body is larger than the limit. The MQTT transport of the IoT
Connector is not supported: use its HTTP POST endpoints.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Protocol, Self

from ingest.deadletter import PAYLOAD_KEEP_BYTES
from ingest.errors import InvalidInput
from ingest.httpserver import HttpServer, Tls
from ingest.timefmt import now_us
from readers.auth import Admission, ReaderGate
from readers.base import CycleAggregator, Outlet, Served
from readers.jsonhttp import Answer, device_app
from readers.status import ReaderHealthBook
from readers.vendorjson import DEFAULT_LIMITS, ReadLimits, Rejections
from readers.zebraevents import FASTID_HINT, MAX_READ_COUNT, parse_zebra_payload, zebra_post

__all__ = ["MAX_READ_COUNT", "ReceiverHealth", "ZebraHttpReceiver", "parse_zebra_payload"]

log = logging.getLogger(__name__)

# A body up to this many times the limit is read and dropped, so the sender sees the 413
# instead of a reset connection; a larger one is cut off.
DRAIN_FACTOR = 16
_CHUNK = 64 * 1024


@dataclass
class ReceiverHealth:
    """How a Zebra receiver is doing. ``last_post_us`` on this host's clock, ``last_read_us``
    on the reader's."""

    reader_id: str
    listen: str
    posts: int = 0
    accepted: int = 0
    reads: int = 0
    status: int = 0  # management events and other messages that are not tag data
    rejected: dict[str, int] = field(default_factory=dict)
    problem: str = ""  # a configuration that loses reads, said once in the log
    last_post_us: int = 0
    last_read_us: int = 0


class _Body(Protocol):
    def read(self, size: int, /) -> bytes: ...


class ZebraHttpReceiver(Served):
    """An HTTP endpoint for one Zebra reader's tag data events, feeding one read-cycle aggregator.

    ``gate`` admits the posts whose token covers the aggregator's site and line. ``start()``
    binds (port 0: a free port, see ``port``) and serves (HTTPS with ``tls``); ``stop()`` stops
    serving and reports the open cycle. ``run(stop)`` does both around ``stop.wait()``.
    """

    def __init__(
        self,
        reader_id: str,
        aggregator: CycleAggregator,
        outlet: Outlet,
        gate: ReaderGate,
        host: str = "127.0.0.1",
        port: int = 8090,
        limits: ReadLimits = DEFAULT_LIMITS,
        clock: Callable[[], int] = now_us,
        heartbeat_s: float = 0.0,
        tls: Tls | None = None,
    ):
        self.reader_id, self.aggregator, self.outlet, self.limits = reader_id, aggregator, outlet, limits
        self.gate = gate
        self.host, self.port = host, port
        self.tls = tls
        self.clock = clock
        self.health = ReceiverHealth(reader_id, f"{host}:{port}")
        self.rejections = Rejections(self.health.rejected)
        self.book = ReaderHealthBook(reader_id, heartbeat_s)
        self._lock = threading.Lock()  # request threads and the ticker share the aggregator
        self._server: HttpServer | None = None
        self._stopped = threading.Event()
        self._ticker: threading.Thread | None = None

    def start(self) -> Self:
        app = device_app(
            lambda auth, length, body, peer: self.receive(auth, length, body, peer),
            lambda: asdict(self.health) | {"reader": self.book.summary()},
            None,
        )
        server = HttpServer(app, self.host, self.port, f"{self.reader_id}-http", self.tls).start()
        self._server, self.port = server, server.port
        self.health.listen = f"{self.host}:{self.port}"
        self._stopped.clear()
        self._ticker = threading.Thread(target=self._tick, name=f"{self.reader_id}-tick")
        self._ticker.start()
        log.info(
            "reader %s: receiving Zebra tag data and management events on %s (tag data needs the "
            "EPC bank, not FastID's TID, and ANTENNA in the operating mode's tagMetaData)",
            self.reader_id,
            server.url,
        )
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.stop()
        self._stopped.set()
        if self._ticker is not None:
            self._ticker.join()
        self._server = self._ticker = None
        with self._lock:
            self.aggregator.flush()

    def receive(
        self, authorization: str | None, length_header: str | None, body: _Body, peer: str = ""
    ) -> Answer:
        """The answer to one POST: 202, 400 (reason), 401, 403, 411 or 413."""
        now = self.clock()
        with self._lock:
            self.health.posts += 1
            self.health.last_post_us = now
        a = self.aggregator
        admission = self.gate.admit(self.reader_id, peer, authorization, a.site, a.line)
        if not admission.admitted:
            _drop_body(body, length_header, self.limits.max_bytes)
            return self._refuse_post(admission)
        if length_header is None or not length_header.isdigit():
            return self._reject(411, InvalidInput("length_required", "a POST needs a Content-Length"), b"")
        length = int(length_header)
        if length > self.limits.max_bytes:
            error = InvalidInput("oversized", f"{length} bytes exceeds the limit of {self.limits.max_bytes}")
            return self._reject(413, error, _read_head(body, length, self.limits.max_bytes * DRAIN_FACTOR))
        payload = body.read(length)
        try:
            if len(payload) < length:
                raise InvalidInput("truncated", f"{len(payload)} of {length} bytes arrived")
            post = zebra_post(payload, self.reader_id, now, self.limits)
        except InvalidInput as error:
            if FASTID_HINT in error.detail and not self.health.problem:
                self.health.problem = FASTID_HINT
                log.error("reader %s: %s", self.reader_id, FASTID_HINT)
            return self._reject(400, error, payload)
        with self._lock:
            for obs in post.observations:
                self.aggregator.add(obs)
                self.book.read(obs.antenna, obs.count)
            for status in post.statuses:
                self.book.take(status)
            self.health.accepted += 1
            self.health.reads += len(post.observations)
            self.health.status += len(post.statuses)
            if post.observations:
                self.health.last_read_us = max(
                    self.health.last_read_us, *(o.time_us for o in post.observations)
                )
        answer = {"accepted": len(post.observations)}
        return Answer(202, answer | {"status": len(post.statuses)} if post.statuses else answer)

    def _reject(self, status: int, error: InvalidInput, payload: bytes) -> Answer:
        with self._lock:
            self.rejections.record(self.outlet, self.reader_id, error, payload)
        return Answer(status, {"reason": error.reason, "detail": error.detail})

    def _refuse_post(self, admission: Admission) -> Answer:
        """401 or 403: counted (the gate counts it in the metrics), not dead-lettered."""
        with self._lock:
            self.health.rejected[admission.reason] = self.health.rejected.get(admission.reason, 0) + 1
        body = {"reason": admission.reason, "detail": admission.detail}
        return Answer(admission.status, body, admission.headers)

    def _tick(self) -> None:
        period = max(0.01, self.aggregator.cycle_us / 4_000_000)
        while not self._stopped.wait(period):
            with self._lock:
                self.aggregator.tick(self.clock())


def _drop_body(body: _Body, length_header: str | None, limit: int) -> None:
    """Read and drop the body of a refused post when it is within the limit, so the sender
    sees the answer rather than a reset connection; a larger one is left unread."""
    if length_header is not None and length_header.isdigit() and int(length_header) <= limit:
        _read_head(body, int(length_header), limit)


def _read_head(body: _Body, length: int, drain_limit: int) -> bytes:
    """The start of an oversized body (for the dead letter); the rest is read and dropped when
    it is not absurdly large."""
    head = body.read(min(length, PAYLOAD_KEEP_BYTES))
    left = length - len(head) if length <= drain_limit else 0
    while left > 0:
        chunk = body.read(min(left, _CHUNK))
        if not chunk:
            break
        left -= len(chunk)
    return head
