"""What the property tests share: strategies for JSON values, times and item keys, paths into a
document to mutate it, and the check that what a reader accepts survives the wire."""

from __future__ import annotations

import calendar
import dataclasses
from dataclasses import dataclass
from datetime import date
from typing import Any

from hypothesis import strategies as st

from ingest.epc import gs1_check_digit
from ingest.schema import ReadCycleReport
from ingest.timefmt import parse_us
from ingest.wire import decode_report, encode_report
from readers.base import CycleAggregator, Observation

# The dead-letter reasons of docs/wire-format.md, and bad_field and bad_qc, which ingest.wire
# raises (for optional text and QC results) and that list leaves out.
WIRE_REASONS = frozenset(
    {
        "oversized",
        "malformed_json",
        "unsupported_version",
        "wrong_type",
        "missing_field",
        "bad_timestamp",
        "bad_read",
        "bad_report_id",
        "bad_item_key",
        "bad_aggregation",
        "bad_job_event",
        "unknown_product",
        "unknown_read_point",
        "wrong_line",
        "future_timestamp",
        "stale_timestamp",
        "bad_bundle",
        "bad_trace",
        "bad_hold",
        "bad_transformation",
        "bad_field",
        "bad_qc",
    }
)

# A fixed "now" for the reader parsers, and the span of event times the tests generate.
NOW_US = parse_us("2025-03-01T12:00:00Z")
YEAR_2000_US = parse_us("2000-01-01T00:00:00Z")
YEAR_2100_US = parse_us("2100-01-01T00:00:00Z")

# orjson writes and reads integers of 64 bits (signed or unsigned) and finite doubles.
INT64 = st.integers(min_value=-(2**63), max_value=2**64 - 1)
FINITE = st.floats(allow_nan=False, allow_infinity=False)

# Text orjson can write: any Unicode scalar value (no lone surrogates).
TEXT_CHARS = st.characters(codec="utf-8")


def text(min_size: int = 0, max_size: int = 20) -> st.SearchStrategy[str]:
    return st.text(TEXT_CHARS, min_size=min_size, max_size=max_size)


def json_values(max_leaves: int = 12) -> st.SearchStrategy[Any]:
    """Any value orjson reads back as itself: null, booleans, numbers, text, arrays, objects."""
    scalars = st.none() | st.booleans() | INT64 | FINITE | text()
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text(max_size=8), inner, max_size=4),
        max_leaves=max_leaves,
    )


def json_objects() -> st.SearchStrategy[dict[str, Any]]:
    return st.dictionaries(text(max_size=12), json_values(), max_size=8)


def json_type(value: Any) -> str:
    """The JSON type of a decoded value (integers and floats are both numbers)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


@st.composite
def other_type_than(draw: st.DrawFn, value: Any) -> Any:
    """A non-null JSON value of another type than ``value``."""
    return draw(
        json_values(max_leaves=4).filter(lambda v: v is not None and json_type(v) != json_type(value))
    )


def paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path (keys and indexes) to a value inside a decoded JSON document."""
    found: list[tuple[Any, ...]] = []
    children: list[tuple[Any, Any]] = []
    if isinstance(doc, dict):
        children = list(doc.items())
    elif isinstance(doc, list):
        children = list(enumerate(doc))
    for key, child in children:
        found.append((*prefix, key))
        found.extend(paths(child, (*prefix, key)))
    return found


