"""When the sink inserts: hot tables once the input catches up (within their share of the time)
or on their short wait, everything with the commit."""

from __future__ import annotations

from typing import cast

import pytest
from confluent_kafka import Consumer
from prometheus_client import CollectorRegistry

from ingest.metrics import SinkMetrics
from ingest.records.trace import CHUNK_ROWS
from ingest.settings import Settings
from storage.client import Store
from storage.sink import ALL, HOT, SERVED_ROWS_MAX, Sink, flush_due

SETTINGS = Settings(sink_flush_s=0.1, sink_commit_s=1.0, sink_batch_rows=1_000)


@pytest.mark.parametrize(
    ("now", "hot_since", "any_since", "quiet_since", "hot", "rows", "ready_at", "due"),
    [
        pytest.param(10.0, 0.0, 0.0, 0.0, 0, 0, 0.0, "", id="nothing buffered"),
        pytest.param(10.05, 10.0, 10.0, 0.0, 5, 9, 0.0, "", id="hot rows younger than the flush wait"),
        pytest.param(10.11, 10.0, 10.0, 0.0, 5, 9, 0.0, HOT, id="hot rows due"),
        pytest.param(10.01, 10.0, 10.0, 0.0, 1_000, 1_000, 0.0, ALL, id="a full batch"),
        pytest.param(10.5, 0.0, 9.5, 0.0, 0, 9, 0.0, ALL, id="other rows at the commit wait"),
        pytest.param(10.5, 0.0, 10.0, 0.0, 0, 9, 0.0, "", id="other rows wait for the commit"),
        pytest.param(10.25, 0.0, 10.0, 10.1, 0, 9, 0.0, ALL, id="input paused"),
        pytest.param(10.15, 10.0, 10.0, 10.1, 3, 9, 0.0, HOT, id="paused briefly, hot rows due"),
        pytest.param(10.03, 10.0, 10.0, 10.02, 3, 9, 10.01, HOT, id="caught up, hot rows at once"),
        pytest.param(10.03, 10.0, 10.0, 10.02, 3, 9, 10.05, "", id="caught up within the last flush's share"),
        pytest.param(10.03, 0.0, 10.0, 10.02, 0, 9, 0.0, "", id="caught up, only other rows"),
        pytest.param(10.11, 10.0, 10.0, 0.0, 3, 9, 10.2, HOT, id="the flush wait caps the share's"),
    ],
)
def test_flush_due(
    now: float,
    hot_since: float,
    any_since: float,
    quiet_since: float,
    hot: int,
    rows: int,
    ready_at: float,
    due: str,
) -> None:
    assert flush_due(SETTINGS, now, hot_since, any_since, quiet_since, hot, rows, ready_at) == due


def test_a_full_serving_merge_flushes_everything() -> None:
    assert flush_due(SETTINGS, 10.0, 10.0, 10.0, 0.0, 5, 9, 0.0, SERVED_ROWS_MAX) == ALL
    assert flush_due(SETTINGS, 10.0, 10.0, 10.0, 0.0, 5, 9, 0.0, SERVED_ROWS_MAX - 1) == ""


def _sink(settings: Settings) -> Sink:
    return Sink(settings, cast(Store, None), cast(Consumer, object()), SinkMetrics(CollectorRegistry()))


def test_a_backlog_of_full_messages_is_taken_a_batch_at_a_time() -> None:
    """A consume call takes as many messages as fit in the rows left before a flush, were
    each a full trace message."""
    sink = _sink(Settings(sink_batch_rows=50_000, serving_tables=False))
    assert sink.consume_count() == 50_000 // CHUNK_ROWS
    sink.buffered_rows = 40_000
    assert sink.consume_count() == 2
    sink.buffered_rows = 49_000
    assert sink.consume_count() == 1  # never none
    sink.buffered_rows = 60_000
    assert sink.consume_count() == 1


def test_rows_for_the_serving_tables_bound_a_consume_call_too() -> None:
    sink = _sink(Settings(sink_batch_rows=50_000, serving_tables=True))
    assert sink.consume_count() == SERVED_ROWS_MAX // CHUNK_ROWS
    sink.served["passes"].extend({} for _ in range(SERVED_ROWS_MAX - CHUNK_ROWS + 1))
    assert sink.consume_count() == 1
