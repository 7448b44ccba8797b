from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import orjson
import pytest

from ingest.errors import InvalidInput
from ingest.schema import Aggregation, JobEvent, ReadCycleReport, TagRead, Transformation
from ingest.wire import (
    decode_aggregation,
    decode_job_event,
    decode_report,
    decode_transformation,
    encode_aggregation,
    encode_job_event,
    encode_report,
    encode_transformation,
)
from tests.unit.factories import at, kit, part, part_epc

# Small enough to pass an oversized payload around cheaply.
MAX = 4096
DROP = object()  # a change that removes the field

REPORT = ReadCycleReport(
    site="S1",
    line="L1",
    reader_id="R-CUT",
    cycle_seq=7,
    cycle_start_us=at(0),
    reads=(
        TagRead(part_epc(1), 1, at(0), 3, -61.5),
        TagRead(part_epc(1), 2, at(0.02), 1, None),
        TagRead("E2801160600002054CC2096F", 1, at(0.05), 2, -70),
    ),
)
AGGREGATION = Aggregation(
    site="S1", line="L1", station="ASSY-1", parent=kit(1), children=(part(1), part(2)), time_us=at(5)
)
JOB = JobEvent(
    event="items_bound",
    job="J-1",
    site="S1",
    line="L1",
    product="PART",
    quantity=10,
    items=(part(1), part(2)),
    time_us=at(1),
)


def _changed(payload: bytes, **changes: Any) -> bytes:
    obj = orjson.loads(payload)
    for key, value in changes.items():
        if value is DROP:
            obj.pop(key, None)
        else:
            obj[key] = value
    return orjson.dumps(obj)


def _read_changed(**changes: Any) -> bytes:
    obj = orjson.loads(encode_report(REPORT))
    read = obj["reads"][0]
    for key, value in changes.items():
        if value is DROP:
            read.pop(key)
        else:
            read[key] = value
    return orjson.dumps(obj)


def test_report_round_trip() -> None:
    assert decode_report(encode_report(REPORT), MAX) == REPORT
    scanned = dataclasses.replace(REPORT, operator="OP-7")
    assert decode_report(encode_report(scanned), MAX) == scanned


def test_an_operator_must_be_text() -> None:
    with pytest.raises(InvalidInput):
        decode_report(_changed(encode_report(REPORT), operator=7), MAX)


def test_report_read_defaults() -> None:
    payload = _read_changed(count=DROP, rssi=DROP)

    first = decode_report(payload, MAX).reads[0]
    assert (first.count, first.rssi) == (1, None)


def test_report_id_may_be_left_out() -> None:
    assert decode_report(_changed(encode_report(REPORT), report_id=DROP), MAX) == REPORT


