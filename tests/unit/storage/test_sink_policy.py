"""When the sink inserts: hot tables on their short wait, everything with the commit."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import pytest
from confluent_kafka import Consumer

from ingest.records.rows import ItemStateRow, ReadCycleRow
from ingest.settings import Settings
from storage.client import Store
from storage.sink import ALL, HOT, Sink, flush_due

SETTINGS = Settings(sink_flush_s=0.1, sink_commit_s=1.0, sink_batch_rows=1_000)


@pytest.mark.parametrize(
    ("now", "hot_since", "any_since", "quiet_since", "hot", "rows", "due"),
    [
        pytest.param(10.0, 0.0, 0.0, 0.0, 0, 0, "", id="nothing buffered"),
        pytest.param(10.05, 10.0, 10.0, 0.0, 5, 9, "", id="hot rows younger than the flush wait"),
        pytest.param(10.11, 10.0, 10.0, 0.0, 5, 9, HOT, id="hot rows due"),
        pytest.param(10.01, 10.0, 10.0, 0.0, 1_000, 1_000, ALL, id="a full batch"),
        pytest.param(10.5, 0.0, 9.5, 0.0, 0, 9, ALL, id="other rows at the commit wait"),
        pytest.param(10.5, 0.0, 10.0, 0.0, 0, 9, "", id="other rows wait for the commit"),
        pytest.param(10.25, 0.0, 10.0, 10.1, 0, 9, ALL, id="input paused"),
        pytest.param(10.15, 10.0, 10.0, 10.1, 3, 9, HOT, id="paused briefly, hot rows due"),
    ],
)
def test_flush_due(
    now: float, hot_since: float, any_since: float, quiet_since: float, hot: int, rows: int, due: str
) -> None:
    assert flush_due(SETTINGS, now, hot_since, any_since, quiet_since, hot, rows) == due


class _Store:
    """Records the inserts the sink makes: (table, rows)."""

    def __init__(self) -> None:
        self.inserts: list[tuple[str, int]] = []

    def insert_columns(
        self, table: str, columns: Sequence[str], data: Sequence[Sequence[Any]], micros: frozenset[str]
    ) -> None:
        self.inserts.append((table, len(data[0])))


class _Consumer:
    def __init__(self) -> None:
        self.commits = 0

    def commit(self, asynchronous: bool = True) -> None:
        self.commits += 1


CYCLE = ReadCycleRow(
    report_id="r1", site="S", line="L", reader_id="R1", cycle_seq=1, cycle_start=1, entries=1, read_count=1,
    tags=1, passes=0,
)  # fmt: skip
ITEM = ItemStateRow(
    item="i1", site="S", line="L", product="P", job="J", stage="a", station="C1", status="in_process",
    parent="", first_seen=1, last_seen=1, passes=1, on_hold=0, revision=1, route_stage="a",
)  # fmt: skip


def _sink() -> tuple[Sink, _Store, _Consumer]:
    store, consumer = _Store(), _Consumer()
    return Sink(SETTINGS, cast(Store, store), cast(Consumer, consumer)), store, consumer


def _take(sink: Sink, at: float, rows: dict[str, list[Any]]) -> None:
    sink.add_trace(rows)
    sink.uncommitted = True
    sink.flush_if_due(at, True)


def test_a_pause_shorter_than_the_flush_wait_inserts_nothing() -> None:
    sink, store, consumer = _sink()
    _take(sink, 10.0, {"read_cycles": [CYCLE]})
    for at in (10.01, 10.05, 10.1):  # quiet from 10.01: not yet the 0.1 s flush wait
        sink.flush_if_due(at, False)
    assert (store.inserts, consumer.commits) == ([], 0)
    sink.flush_if_due(10.12, False)
    assert (store.inserts, consumer.commits) == ([("read_cycles", 1)], 1)


def test_hot_rows_go_in_on_the_flush_wait_the_rest_with_the_commit() -> None:
    sink, store, consumer = _sink()
    for i in range(30):  # a message every 0.04 s: the input never pauses for the flush wait
        _take(sink, 10.0 + i * 0.04, {"read_cycles": [CYCLE], "item_state": [ITEM]})
    hot = [rows for table, rows in store.inserts if table == "item_state"]
    assert len(hot) >= 8 and max(hot) <= 4  # none waited past the flush wait and one message
    assert [table for table, _ in store.inserts].count("read_cycles") == 1  # with the commit at 1 s
    assert consumer.commits == 1
