"""The queries table: parameters parsed from text with one wording for the CLI and the API."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ingest.errors import InvalidInput
from storage.service import QUERIES, parse_params

ITEM = "urn:epc:id:sgtin:0614141.000001.1"


@pytest.mark.parametrize(
    ("query", "raw", "detail"),
    [
        pytest.param("violations", {"limit": "abc"}, "limit: not an integer: 'abc'", id="limit in words"),
        pytest.param(
            "wip_ageing", {"older_than_s": "1.5"}, "older_than_s: not an integer: '1.5'", id="fraction"
        ),
        pytest.param("history", {}, "item is required", id="no item"),
        pytest.param("trace", {"item": ""}, "item is required", id="empty item"),
        pytest.param(
            "genealogy", {"item": ITEM, "direction": "left"}, "direction must be up or down", id="direction"
        ),
        pytest.param("throughput", {"bucket": "day"}, "bucket must be minute or hour", id="bucket"),
        pytest.param(
            "cycle_time", {"since": "yesterday"}, "since: not an RFC 3339 timestamp: 'yesterday'", id="since"
        ),
        pytest.param(
            "history",
            {"item": "PART-1"},
            "item: not an item key: 'PART-1' (an item key starts with urn:epc:id:, urn:epc:class:lgtin:, "
            "hex:, gs1:)",
            id="not an item key",
        ),
        pytest.param(
            "violations",
            {"type": "skiped_stage"},
            "type must be skipped_stage or out_of_sequence or loop_limit_exceeded or seen_after_completion "
            "or seen_after_dispatch or stage_not_in_route or unknown_item or unknown_route or on_hold "
            "or already_in_parent",
            id="unknown violation type",
        ),
        pytest.param(
            "throughput", {"minutes": "-5"}, "minutes: must be at least 1, got -5", id="negative window"
        ),
        pytest.param("violations", {"limit": "0"}, "limit: must be at least 1, got 0", id="no rows"),
        pytest.param(
            "verdicts",
            {"since": "2026-03-02T09:00:00Z", "until": "2026-03-02T08:00:00Z"},
            "since must be before until",
            id="a window that ends before it starts",
        ),
    ],
)
def test_a_bad_parameter_says_which_and_why(query: str, raw: dict[str, str], detail: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_params(query, raw)
    assert (caught.value.reason, caught.value.detail) == ("bad_parameter", detail)


def test_parameters_are_parsed_to_their_types_with_their_defaults() -> None:
    assert parse_params("violations", {"limit": "7", "other": "ignored"}) == {
        "type": "",
        "limit": 7,
        "site": "",
        "line": "",
    }
    window = parse_params("verdicts", {"since": "2026-03-02T08:00:00Z"})
    assert window["since"] == datetime(2026, 3, 2, 8, tzinfo=UTC) and window["until"] is None
    assert window["minutes"] == 60
    assert parse_params("genealogy", {"item": ITEM})["direction"] == "down"


def test_an_unknown_query_names_the_known_ones() -> None:
    with pytest.raises(InvalidInput, match="unknown_query: 'nope'; known: summary, history"):
        parse_params("nope", {})


def test_every_query_filters_by_site_and_line_but_progress() -> None:
    for name, query in QUERIES.items():
        names = {p.name for p in query.params}
        assert name == "progress" or {"site", "line"} <= names, name
