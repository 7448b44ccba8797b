"""Barcode scanner adapters without sockets: line framing, a line to its item key, the HTTP
batch to observations and rejections, and what each server hands its outlet."""

from __future__ import annotations

import io
from typing import Any

import orjson
import pytest
from prometheus_client import CollectorRegistry

from ingest.errors import InvalidInput
from ingest.schema import ReadCycleReport
from ingest.settings import Settings
from ingest.timefmt import format_us, parse_us
from ingest.tokens import Scope, Token, hash_token
from readers.auth import ReaderGate
from readers.barcode import (
    BarcodeTcpServer,
    Frame,
    LineSplitter,
    TimeLimits,
    line_key,
    parse_batch,
    scan_time,
)
from readers.barcode_http import BarcodeHttpServer
from readers.base import Observation

NOW = parse_us("2025-03-01T08:00:00Z")
PART = "00614141000012"
PREFIXES = {PART: 7}
GS = "\x1d"
S = 1_000_000


def code(serial: str) -> str:
    return "]C1" + "01" + PART + "21" + serial


def sgtin(serial: str) -> str:
    return f"urn:epc:id:sgtin:0614141.000001.{serial}"


class ListOutlet:
    def __init__(self) -> None:
        self.reports: list[ReadCycleReport] = []
        self.rejects: list[tuple[str, str, str, bytes]] = []

    def publish_report(self, report: ReadCycleReport) -> None:
        self.reports.append(report)

    def reject(self, source: str, reason: str, detail: str, payload: bytes) -> None:
        self.rejects.append((source, reason, detail, payload))

    def reasons(self) -> list[str]:
        return [r[1] for r in self.rejects]


# --- framing ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("chunks", "lines"),
    [
        pytest.param([b"A\r\nB\nC\r"], [b"A", b"B", b"C"], id="CRLF, LF and CR"),
        pytest.param([b"AB", b"C\r", b"\nD\n"], [b"ABC", b"D"], id="CRLF split across reads"),
        pytest.param([b"\r\n\n\rA\n\n"], [b"A"], id="empty lines skipped"),
        pytest.param([b"A", b"B", b"C"], [], id="no terminator yet"),
        pytest.param([b"01" + GS.encode() + b"21X\n"], [b"01\x1d21X"], id="GS kept inside a line"),
    ],
)
def test_lines_end_with_cr_lf_or_crlf(chunks: list[bytes], lines: list[bytes]) -> None:
    splitter = LineSplitter(64)
    frames = [f for chunk in chunks for f in splitter.feed(chunk)]
    assert [f.data for f in frames] == lines
    assert not any(f.oversized for f in frames)


def test_an_oversized_line_comes_out_once_with_its_size_and_the_next_line_is_fine() -> None:
    splitter = LineSplitter(8)
    frames = splitter.feed(b"0123456789") + splitter.feed(b"abcdef") + splitter.feed(b"gh\r\nOK\n")
    assert [(f.data, f.size, f.oversized) for f in frames] == [
        (b"01234567", 18, True),
        (b"OK", 2, False),
    ]
    assert len(splitter.buffer) == 0


