"""Impinj IoT device interface events (the documented shapes in tests/data/vendor) to observations."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from ingest.errors import InvalidInput
from ingest.timefmt import parse_us
from readers.base import Observation
from readers.impinj import ReadLimits, parse_impinj_event, read_lines
from readers.impinjevents import impinj_event
from readers.status import ReaderHealthBook, ReaderStatus, StatusKind
from tests.unit.factories import part_epc

VENDOR = Path(__file__).parents[2] / "data" / "vendor"
T0 = parse_us("2023-06-01T08:00:00Z")
NOW = T0 + 60_000_000
P81, P82 = part_epc(81), part_epc(82)


def _at(seconds: float) -> int:
    return T0 + round(seconds * 1_000_000)


def _rejects() -> list[Any]:
    cases = json.loads((VENDOR / "impinj_rejects.json").read_text())
    return [pytest.param(c["line"].encode(), c["reason"], id=c["case"]) for c in cases]


def test_the_documented_stream_gives_every_tag_read_and_skips_the_rest() -> None:
    lines = (VENDOR / "impinj_stream.ndjson").read_bytes().splitlines(keepends=True)
    parsed = [parse_impinj_event(line, "IMPINJ-1", NOW) for line in lines]
    # keep-alive, inventoryStatus and antennaConnected are not reads
    assert [i for i, obs in enumerate(parsed) if obs is None] == [2, 3, 5]
    assert [obs for obs in parsed if obs is not None] == [
        Observation("IMPINJ-1", 1, _at(0.1), epc=P81, rssi=-52.0),
        Observation("IMPINJ-1", 1, _at(0.15), epc=P82, rssi=-61.0),  # epcHex off: base64url epc
        Observation("IMPINJ-1", 1, _at(0.4), epc=P81, rssi=-50.0),
        Observation("IMPINJ-1", 2, _at(10), epc=P81, rssi=-48.0),
        Observation("IMPINJ-1", 2, _at(10.05), epc=P82, rssi=None),  # no peakRssiCdbm
        Observation("IMPINJ-1", 2, _at(10.2), epc=P82, rssi=-55.25),  # no eventType
    ]


def _tag(**fields: object) -> bytes:
    tag = {"antennaPort": 1, "lastSeenTime": "2023-06-01T08:00:00Z", **fields}
    return json.dumps(
        {"timestamp": "2023-06-01T08:00:00Z", "eventType": "tagInventory", "tagInventoryEvent": tag}
    ).encode()


@pytest.mark.parametrize(
    ("epc", "hex_"),
    [
        # From a published R700 stream, with epcHex enabled beside it.
        pytest.param("4oARYGAAAgpmgfI_", "E28011606000020A6681F23F", id="base64url with _"),
        pytest.param("-_-_-_-_", "FBFFBFFBFFBF", id="base64url with - and _"),
        pytest.param("4oARYGAAAgpmgfI/", "E28011606000020A6681F23F", id="standard alphabet"),
        pytest.param("MDQle_QAAEAAAABRq80", "3034257BF400004000000051ABCD", id="112 bits, padding left out"),
        pytest.param("MDQle_QAAEAAAABRq80=", "3034257BF400004000000051ABCD", id="112 bits, padded"),
        pytest.param("AAAAAAAAAAAAAAAAAAAAAA", "00" * 16, id="128 bits without padding"),
        pytest.param("AAAAAAAAAAAAAAAAAAAAAA==", "00" * 16, id="128 bits with padding"),
        pytest.param("__8", "FFFF", id="one word, unpadded"),
        pytest.param("__8=", "FFFF", id="one word, padded"),
    ],
)
def test_the_base64_epc_is_read_in_either_alphabet_with_or_without_padding(epc: str, hex_: str) -> None:
    assert parse_impinj_event(_tag(epc=epc), "R", NOW) == Observation("R", 1, T0, epc=hex_)


def test_a_reader_at_defaults_loses_no_random_epc() -> None:
    import base64
    import random

    rng = random.Random(7)
    epcs = [rng.randbytes(12) for _ in range(500)]
    sent = [base64.urlsafe_b64encode(e).decode() for e in epcs]
    assert sum("-" in s or "_" in s for s in sent) > 100  # what the standard decoder lost
    assert [parse_impinj_event(_tag(epc=s), "R", NOW) for s in sent] == [
        Observation("R", 1, T0, epc=e.hex().upper()) for e in epcs
    ]


@pytest.mark.parametrize(
    "epc",
    [
        pytest.param("4oARYGAAAgpmgf+_", id="both alphabets in one value"),
        pytest.param("__8==", id="too much padding"),
        pytest.param("__=8", id="padding inside"),
        pytest.param("_", id="one character"),
        pytest.param("===", id="padding only"),
        pytest.param("4oAR YGAA", id="a space"),
        pytest.param("_w", id="one byte, not a word"),
        pytest.param("A" * 88, id="longer than any EPC"),
    ],
)
def test_a_base64_epc_that_is_not_one_is_bad_epc(epc: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_impinj_event(_tag(epc=epc), "R", NOW)
    assert caught.value.reason == "bad_epc"


def test_a_read_without_last_seen_time_takes_the_event_time() -> None:
    line = b'{"timestamp":"2023-06-01T08:00:01.5Z","eventType":"tagInventory",'
    line += b'"tagInventoryEvent":{"epcHex":"%s","antennaPort":3}}' % P81.lower().encode()
    assert parse_impinj_event(line, "R", NOW) == Observation("R", 3, _at(1.5), epc=P81)


@pytest.mark.parametrize(("line", "reason"), _rejects())
def test_an_unusable_event_is_rejected_with_its_reason(line: bytes, reason: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_impinj_event(line, "IMPINJ-1", NOW)
    assert caught.value.reason == reason


def test_a_frame_over_the_size_limit_is_oversized() -> None:
    line = (VENDOR / "impinj_stream.ndjson").read_bytes().splitlines()[0]
    limits = ReadLimits(max_bytes=len(line) - 1)
    with pytest.raises(InvalidInput, match="oversized"):
        parse_impinj_event(line + b"\r\n", "R", NOW, limits)
    assert parse_impinj_event(line + b"\r\n", "R", NOW, ReadLimits(max_bytes=len(line))) is not None


def test_lines_longer_than_the_limit_are_cut_and_measured() -> None:
    stream = io.BytesIO(b'{"a":1}\r\n' + b"x" * 50 + b"\n\r\n" + b'{"b":2}')
    assert list(read_lines(stream, max_bytes=10)) == [
        (b'{"a":1}\r\n', 9),
        (b"x" * 12, 51),  # cut at the limit, the whole length counted, the rest dropped
        (b"\r\n", 2),
        (b'{"b":2}', 7),  # the last line of a stream that ended without a newline
    ]


def test_status_events_with_or_without_event_type_are_health_not_rejections() -> None:
    lines = (VENDOR / "impinj_status.ndjson").read_bytes().splitlines()
    taken = [impinj_event(line, "IMPINJ-1", NOW) for line in lines]
    assert all(isinstance(t, ReaderStatus) for t in taken)
    statuses = [t for t in taken if isinstance(t, ReaderStatus)]
    assert [(s.kind, s.antennas) for s in statuses] == [
        (StatusKind.STATE, ()),
        (StatusKind.STATE, ()),  # OpenAPI 1.5: the event is named by its object alone
        (StatusKind.ANTENNA, ((2, True),)),
        (StatusKind.ANTENNA, ((1, False),)),
        (StatusKind.ANTENNA, ((3, False),)),
        (StatusKind.STATE, ()),
        (StatusKind.WARNING, ()),  # overflow: the reader dropped events
        (StatusKind.ERROR, ()),  # a diagnostic of level error
        (StatusKind.OTHER, ()),
    ]
    assert statuses[1].detail == "inventoryStatus: inventory idle"
    assert [parse_impinj_event(line, "IMPINJ-1", NOW) for line in lines] == [None] * len(lines)
    book = ReaderHealthBook("IMPINJ-1")
    for status in statuses:
        book.take(status)
    assert {a: p.connected for a, p in book.antennas.items()} == {1: False, 2: True, 3: False}
    assert book.state == "inventoryTerminated: preset=portal reason=stopped"
    assert book.events == {"state": 3, "antenna": 3, "warning": 1, "error": 1, "other": 1}


@pytest.mark.parametrize(
    "line",
    [
        pytest.param(b'{"timestamp":"2023-06-01T08:00:05Z","hostname":"h"}', id="no event object"),
        pytest.param(
            b'{"timestamp":"2023-06-01T08:00:05Z","antennaConnectedEvent":{},"overflowEvent":{}}',
            id="two event objects",
        ),
        pytest.param(
            b'{"timestamp":"2023-06-01T08:00:05Z","tagInventoryEvent":"x"}', id="tag object not one"
        ),
    ],
)
def test_an_event_without_type_that_names_no_one_event_is_missing_field(line: bytes) -> None:
    with pytest.raises(InvalidInput) as caught:
        impinj_event(line, "R", NOW)
    assert caught.value.reason == "missing_field"
