"""The wire format of the public topics: every valid event encodes and decodes to itself, and
anything else decodes to InvalidInput with a documented dead-letter reason."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import orjson
from hypothesis import example, given
from hypothesis import strategies as st

from ingest.deadletter import dead_letter
from ingest.errors import InvalidInput
from ingest.schema import (
    AGGREGATION_ACTIONS,
    HOLD_TYPES,
    JOB_EVENTS,
    QC_RESULTS,
    Aggregation,
    HoldEvent,
    JobEvent,
    QcResult,
    ReadCycleReport,
    TagRead,
    Transformation,
    read_fields,
)
from ingest.wire import (
    decode_aggregation,
    decode_hold,
    decode_job_event,
    decode_qc,
    decode_report,
    decode_report_reads,
    decode_transformation,
    encode_aggregation,
    encode_hold,
    encode_job_event,
    encode_qc,
    encode_report,
    encode_transformation,
    message_type,
)
from tests.unit.property.shared import (
    FINITE,
    HEX,
    WIRE_REASONS,
    delete_at,
    item_keys,
    json_objects,
    json_values,
    other_type_than,
    paths,
    set_at,
    text,
    times_us,
    value_at,
)

MAX_BYTES = 1_000_000


def ids(max_size: int = 256) -> st.SearchStrategy[str]:
    """Non-empty text of at most ``max_size`` characters: site, line, reader, job and hold ids."""
    return text(min_size=1, max_size=min(max_size, 24))


def optional_text(max_size: int) -> st.SearchStrategy[str]:
    return text(max_size=min(max_size, 24))


# --- events -----------------------------------------------------------------------------------


@st.composite
def tag_reads(draw: st.DrawFn, start: int) -> TagRead:
    time_us = start + draw(st.integers(-(10**12), 10**12))
    last = draw(st.sampled_from((0, time_us + draw(st.integers(1, 10**9)))))
    rssi = draw(st.none() | FINITE | st.integers(-200, 200))
    antenna, count = draw(st.integers(-(2**31), 2**31)), draw(st.integers(1, 2**32))
    if draw(st.booleans()):
        return TagRead("", antenna, time_us, count, rssi, draw(item_keys()), last)
    return TagRead(draw(st.text(HEX, min_size=1, max_size=128)), antenna, time_us, count, rssi, "", last)


@st.composite
def reports(draw: st.DrawFn) -> ReadCycleReport:
    start = draw(times_us())
    reads = tuple(draw(st.lists(tag_reads(start), max_size=5)))
    seq = draw(st.integers(0, 2**63 - 1))
    return ReadCycleReport(
        site=draw(ids()),
        line=draw(ids()),
        reader_id=draw(ids()),
        cycle_seq=seq,
        cycle_start_us=start,
        reads=reads,
        operator=draw(optional_text(256)),
    )


@st.composite
def aggregations(draw: st.DrawFn) -> Aggregation:
    parent = draw(item_keys())
    children = tuple(draw(st.lists(item_keys().filter(lambda k: k != parent), min_size=1, max_size=4)))
    action = draw(st.sampled_from(AGGREGATION_ACTIONS))
    return Aggregation(
        site=draw(ids()),
        line=draw(ids()),
        station=draw(ids()),
        parent=parent,
        children=children,
        time_us=draw(times_us()),
        action=action,
    )


@st.composite
def transformations(draw: st.DrawFn) -> Transformation:
    keys = draw(st.lists(item_keys(), min_size=2, max_size=6, unique=True))
    cut = draw(st.integers(1, len(keys) - 1))
    return Transformation(
        site=draw(ids()),
        line=draw(ids()),
        station=draw(ids()),
        transformation_id=draw(ids()),
        inputs=tuple(keys[:cut]),
        outputs=tuple(keys[cut:]),
        time_us=draw(times_us()),
    )


@st.composite
def job_events(draw: st.DrawFn) -> JobEvent:
    event = draw(st.sampled_from(JOB_EVENTS))
    needs_product = event in ("created", "items_bound")
    blocker = event.startswith("blocker_")
    start, end, due = (draw(st.sampled_from((0, draw(times_us())))) for _ in range(3))
    return JobEvent(
        event=event,
        job=draw(ids()),
        site=draw(ids()),
        line=draw(ids()),
        product=draw(ids() if needs_product else optional_text(256)),
        quantity=draw(st.integers(0, 2**63 - 1)),
        items=tuple(draw(st.lists(item_keys(), max_size=4))),
        time_us=draw(times_us()),
        planned_start_us=start,
        planned_end_us=end,
        due_us=due,
        target_rate_per_h=draw(st.floats(0, 1e9) | st.integers(0, 10**9).map(float)),
        blocker_id=draw(ids() if blocker else optional_text(256)),
        blocker_type=draw(st.sampled_from(HOLD_TYPES) if event == "blocker_opened" else optional_text(64)),
        owner=draw(optional_text(256)),
        note=draw(optional_text(2000)),
    )


@st.composite
def qc_results(draw: st.DrawFn) -> QcResult:
    return QcResult(
        item=draw(item_keys()),
        job=draw(optional_text(256)),
        site=draw(ids()),
        line=draw(ids()),
        station=draw(ids()),
        result=draw(st.sampled_from(QC_RESULTS)),
        notes=draw(optional_text(2000)),
        time_us=draw(times_us()),
    )


@st.composite
def holds(draw: st.DrawFn) -> HoldEvent:
    return HoldEvent(
        event=draw(st.sampled_from(("placed", "released"))),
        hold_id=draw(ids()),
        site=draw(ids()),
        line=draw(ids()),
        items=tuple(draw(st.lists(item_keys(), min_size=1, max_size=4))),
        hold_type=draw(st.sampled_from(HOLD_TYPES)),
        owner=draw(ids()),
        reason=draw(optional_text(2000)),
        time_us=draw(times_us()),
    )


@dataclass(frozen=True)
class Kind:
    """One message type of the public topics: its events, encoder and decoder."""

    type: str
    events: st.SearchStrategy[Any]
    encode: Callable[[Any], bytes]
    decode: Callable[[bytes, int], Any]


KINDS = [
    Kind("read_cycle", reports(), encode_report, decode_report),
    Kind("aggregation", aggregations(), encode_aggregation, decode_aggregation),
    Kind("transformation", transformations(), encode_transformation, decode_transformation),
    Kind("job", job_events(), encode_job_event, decode_job_event),
    Kind("qc", qc_results(), encode_qc, decode_qc),
    Kind("hold", holds(), encode_hold, decode_hold),
]
BY_TYPE = {k.type: k for k in KINDS}
T0 = 946_684_800_000_000  # 2000-01-01T00:00:00Z
REPORT = ReadCycleReport(
    site="S1",
    line="L1",
    reader_id="R1",
    cycle_seq=7,
    cycle_start_us=T0,
    reads=(TagRead("3034", 1, T0, 2, -60.5),),
)
JOB = JobEvent(
    event="created", job="J1", site="S1", line="L1", product="PART", quantity=10, items=(), time_us=T0
)


def changed(
    event: Any, path: tuple[Any, ...], value: Any, without: str = ""
) -> tuple[Kind, bytes, tuple[Any, ...]]:
    """A mutation written by hand: the message of ``event`` with the value at ``path`` set (and
    the optional field ``without`` left out)."""
    kind = BY_TYPE["read_cycle" if isinstance(event, ReadCycleReport) else "job"]
    doc = orjson.loads(kind.encode(event))
    set_at(doc, path, value)
    doc.pop(without, None)
    return kind, orjson.dumps(doc), path


def kinds() -> st.SearchStrategy[Kind]:
    return st.sampled_from(KINDS)


def _decoded(kind: Kind, payload: bytes, max_bytes: int = MAX_BYTES) -> Any:
    """The event a payload decodes to, or None when it is refused with a documented reason
    (and a dead-letter record can be written for it)."""
    try:
        return kind.decode(payload, max_bytes)
    except InvalidInput as error:
        assert error.reason in WIRE_REASONS, error
        assert orjson.loads(dead_letter(error, "linetrace.reads", 0, 0, payload))["reason"] == error.reason
        return None


# --- round trips ------------------------------------------------------------------------------


@given(st.data(), kinds())
def test_every_valid_event_encodes_and_decodes_to_itself(data: st.DataObject, kind: Kind) -> None:
    event = data.draw(kind.events)
    payload = kind.encode(event)

    assert kind.decode(payload, MAX_BYTES) == event
    assert message_type(payload) == kind.type


@given(st.data(), kinds())
def test_a_valid_event_over_the_size_limit_is_oversized(data: st.DataObject, kind: Kind) -> None:
    payload = kind.encode(data.draw(kind.events))

    try:
        kind.decode(payload, len(payload) - 1)
    except InvalidInput as error:
        assert error.reason == "oversized"
    else:
        raise AssertionError("an oversized payload was taken")
    assert kind.decode(payload, len(payload)) is not None


@given(reports())
@example(
    ReadCycleReport(
        site="S1",
        line="L1",
        reader_id="R1",
        cycle_seq=0,
        cycle_start_us=T0,
        reads=(TagRead("3034", 1, T0 - 10, 1, None, "", T0),),
    )
)
def test_a_read_cycle_report_keeps_every_read_time(report: ReadCycleReport) -> None:
    # A read may come before the cycle start it is written against; its last time is kept.
    assert decode_report(encode_report(report), MAX_BYTES) == report


@given(reports())
def test_stage_1_takes_the_reads_the_report_decodes_to(report: ReadCycleReport) -> None:
    # Stage 1 takes a report's reads as plain tuples; they are the fields of its TagReads.
    payload = encode_report(report)
    decoded = decode_report(payload, MAX_BYTES)
    header, reads = decode_report_reads(payload, MAX_BYTES)
    assert replace(header, reads=decoded.reads) == decoded
    assert reads == [read_fields(r) for r in decoded.reads]


# --- anything else ----------------------------------------------------------------------------


@given(kinds(), st.binary(max_size=300))
@example(KINDS[0], b"\xff")
@example(KINDS[0], b"[" * 2000)
def test_any_bytes_decode_or_are_refused_with_a_documented_reason(kind: Kind, payload: bytes) -> None:
    _decoded(kind, payload)
    try:
        is_object = isinstance(orjson.loads(payload), dict)
    except orjson.JSONDecodeError:
        is_object = False
    if not is_object:
        assert message_type(payload) == ""


@given(kinds(), json_objects())
def test_the_type_of_a_message_is_its_type_field(kind: Kind, obj: dict[str, Any]) -> None:
    assert message_type(orjson.dumps({**obj, "type": kind.type})) == kind.type
    assert message_type(orjson.dumps({k: v for k, v in obj.items() if k != "type"})) == ""
    assert message_type(orjson.dumps([{"type": kind.type}])) == ""


@given(kinds(), json_values())
def test_any_json_decodes_or_is_refused_with_a_documented_reason(kind: Kind, value: Any) -> None:
    _decoded(kind, orjson.dumps(value))


@given(kinds(), json_objects())
def test_any_object_of_the_right_type_and_version_is_an_event_or_refused(
    kind: Kind, obj: dict[str, Any]
) -> None:
    _decoded(kind, orjson.dumps({**obj, "v": 1, "type": kind.type}))


@st.composite
def mutated(draw: st.DrawFn, change: str) -> tuple[Kind, bytes, tuple[Any, ...]]:
    """A valid message of any kind with one value changed (``value``: to anything; ``type``: a
    non-null value to a non-null value of another JSON type) or removed (``remove``), and where."""
    kind = draw(kinds())
    doc = orjson.loads(kind.encode(draw(kind.events)))
    # A null stands for an absent optional field: a value of any type may be valid there.
    where = [p for p in paths(doc) if change != "type" or value_at(doc, p) is not None]
    path = draw(st.sampled_from(where))
    if change == "remove":
        delete_at(doc, path)
    elif change == "type":
        set_at(doc, path, draw(other_type_than(value_at(doc, path))))
    else:
        set_at(doc, path, draw(json_values(max_leaves=4)))
    return kind, orjson.dumps(doc), path


@given(mutated("value"))
@example(changed(REPORT, ("reads", 0, "epc"), []))
@example(changed(REPORT, ("reads", 0, "epc"), {"hex": "3034"}))
def test_a_message_with_one_value_changed_is_an_event_or_refused(
    case: tuple[Kind, bytes, tuple[Any, ...]],
) -> None:
    kind, payload, _ = case
    _decoded(kind, payload)


@given(mutated("remove"))
def test_a_message_with_one_value_removed_is_an_event_or_refused(
    case: tuple[Kind, bytes, tuple[Any, ...]],
) -> None:
    kind, payload, _ = case
    _decoded(kind, payload)


@given(mutated("type"))
@example(changed(REPORT, ("v",), True))
@example(changed(REPORT, ("cycle_seq",), True, without="report_id"))
@example(changed(JOB, ("quantity",), True))
@example(changed(JOB, ("items",), {}))
@example(changed(JOB, ("items",), ""))
@example(changed(JOB, ("target_rate_per_h",), False))
@example(changed(JOB, ("target_rate_per_h",), ""))
@example(changed(JOB, ("note",), 0))
@example(changed(JOB, ("owner",), []))
@example(changed(JOB, ("planned_start",), 5))
def test_a_message_with_a_value_of_the_wrong_type_is_refused(
    case: tuple[Kind, bytes, tuple[Any, ...]],
) -> None:
    kind, payload, path = case
    assert _decoded(kind, payload) is None, (path, payload)
