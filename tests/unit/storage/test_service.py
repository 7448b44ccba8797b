"""The queries table: parameters parsed from text with one wording for the CLI and the API."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ingest.errors import InvalidInput
from storage.service import QUERIES, parse_params


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
            "genealogy", {"item": "x", "direction": "left"}, "direction must be up or down", id="direction"
        ),
        pytest.param("throughput", {"bucket": "day"}, "bucket must be minute or hour", id="bucket"),
        pytest.param(
            "cycle_time", {"since": "yesterday"}, "since: not an RFC 3339 timestamp: 'yesterday'", id="since"
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
    assert parse_params("genealogy", {"item": "x"})["direction"] == "down"


def test_an_unknown_query_names_the_known_ones() -> None:
    with pytest.raises(InvalidInput, match="unknown_query: 'nope'; known: summary, history"):
        parse_params("nope", {})


def test_every_query_filters_by_site_and_line_but_progress() -> None:
    for name, query in QUERIES.items():
        names = {p.name for p in query.params}
        assert name == "progress" or {"site", "line"} <= names, name
