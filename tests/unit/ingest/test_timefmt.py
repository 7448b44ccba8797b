from __future__ import annotations

import pytest

from ingest.errors import InvalidInput
from ingest.timefmt import format_us, parse_us


@pytest.mark.parametrize(
    ("text", "us", "canonical"),
    [
        pytest.param("1970-01-01T00:00:00Z", 0, "1970-01-01T00:00:00.000000Z", id="epoch"),
        pytest.param(
            "2024-05-01T08:00:00.123456Z",
            1_714_550_400_123_456,
            "2024-05-01T08:00:00.123456Z",
            id="microseconds",
        ),
        pytest.param(
            "2024-02-29T12:00:00.5+02:00",
            1_709_200_800_500_000,
            "2024-02-29T10:00:00.500000Z",
            id="leap day with an offset, written back in UTC",
        ),
        pytest.param(
            "2023-12-31T23:30:00-01:00",
            1_704_069_000_000_000,
            "2024-01-01T00:30:00.000000Z",
            id="negative offset crosses the year",
        ),
        pytest.param(
            "2024-06-01T10:00:00.999999z",
            1_717_236_000_999_999,
            "2024-06-01T10:00:00.999999Z",
            id="last microsecond of a second, lower-case z",
        ),
        pytest.param(
            "2600-01-01T00:00:00.999999Z",
            19_880_899_200_999_999,
            "2600-01-01T00:00:00.999999Z",
            id="far future keeps its second",
        ),
        pytest.param(
            "9999-12-31T23:59:59.999999Z",
            253_402_300_799_999_999,
            "9999-12-31T23:59:59.999999Z",
            id="last representable moment",
        ),
    ],
)
def test_rfc3339_round_trip(text: str, us: int, canonical: str) -> None:
    assert parse_us(text) == us
    assert format_us(us) == canonical
    assert parse_us(format_us(us)) == us


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("yesterday", id="words"),
        pytest.param("", id="empty"),
        pytest.param("2024-13-01T00:00:00Z", id="month 13"),
        pytest.param("2024-05-01T25:00:00Z", id="hour 25"),
        pytest.param("2016-12-31T23:59:60Z", id="leap second"),
        pytest.param("2024-05-01T08:00:00", id="no offset"),
        pytest.param("2024-05-01", id="date only"),
    ],
)
def test_text_that_is_not_rfc3339_is_bad_input(text: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        parse_us(text)

    assert raised.value.reason == "bad_timestamp"