def value_at(doc: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        doc = doc[key]
    return doc


def set_at(doc: Any, path: tuple[Any, ...], value: Any) -> None:
    value_at(doc, path[:-1])[path[-1]] = value


def delete_at(doc: Any, path: tuple[Any, ...]) -> None:
    del value_at(doc, path[:-1])[path[-1]]


def times_us(low: int = YEAR_2000_US, high: int = YEAR_2100_US) -> st.SearchStrategy[int]:
    return st.integers(min_value=low, max_value=high)


@st.composite
def gtins(draw: st.DrawFn) -> str:
    """A GTIN-14 with its check digit."""
    body = draw(st.text("0123456789", min_size=13, max_size=13))
    return body + str(gs1_check_digit(body))


HEX = "0123456789abcdefABCDEF"
ITEM_KEY_PREFIXES = ("urn:epc:id:", "urn:epc:class:lgtin:", "hex:", "gs1:")


@st.composite
def item_keys(draw: st.DrawFn) -> str:
    prefix = draw(st.sampled_from(ITEM_KEY_PREFIXES))
    return prefix + draw(text(min_size=1, max_size=40))


def names() -> st.SearchStrategy[str]:
    """Ids as a plant or a device writes them (sites, lines, readers, jobs): non-empty text."""
    return text(min_size=1, max_size=16)


# Rejection reasons of the JSON reader adapters (readers.impinj, readers.zebra).
READER_REASONS = frozenset(
    {
        "oversized",
        "malformed_json",
        "missing_field",
        "bad_epc",
        "bad_field",
        "bad_timestamp",
        "future_timestamp",
        "stale_timestamp",
    }
)


def assert_survives_the_wire(observations: list[Observation]) -> None:
    """What an adapter accepts reaches the stream worker unchanged: folded into read-cycle
    reports, every report encodes and decodes to itself, and no read is lost."""
    reports: list[ReadCycleReport] = []
    aggregator = CycleAggregator("S1", "L1", "R1", 1_000_000, reports.append)
    for obs in observations:
        aggregator.add(obs)
    aggregator.flush()
    for report in reports:
        assert _last_seen(decode_report(encode_report(report), 10_000_000)) == _last_seen(report)
    assert sum(r.count for report in reports for r in report.reads) == sum(o.count for o in observations)


def _last_seen(report: ReadCycleReport) -> ReadCycleReport:
    # A read seen once may say so with last_us 0 (the wire) or last_us == time_us (the aggregator).
    reads = tuple(dataclasses.replace(r, last_us=r.last_us or r.time_us) for r in report.reads)
    return dataclasses.replace(report, reads=reads)


# --- GS1 element strings -------------------------------------------------------------------

GS = "\x1d"
# GS1 AI encodable character set 82, the characters of serials and lots.
SET_82 = "!\"%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"

SYMBOLOGY_IDS = ("", "]C1", "]d2", "]Q3")


@dataclass(frozen=True)
class Code:
    """A generated element string and the values it was made of."""

    text: str
    gtin: str
    serial: str | None
    lot: str | None
    expiry: date | None


@st.composite
def expiries(draw: st.DrawFn) -> tuple[str, date]:
    """AI 17 text and the date it means. YY is read in a window around this year (GS1 General
    Specifications 7.12), so the dates stay well inside it; day 00 is the month's last day."""
    year = draw(st.integers(date.today().year - 40, date.today().year + 40))
    month = draw(st.integers(1, 12))
    last = calendar.monthrange(year, month)[1]
    day = draw(st.integers(0, last))
    return f"{year % 100:02d}{month:02d}{day:02d}", date(year, month, day or last)


@st.composite
def element_strings(draw: st.DrawFn) -> Code:
    """A GTIN with any of serial, lot and expiry, in any order, as a scanner sends it."""
    gtin = draw(gtins())
    serial = draw(st.none() | st.text(SET_82, min_size=1, max_size=20))
    lot = draw(st.none() | st.text(SET_82, min_size=1, max_size=20))
    expiry = draw(st.none() | expiries())
    fields = [("01", gtin, False)]
    if serial is not None:
        fields.append(("21", serial, True))
    if lot is not None:
        fields.append(("10", lot, True))
    if expiry is not None:
        fields.append(("17", expiry[0], False))
    fields = draw(st.permutations(fields))
    code = draw(st.sampled_from(SYMBOLOGY_IDS))
    for i, (ai, value, variable) in enumerate(fields):
        last = i == len(fields) - 1
        # A variable-length field ends with GS unless it is last; anywhere else GS is optional.
        code += ai + value + (GS if (variable and not last) or draw(st.booleans()) else "")
    return Code(code, gtin, serial, lot, expiry[1] if expiry else None)
