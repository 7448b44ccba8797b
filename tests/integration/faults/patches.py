"""Test-only patches for the fault suite, applied in a child process by launcher.py.

Crash points (``kill_*``) end the process with SIGKILL at exactly one step, the Nth time it is
reached. Faults (``refuse_output``, ``clickhouse_outage``) make a real component fail the way
it fails in production. Controls (the rest) switch one protection off, so a negative control
can show that its test fails without it.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

from confluent_kafka import KafkaError, KafkaException

log = logging.getLogger("linetrace.test-patches")


def _kill(where: str) -> None:
    print(f"test crash point: {where}", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)


class Countdown:
    """True on the Nth call (thread-safe)."""

    def __init__(self, n: str):
        self.left = int(n)
        self.lock = threading.Lock()

    def hit(self) -> bool:
        with self.lock:
            self.left -= 1
            return self.left == 0


# --- stream worker: crash points -----------------------------------------------------------


def patch_kill_before_ship(n: str) -> None:
    """Kill as the Nth batch starts flushing its outputs: some may be sent, none acknowledged."""
    from streams.shipping import Shipper

    original, count = Shipper.flush, Countdown(n)

    def flush(self: Shipper) -> None:
        if count.hit():
            self.producer.poll(0)
            _kill(f"worker before ship #{n}")
        original(self)

    Shipper.flush = flush  # type: ignore[method-assign]


def patch_kill_after_ship(n: str) -> None:
    """Kill once the Nth batch's outputs are acknowledged, before faust commits its input."""
    from streams.shipping import Shipper

    original, count = Shipper.flush, Countdown(n)

    def flush(self: Shipper) -> None:
        original(self)
        if count.hit():
            _kill(f"worker after ship #{n}")

    Shipper.flush = flush  # type: ignore[method-assign]


def patch_kill_mid_batch(n: str) -> None:
    """Kill in the middle of a stage-2 batch: the Nth bundle applied to state, nothing shipped."""
    from streams.stage2 import RouteStates

    original, count = RouteStates.apply, Countdown(n)

    def apply(self: RouteStates, partition: int, records: list[dict[str, Any]]) -> None:
        original(self, partition, records)
        if count.hit():
            _kill(f"worker mid batch #{n}")

    RouteStates.apply = apply  # type: ignore[method-assign]


# --- stream worker: faults -----------------------------------------------------------------


class _Refused:
    """What a delivery report carries for a message the broker refused."""

    def __init__(self, topic: str):
        self._topic = topic

    def topic(self) -> str:
        return self._topic

    def partition(self) -> int:
        return -1


def patch_refuse_output(n: str) -> None:
    """The broker refuses the Nth trace message (as Kafka refuses one over the topic's
    max.message.bytes): the message is not stored and only its delivery report says so."""
    from confluent_kafka import KafkaError

    from streams.shipping import Shipper

    original, count = Shipper._send_trace, Countdown(n)

    def send(self: Shipper, chunk: Mapping[str, Sequence[Mapping[str, object]]]) -> None:
        if count.hit():
            print(f"test fault: trace message #{n} refused", flush=True)
            refused = KafkaError(KafkaError.MSG_SIZE_TOO_LARGE, "Broker: Message size too large")
            self.producer._delivered(refused, _Refused(self.topics.trace))  # type: ignore[attr-defined]
            return
        original(self, chunk)

    Shipper._send_trace = send  # type: ignore[method-assign]


# --- stream worker: protections off --------------------------------------------------------


def patch_no_restore() -> None:
    """Control: a partition's route state is not rebuilt from its changelog."""
    from streams.stage2 import RouteStates

    original = RouteStates.load

    def load(self: RouteStates, partition: int, records: Any) -> int:
        return original(self, partition, [])

    RouteStates.load = load  # type: ignore[method-assign]


def patch_ignore_delivery_failures() -> None:
    """Control: the worker trusts flush() alone, as if failed deliveries were delivered."""
    import streams.shipping

    def flush_only(producer: Any, timeout_s: float = 30.0) -> None:
        producer.flush(timeout_s)
        getattr(producer, "failures", []).clear()

    streams.shipping.deliver_or_raise = flush_only


# --- sink: crash points --------------------------------------------------------------------


class _Consumer:
    """The sink's real consumer, with a crash point on commit."""

    def __init__(self, consumer: Any, before_commit: Countdown):
        self._consumer = consumer
        self._before_commit = before_commit

    def commit(self, *args: Any, **kwargs: Any) -> Any:
        if self._before_commit.hit():
            _kill("sink before commit")
        return self._consumer.commit(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._consumer, name)


def patch_kill_before_commit(n: str) -> None:
    """Kill the sink at its Nth offset commit: every table inserted, offsets not committed."""
    import storage.sink

    original, count = storage.sink.make_consumer, Countdown(n)

    def make_consumer(*args: Any, **kwargs: Any) -> Any:
        return _Consumer(original(*args, **kwargs), count)

    storage.sink.make_consumer = make_consumer


