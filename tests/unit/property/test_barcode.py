"""Barcode scanner input without sockets: any byte stream splits into the lines it holds, any
line is an item key or a rejection, and any POST body is scans and rejections, none lost."""

from __future__ import annotations

import copy
import itertools
import re
from typing import Any

import orjson
from hypothesis import example, given
from hypothesis import strategies as st

from ingest.errors import InvalidInput
from ingest.timefmt import format_us
from readers.barcode import (
    DEFAULT_LIMITS,
    MAX_SCANS,
    Frame,
    LineSplitter,
    ScanBatch,
    line_key,
    parse_batch,
    scan_time,
)
from tests.unit.property.shared import (
    INT64,
    ITEM_KEY_PREFIXES,
    NOW_US,
    Code,
    assert_survives_the_wire,
    element_strings,
    json_values,
    names,
    paths,
    set_at,
)

BARCODE_REASONS = {
    "oversized",
    "malformed_frame",
    "bad_code",
    "malformed_json",
    "missing_field",
    "bad_field",
    "bad_timestamp",
    "future_timestamp",
    "stale_timestamp",
}
EARLIEST = NOW_US - DEFAULT_LIMITS.max_age_us
LATEST = NOW_US + DEFAULT_LIMITS.max_future_us


# --- framing ---------------------------------------------------------------------------------


def _lines(stream: bytes, max_bytes: int) -> tuple[list[Frame], Frame | None]:
    """The frames a stream holds, by a plain split: ended lines, and the unended rest."""
    *ended, rest = re.split(rb"[\r\n]", stream)

    def frame(line: bytes) -> Frame:
        return Frame(line[:max_bytes], len(line), oversized=len(line) > max_bytes)

    return [frame(line) for line in ended if line], frame(rest) if rest else None


@st.composite
def chunked(draw: st.DrawFn) -> tuple[bytes, list[bytes]]:
    """A byte stream of lines (CR, LF, CRLF, empty lines, long lines) cut into chunks anywhere."""
    pieces = st.binary(max_size=12) | st.sampled_from((b"\r", b"\n", b"\r\n", b"\n\n")) | st.just(b"x" * 40)
    stream = b"".join(draw(st.lists(pieces, max_size=12)))
    cuts = sorted(draw(st.lists(st.integers(0, len(stream)), max_size=6)))
    bounds = [0, *cuts, len(stream)]
    return stream, [stream[a:b] for a, b in itertools.pairwise(bounds)]


@given(chunked(), st.integers(1, 20))
@example((b"abc\r\ndef", [b"ab", b"c\r", b"\ndef"]), 2)
def test_a_stream_cut_anywhere_splits_into_the_lines_it_holds(
    case: tuple[bytes, list[bytes]], limit: int
) -> None:
    stream, chunks = case
    splitter = LineSplitter(limit)
    frames = [frame for chunk in chunks for frame in splitter.feed(chunk)]

    assert (frames, splitter.rest()) == _lines(stream, limit)


@given(st.binary(max_size=600), st.booleans())
@example(b"\xff", False)
@example(b"]C1" + b"x" * 600, False)
def test_any_line_is_an_item_key_or_a_rejection(data: bytes, oversized: bool) -> None:
    try:
        key = line_key(Frame(data, len(data) + (600 if oversized else 0), oversized))
    except InvalidInput as error:
        assert error.reason in BARCODE_REASONS
        return
    assert key.startswith(ITEM_KEY_PREFIXES)


@given(element_strings().filter(lambda c: c.serial is not None))
def test_a_line_with_a_serial_is_its_items_key(code: Code) -> None:
    line = code.text.encode()
    key = line_key(LineSplitter().feed(line + b"\r\n")[0], {code.gtin: 7})

    assert key.startswith("urn:epc:id:sgtin:" + code.gtin[1:8] + ".")


# --- HTTP batches ----------------------------------------------------------------------------


@st.composite
def scans(draw: st.DrawFn) -> tuple[dict[str, Any], int, int]:
    """One scan of a batch, and the antenna and time it should be read with."""
    code = draw(element_strings().filter(lambda c: c.serial is not None))
    scan: dict[str, Any] = {"code": code.text}
    antenna, time_us = 0, NOW_US
    if draw(st.booleans()):
        antenna = scan["antenna"] = draw(st.integers(0, 65535))
    if draw(st.booleans()):
        time_us = draw(st.integers(EARLIEST, LATEST))
        scan["time"] = format_us(time_us)
    return scan, antenna, time_us


@st.composite
def batches(draw: st.DrawFn) -> tuple[dict[str, Any], list[tuple[int, int]]]:
    cases = draw(st.lists(scans(), min_size=1, max_size=5))
    doc: dict[str, Any] = {"reader_id": draw(names()), "site": draw(names()), "line": draw(names())}
    if draw(st.booleans()):
        doc["operator"] = draw(names())
    doc["scans"] = [scan for scan, _, _ in cases]
    return doc, [(antenna, time_us) for _, antenna, time_us in cases]


def _check_batch(body: bytes) -> ScanBatch | None:
    """What every body must give: each scan taken or rejected alone, or the body rejected."""
    try:
        batch = parse_batch(body, NOW_US)
    except InvalidInput as error:
        assert error.reason in BARCODE_REASONS
        return None
    scans = orjson.loads(body)["scans"]
    assert len(batch.observations) + len(batch.rejected) == len(scans) <= MAX_SCANS
    for index, rejection, payload in batch.rejected:
        assert rejection.reason in BARCODE_REASONS
        assert orjson.loads(payload)["scan"] == scans[index]
    assert_survives_the_wire(batch.observations)
    return batch


@given(batches())
def test_a_batch_gives_every_scan_with_its_key_antenna_and_time(
    case: tuple[dict[str, Any], list[tuple[int, int]]],
) -> None:
    doc, expected = case
    batch = _check_batch(orjson.dumps(doc))

    assert batch is not None and not batch.rejected
    assert (batch.reader_id, batch.site, batch.line, batch.operator) == (
        doc["reader_id"],
        doc["site"],
        doc["line"],
        doc.get("operator", ""),
    )
    assert [(o.antenna, o.time_us) for o in batch.observations] == expected
    assert all(o.key.startswith("gs1:01/") and o.reader_id == doc["reader_id"] for o in batch.observations)


@given(st.binary(max_size=300))
def test_any_body_is_scans_or_a_rejection(body: bytes) -> None:
    _check_batch(body)


@given(json_values())
@example({"reader_id": "H", "site": "S", "line": "L", "scans": [{"code": "]C1", "antenna": True}]})
def test_any_json_body_is_scans_or_a_rejection(value: Any) -> None:
    _check_batch(orjson.dumps(value))


@given(st.data(), batches(), json_values(max_leaves=4))
def test_a_batch_with_one_value_changed_is_scans_or_a_rejection(
    data: st.DataObject, case: tuple[dict[str, Any], list[tuple[int, int]]], value: Any
) -> None:
    doc = copy.deepcopy(case[0])
    set_at(doc, data.draw(st.sampled_from(paths(doc))), value)
    _check_batch(orjson.dumps(doc))


@given(json_values() | INT64)
def test_a_scan_time_is_a_time_or_a_rejection(value: Any) -> None:
    try:
        t = scan_time(value, NOW_US, DEFAULT_LIMITS)
    except InvalidInput as error:
        assert error.reason in BARCODE_REASONS
        return
    assert EARLIEST <= t <= LATEST
