"""Zebra IoT Connector tag data events (the documented shapes in tests/data/vendor) to observations,
and what the HTTP receiver answers for each kind of body and of credentials."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from ingest.errors import InvalidInput
from ingest.schema import ReadCycleReport
from ingest.timefmt import parse_us
from ingest.tokens import Scope, Token, hash_token
from readers.auth import ReaderGate
from readers.base import CycleAggregator, Observation
from readers.impinj import ReadLimits
from readers.status import StatusKind
from readers.zebra import ZebraHttpReceiver, parse_zebra_payload
from readers.zebraevents import zebra_post
from tests.unit.factories import part_epc

VENDOR = Path(__file__).parents[2] / "data" / "vendor"
T0 = parse_us("2023-06-01T08:00:00Z")
NOW = T0 + 60_000_000
P81, P82 = part_epc(81), part_epc(82)


def _at(seconds: float) -> int:
    return T0 + round(seconds * 1_000_000)


def _rejects() -> list[Any]:
    cases = json.loads((VENDOR / "zebra_rejects.json").read_text())
    return [pytest.param(c["body"].encode(), c["reason"], id=c["case"]) for c in cases]


def test_a_batch_gives_one_observation_per_event_with_its_count_and_peak_rssi() -> None:
    body = (VENDOR / "zebra_batch.json").read_bytes()
    assert parse_zebra_payload(body, "ZEBRA-1", NOW) == [
        Observation("ZEBRA-1", 1, _at(20), epc=P81, rssi=-54.0, count=9),  # idHex in lower case
        Observation("ZEBRA-1", 1, _at(20.1), epc=P82, rssi=-61.0, count=4),
        Observation("ZEBRA-1", 1, _at(20.3), epc=P81, rssi=-52.0, count=2),
    ]


def test_a_single_event_with_a_local_offset_is_read_in_utc() -> None:
    body = (VENDOR / "zebra_single.json").read_bytes()
    assert parse_zebra_payload(body, "ZEBRA-1", NOW) == [
        Observation("ZEBRA-1", 2, _at(30), epc=P81, rssi=-51.0, count=3)
    ]


def test_an_empty_batch_is_no_reads() -> None:
    assert parse_zebra_payload(b"[]", "ZEBRA-1", NOW) == []


@pytest.mark.parametrize(("body", "reason"), _rejects())
def test_an_unusable_body_is_rejected_whole_with_its_reason(body: bytes, reason: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_zebra_payload(body, "ZEBRA-1", NOW)
    assert caught.value.reason == reason


class _Outlet:
    def __init__(self) -> None:
        self.reports: list[ReadCycleReport] = []
        self.rejected: list[tuple[str, str, bytes]] = []

    def publish_report(self, report: ReadCycleReport) -> None:
        self.reports.append(report)

    def reject(self, source: str, reason: str, detail: str, payload: bytes) -> None:
        self.rejected.append((source, reason, payload))


TOKENS = (
    Token("line-1", hash_token("lt_line_1"), Scope("S1", "L1")),
    Token("line-2", hash_token("lt_line_2"), Scope("S1", "L2")),
)
LINE_1 = "Bearer lt_line_1"


def _receiver(
    max_bytes: int = 100_000, registry: CollectorRegistry | None = None
) -> tuple[ZebraHttpReceiver, _Outlet]:
    outlet = _Outlet()
    aggregator = CycleAggregator("S1", "L1", "ZEBRA-1", 500_000, outlet.publish_report)
    limits = ReadLimits(max_bytes=max_bytes)
    gate = ReaderGate(lambda: TOKENS, registry or CollectorRegistry())
    receiver = ZebraHttpReceiver(
        "ZEBRA-1", aggregator, outlet, gate, port=0, limits=limits, clock=lambda: NOW
    )
    return receiver, outlet


def _post(
    receiver: ZebraHttpReceiver, body: bytes, length: str | None = "", authorization: str | None = LINE_1
) -> tuple[int, dict[str, Any]]:
    answer = receiver.receive(authorization, str(len(body)) if length == "" else length, io.BytesIO(body))
    return answer.status, answer.body


def test_the_receiver_accepts_a_batch_and_reports_its_cycles() -> None:
    receiver, outlet = _receiver()
    assert _post(receiver, (VENDOR / "zebra_batch.json").read_bytes()) == (202, {"accepted": 3})
    assert _post(receiver, (VENDOR / "zebra_single.json").read_bytes()) == (202, {"accepted": 1})
    receiver.aggregator.flush()
    assert [(r.cycle_seq, [(t.epc, t.antenna, t.count) for t in r.reads]) for r in outlet.reports] == [
        (0, [(P81, 1, 11), (P82, 1, 4)]),
        (1, [(P81, 2, 3)]),
    ]
    h = receiver.health
    assert (h.posts, h.accepted, h.reads, h.rejected, h.last_read_us) == (2, 2, 4, {}, _at(30))


@pytest.mark.parametrize(
    ("body", "length", "status", "reason"),
    [
        pytest.param(b"{", "", 400, "malformed_json", id="malformed"),
        pytest.param(b'{"data":{}}', None, 411, "length_required", id="no length"),
        pytest.param(b"x" * 101, "", 413, "oversized", id="oversized"),
        pytest.param(b"[]", "5", 400, "truncated", id="sender went away"),
    ],
)
def test_the_receiver_rejects_with_a_status_and_a_dead_letter(
    body: bytes, length: str | None, status: int, reason: str
) -> None:
    receiver, outlet = _receiver(max_bytes=100)
    answer = _post(receiver, body, length)
    assert (answer[0], answer[1]["reason"]) == (status, reason)
    assert [(s, r) for s, r, _ in outlet.rejected] == [("ZEBRA-1", reason)]
    assert receiver.health.rejected == {reason: 1} and outlet.reports == []


@pytest.mark.parametrize(
    ("authorization", "status", "reason"),
    [
        pytest.param(None, 401, "unauthorized", id="no token"),
        pytest.param("Bearer lt_wrong", 401, "unauthorized", id="unknown token"),
        pytest.param("Bearer lt_line_2", 403, "forbidden", id="a token of another line"),
    ],
)
def test_the_receiver_refuses_a_post_without_a_token_of_its_line(
    authorization: str | None, status: int, reason: str
) -> None:
    registry = CollectorRegistry()
    receiver, outlet = _receiver(registry=registry)
    body = io.BytesIO((VENDOR / "zebra_batch.json").read_bytes())
    answer = receiver.receive(authorization, str(len(body.getvalue())), body)

    assert (answer.status, answer.body["reason"]) == (status, reason)
    schemes = [value.split()[0] for name, value in answer.headers if name == "WWW-Authenticate"]
    assert schemes == (["Bearer", "Basic"] if status == 401 else [])
    assert body.tell() == len(body.getvalue())  # read and dropped: the sender sees the answer
    # Counted, not dead-lettered: nothing of a refused post reaches the spool.
    assert outlet.rejected == [] and outlet.reports == []
    assert receiver.health.rejected == {reason: 1} and receiver.health.reads == 0
    assert registry.get_sample_value("linetrace_reader_rejections_total", {"reason": reason}) == 1


def test_a_refused_post_over_the_limit_is_left_unread() -> None:
    receiver, _ = _receiver(max_bytes=100)
    body = io.BytesIO(b"x" * 1000)
    assert receiver.receive(None, "1000", body).status == 401
    assert body.tell() == 0


def test_management_events_are_reader_health_not_reads_or_rejections() -> None:
    post = zebra_post((VENDOR / "zebra_management.json").read_bytes(), "ZEBRA-1", NOW)
    assert post.observations == []
    assert [s.kind for s in post.statuses] == [
        StatusKind.HEARTBEAT,
        StatusKind.WARNING,
        StatusKind.ERROR,
        StatusKind.OTHER,  # GPI
        StatusKind.OTHER,  # firmware update progress
    ]
    heartbeat = post.statuses[0]
    assert heartbeat.antennas == ((1, True), (2, False), (3, True), (4, False))
    assert heartbeat.reads_by_antenna == ((1, 1200), (2, 0), (3, 320), (4, 0))
    assert heartbeat.detail == "radio active, radio connected"
    assert post.statuses[1].detail == "RAM utilization above 80%"
    assert all(s.time_us == NOW for s in post.statuses)  # this host's clock: heartbeats are judged by it


@pytest.mark.parametrize(
    ("data", "antennas", "reads"),
    [
        pytest.param(
            {"radioControl": {"ANTENNAS": {"1": "CONNECTED"}, "NUM_TAG_READS_PER_ANTENNA": {"1": 5}}},
            ((1, True),),
            ((1, 5),),
            id="other spellings of the fields",
        ),
        pytest.param(
            {"antennas": [{"antenna": 2, "status": "disconnected"}, {"id": 3, "connected": True}]},
            ((2, False), (3, True)),
            (),
            id="antennas as a list",
        ),
        pytest.param(
            {"antennas": {"x": "connected", "0": "connected", "5": "unknown"}, "numTagReadsPerAntenna": [1]},
            (),
            (),
            id="what is not an antenna state is left out",
        ),
        pytest.param("not an object", (), (), id="no data"),
    ],
)
def test_a_heartbeat_is_taken_as_it_comes(data: object, antennas: object, reads: object) -> None:
    body = json.dumps({"type": "HEARTBEAT", "timestamp": "x", "data": data}).encode()
    (status,) = zebra_post(body, "ZEBRA-1", NOW).statuses
    assert (status.kind, status.antennas, status.reads_by_antenna) == (StatusKind.HEARTBEAT, antennas, reads)


def test_a_message_that_is_not_tag_data_is_health_whatever_its_type() -> None:
    body = json.dumps({"type": "USERAPP", "data": {"app": "x"}}).encode()
    assert [s.kind for s in zebra_post(body, "ZEBRA-1", NOW).statuses] == [StatusKind.OTHER]


def test_tag_data_without_antenna_names_the_setting_to_change() -> None:
    body = b'{"type":"SIMPLE","timestamp":"2023-06-01T08:00:20Z","data":{"idHex":"3034"}}'
    with pytest.raises(InvalidInput, match="add ANTENNA to the operating mode's tagMetaData"):
        zebra_post(body, "ZEBRA-1", NOW)


def test_the_receiver_takes_heartbeats_beside_reads_into_the_health_book() -> None:
    receiver, outlet = _receiver()
    events = json.loads((VENDOR / "zebra_management.json").read_bytes())
    tags = json.loads((VENDOR / "zebra_batch.json").read_bytes())
    assert _post(receiver, json.dumps(events + tags).encode()) == (202, {"accepted": 3, "status": 5})
    book = receiver.book
    assert {a: (p.connected, p.reads, p.reported_reads) for a, p in book.antennas.items()} == {
        1: (True, 15, 1200),
        2: (False, 0, 0),
        3: (True, 0, 320),
        4: (False, 0, 0),
    }
    assert (book.heartbeats, book.last_heartbeat_us, book.last_error) == (1, NOW, "antenna 2 disconnected")
    assert outlet.rejected == [] and receiver.health.status == 5


def test_fastid_is_said_once_in_the_log_and_in_health(caplog: pytest.LogCaptureFixture) -> None:
    receiver, outlet = _receiver()
    body = b'{"type":"INVENTORY","timestamp":"2023-06-01T08:00:20Z",'
    body += b'"data":{"format":"tid","idHex":"E280","antenna":1}}'
    for _ in range(3):
        assert _post(receiver, body)[0] == 400
    said = [r for r in caplog.records if "FastID" in r.getMessage() and r.levelname == "ERROR"]
    assert len(said) == 1 and "FastID" in receiver.health.problem
    assert [r for _, r, _ in outlet.rejected] == ["bad_epc"] * 3
