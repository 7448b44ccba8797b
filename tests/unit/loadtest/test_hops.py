"""The latency breakdown's arithmetic: each pass's wait split at its bundle and trace sends."""

from __future__ import annotations

from loadtest.hops import hops, percentiles


def test_a_pass_wait_is_split_at_its_bundle_and_trace_sends() -> None:
    stored = [
        {"pass_id": "p1", "item": "i1", "station": "S1", "first_us": 1_000_000, "stored_us": 1_150_000},
        {"pass_id": "p2", "item": "i2", "station": "S1", "first_us": 2_000_000, "stored_us": 2_100_000},
    ]
    found = hops(stored, {("i1", "S1"): 1_040, ("i2", "S1"): 2_020}, {"p1": 1_090, "p2": 2_070})
    assert found["passes"] == found["passes_split"] == 2
    assert found["read_to_bundle"]["p99"] == 40.0
    assert found["bundle_to_trace"]["p50"] == 50.0
    assert found["trace_to_stored"]["p50"] == 60.0
    assert found["read_to_stored"] == {"p50": 150.0, "p90": 150.0, "p99": 150.0}


def test_a_pass_whose_messages_were_not_found_counts_only_in_the_whole() -> None:
    stored = [{"pass_id": "p1", "item": "i1", "station": "S1", "first_us": 0, "stored_us": 5_000}]
    found = hops(stored, {}, {})
    assert found == {"passes": 1, "passes_split": 0, "read_to_stored": {"p50": 5.0, "p90": 5.0, "p99": 5.0}}


def test_percentiles_of_a_hundred() -> None:
    assert percentiles([float(n) for n in range(100, 0, -1)]) == {"p50": 51.0, "p90": 91.0, "p99": 100.0}
