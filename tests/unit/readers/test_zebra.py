"""Zebra IoT Connector tag data events (the documented shapes in tests/data/vendor) to observations,
and what the HTTP receiver answers for each kind of body."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from ingest.errors import InvalidInput
from ingest.schema import ReadCycleReport
from ingest.timefmt import parse_us
from readers.base import CycleAggregator, Observation
from readers.impinj import ReadLimits
from readers.zebra import ZebraHttpReceiver, parse_zebra_payload
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


def _receiver(max_bytes: int = 100_000) -> tuple[ZebraHttpReceiver, _Outlet]:
    outlet = _Outlet()
    aggregator = CycleAggregator("S1", "L1", "ZEBRA-1", 500_000, outlet.publish_report)
    limits = ReadLimits(max_bytes=max_bytes)
    return ZebraHttpReceiver("ZEBRA-1", aggregator, outlet, port=0, limits=limits, clock=lambda: NOW), outlet


def _post(receiver: ZebraHttpReceiver, body: bytes, length: str | None = "") -> tuple[int, dict[str, Any]]:
    return receiver.receive(str(len(body)) if length == "" else length, io.BytesIO(body))


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
