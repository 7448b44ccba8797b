"""The internal topics' codecs: what a producer encodes its consumer decodes, and bad input
is refused with a reason (so it is dead-lettered), never a crash."""

from __future__ import annotations

from dataclasses import replace

import orjson
import pytest

from ingest.errors import InvalidInput
from ingest.records import bundles, routestate, trace
from ingest.records.rows import PassRow, scan_columns
from ingest.schema import NO_CONTEXT, Pass, pass_id, stable_id
from streams.items import ItemState, PassRecord

PASS = Pass(
    item="urn:epc:id:sgtin:0614141.000001.1",
    site="S1",
    line="L1",
    station="CUT-1",
    stage="cut",
    reader_id="R1",
    first_us=1,
    last_us=2,
    reads=3,
)
ROW = PassRow(
    pass_id="p",
    item=PASS.item,
    site="S1",
    line="L1",
    station="CUT-1",
    stage="cut",
    reader_id="R1",
    first_seen=1,
    last_seen=2,
    reads=3,
    product="",
    job="",
    outcome="movement",
    detail="",
    route_index=0,
    revision=1,
    direction="",
    **scan_columns(NO_CONTEXT),
)


@pytest.mark.parametrize(
    "p",
    [
        pytest.param(PASS, id="no direction, no operator"),
        pytest.param(replace(PASS, direction="enter", operator="OP-7"), id="both told"),
    ],
)
def test_a_pass_comes_back_from_its_bundle(p: Pass) -> None:
    payload = bundles.CODEC.encode([bundles.pass_record(p)])

    [record] = bundles.CODEC.decode(payload)
    assert bundles.pass_of(record) == p
    assert PassRecord.of_record(record) == PassRecord.of(p)


def test_a_pass_record_keeps_its_wire_keys() -> None:
    told = replace(PASS, direction="exit")

    assert bundles.pass_record(told) == {
        "k": "pass",
        "item": PASS.item,
        "site": "S1",
        "line": "L1",
        "station": "CUT-1",
        "stage": "cut",
        "reader": "R1",
        "first": 1,
        "last": 2,
        "reads": 3,
        "dir": "exit",
    }


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(b"{not json", id="not json"),
        pytest.param(orjson.dumps({"v": 1, "type": "item_bundle"}), id="no records"),
        pytest.param(
            orjson.dumps({"v": 1, "type": "item_bundle", "records": [{"k": "pass", "item": "x"}]}),
            id="a pass without its fields",
        ),
    ],
)
def test_a_bad_bundle_is_refused(payload: bytes) -> None:
    with pytest.raises(InvalidInput) as refused:
        bundles.CODEC.decode(payload)
    assert refused.value.reason == "bad_bundle"


def test_trace_rows_come_back_by_table() -> None:
    payload = trace.CODEC.encode({"passes": [ROW], "violations": []})

    assert trace.CODEC.decode(payload) == {"passes": [ROW]}


@pytest.mark.parametrize(
    ("rows", "reason"),
    [
        pytest.param({"no_such_table": [{}]}, "bad_trace", id="unknown table"),
        pytest.param({"passes": [{k: v for k, v in ROW.items() if k != "site"}]}, "bad_trace", id="no site"),
        pytest.param({"passes": ["row"]}, "bad_trace", id="not a row"),
        pytest.param({"passes": {"pass_id": "p"}}, "bad_trace", id="not a list"),
    ],
)
def test_a_bad_trace_message_is_refused(rows: dict[str, object], reason: str) -> None:
    payload = orjson.dumps({"v": 1, "type": "trace", "rows": rows})

    with pytest.raises(InvalidInput) as refused:
        trace.CODEC.decode(payload)
    assert refused.value.reason == reason


def test_a_message_of_another_type_is_not_trace() -> None:
    with pytest.raises(InvalidInput) as refused:
        trace.CODEC.decode(orjson.dumps({"v": 1, "type": "item_bundle", "rows": {}}))
    assert refused.value.reason == "wrong_type"


def test_an_item_state_comes_back_from_its_changelog_record() -> None:
    state = ItemState(PASS.item, job="J-1")
    state.history.append(PassRecord.of(PASS))

    key, value = routestate.CODEC.encode(state)

    assert key == PASS.item.encode() and routestate.is_item_key(key.decode())
    assert routestate.CODEC.decode(value) == state
    assert not routestate.is_item_key("\x00read-rates")


def test_a_bad_changelog_record_is_refused() -> None:
    with pytest.raises(InvalidInput) as refused:
        routestate.CODEC.decode(b'{"item": "x"}')
    assert refused.value.reason == "bad_state"


def test_a_pass_id_is_the_stable_id_of_its_parts() -> None:
    assert pass_id(PASS.item, PASS.station, 1_767_225_600_000_001) == stable_id(
        "pass", PASS.item, PASS.station, 1_767_225_600_000_001
    )