REPORT_BYTES = encode_report(REPORT)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        pytest.param(REPORT_BYTES.ljust(MAX + 1), "oversized", id="oversized"),
        pytest.param(b'{"v": 1, "type": ', "malformed_json", id="truncated JSON"),
        pytest.param(b"[1, 2]", "malformed_json", id="JSON but not an object"),
        pytest.param(b"\xff\xfe", "malformed_json", id="not UTF-8"),
        pytest.param(_changed(REPORT_BYTES, v=2), "unsupported_version", id="version 2"),
        pytest.param(_changed(REPORT_BYTES, v=DROP), "unsupported_version", id="no version"),
        pytest.param(_changed(REPORT_BYTES, type="aggregation"), "wrong_type", id="wrong type"),
        pytest.param(_changed(REPORT_BYTES, site=DROP), "missing_field", id="no site"),
        pytest.param(_changed(REPORT_BYTES, line=""), "missing_field", id="empty line"),
        pytest.param(_changed(REPORT_BYTES, reader_id="R" * 257), "missing_field", id="reader id too long"),
        pytest.param(_changed(REPORT_BYTES, cycle_seq=-1), "missing_field", id="negative cycle seq"),
        pytest.param(_changed(REPORT_BYTES, cycle_seq="7"), "missing_field", id="cycle seq as text"),
        pytest.param(_changed(REPORT_BYTES, reads={}), "missing_field", id="reads not a list"),
        pytest.param(_changed(REPORT_BYTES, cycle_start=DROP), "missing_field", id="no cycle start"),
        pytest.param(
            _changed(REPORT_BYTES, cycle_start="yesterday"), "bad_timestamp", id="cycle start in words"
        ),
        pytest.param(
            _changed(REPORT_BYTES, cycle_start="2024-05-01T08:00:00"),
            "bad_timestamp",
            id="cycle start without offset",
        ),
        pytest.param(_read_changed(epc=DROP), "bad_read", id="read without epc"),
        pytest.param(_read_changed(offset_us=DROP), "bad_read", id="read without offset"),
        pytest.param(_changed(REPORT_BYTES, reads=["30"]), "bad_read", id="read not an object"),
        pytest.param(_read_changed(epc="not-hex"), "bad_read", id="epc not hex"),
        pytest.param(_read_changed(epc="0x3074257BF7194E4000001A85"), "bad_read", id="epc with 0x"),
        pytest.param(_read_changed(epc="-1A"), "bad_read", id="epc with a sign"),
        pytest.param(_read_changed(epc="30_74"), "bad_read", id="epc with an underscore"),
        pytest.param(_read_changed(epc=" 3074 "), "bad_read", id="epc with spaces"),
        pytest.param(_read_changed(epc=""), "bad_read", id="empty epc"),
        pytest.param(_read_changed(epc="A" * 129), "bad_read", id="epc too long"),
        pytest.param(_read_changed(antenna="1"), "bad_read", id="antenna as text"),
        pytest.param(_read_changed(offset_us=1.5), "bad_read", id="offset with a fraction"),
        pytest.param(_read_changed(count=0), "bad_read", id="count zero"),
        pytest.param(_read_changed(rssi="strong"), "bad_read", id="rssi as text"),
        pytest.param(
            _changed(REPORT_BYTES, report_id="R-CUT:8"), "bad_report_id", id="report id of another cycle"
        ),
    ],
)
def test_report_rejections(payload: bytes, reason: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        decode_report(payload, MAX)

    assert raised.value.reason == reason


def test_aggregation_round_trip() -> None:
    assert decode_aggregation(encode_aggregation(AGGREGATION), MAX) == AGGREGATION
    unpack = dataclasses.replace(AGGREGATION, action="delete")
    assert decode_aggregation(encode_aggregation(unpack), MAX) == unpack


def test_an_aggregation_without_action_packs() -> None:
    assert decode_aggregation(_changed(encode_aggregation(AGGREGATION), action=DROP), MAX).action == "add"


TRANSFORMATION = Transformation(
    site="S1",
    line="L1",
    station="CUT-1",
    transformation_id="T-1",
    inputs=("gs1:lot:00614141000012:L1",),
    outputs=(part(1), part(2)),
    time_us=at(6),
)
TF_BYTES = encode_transformation(TRANSFORMATION)


def test_transformation_round_trip() -> None:
    assert decode_transformation(TF_BYTES, MAX) == TRANSFORMATION


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        pytest.param(_changed(TF_BYTES, inputs=[]), "missing_field", id="no inputs"),
        pytest.param(_changed(TF_BYTES, outputs=DROP), "missing_field", id="no outputs"),
        pytest.param(_changed(TF_BYTES, outputs=["x"]), "bad_item_key", id="output not an item key"),
        pytest.param(_changed(TF_BYTES, outputs=[part(1), part(1)]), None, id="repeated output"),
        pytest.param(_changed(TF_BYTES, inputs=[part(1)]), "bad_transformation", id="input is an output"),
        pytest.param(_changed(TF_BYTES, transformation_id=""), "missing_field", id="no id"),
        pytest.param(_changed(TF_BYTES, type="aggregation"), "wrong_type", id="wrong type"),
    ],
)
def test_transformation_rejections(payload: bytes, reason: str | None) -> None:
    if reason is None:  # a repeated key is taken once
        assert decode_transformation(payload, MAX).outputs == (part(1),)
        return
    with pytest.raises(InvalidInput) as raised:
        decode_transformation(payload, MAX)
    assert raised.value.reason == reason


