"""The HTTP endpoint of handhelds and scanners that POST scan batches: ``POST /v1/scans``.

The body is ``readers.barcode.parse_batch``'s::

    {"reader_id": "HAND-1", "site": "S1", "line": "L1", "operator": "anna",
     "scans": [{"code": "]C10100614141000012211234", "time": "2025-01-02T10:00:00Z", "antenna": 0}]}

A POST needs a token (``readers.auth``: Bearer, or Basic with the token as password) whose
scope covers the endpoint's reader (its site and line in the plant file) and the site and
line the batch names: 401 without one, 403 otherwise, counted and logged but not
dead-lettered. A batch naming a line other than the reader's is 400 ``wrong_line`` and
dead-lettered. A bad scan is rejected alone; the answer (202) counts what was accepted and
rejected, and why. A body unusable as a whole is 400 with its reason; 411 without a
Content-Length, 413 above the size limit. ``GET /health`` shows the counts.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import asdict
from typing import Self

from ingest.deadletter import PAYLOAD_KEEP_BYTES
from ingest.errors import InvalidInput
from ingest.gs1 import NO_PREFIXES, check_company_prefixes
from ingest.httpserver import HttpServer, Tls
from ingest.settings import Settings
from ingest.timefmt import now_us
from readers.auth import Admission, ReaderGate
from readers.barcode import ScanBatch, ScannerHealth, TimeLimits, parse_batch, record_rejection
from readers.base import CycleAggregator, Outlet, Served
from readers.jsonhttp import Answer, device_app

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 256 * 1024
MAX_READERS = 10_000  # distinct reader ids one HTTP endpoint keeps cycle numbers for
SCANS_PATH = "/v1/scans"
_CHUNK = 64 * 1024


class BarcodeHttpServer(Served):
    """``POST /v1/scans`` for handhelds and scanners that POST batches; ``GET /health``.

    Each POST's scans are reported before the answer (per reader, cycles of ``cycle_s`` by
    scan time). ``reader_ids``, when given, are the only readers accepted (others:
    ``unknown_reader``). ``gate`` admits a POST whose token covers ``place`` (the site and
    line of the endpoint's reader in the plant file, checked before the body is read) and
    the site and line the batch names. ``start()`` binds (port 0: a free port) and serves
    (HTTPS when the settings name a certificate and key).
    """

    def __init__(
        self,
        outlet: Outlet,
        settings: Settings,
        gate: ReaderGate,
        *,
        host: str = "127.0.0.1",
        port: int = 9101,
        cycle_s: float = 0.2,
        max_body_bytes: int = MAX_BODY_BYTES,
        reader_ids: frozenset[str] | None = None,
        place: tuple[str, str] | None = None,
        company_prefixes: Mapping[str, int] = NO_PREFIXES,
        name: str = "barcode-http",
        clock: Callable[[], int] = now_us,
    ):
        check_company_prefixes(company_prefixes)
        self.outlet, self.limits, self.gate, self.place = outlet, TimeLimits.of(settings), gate, place
        self.host, self.port, self.cycle_us = host, port, int(cycle_s * 1_000_000)
        self.max_body_bytes, self.reader_ids, self.company_prefixes = (
            max_body_bytes,
            reader_ids,
            company_prefixes,
        )
        self.name, self.clock, self.tls = name, clock, Tls.of(settings)
        self.health = ScannerHealth(name, f"{host}:{port}")
        self._next_seq: dict[str, int] = {}
        self._lock = threading.Lock()
        self._server: HttpServer | None = None

    def receive(
        self,
        authorization: str | None,
        length_header: str | None,
        read: Callable[[int], bytes],
        peer: str = "",
    ) -> Answer:
        """The answer to one POST: 202 (counts), 400 (reason), 401, 403, 411 or 413."""
        admission = self._admit(authorization, peer)
        token = admission.token
        if token is None or not admission.admitted:
            _drop_body(read, length_header, self.max_body_bytes)
            return self._refuse_post(admission)
        if length_header is None or not length_header.isdigit():
            return self._refuse(411, InvalidInput("length_required", "a POST needs a Content-Length"), b"")
        length = int(length_header)
        if length > self.max_body_bytes:
            error = InvalidInput("oversized", f"{length} bytes exceeds the limit of {self.max_body_bytes}")
            return self._refuse(413, error, _read_head(read, length, self.max_body_bytes))
        body = read(length)
        try:
            if len(body) < length:
                raise InvalidInput("truncated", f"{len(body)} of {length} bytes arrived")
            batch = parse_batch(body, self.clock(), self.limits, self.company_prefixes)
            in_scope = self.gate.check_scope(self.name, peer, token, batch.site, batch.line)
            if not in_scope.admitted:
                return self._refuse_post(in_scope)
            if self.reader_ids is not None and batch.reader_id not in self.reader_ids:
                raise InvalidInput("unknown_reader", f"reader {batch.reader_id!r} does not post here")
            self._check_line(batch)
            with self._lock:
                if batch.reader_id not in self._next_seq and len(self._next_seq) >= MAX_READERS:
                    raise InvalidInput("unknown_reader", f"more than {MAX_READERS} readers post here")
                self._report(batch)
        except InvalidInput as error:
            return self._refuse(400, error, body)
        reasons: dict[str, int] = {}
        for _, rejected, _ in batch.rejected:
            reasons[rejected.reason] = reasons.get(rejected.reason, 0) + 1
        rejections = [{"index": i, "reason": e.reason, "detail": e.detail} for i, e, _ in batch.rejected]
        return Answer(
            202,
            {
                "accepted": len(batch.observations),
                "rejected": len(batch.rejected),
                "reasons": reasons,
                "rejections": rejections,
            },
        )

    def _admit(self, authorization: str | None, peer: str) -> Admission:
        """A known token, covering the endpoint's reader when its place is known (so a token of
        another line is refused before the body is read)."""
        admission = self.gate.authenticate(self.name, peer, authorization)
        if admission.token is None or self.place is None:
            return admission
        return self.gate.check_scope(self.name, peer, admission.token, *self.place)

    def _check_line(self, batch: ScanBatch) -> None:
        """A batch on the line of the endpoint's reader (when its place is known): the worker
        would dead-letter any other as ``wrong_line`` after the handheld was told it was taken."""
        if self.place is None or (batch.site, batch.line) == self.place:
            return
        site, line = self.place
        raise InvalidInput(
            "wrong_line",
            f"reader {batch.reader_id} reads on line {site}/{line}; "
            f"the batch names line {batch.site}/{batch.line}",
        )

    def _report(self, batch: ScanBatch) -> None:
        """Hand the batch's scans to the outlet (as read-cycle reports) and its rejections."""
        self.health.posts += 1
        self.health.lines += len(batch.observations) + len(batch.rejected)
        for _, error, payload in batch.rejected:
            record_rejection(self.health, self.outlet, batch.reader_id, error, payload)
        if not batch.observations:
            return
        aggregator = CycleAggregator(
            batch.site,
            batch.line,
            batch.reader_id,
            self.cycle_us,
            self.outlet.publish_report,
            operator=batch.operator,
            next_seq=self._next_seq.get(batch.reader_id, 0),
        )
        for obs in sorted(batch.observations, key=lambda o: o.time_us):
            aggregator.add(obs)
        aggregator.flush()
        self._next_seq[batch.reader_id] = aggregator.next_seq
        self.health.scans += len(batch.observations)
        self.health.last_scan_us = self.clock()

    def _refuse(self, status: int, error: InvalidInput, payload: bytes) -> Answer:
        with self._lock:
            self.health.posts += 1
            record_rejection(self.health, self.outlet, self.name, error, payload)
        return Answer(status, {"reason": error.reason, "detail": error.detail})

    def _refuse_post(self, admission: Admission) -> Answer:
        """401 or 403: counted (the gate counts it in the metrics), not dead-lettered."""
        with self._lock:
            self.health.posts += 1
            self.health.rejected[admission.reason] = self.health.rejected.get(admission.reason, 0) + 1
        return Answer(
            admission.status, {"reason": admission.reason, "detail": admission.detail}, admission.headers
        )

    def start(self) -> Self:
        app = device_app(
            lambda auth, length, body, peer: self.receive(auth, length, body.read, peer),
            lambda: asdict(self.health),
            SCANS_PATH,
        )
        server = HttpServer(app, self.host, self.port, f"{self.name}-http", self.tls).start()
        self._server, self.port = server, server.port
        self.health.listen = f"{self.host}:{self.port}"
        log.info("scanner endpoint %s: receiving scans on %s%s", self.name, server.url, SCANS_PATH)
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.stop()
        self._server = None


def _drop_body(read: Callable[[int], bytes], length_header: str | None, limit: int) -> None:
    """Read and drop the body of a refused post within the size limit, so the sender sees the
    answer rather than a reset connection; a larger one is left unread."""
    if length_header is not None and length_header.isdigit() and int(length_header) <= limit:
        _read_head(read, int(length_header), limit)


def _read_head(read: Callable[[int], bytes], length: int, limit: int) -> bytes:
    """The start of an oversized body (for the dead letter); the rest is read and dropped when
    it is at most 16 times the limit, so the sender sees the 413 rather than a reset."""
    head = read(min(length, PAYLOAD_KEEP_BYTES))
    left = length - len(head) if length <= limit * 16 else 0
    while left > 0:
        chunk = read(min(left, _CHUNK))
        if not chunk:
            break
        left -= len(chunk)
    return head