def test_what_is_left_at_the_end_of_the_stream() -> None:
    splitter = LineSplitter(64)
    assert splitter.feed(b"A\nhalf") == [Frame(b"A", 1)]
    assert splitter.rest() == Frame(b"half", 4)
    assert splitter.rest() is None


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        pytest.param(Frame(b"\xff\xfe01", 4), "malformed_frame", id="not UTF-8"),
        pytest.param(Frame(b"x" * 8, 600, oversized=True), "oversized", id="oversized"),
        pytest.param(Frame(b"hello", 5), "bad_code", id="not a GS1 code"),
        pytest.param(Frame(b"0614141000012", 13), "bad_code", id="GTIN alone"),
    ],
)
def test_a_line_without_an_item_key_is_rejected_with_its_reason(frame: Frame, reason: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        line_key(frame, PREFIXES)
    assert caught.value.reason == reason


def test_a_line_gives_the_item_key() -> None:
    assert line_key(Frame(code("5").encode(), 24), PREFIXES) == sgtin("5")
    assert line_key(Frame(code("5").encode(), 24)) == "gs1:01/00614141000012/21/5"


@pytest.mark.parametrize("identifier", ["]Q1", "]d1", "]Q3", "]d2", ""])
def test_a_digital_link_scanned_with_or_without_its_symbology_identifier_gives_the_item_key(
    identifier: str,
) -> None:
    line = (identifier + "https://id.gs1.org/01/" + PART + "/21/5").encode()
    assert line_key(Frame(line, len(line)), PREFIXES) == sgtin("5")
    assert line_key(Frame(line, len(line))) == "gs1:01/00614141000012/21/5"


# --- times -----------------------------------------------------------------------------------

LIMITS = TimeLimits(max_future_us=300 * S, max_age_us=3600 * S)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(None, NOW, id="absent: now"),
        pytest.param("2025-03-01T07:59:00Z", NOW - 60 * S, id="a minute ago"),
        pytest.param("2025-03-01T09:00:00+01:00", NOW, id="with an offset"),
    ],
)
def test_scan_times(value: str | None, expected: int) -> None:
    assert scan_time(value, NOW, LIMITS) == expected


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        pytest.param("2025-03-01T08:10:00Z", "future_timestamp", id="ten minutes ahead"),
        pytest.param("2025-03-01T06:00:00Z", "stale_timestamp", id="two hours old"),
        pytest.param("yesterday", "bad_timestamp", id="not RFC 3339"),
        pytest.param("2025-03-01T08:00:00", "bad_timestamp", id="no offset"),
        pytest.param(1740816000, "bad_timestamp", id="a number"),
    ],
)
def test_impossible_scan_times(value: Any, reason: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        scan_time(value, NOW, LIMITS)
    assert caught.value.reason == reason


# --- HTTP batches ----------------------------------------------------------------------------


def batch(scans: list[Any], **envelope: Any) -> bytes:
    doc = {"reader_id": "HAND-1", "site": "S1", "line": "L1", "operator": "anna", "scans": scans}
    return orjson.dumps({**doc, **envelope})


def test_a_batch_keeps_good_scans_and_rejects_bad_ones_alone() -> None:
    body = batch(
        [
            {"code": code("1")},
            {"code": code("2"), "time": format_us(NOW - 5 * S), "antenna": 2},
            {"code": "hello"},
            {"code": code("3"), "time": format_us(NOW + 3600 * S)},
            {"code": code("4"), "time": "2001-01-01T00:00:00Z"},
            {"code": code("5"), "antenna": True},
            "just text",
        ]
    )
    parsed = parse_batch(body, NOW, LIMITS, PREFIXES)
    assert (parsed.reader_id, parsed.site, parsed.line, parsed.operator) == ("HAND-1", "S1", "L1", "anna")
    assert parsed.observations == [
        Observation("HAND-1", 0, NOW, key=sgtin("1")),
        Observation("HAND-1", 2, NOW - 5 * S, key=sgtin("2")),
    ]
    assert [(i, e.reason) for i, e, _ in parsed.rejected] == [
        (2, "bad_code"),
        (3, "future_timestamp"),
        (4, "stale_timestamp"),
        (5, "bad_field"),
        (6, "bad_field"),
    ]
    payload = orjson.loads(parsed.rejected[0][2])
    assert payload == {
        "reader_id": "HAND-1",
        "site": "S1",
        "line": "L1",
        "operator": "anna",
        "index": 2,
        "scan": {"code": "hello"},
    }


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        pytest.param(b"{not json", "malformed_json", id="not JSON"),
        pytest.param(b"[1, 2]", "malformed_json", id="not an object"),
        pytest.param(batch([{"code": code("1")}], reader_id=""), "missing_field", id="no reader"),
        pytest.param(batch([{"code": code("1")}], site=None), "missing_field", id="no site"),
        pytest.param(batch([]), "missing_field", id="no scans"),
        pytest.param(batch([{"code": code("1")}], operator=7), "bad_field", id="operator not text"),
        pytest.param(batch([{"code": code("1")}] * 3), "oversized", id="too many scans"),
    ],
)
def test_a_batch_that_is_unusable_as_a_whole(body: bytes, reason: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_batch(body, NOW, LIMITS, PREFIXES, max_scans=2)
    assert caught.value.reason == reason


def test_an_operator_may_be_absent() -> None:
    doc = orjson.loads(batch([{"code": code("1")}]))
    del doc["operator"]
    assert parse_batch(orjson.dumps(doc), NOW, LIMITS).operator == ""


TOKENS = (
    Token("line-1", hash_token("lt_line_1"), Scope("S1", "L1")),
    Token("line-2", hash_token("lt_line_2"), Scope("S1", "L2")),
    Token("site-1", hash_token("lt_site_1"), Scope("S1")),
)
LINE_1 = "Bearer lt_line_1"


def _http(outlet: ListOutlet, registry: CollectorRegistry | None = None, **options: Any) -> BarcodeHttpServer:
    settings = Settings(max_future_skew_s=300, max_age_s=3600)
    gate = ReaderGate(lambda: TOKENS, registry or CollectorRegistry())
    return BarcodeHttpServer(outlet, settings, gate, company_prefixes=PREFIXES, clock=lambda: NOW, **options)


def _post(
    server: BarcodeHttpServer, body: bytes, length: int | None = None, authorization: str | None = LINE_1
) -> tuple[int, dict[str, Any]]:
    stream = io.BytesIO(body)
    header = str(len(body) if length is None else length)
    answer = server.receive(authorization, header, stream.read)
    return answer.status, answer.body


def test_the_http_answer_counts_and_the_reports_carry_reader_and_operator() -> None:
    outlet = ListOutlet()
    server = _http(outlet)
    status, answer = _post(
        server,
        batch(
            [{"code": code("1")}, {"code": code("1")}, {"code": code("2"), "time": format_us(NOW - S)}, {}]
        ),
    )
    assert status == 202
    assert answer["accepted"] == 3 and answer["rejected"] == 1 and answer["reasons"] == {"bad_code": 1}
    assert answer["rejections"][0]["index"] == 3
    # One report per cycle of scan times, sent before the answer; a repeated scan is counted.
    assert [(r.reader_id, r.cycle_seq, r.operator) for r in outlet.reports] == [
        ("HAND-1", 0, "anna"),
        ("HAND-1", 1, "anna"),
    ]
    assert [(x.key, x.count) for r in outlet.reports for x in r.reads] == [(sgtin("2"), 1), (sgtin("1"), 2)]
    assert outlet.reasons() == ["bad_code"] and outlet.rejects[0][0] == "HAND-1"
    _post(server, batch([{"code": code("3")}], operator="ben"))
    assert [(r.cycle_seq, r.operator) for r in outlet.reports[2:]] == [(2, "ben")]
    assert server.health.scans == 4 and server.health.rejected == {"bad_code": 1}


@pytest.mark.parametrize(
    ("body", "length", "status", "reason"),
    [
        pytest.param(b"x" * 100, None, 413, "oversized", id="body over the limit"),
        pytest.param(b"{}", -1, 411, "length_required", id="no length"),
        pytest.param(b"{", None, 400, "malformed_json", id="bad JSON"),
        pytest.param(b'{"a":1}', 20, 400, "truncated", id="shorter than its length"),
    ],
)
def test_http_refusals(body: bytes, length: int | None, status: int, reason: str) -> None:
    outlet = ListOutlet()
    server = _http(outlet, max_body_bytes=64)
    stream = io.BytesIO(body)
    header = None if length == -1 else str(len(body) if length is None else length)
    got, answer, _ = server.receive(LINE_1, header, stream.read)
    assert (got, answer["reason"]) == (status, reason)
    assert outlet.reasons() == [reason] and outlet.rejects[0][0] == "barcode-http"
    assert outlet.reports == []


def test_http_takes_a_digital_link_scanned_with_its_symbology_identifier() -> None:
    outlet = ListOutlet()
    link = "]Q1https://id.gs1.org/01/" + PART + "/21/7"
    status, answer = _post(_http(outlet), batch([{"code": link}, {"code": "]d1" + link[3:]}]))
    assert (status, answer["accepted"], answer["rejected"]) == (202, 2, 0)
    assert [(x.key, x.count) for r in outlet.reports for x in r.reads] == [(sgtin("7"), 2)]


def test_http_takes_codes_in_their_human_readable_form() -> None:
    outlet = ListOutlet()
    status, answer = _post(_http(outlet), batch([{"code": "(01)" + PART + "(21)8"}, {"code": "(01)" + PART}]))
    assert (status, answer["accepted"], answer["reasons"]) == (202, 1, {"bad_code": 1})
    assert [x.key for r in outlet.reports for x in r.reads] == [sgtin("8")]


def test_http_takes_only_its_readers_when_told() -> None:
    outlet = ListOutlet()
    server = _http(outlet, reader_ids=frozenset({"HAND-2"}))
    status, answer = _post(server, batch([{"code": code("1")}]))
    assert (status, answer["reason"]) == (400, "unknown_reader")
    assert _post(server, batch([{"code": code("1")}], reader_id="HAND-2"))[0] == 202


@pytest.mark.parametrize(
    ("authorization", "place", "body_line", "status", "reason"),
    [
        pytest.param(None, None, "L1", 401, "unauthorized", id="no token"),
        pytest.param("Bearer lt_guess", None, "L1", 401, "unauthorized", id="unknown token"),
        pytest.param("Bearer lt_line_2", ("S1", "L1"), "L1", 403, "forbidden", id="another line's token"),
        pytest.param(LINE_1, ("S1", "L1"), "L2", 403, "forbidden", id="a batch for another line"),
        pytest.param("Bearer lt_line_2", None, "L1", 403, "forbidden", id="no place: the batch's line"),
        pytest.param("Bearer lt_site_1", ("S1", "L1"), "L1", 202, "", id="the site's token"),
    ],
)
def test_http_takes_a_batch_only_with_a_token_of_its_readers_line(
    authorization: str | None, place: tuple[str, str] | None, body_line: str, status: int, reason: str
) -> None:
    outlet, registry = ListOutlet(), CollectorRegistry()
    server = _http(outlet, registry, place=place)

    got, answer = _post(server, batch([{"code": code("1")}], line=body_line), authorization=authorization)
    assert (got, answer.get("reason", "")) == (status, reason)
    if status != 202:
        # Counted, not dead-lettered: nothing of a refused post reaches the spool.
        assert outlet.rejects == [] and outlet.reports == []
        assert server.health.rejected == {reason: 1} and server.health.scans == 0
        assert registry.get_sample_value("linetrace_reader_rejections_total", {"reason": reason}) == 1


def test_a_token_of_another_line_is_refused_before_the_body_is_read() -> None:
    server = _http(ListOutlet(), place=("S1", "L1"))
    stream = io.BytesIO(b"{" * 100)
    answer = server.receive("Bearer lt_line_2", "100", stream.read)
    assert answer.status == 403 and answer.headers == ()
    assert stream.tell() == 100  # read and dropped unparsed, so the sender sees the 403


# --- TCP lines -------------------------------------------------------------------------------


def test_tcp_lines_become_one_report_per_cycle_and_bad_lines_are_rejected() -> None:
    outlet = ListOutlet()
    clock = [NOW]
    server = BarcodeTcpServer(
        "SCAN-1",
        "S1",
        "L1",
        outlet,
        port=0,
        antenna=3,
        operator="anna",
        company_prefixes=PREFIXES,
        clock=lambda: clock[0],
    )
    splitter = LineSplitter(64)
    stream = (
        (code("1") + "\r\n" + code("1") + "\n" + code("2") + "\r").encode() + b"\xff\n" + b"9" * 80 + b"\n"
    )
    for frame in splitter.feed(stream):
        server.take(frame)
    clock[0] += S
    server.take(Frame(b"hello", 5))
    server.take(Frame(code("3").encode(), 24))
    server.aggregator.flush()
    first, second = outlet.reports
    assert (first.reader_id, first.site, first.line, first.operator) == ("SCAN-1", "S1", "L1", "anna")
    assert [(r.key, r.antenna, r.count, r.time_us) for r in first.reads] == [
        (sgtin("1"), 3, 2, NOW),
        (sgtin("2"), 3, 1, NOW),
    ]
    assert [r.key for r in second.reads] == [sgtin("3")]
    assert outlet.reasons() == ["malformed_frame", "oversized", "bad_code"]
    assert outlet.rejects[1][3] == b"9" * 64  # the start of the oversized line
    assert server.health.lines == 7 and server.health.scans == 4


def test_a_bad_company_prefix_table_is_refused_at_start() -> None:
    with pytest.raises(ValueError):
        BarcodeTcpServer("SCAN-1", "S1", "L1", ListOutlet(), company_prefixes={PART: 3})