AGG_BYTES = encode_aggregation(AGGREGATION)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        pytest.param(AGG_BYTES.ljust(MAX + 1), "oversized", id="oversized"),
        pytest.param(b"{", "malformed_json", id="malformed"),
        pytest.param(_changed(AGG_BYTES, v=0), "unsupported_version", id="version 0"),
        pytest.param(_changed(AGG_BYTES, type="read_cycle"), "wrong_type", id="wrong type"),
        pytest.param(_changed(AGG_BYTES, children=DROP), "missing_field", id="no children"),
        pytest.param(_changed(AGG_BYTES, children=[]), "missing_field", id="empty children"),
        pytest.param(_changed(AGG_BYTES, station=DROP), "missing_field", id="no station"),
        pytest.param(_changed(AGG_BYTES, parent=DROP), "bad_item_key", id="no parent"),
        pytest.param(_changed(AGG_BYTES, parent="KIT-1"), "bad_item_key", id="parent not an item key"),
        pytest.param(_changed(AGG_BYTES, children=[part(1), 7]), "bad_item_key", id="child not text"),
        pytest.param(_changed(AGG_BYTES, children=[kit(1)]), "bad_aggregation", id="parent is its own child"),
        pytest.param(_changed(AGG_BYTES, time="noon"), "bad_timestamp", id="bad time"),
        pytest.param(_changed(AGG_BYTES, action="remove"), "bad_aggregation", id="unknown action"),
    ],
)
def test_aggregation_rejections(payload: bytes, reason: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        decode_aggregation(payload, MAX)

    assert raised.value.reason == reason


@pytest.mark.parametrize(
    "event",
    [
        pytest.param(JOB, id="items bound"),
        pytest.param(
            JobEvent(
                event="created",
                job="J-2",
                site="S1",
                line="L1",
                product="KIT",
                quantity=0,
                items=(),
                time_us=at(0),
            ),
            id="created",
        ),
    ],
)
def test_job_event_round_trip(event: JobEvent) -> None:
    assert decode_job_event(encode_job_event(event), MAX) == event


JOB_BYTES = encode_job_event(JOB)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        pytest.param(JOB_BYTES.ljust(MAX + 1), "oversized", id="oversized"),
        pytest.param(b"null", "malformed_json", id="null"),
        pytest.param(_changed(JOB_BYTES, v="1"), "unsupported_version", id="version as text"),
        pytest.param(_changed(JOB_BYTES, type="jobs"), "wrong_type", id="wrong type"),
        pytest.param(_changed(JOB_BYTES, event="deleted"), "bad_job_event", id="unknown event"),
        pytest.param(_changed(JOB_BYTES, quantity=-1), "bad_job_event", id="negative quantity"),
        pytest.param(_changed(JOB_BYTES, items=part(1)), "bad_job_event", id="items not a list"),
        pytest.param(_changed(JOB_BYTES, product=DROP), "missing_field", id="no product"),
        pytest.param(_changed(JOB_BYTES, job=""), "missing_field", id="empty job"),
        pytest.param(_changed(JOB_BYTES, items=["SN-1"]), "bad_item_key", id="item not an item key"),
        pytest.param(_changed(JOB_BYTES, time=DROP), "missing_field", id="no time"),
        pytest.param(_changed(JOB_BYTES, time="2024-05-01"), "bad_timestamp", id="date without time"),
    ],
)
def test_job_event_rejections(payload: bytes, reason: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        decode_job_event(payload, MAX)

    assert raised.value.reason == reason


@pytest.mark.parametrize(
    "decode",
    [
        pytest.param(decode_report, id="report"),
        pytest.param(decode_aggregation, id="aggregation"),
        pytest.param(decode_job_event, id="job event"),
    ],
)
def test_rejection_detail_says_what_was_wrong(decode: Callable[[bytes, int], object]) -> None:
    with pytest.raises(InvalidInput) as raised:
        decode(b'{"v": 1, "type": "trace"}', MAX)

    assert raised.value.reason == "wrong_type"
    assert "'trace'" in raised.value.detail
    assert str(raised.value).startswith("wrong_type: ")


def test_a_scan_carries_an_item_key_instead_of_an_epc() -> None:
    scan = ReadCycleReport(
        site="S1",
        line="L1",
        reader_id="SCAN-1",
        cycle_seq=3,
        cycle_start_us=at(0),
        reads=(TagRead("", 0, at(0), key="gs1:01/00614141000012/21/A7"),),
    )
    assert decode_report(encode_report(scan), MAX) == scan


@pytest.mark.parametrize("key", ["", "A7", 7, "x" * 300])
def test_a_scan_key_must_be_an_item_key(key: object) -> None:
    payload = _read_changed(key=key, epc=DROP)
    with pytest.raises(InvalidInput) as raised:
        decode_report(payload, MAX)
    assert raised.value.reason == "bad_read"
