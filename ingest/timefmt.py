"""Timestamps: RFC 3339 text at every boundary, integer microseconds (UTC) inside.

Integers keep the hot path cheap (no datetime objects per read) and make ids
deterministic; pyrfc3339 does the parsing and formatting where text crosses a boundary.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import orjson
import pyrfc3339

from ingest.errors import InvalidInput

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def parse_us(text: str) -> int:
    """RFC 3339 text to microseconds since the epoch; InvalidInput if it is not RFC 3339."""
    try:
        moment = pyrfc3339.parse(text)
    except (ValueError, TypeError) as exc:
        raise InvalidInput("bad_timestamp", f"not an RFC 3339 timestamp: {text!r}") from exc
    if moment.tzinfo is None:
        # fromisoformat (under pyrfc3339) accepts a local time without offset; RFC 3339 does not.
        raise InvalidInput("bad_timestamp", f"RFC 3339 timestamp without a UTC offset: {text!r}")
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def format_us(us: int) -> str:
    """Microseconds since the epoch to RFC 3339 text in UTC with microseconds."""
    return str(pyrfc3339.generate(to_datetime(us), utc=True, microseconds=True))


def to_datetime(us: int) -> datetime:
    """Microseconds to an aware UTC datetime (for ClickHouse DateTime64 columns)."""
    return datetime.fromtimestamp(us // 1_000_000, tz=UTC).replace(microsecond=us % 1_000_000)


def now_us() -> int:
    return time.time_ns() // 1_000


# Every time in an answer (HTTP API and CLI alike) is RFC 3339 in UTC with Z: ClickHouse's
# DateTime64(6, 'UTC') columns may come back without a zone, and they are UTC.
ANSWER_JSON = orjson.OPT_NAIVE_UTC | orjson.OPT_UTC_Z


def answer_json(value: Any, indent: bool = False) -> bytes:
    """A query's answer as JSON, the same text whichever way it was asked."""
    return orjson.dumps(value, default=str, option=ANSWER_JSON | (orjson.OPT_INDENT_2 if indent else 0))
