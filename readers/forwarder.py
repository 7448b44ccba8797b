"""Store and forward: the outlet reader adapters publish through.

Every report and rejection is first appended to the on-disk spool (``readers.spool``), and a
pump thread sends the spool in order: it peeks a batch, produces it, waits for the broker's
acknowledgements, and commits the acknowledged prefix, so a record leaves the disk only once
the broker holds it. Nothing is ever produced ahead of an older spooled record, and while
the broker is away or slow the reports simply stay on disk and go out, in order, when it is
back. Records sent again after a failure are harmless: report and dead-letter ids are
deterministic, so the trace stores them once.

A full spool holds the adapters back: ``publish_report`` blocks until there is room, and the
wait is counted and logged; nothing is dropped.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable
from pathlib import Path

from confluent_kafka import KafkaError, KafkaException, Message, Producer
from prometheus_client import REGISTRY, CollectorRegistry

from ingest.deadletter import dead_letter
from ingest.errors import InvalidInput, LinetraceError
from ingest.kafka import make_producer
from ingest.metrics import Declared
from ingest.schema import ReadCycleReport
from ingest.settings import Settings
from ingest.topics import Topics
from ingest.wire import encode_report
from readers.spool import Spool, SpoolError, SpoolRecord

log = logging.getLogger(__name__)

MiB = 1024 * 1024
# How often a caller held back by a full spool logs that it is still waiting.
FULL_LOG_EVERY_S = 10.0
# How often a broker that stays away is logged again (the first failure is logged at once).
FAILING_LOG_EVERY_S = 60.0
# Past message.timeout.ms every delivery callback has fired; this covers the poll that serves it.
CALLBACK_SLACK_S = 5.0


class SpoolFull(SpoolError):
    """A record waited longer than its timeout for room in a full spool; it was not taken."""


class ReaderMetrics(Declared):
    """The outlet's metrics, created once per registry (several forwarders may share one)."""

    _by_registry: weakref.WeakKeyDictionary[CollectorRegistry, ReaderMetrics] = weakref.WeakKeyDictionary()
    _lock = threading.Lock()

    def __init__(self, registry: CollectorRegistry):
        super().__init__(registry)
        self.spool_bytes = self.gauge("linetrace_reader_spool_bytes", "Bytes of the reader spool on disk.")
        self.spool_records = self.gauge(
            "linetrace_reader_spool_records", "Records in the reader spool not yet sent."
        )
        self.spool_full = self.counter(
            "linetrace_reader_spool_full",
            "Reports and rejections held back because the reader spool was full.",
        )
        self.reports_sent = self.counter(
            "linetrace_reader_reports_sent", "Read-cycle reports the broker acknowledged."
        )
        self.rejections = self.counter(
            "linetrace_reader_rejections",
            "Reader input rejected, by reason; dead-lettered, but for posts refused as "
            "unauthorized or forbidden (readers.auth).",
            "reason",
        )

    @classmethod
    def of(cls, registry: CollectorRegistry) -> ReaderMetrics:
        with cls._lock:
            metrics = cls._by_registry.get(registry)
            if metrics is None:
                metrics = cls._by_registry[registry] = cls(registry)
            return metrics


