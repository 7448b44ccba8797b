"""Impinj and Zebra JSON to observations: anything a device could send is a read, a skipped
event or a rejection with its reason, and the documented event shapes keep every value."""

from __future__ import annotations

import base64
import copy
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from hypothesis import example, given
from hypothesis import strategies as st

from ingest.errors import InvalidInput
from ingest.timefmt import format_us
from readers.base import Observation
from readers.impinj import DEFAULT_LIMITS, MAX_EPC_HEX, ReadLimits, parse_impinj_event
from readers.zebra import MAX_READ_COUNT, parse_zebra_payload
from tests.unit.property.shared import (
    INT64,
    NOW_US,
    READER_REASONS,
    assert_survives_the_wire,
    json_values,
    paths,
    set_at,
    text,
)

READER = "R1"
EARLIEST = NOW_US - DEFAULT_LIMITS.max_age_us
LATEST = NOW_US + DEFAULT_LIMITS.max_future_us


@dataclass(frozen=True)
class Read:
    """What a generated event should come out as."""

    epc: str
    antenna: int
    time_us: int
    rssi: float | None
    count: int = 1

    def observation(self) -> Observation:
        return Observation(READER, self.antenna, self.time_us, epc=self.epc, rssi=self.rssi, count=self.count)


@st.composite
def epcs(draw: st.DrawFn) -> str:
    """An EPC of whole 16-bit words, in the case a device might write it."""
    words = draw(st.integers(1, MAX_EPC_HEX // 4))
    digits = draw(st.text("0123456789ABCDEF", min_size=4 * words, max_size=4 * words))
    return draw(st.sampled_from((digits, digits.lower())))


@st.composite
def device_times(draw: st.DrawFn, colon: bool = True) -> tuple[str, int]:
    """A read time within the limits as devices write it: offset Z or ±hh:mm (±hhmm without
    ``colon``), 0 to 9 fraction digits (beyond microseconds: cut, not rounded)."""
    us = draw(st.integers(EARLIEST, LATEST))
    digits = draw(st.sampled_from((0, 3, 6, 9)))
    us -= us % 10 ** (6 - min(digits, 6))
    offset = timedelta(minutes=draw(st.integers(-14 * 60, 14 * 60)))
    local = datetime.fromtimestamp(us // 1_000_000, UTC).replace(microsecond=us % 1_000_000) + offset
    fraction = f"{local.microsecond:06d}{draw(st.integers(0, 999)):03d}"[:digits]
    written = local.strftime("%Y-%m-%dT%H:%M:%S") + ("." + fraction if digits else "")
    if not offset and colon and draw(st.booleans()):
        return written + "Z", us
    sign, minutes = ("-", -offset) if offset < timedelta(0) else ("+", offset)
    hh, mm = divmod(int(minutes.total_seconds()) // 60, 60)
    return written + f"{sign}{hh:02d}{':' if colon else ''}{mm:02d}", us


# --- Impinj ---------------------------------------------------------------------------------


@st.composite
def impinj_events(draw: st.DrawFn) -> tuple[bytes, Read]:
    """A tagInventory event of the IoT device interface and the read it holds."""
    epc = draw(epcs())
    antenna = draw(st.integers(1, 2**63 - 1))
    seen, us = draw(device_times())
    cdbm = draw(st.none() | st.integers(-12000, 0) | st.floats(-120.0, 0.0))
    tag: dict[str, Any] = {"antennaPort": antenna, "antennaName": draw(text()), "frequency": 915250}
    where = draw(st.sampled_from(("hex", "base64", "both")))
    if where != "base64":
        tag["epcHex"] = epc
    if where != "hex":
        tag["epc"] = base64.b64encode(bytes.fromhex(epc)).decode()
    if cdbm is not None:
        tag["peakRssiCdbm"] = cdbm
    event: dict[str, Any] = {"hostname": "impinj-14-2b-3c", "tagInventoryEvent": tag}
    if draw(st.booleans()):
        event["eventType"] = "tagInventory"
    if draw(st.booleans()):
        tag["lastSeenTime"] = seen
        event["timestamp"] = draw(device_times())[0]
    else:
        event["timestamp"] = seen
    line = (
        draw(st.sampled_from((b"", b" ")))
        + orjson.dumps(event)
        + draw(st.sampled_from((b"", b"\n", b"\r\n")))
    )
    return line, Read(epc.upper(), antenna, us, None if cdbm is None else cdbm / 100)


def _impinj(line: bytes, limits: ReadLimits = DEFAULT_LIMITS) -> Observation | None:
    """The observation of a line, None for what is not a read; a rejection must have a reason."""
    try:
        return parse_impinj_event(line, READER, NOW_US, limits)
    except InvalidInput as error:
        assert error.reason in READER_REASONS
        return None


@given(impinj_events())
def test_a_tag_inventory_event_is_the_read_it_holds(case: tuple[bytes, Read]) -> None:
    line, read = case
    obs = parse_impinj_event(line, READER, NOW_US)

    assert obs == read.observation()
    assert_survives_the_wire([obs])


@given(st.binary(max_size=200))
@example(b"\xff")
@example(b"[1]")
def test_any_bytes_are_a_read_a_skipped_event_or_a_rejection(line: bytes) -> None:
    _impinj(line)


@given(json_values())
@example({"tagInventoryEvent": {"epc": "=", "antennaPort": 1}})
@example({"eventType": ["tagInventory"]})
def test_any_json_is_a_read_a_skipped_event_or_a_rejection(value: Any) -> None:
    obs = _impinj(orjson.dumps(value))

    if obs is not None:
        assert_survives_the_wire([obs])


@given(st.data(), impinj_events(), json_values(max_leaves=4))
def test_an_event_with_one_value_changed_is_a_read_a_skipped_event_or_a_rejection(
    data: st.DataObject, case: tuple[bytes, Read], value: Any
) -> None:
    event = orjson.loads(case[0])
    set_at(event, data.draw(st.sampled_from(paths(event))), value)
    obs = _impinj(orjson.dumps(event))

    if obs is not None:
        assert_survives_the_wire([obs])


@given(impinj_events())
def test_an_event_over_the_size_limit_is_oversized(case: tuple[bytes, Read]) -> None:
    line = case[0].strip()
    try:
        parse_impinj_event(line, READER, NOW_US, ReadLimits(max_bytes=len(line) - 1))
    except InvalidInput as error:
        assert error.reason == "oversized"
    else:
        raise AssertionError("an oversized event was taken")


# --- Zebra ----------------------------------------------------------------------------------


@st.composite
def zebra_events(draw: st.DrawFn) -> tuple[dict[str, Any], Read]:
    """A tag data event of the IoT Connector and the read it holds."""
    epc = draw(epcs())
    antenna = draw(st.integers(1, 2**63 - 1))
    stamp, us = draw(device_times(colon=draw(st.booleans())))
    rssi = draw(st.none() | st.integers(-120, 0) | st.floats(-120.0, 0.0))
    count = draw(st.none() | st.integers(1, MAX_READ_COUNT))
    data: dict[str, Any] = {"idHex": epc, "antenna": antenna, "eventNum": draw(INT64), "PC": "3000"}
    if draw(st.booleans()):
        data["format"] = "epc"
    if rssi is not None:
        data["peakRssi"] = rssi
    if count is not None:
        data["reads"] = count
    event = {"data": data, "timestamp": stamp, "type": "INVENTORY"}
    return event, Read(epc.upper(), antenna, us, None if rssi is None else float(rssi), count or 1)


def _zebra(body: bytes) -> list[Observation]:
    try:
        return parse_zebra_payload(body, READER, NOW_US)
    except InvalidInput as error:
        assert error.reason in READER_REASONS
        return []


@given(st.lists(zebra_events(), min_size=1, max_size=5), st.booleans())
def test_tag_data_events_are_the_reads_they_hold(
    cases: list[tuple[dict[str, Any], Read]], batch: bool
) -> None:
    events = [event for event, _ in cases]
    body = orjson.dumps(events if batch or len(events) > 1 else events[0])
    observations = parse_zebra_payload(body, READER, NOW_US)

    assert observations == [read.observation() for _, read in cases]
    assert_survives_the_wire(observations)


@given(st.binary(max_size=200))
def test_any_body_is_reads_or_a_rejection(body: bytes) -> None:
    _zebra(body)


@given(json_values())
@example({"data": {"idHex": "3000", "antenna": 1, "reads": 0.5}, "timestamp": "2025-03-01T12:00:00Z"})
def test_any_json_body_is_reads_or_a_rejection(value: Any) -> None:
    assert_survives_the_wire(_zebra(orjson.dumps(value)))


@given(st.data(), st.lists(zebra_events(), min_size=1, max_size=3), json_values(max_leaves=4))
def test_a_batch_with_one_value_changed_is_reads_or_a_rejection_of_the_whole(
    data: st.DataObject, cases: list[tuple[dict[str, Any], Read]], value: Any
) -> None:
    events = [copy.deepcopy(event) for event, _ in cases]
    path = data.draw(st.sampled_from(paths(events)))
    set_at(events, path, value)
    observations = _zebra(orjson.dumps(events))

    # Refused as a whole, or every event still a read: the ones not changed exactly as sent.
    if observations:
        assert len(observations) == len(cases)
        unchanged = [j for j in range(len(cases)) if j != path[0]]
        assert [observations[j] for j in unchanged] == [cases[j][1].observation() for j in unchanged]
    assert_survives_the_wire(observations)


@given(st.lists(st.integers(1, 2**64 - 1), min_size=1, max_size=4))
@example([2**64 - 1, 2**64 - 1])
def test_the_read_counts_of_one_tag_in_one_cycle_add_up_on_the_wire(counts: list[int]) -> None:
    stamp = format_us(NOW_US)
    events = [{"data": {"idHex": "3034", "antenna": 1, "reads": n}, "timestamp": stamp} for n in counts]
    observations = _zebra(orjson.dumps(events))

    assert len(observations) in (0, len(counts))
    assert_survives_the_wire(observations)
