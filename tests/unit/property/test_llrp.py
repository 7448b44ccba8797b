"""LLRP tag reports to observations: any field values give a read or a rejection with its
reason, and every read taken reaches the stream worker as it was reported."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson
from hypothesis import example, given
from hypothesis import strategies as st
from llrpkit import TagReport

from ingest.schema import ReadCycleReport
from readers.base import CycleAggregator
from readers.impinj import DEFAULT_LIMITS
from readers.llrp import MAX_EPC_BYTES, LlrpAdapter, observation_of
from tests.unit.property.shared import NOW_US, assert_survives_the_wire, json_values

LLRP_REASONS = {"bad_read", "future_timestamp", "stale_timestamp"}
MAX_FUTURE_US, MAX_AGE_US = DEFAULT_LIMITS.max_future_us, DEFAULT_LIMITS.max_age_us

# Values a report's fields could hold: what LLRP encodes (unsigned 8 to 64 bits, signed RSSI),
# and the odd types and sizes a faulty decoder or extension might put there.
ODD = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.text(max_size=8)
    | st.binary(max_size=8)
    | json_values(max_leaves=3)
)


def _odd_or(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(valid, ODD)


@st.composite
def tag_reports(draw: st.DrawFn, odd: bool = False) -> TagReport:
    """A tag report as llrpkit flattens TagReportData; with ``odd``, any field may hold anything."""
    maybe = _odd_or if odd else (lambda s: s)
    epc = draw(maybe(st.binary(min_size=1, max_size=MAX_EPC_BYTES)))
    antenna = draw(maybe(st.integers(1, 65535)))
    first = draw(maybe(st.none() | st.integers(NOW_US - MAX_AGE_US, NOW_US + MAX_FUTURE_US)))
    count = draw(maybe(st.none() | st.integers(1, 65535)))
    rssi = draw(maybe(st.none() | st.integers(-128, 127).map(float) | st.floats(-128.0, 127.0)))
    return TagReport(epc=epc, antenna=antenna, first_seen_us=first, seen_count=count, rssi_dbm=rssi)


@given(tag_reports())
def test_a_tag_report_is_the_read_it_holds(tag: TagReport) -> None:
    obs, reason = observation_of(tag, "R1", NOW_US, MAX_FUTURE_US, MAX_AGE_US)

    assert reason == "" and obs is not None
    assert (obs.epc, obs.antenna, obs.time_us, obs.count, obs.rssi) == (
        tag.epc.hex().upper(),
        tag.antenna,
        tag.first_seen_us or NOW_US,
        tag.seen_count or 1,
        tag.rssi_dbm,
    )
    assert_survives_the_wire([obs])


@given(tag_reports(odd=True))
@example(TagReport(epc=b"\x30", antenna=1, seen_count=-1))
@example(TagReport(epc=b"\x30", antenna=2**70))
@example(TagReport(epc="3034", antenna=1))  # type: ignore[arg-type]
@example(TagReport(epc=b"\x30", antenna=1, first_seen_us=1.5))  # type: ignore[arg-type]
@example(TagReport(epc=b"\x30", antenna=1, rssi_dbm=float("nan")))
@example(TagReport(epc=b"\x30", antenna=1, rssi_dbm=-(2**63) - 1))
def test_a_tag_report_of_any_values_is_a_read_or_a_rejection(tag: TagReport) -> None:
    obs, reason = observation_of(tag, "R1", NOW_US, MAX_FUTURE_US, MAX_AGE_US)

    if obs is None:
        assert reason in LLRP_REASONS
    else:
        assert reason == ""
        assert_survives_the_wire([obs])


@dataclass
class Outlet:
    reports: list[ReadCycleReport] = field(default_factory=list)
    rejections: list[tuple[str, bytes]] = field(default_factory=list)

    def publish_report(self, report: ReadCycleReport) -> None:
        self.reports.append(report)

    def reject(self, source: str, reason: str, detail: str, payload: bytes) -> None:
        self.rejections.append((reason, payload))


@given(tag_reports(odd=True))
@example(TagReport(epc=b"\x30", antenna=b"\x01"))  # type: ignore[arg-type]
@example(TagReport(epc=b"\x30", antenna=1, first_seen_us=2**70))
def test_the_adapter_reports_a_tag_report_or_dead_letters_it_as_json(tag: TagReport) -> None:
    outlet = Outlet()
    aggregator = CycleAggregator("S1", "L1", "R1", 1_000_000, outlet.publish_report)
    adapter = LlrpAdapter("R1", "127.0.0.1", 5084, aggregator, outlet, clock=lambda: NOW_US)

    adapter._take(tag)
    aggregator.flush()

    assert len(outlet.reports) + len(outlet.rejections) == 1
    for reason, payload in outlet.rejections:
        assert reason in LLRP_REASONS
        assert isinstance(orjson.loads(payload), dict)