class Forwarder:
    """The reader outlet (``readers.base.Outlet``): spool first, then Kafka in order.

    ``start=False`` runs no pump thread; the caller then drives it with ``pump()`` (from one
    thread). A ``producer`` passed in should set ``message.timeout.ms``, or a stopped broker
    holds its batch inside librdkafka instead of failing it back to the spool.
    ``full_timeout_s=None`` (the default) waits as long as the spool stays full; a number
    makes ``publish_report`` raise ``SpoolFull`` after that long instead.
    """

    def __init__(
        self,
        settings: Settings,
        spool_dir: Path,
        producer: Producer | None = None,
        *,
        spool_max_bytes: int | None = None,
        registry: CollectorRegistry | None = None,
        batch_records: int = 500,
        delivery_timeout_s: float | None = None,
        retry_backoff_s: float = 0.5,
        retry_backoff_max_s: float = 10.0,
        full_timeout_s: float | None = None,
        start: bool = True,
    ):
        self.settings = settings
        self.topics = Topics.of(settings)
        max_bytes = spool_max_bytes or settings.spool_max_mb * MiB
        if max_bytes < 2 * settings.max_message_bytes:
            raise LinetraceError(
                f"a spool of {max_bytes} bytes is too small for messages of {settings.max_message_bytes}"
            )
        self.spool = Spool(Path(spool_dir), max_bytes)
        self.metrics = ReaderMetrics.of(REGISTRY if registry is None else registry)
        self.batch_records = batch_records
        self.delivery_timeout_s = (
            settings.reader_delivery_timeout_s if delivery_timeout_s is None else delivery_timeout_s
        )
        self.backoff_s, self.backoff_max_s = retry_backoff_s, retry_backoff_max_s
        self.full_timeout_s = full_timeout_s
        self._own_producer = producer is None
        self._producer = producer or self._new_producer()
        self._changed = threading.Condition()
        self._stopping = threading.Event()
        self._failing_since: float | None = None
        self._failure_logged = 0.0
        self._retry_at = 0.0
        self._next_backoff_s = retry_backoff_s
        self._show()
        self._thread: threading.Thread | None = None
        if start:
            self._thread = threading.Thread(target=self._run, name="spool-forwarder", daemon=True)
            self._thread.start()

    def _new_producer(self) -> Producer:
        # Undelivered messages must fail back here (and stay spooled) rather than be retried
        # inside librdkafka for ever while the broker is away.
        return make_producer(self.settings, **{"message.timeout.ms": int(self.delivery_timeout_s * 1000)})

    # -- the outlet -----------------------------------------------------------------------

    def publish_report(self, report: ReadCycleReport) -> None:
        value = encode_report(report)
        limit = self.settings.max_message_bytes
        if len(value) > limit:  # the worker would refuse it too; the broker may refuse it for ever
            detail = f"report {report.report_id} is {len(value)} bytes, the limit is {limit}"
            self.reject(report.reader_id, "oversized", detail, value)
            return
        self._put(self.topics.reads, report.reader_id.encode(), value, report.report_id)

    def reject(self, source: str, reason: str, detail: str, payload: bytes) -> None:
        record = dead_letter(InvalidInput(reason, detail), f"reader:{source}", 0, 0, payload)
        log.warning("rejected input from %s: %s: %s", source, reason, detail)
        self.metrics.rejections.labels(reason).inc()
        self._put(self.topics.dead_letter, source.encode(), record, f"{reason} from {source}")

    def _put(self, topic: str, key: bytes, value: bytes, what: str) -> None:
        if self.spool.append(topic, key, value):
            self._show()
            with self._changed:
                self._changed.notify_all()
            return
        self.metrics.spool_full.inc()
        log.error(
            "reader spool full (%d bytes, %d records): holding %s back until the broker takes some",
            self.spool.bytes_used,
            self.spool.records,
            what,
        )
        self._wait_for_room(topic, key, value, what)

    def _wait_for_room(self, topic: str, key: bytes, value: bytes, what: str) -> None:
        started = last_log = time.monotonic()
        with self._changed:
            while not self.spool.append(topic, key, value):
                now = time.monotonic()
                if self._stopping.is_set():
                    raise SpoolFull(f"closing with a full spool: {what} was not taken")
                if self.full_timeout_s is not None and now - started >= self.full_timeout_s:
                    log.error("reader spool still full after %.1f s: %s was not taken", now - started, what)
                    raise SpoolFull(f"the spool stayed full for {now - started:.1f} s: {what} was not taken")
                if now - last_log >= FULL_LOG_EVERY_S:
                    log.error("reader spool still full after %.0f s; %s is waiting", now - started, what)
                    last_log = now
                self._changed.wait(0.5)
        log.info("reader spool has room again after %.1f s", time.monotonic() - started)
        self._show()
        with self._changed:
            self._changed.notify_all()

    # -- sending --------------------------------------------------------------------------

    def pump(self) -> int:
        """Send the oldest spooled records once; returns how many the broker acknowledged.

        Order of a step: peek a batch, produce it, serve delivery callbacks until each record
        is acknowledged or failed, commit the acknowledged prefix. After a failure the rest
        stay spooled and the next step waits out a growing backoff.
        """
        if time.monotonic() < self._retry_at:
            return 0
        records = self.spool.peek(self.batch_records)
        if not records:
            return 0
        outcomes: dict[int, KafkaError | None] = {}  # record index -> delivery error (None: acknowledged)
        produced = 0
        for i, r in enumerate(records):
            try:
                self._producer.produce(r.topic, r.value, key=r.key, on_delivery=_recorder(outcomes, i))
            except (BufferError, KafkaException):
                break  # the producer's queue is full (or it is failing): the rest go in a later step
            produced += 1
        deadline = time.monotonic() + self.delivery_timeout_s + CALLBACK_SLACK_S
        while len(outcomes) < produced and time.monotonic() < deadline:
            self._producer.poll(0.05)
        acked = next((i for i in range(produced) if i not in outcomes or outcomes[i] is not None), produced)
        self._commit(records[:acked])
        if acked < produced or produced == 0:
            self._failed(outcomes.get(acked))
        elif self._failing_since is not None:
            log.info(
                "broker acknowledging again, %.1f s after the first failed delivery; %d records to send",
                time.monotonic() - self._failing_since,
                self.spool.records,
            )
            self._failing_since, self._next_backoff_s = None, self.backoff_s
        return acked

    def _commit(self, records: list[SpoolRecord]) -> None:
        if not records:
            return
        self.spool.commit(len(records))
        self.metrics.reports_sent.inc(sum(1 for r in records if r.topic == self.topics.reads))
        self._show()
        with self._changed:
            self._changed.notify_all()

    def _failed(self, error: KafkaError | None) -> None:
        now = time.monotonic()
        if self._failing_since is None:
            self._failing_since = self._failure_logged = now
            log.warning(
                "broker not acknowledging (%s); %d records stay in the spool and are retried",
                error or "no delivery report",
                self.spool.records,
            )
        elif now - self._failure_logged >= FAILING_LOG_EVERY_S:
            self._failure_logged = now
            log.error(
                "broker still not acknowledging after %.0f s (%s); %d records (%d bytes) in the spool",
                now - self._failing_since,
                error or "no delivery report",
                self.spool.records,
                self.spool.bytes_used,
            )
        self._retry_at = now + self._next_backoff_s
        self._next_backoff_s = min(self._next_backoff_s * 2, self.backoff_max_s)
        if self._own_producer:
            # The local broker fences an idempotent producer whose messages timed out; a new
            # producer (new producer id) sends the retry.
            self._replace_producer()

    def _replace_producer(self) -> None:
        old, self._producer = self._producer, self._new_producer()
        _discard(old)

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                if self.pump():
                    continue
            except Exception:  # the thread must keep the spool moving; the error is logged
                log.exception("reader spool pump failed; retrying")
                self._retry_at = time.monotonic() + self.backoff_max_s
            with self._changed:
                # Appends notify under this lock, so a record appended after this check wakes us.
                retry_in = self._retry_at - time.monotonic()
                if not self._stopping.is_set() and (retry_in > 0 or not self.spool.records):
                    self._changed.wait(min(retry_in, 0.5) if retry_in > 0 else 0.5)

    def _show(self) -> None:
        self.metrics.spool_bytes.set(self.spool.bytes_used)
        self.metrics.spool_records.set(self.spool.records)

    # -- lifecycle ------------------------------------------------------------------------

    @property
    def pending(self) -> int:
        """Records not yet acknowledged by the broker."""
        return self.spool.records

    def drain(self, timeout_s: float) -> bool:
        """Wait until the broker has every spooled record; False if some remain after the timeout."""
        deadline = time.monotonic() + timeout_s
        while self.spool.records and time.monotonic() < deadline:
            if self._thread is None and self.pump():
                continue
            with self._changed:
                self._changed.wait(0.1)
        return not self.spool.records

    def close(self, timeout_s: float = 10.0) -> None:
        """Stop the pump, send what the broker takes within ``timeout_s``, keep the rest on disk."""
        self._stopping.set()
        with self._changed:
            self._changed.notify_all()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        deadline = time.monotonic() + timeout_s
        if self._failing_since is None:  # the broker is there: send what it takes in time
            while self.spool.records and time.monotonic() < deadline and self.pump():
                pass
        if self.spool.records:
            log.warning("%d records stay in the reader spool for the next start", self.spool.records)
        if self._own_producer:
            _discard(self._producer)
        self.spool.close()


def _discard(producer: Producer) -> None:
    """Close a producer without waiting on a broker that is away (its records stay spooled)."""
    producer.purge()
    producer.flush(0)
    producer.close()


def _recorder(outcomes: dict[int, KafkaError | None], i: int) -> Callable[[KafkaError | None, Message], None]:
    def on_delivery(err: KafkaError | None, _msg: Message) -> None:
        outcomes[i] = err

    return on_delivery
