"""Trace messages stay under the size a Kafka broker accepts."""

from __future__ import annotations

import orjson

from streams.shipping import encode_trace_messages


def test_a_chunk_too_large_for_one_message_is_split_without_losing_rows() -> None:
    chunk: dict[str, list[dict[str, object]]] = {
        "passes": [{"pass_id": f"p{i}", "pad": "x" * 200} for i in range(300)],
        "violations": [{"violation_id": f"v{i}", "pad": "y" * 200} for i in range(100)],
    }
    messages = encode_trace_messages(chunk, 20_000)
    assert len(messages) > 1
    assert all(len(m) <= 20_000 for m in messages)
    rows: dict[str, list[object]] = {}
    for m in messages:
        for table, table_rows in orjson.loads(m)["rows"].items():
            rows.setdefault(table, []).extend(table_rows)
    assert rows == chunk


def test_a_small_chunk_is_one_message() -> None:
    assert len(encode_trace_messages({"passes": [{"pass_id": "p"}]}, 20_000)) == 1