def patch_kill_at_insert(n: str) -> None:
    """Kill the sink as it starts its Nth insert of passes (rows consumed, not stored)."""
    from storage.client import Store

    original, count = Store.insert_columns, Countdown(n)

    def insert_columns(
        self: Store, table: str, columns: Sequence[str], data: Sequence[Sequence[Any]], micros: frozenset[str]
    ) -> None:
        if table == "passes" and data and data[0] and count.hit():
            _kill(f"sink at insert #{n} of passes")
        original(self, table, columns, data, micros)

    Store.insert_columns = insert_columns  # type: ignore[method-assign]


# --- sink: faults --------------------------------------------------------------------------


class _UnreachableClickHouse:
    """The real clickhouse-connect client; from the Nth insert of passes on, for ``seconds``,
    every call raises what clickhouse-connect raises when the server cannot be reached."""

    def __init__(self, client: Any, start_at: int, seconds: float):
        self._client = client
        self._inserts = 0
        self._start_at = start_at
        self._seconds = seconds
        self._until = 0.0

    def _check(self) -> None:
        if self._until and time.monotonic() < self._until:
            from clickhouse_connect.driver.exceptions import OperationalError

            raise OperationalError(
                "Error HTTPConnectionPool(host='clickhouse', port=8123): Max retries exceeded "
                "(Caused by NewConnectionError: [Errno 111] Connection refused) executing HTTP request"
            )

    def insert(self, table: str, *args: Any, **kwargs: Any) -> Any:
        self._inserts += table == "passes"
        if self._inserts == self._start_at and not self._until:
            print(f"test fault: ClickHouse unreachable for {self._seconds} s", flush=True)
            self._until = time.monotonic() + self._seconds
        self._check()
        return self._client.insert(table, *args, **kwargs)

    def query(self, *args: Any, **kwargs: Any) -> Any:
        self._check()
        return self._client.query(*args, **kwargs)

    def command(self, *args: Any, **kwargs: Any) -> Any:
        self._check()
        return self._client.command(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def patch_clickhouse_outage(spec: str) -> None:
    """``N/S``: ClickHouse is unreachable from the sink's Nth insert of passes on, for S seconds."""
    from storage.client import Store

    start_at, seconds = spec.split("/")
    original = Store.__init__

    def init(self: Store, client: Any, database: str, serving: bool = True) -> None:
        unreachable = _UnreachableClickHouse(client, int(start_at), float(seconds))
        original(self, unreachable, database, serving)  # type: ignore[arg-type]

    Store.__init__ = init  # type: ignore[method-assign]


# --- sink: protections off -----------------------------------------------------------------


def patch_commit_before_insert() -> None:
    """Control: the sink commits its offsets before it inserts (the order reversed)."""
    from storage.sink import Sink

    original = Sink.flush

    def flush(self: Sink, stop: threading.Event | None = None, tables: tuple[str, ...] = ()) -> None:
        if self.uncommitted:
            try:
                self.consumer.commit(asynchronous=False)
            except KafkaException as exc:  # nothing consumed since the last commit, as the sink
                if exc.args[0].code() != KafkaError._NO_OFFSET:
                    raise
        original(self, stop, tables)

    Sink.flush = flush  # type: ignore[method-assign]


def patch_drop_on_insert_error() -> None:
    """Control: a sink that gives up on a batch ClickHouse refused, commits, and moves on."""
    from ingest.errors import StorageError
    from storage.sink import Sink

    original_insert = Sink._inserted

    def flush(self: Sink, stop: threading.Event | None = None, tables: tuple[str, ...] = ()) -> None:
        from storage.tables import TABLES

        for table in tables or list(self.buffer):
            buffered = self.buffer[table]
            rows = len(buffered[0])
            if rows:
                try:
                    self.store.insert_columns(table, TABLES[table][0], buffered, TABLES[table][1])
                    original_insert(self, table, rows, 0.0)
                except StorageError as exc:
                    log.error("dropping %d rows of %s: %s", rows, table, exc)
                    self.buffered_rows -= rows
                for column in buffered:
                    column.clear()
        if self.uncommitted and not tables:
            self.consumer.commit(asynchronous=False)
            self.uncommitted = False

    Sink.flush = flush  # type: ignore[method-assign]


# --- input: protections off ----------------------------------------------------------------


def patch_untyped_decode_errors() -> None:
    """Control: the read decoder raises a plain error for bad input instead of a typed one."""
    import streams.stage1
    from ingest.errors import InvalidInput

    original = streams.stage1.decode_report_reads

    def decode_report_reads(payload: bytes, max_bytes: int) -> Any:
        try:
            return original(payload, max_bytes)
        except InvalidInput as exc:
            raise ValueError(str(exc)) from None

    streams.stage1.decode_report_reads = decode_report_reads


def patch_store_no_epcis_events() -> None:
    """The sink leaves the epcis-events topic unstored, as a sink far behind on it would: what
    a capture published is on the broker only."""
    from confluent_kafka import Message

    from storage.sink import Sink

    original = Sink._take

    def take(self: Sink, msg: Message) -> None:
        if msg.topic() != self.topics.epcis_events:
            original(self, msg)

    Sink._take = take  # type: ignore[method-assign]
