"""The ClickHouse sink: trace, dead-letter and captured EPCIS event topics into ClickHouse, in batches.

Messages are decoded as they are consumed (the trace codec, ingest/records/trace.py) and
their rows buffered by table; ``Sink.flush`` inserts them and then commits the offsets, in
the order its docstring gives.

Each insert costs a fixed 3-5 ms on the embedded engine (a part per insert), so only the
tables people watch live (passes, item state, violations, and the WIP and job rollups that
screens show beside them) are inserted as soon as the input has caught up (once the last
such insert has had its share of the sink's time, ``INSERT_SHARE``), and at the latest
``sink_flush_s`` after their oldest row; the rest go with the offset commit every
``sink_commit_s`` (or once the input has paused for ``sink_flush_s``). A crash replays the
hot rows inserted since the last commit; they replace themselves.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from confluent_kafka import Consumer, Message
from prometheus_client import CollectorRegistry

from ingest.deadletter import dead_letter
from ingest.epcis.messages import decode_captured
from ingest.errors import InvalidInput, StorageError
from ingest.kafka import make_consumer
from ingest.metrics import SinkMetrics
from ingest.records.bundles import WITHDRAWN
from ingest.records.rows import DeadLetterRow
from ingest.records.trace import CHUNK_ROWS
from ingest.records.trace import CODEC as TRACE
from ingest.settings import Settings
from ingest.timefmt import now_us, parse_us
from ingest.topics import Topics
from ingest.wire import decode_object
from storage import serving
from storage.client import Store
from storage.tables import TABLES, append_rows, new_buffer

log = logging.getLogger(__name__)

# Pause between insert attempts while ClickHouse refuses them; offsets stay uncommitted.
RETRY_PAUSE_S = 1.0

# Tables inserted as soon as the input catches up: what WIP, history, job cards and alerts
# read, together (a rollup inserted later than the item rows it counts would disagree with
# them on a screen).
HOT_TABLES = ("passes", "item_state", "violations", "wip_counts", "job_counts")

# The largest share of the time the sink spends inserting hot tables while input flows: after
# a hot flush that took d seconds, the next waits d * (1 / INSERT_SHARE - 1) for the input to
# catch up (its rows' ``sink_flush_s`` still caps the wait).
INSERT_SHARE = 0.5

# How long one consume call waits for messages; flush waits are counted separately.
POLL_S = 0.01
# Messages one consume call takes at most; fewer as the rows buffered near ``sink_batch_rows``
# (``Sink.consume_count``): a backlog of full trace messages (5,000 rows each) would otherwise
# buffer millions of rows before a flush, and a flush that long (the serving tables' merge of
# a million keys) holds the next poll past the consumer's ``max.poll.interval.ms``.
CONSUME_MAX = 2_000
# Rows a flush merges into the serving tables at most (``flush_due``): a merge reads
# each key's row back, about 60 µs a key on a busy machine, so a backlog's flushes of
# ``sink_batch_rows`` would each hold the poll for seconds.
SERVED_ROWS_MAX = 10_000
# A serving merge slower than this is logged, with its rows and the keys it wrote.
SLOW_MERGE_S = 2.0

HOT, ALL = "hot", "all"

# Rows withdrawn from the trace (a captured EPCIS event declared in error: ingest/schema.py,
# WITHDRAWN_NOTE), by table: how the sink tells a withdrawn row (a pass by its outcome, the
# others marked by ingest.records.rows.withdrawing), the key it deletes it by, and the
# lightweight delete, rare enough that its mutation costs nothing worth counting.
Row = Mapping[str, Any]
WITHDRAW: dict[str, tuple[Callable[[Row], bool], Callable[[Row], str], str]] = {
    "passes": (
        lambda r: r["outcome"] == WITHDRAWN,
        lambda r: str(r["pass_id"]),
        "DELETE FROM passes WHERE pass_id IN {ids:Array(String)}",
    ),
    "links": (
        lambda r: r.get("withdrawn") is True,
        lambda r: str(r["link_id"]),  # both directions of the link
        "DELETE FROM links WHERE link_id IN {ids:Array(String)}",
    ),
    "qc_results": (
        lambda r: r.get("withdrawn") is True,
        lambda r: f"{r['item']}|{r['time']}",
        "DELETE FROM qc_results WHERE concat(item, '|', toString(toUnixTimestamp64Micro(time)))"
        " IN {ids:Array(String)}",
    ),
    "shipments": (
        lambda r: r.get("withdrawn") is True,
        lambda r: f"{r['item']}|{r['shipment_id']}",
        "DELETE FROM shipments WHERE concat(item, '|', shipment_id) IN {ids:Array(String)}",
    ),
}


def on_cluster(delete: str, table: str) -> str:
    """A lightweight delete from ``table`` as a cluster runs it: on the replicated local table
    of every shard (storage/cluster/schema.sql names them ``<table>_local``, its cluster the
    ``{cluster}`` macro), not on the Distributed table over them."""
    return delete.replace(f"DELETE FROM {table} ", f"DELETE FROM {table}_local ON CLUSTER '{{cluster}}' ", 1)


def flush_due(
    settings: Settings,
    now: float,
    hot_since: float,
    any_since: float,
    quiet_since: float,
    hot: int,
    rows: int,
    ready_at: float = 0.0,
    served: int = 0,
) -> str:
    """What to insert now: ALL (every table, then commit), HOT (the hot tables) or ''.

    ``hot_since``/``any_since``: when the oldest buffered hot row/any row arrived (0: none);
    ``quiet_since``: when the input last went quiet (0: messages are arriving);
    ``ready_at``: when the last hot flush has had its share of the time (INSERT_SHARE);
    ``served``: rows buffered for the serving tables' merge (SERVED_ROWS_MAX).
    """
    if rows >= settings.sink_batch_rows or served >= SERVED_ROWS_MAX:
        return ALL
    if any_since and now - any_since >= settings.sink_commit_s:
        return ALL
    if quiet_since and now - quiet_since >= settings.sink_flush_s:
        return ALL  # input paused: write everything and commit
    if not hot:
        return ""
    if hot >= settings.sink_batch_rows or now - hot_since >= settings.sink_flush_s:
        return HOT
    if quiet_since and now >= ready_at:
        return HOT  # the input has caught up: make its rows queryable now
    return ""


class Sink:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        consumer: Consumer | None = None,
        metrics: SinkMetrics | None = None,
    ):
        self.settings = settings
        self.store = store
        self.topics = Topics.of(settings)
        self.consumer = consumer or make_consumer(settings, f"{settings.worker_id}-sink")
        # the rows buffered by table, column by column (TABLES' order), as they are inserted
        self.buffer: dict[str, list[list[Any]]] = {t: new_buffer(t) for t in TABLES}
        self.buffered_rows = 0
        self.uncommitted = False
        self.rows_written: dict[str, int] = defaultdict(int)
        self.metrics = metrics or SinkMetrics(CollectorRegistry())
        self.first_seen_us: list[int] = []  # first reads of passes whose first row is buffered
        # keys of rows withdrawn, by table: deleted after the table's next insert
        self.withdrawn: dict[str, list[str]] = defaultdict(list)
        # rows of the tables with a serving table (withdrawn passes too: they are its
        # tombstones), merged into it after the table's next insert
        self.served: dict[str, list[Row]] = {t: [] for t in serving.SERVED} if settings.serving_tables else {}
        # when the oldest buffered hot row, any row arrived, and the input went quiet (0: not)
        self.hot_since = self.any_since = self.quiet_since = 0.0
        self.ready_at = 0.0  # when the next hot flush may start as soon as the input is quiet

    def run(self, stop: threading.Event) -> None:
        topics = [self.topics.trace, self.topics.dead_letter, self.topics.epcis_events]
        self.consumer.subscribe(topics, on_revoke=self._on_revoke)
        try:
            while not stop.is_set():
                msgs = self.consumer.consume(num_messages=self.consume_count(), timeout=POLL_S)
                now = time.monotonic()
                for msg in msgs:
                    self._take(msg)
                self.flush_if_due(now, bool(msgs), stop)
            self.flush(stop)
        finally:
            self.consumer.close()

    def flush_if_due(self, now: float, consumed: bool, stop: threading.Event | None = None) -> None:
        """After a poll at ``now`` (monotonic seconds) that ``consumed`` messages or none:
        insert what ``flush_due`` says is due. Apart from ``run`` so a benchmark drives the
        same policy on a clock of its own."""
        hot = self.hot_rows()
        if hot and not self.hot_since:
            self.hot_since = now
        if self.buffered_rows and not self.any_since:
            self.any_since = now
        if consumed:
            self.quiet_since = 0.0
        elif not self.quiet_since:
            self.quiet_since = now
        due = flush_due(
            self.settings,
            now,
            self.hot_since,
            self.any_since,
            self.quiet_since,
            hot,
            self.buffered_rows,
            self.ready_at,
            self.served_rows(),
        )
        if not due:
            return
        started = time.perf_counter()
        if due == HOT:
            self.flush(stop, HOT_TABLES)
            self.hot_since = 0.0
        else:
            self.flush(stop)
            self.hot_since = self.any_since = 0.0
        took = time.perf_counter() - started
        self.ready_at = now + took / INSERT_SHARE

    def consume_count(self) -> int:
        """How many messages the next consume call may take: as many as fit in the rows left
        before ``sink_batch_rows`` if each were a full trace message (at least one). Small
        messages then take more calls, each a few microseconds; a guess from the sizes seen
        so far would let the first full messages of a backlog overfill the buffer."""
        room = self.settings.sink_batch_rows - self.buffered_rows
        if self.served:
            room = min(room, SERVED_ROWS_MAX - self.served_rows())
        return max(1, min(CONSUME_MAX, room // CHUNK_ROWS))

    def served_rows(self) -> int:
        """Rows buffered for the serving tables' next merge."""
        return sum(len(rows) for rows in self.served.values())

    def hot_rows(self) -> int:
        """Rows of the hot tables buffered, not yet inserted."""
        return sum(len(self.buffer[t][0]) for t in HOT_TABLES)

    def _take(self, msg: Message) -> None:
        self.uncommitted = True
        if msg.error():
            log.warning("consumer error: %s", msg.error())
            return
        self.take(msg.topic() or "", msg.partition() or 0, msg.offset() or 0, msg.value() or b"")

    def take(self, topic: str, partition: int, offset: int, payload: bytes) -> None:
        """Decode one consumed message and buffer its rows; one it cannot take becomes a
        dead-letter row. Apart from ``_take`` so a benchmark drives it without a broker."""
        try:
            if topic == self.topics.dead_letter:
                self._add("dead_letters", [_dead_letter_row(payload, self.settings.max_message_bytes * 2)])
            elif topic == self.topics.epcis_events:
                table, row = decode_captured(payload)
                self._add(table, [row])
            else:
                self.add_trace(TRACE.decode(payload))
        except (InvalidInput, KeyError, TypeError, ValueError) as exc:
            error = exc if isinstance(exc, InvalidInput) else InvalidInput("bad_trace", repr(exc))
            log.error("dead-lettering %s[%s]@%s: %s", topic, partition, offset, error)
            record = dead_letter(error, topic, partition, offset, payload)
            self._add("dead_letters", [_dead_letter_row(record, 1 << 30)])

    def add_trace(self, tables: Mapping[str, Sequence[Row]]) -> None:
        """Buffer the rows of one decoded trace message, table by table."""
        for table, rows in tables.items():
            self._add(table, rows)

    def _add(self, table: str, rows: Sequence[Mapping[str, Any]]) -> None:
        if table in self.served:
            self.served[table].extend(rows)
        if table in WITHDRAW:
            is_withdrawn, key, _ = WITHDRAW[table]
            if any(is_withdrawn(r) for r in rows):
                self.withdrawn[table].extend(key(r) for r in rows if is_withdrawn(r))
                rows = [r for r in rows if not is_withdrawn(r)]
        append_rows(TABLES[table][0], self.buffer[table], rows)
        self.buffered_rows += len(rows)
        if table == "passes":
            self.first_seen_us.extend(r["first_seen"] for r in rows if r.get("first"))
        elif table == "dead_letters":
            for r in rows:
                self.metrics.dead_letters.labels(r["reason"]).inc()

    def flush(self, stop: threading.Event | None = None, tables: tuple[str, ...] = ()) -> None:
        """Insert the buffered rows of ``tables`` (default: every table, then commit offsets).

        The order of a commit (``tables`` empty):

        1. Every message consumed so far is decoded and its rows buffered (``_take``); a
           message that cannot be decoded became a dead-letter row there.
        2. Insert every table's buffered rows synchronously (``async_insert=0``: ClickHouse
           has acknowledged them when the insert returns), table by table, each followed by
           the merge of its rows into its serving table, if it has one (storage/serving.py);
           then delete the rows withdrawn from those tables (inserted before, in this or an
           earlier flush).
        3. If an insert fails, keep every buffered row and the offsets uncommitted, wait
           RETRY_PAUSE_S and go back to step 2 (rows inserted already are inserted again and
           replace themselves: every table is keyed by deterministic ids; merged again into
           a serving table, they change nothing). A ``stop`` set
           meanwhile ends the flush with nothing committed.
        4. Only then commit the consumer's offsets, synchronously.

        A crash before step 4 replays everything since the last commit, and deterministic
        keys make the replay replace rows instead of doubling them. With ``tables`` given
        (the hot tables every ``sink_flush_s``), only steps 2 and 3 run for those tables;
        their offsets are committed with the next full flush.
        """
        while True:
            try:
                for table in tables or list(self.buffer):
                    buffered = self.buffer[table]
                    if buffered[0]:
                        started = time.perf_counter()
                        self.store.insert_columns(table, TABLES[table][0], buffered, TABLES[table][1])
                        self._inserted(table, len(buffered[0]), time.perf_counter() - started)
                        for column in buffered:
                            column.clear()
                    if self.served.get(table):
                        self._merge_served(table)
                for table in tables or list(self.withdrawn):
                    if self.withdrawn.get(table):
                        self._delete_withdrawn(table)
                break
            except StorageError as exc:
                self.metrics.errors.inc()
                log.error("insert failed, offsets not committed, retrying: %s", exc)
                if stop is not None and stop.wait(RETRY_PAUSE_S):
                    return
        if self.uncommitted and not tables:
            try:
                self.consumer.commit(asynchronous=False)
                self.metrics.commits.inc()
            except Exception as exc:
                log.debug("commit skipped: %s", exc)
            self.uncommitted = False

    def _merge_served(self, table: str) -> None:
        rows = self.served[table]
        started = time.perf_counter()
        written = serving.write(self.store, table, rows)
        took = time.perf_counter() - started
        if took >= SLOW_MERGE_S:
            log.warning(
                "serving merge of %s: %d rows, %d keys written in %.1f s", table, len(rows), written, took
            )
        rows.clear()

    def _delete_withdrawn(self, table: str) -> None:
        """Delete the rows of ``table`` withdrawn. A cluster's Distributed table takes no
        lightweight delete: then the delete goes to every shard's local table (``on_cluster``).
        A store that refuses both is logged with the keys and does not hold the sink."""
        keys = self.withdrawn.pop(table)
        sql = WITHDRAW[table][2]
        for statement in (sql, on_cluster(sql, table)):
            try:
                self.store.command(statement, {"ids": keys})
                return
            except StorageError as exc:
                refused = exc
        self.metrics.errors.inc()
        log.error("withdrawn %s rows %s not deleted: %s", table, keys, refused)

    def _inserted(self, table: str, rows: int, seconds: float) -> None:
        self.rows_written[table] += rows
        self.buffered_rows -= rows
        m = self.metrics
        m.rows.labels(table).inc(rows)
        m.insert_seconds.labels(table).observe(seconds)
        m.batch_rows.observe(rows)
        if table == "passes":
            now = now_us()
            for first in self.first_seen_us:
                m.latency.observe(max(0, now - first) / 1_000_000)
            self.first_seen_us = []

    def _on_revoke(self, consumer: Consumer, partitions: list[Any]) -> None:
        self.flush()


def _dead_letter_row(payload: bytes, max_bytes: int) -> DeadLetterRow:
    """The dead_letters row of a dead-letter message (public format: RFC 3339 time)."""
    obj = decode_object(payload, "dead_letter", max_bytes)
    return DeadLetterRow(
        dead_letter_id=obj["dead_letter_id"],
        time=parse_us(obj["time"]),
        reason=obj["reason"],
        detail=obj["detail"],
        source_topic=obj["source_topic"],
        source_partition=obj["source_partition"],
        source_offset=obj["source_offset"],
        payload=obj["payload"],
        payload_bytes=obj["payload_bytes"],
    )
