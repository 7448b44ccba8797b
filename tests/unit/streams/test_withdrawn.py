"""A captured pass withdrawn (its EPCIS event declared in error): stage 1 names the pass the
withdrawn read opened, stage 2 takes it out of the item's trace, its throughput and the
violation it raised, and judges the rest again."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from ingest.plant import Plant
from ingest.schema import Aggregation, QcResult, Transformation, pass_id
from ingest.settings import Settings
from ingest.wire import encode_aggregation, encode_qc, encode_report, encode_transformation, message_type
from streams.bundles import decode_bundle
from streams.passcounts import MINUTE_US
from streams.stage1 import Stage1
from streams.stage2 import Changes, RouteStates
from tests.unit.factories import at, kit, part, part_epc, report

SETTINGS = Settings(partitions=1, dedup_window_s=1.0, reorder_window_s=0.0)
WHERE = ("lt.reads", 0, 1)
ITEM = part(1)


def _stage1(stage1: Stage1, reader: str, seconds: float, withdrawn: bool = False) -> list[dict[str, Any]]:
    """The item records stage 1 makes of one captured read (withdrawn or not)."""
    batch = stage1.new_batch()
    captured = replace(report(reader, [(part_epc(1), 1, seconds)], seq=int(seconds)), captured=True)
    stage1.take_report(batch, encode_report(replace(captured, withdrawn=withdrawn)), WHERE, at(60))
    assert batch.dead_letters == []
    return [r for _, m in batch.bundles.messages() for r in decode_bundle(m) if r["k"] != "progress"]


def _through(states: RouteStates, records: list[dict[str, Any]]) -> Changes:
    states.apply(0, records)
    return states.settle(0, idle=True)


def test_stage1_names_the_pass_the_withdrawn_read_opened_and_forgets_it(plant: Plant) -> None:
    stage1 = Stage1(SETTINGS, plant)
    [made] = _stage1(stage1, "R-CUT", 1)

    assert _stage1(stage1, "R-CUT", 1, withdrawn=True) == [
        {"k": "withdrawn", "item": ITEM, "pass_id": pass_id(ITEM, "CUT-1", at(1))}
    ]
    # The open pass is forgotten: a read just after opens a pass of its own.
    [again] = _stage1(stage1, "R-CUT", 1.5)
    assert (made["k"], again["k"], again["first"]) == ("pass", "pass", at(1.5))


def test_a_withdrawn_pass_leaves_the_trace_and_the_rest_is_judged_again(plant: Plant) -> None:
    stage1, states = Stage1(SETTINGS, plant), RouteStates(SETTINGS, plant)
    states.load(0, [])
    _through(states, _stage1(stage1, "R-CUT", 1))
    skipped = _through(states, _stage1(stage1, "R-ASSY", 5))  # machine skipped: a violation
    assert [(v["stage"], v["type"], v["retracted"]) for v in skipped.rows.violations] == [
        ("assemble", "skipped_stage", 0)
    ]

    withdrawn = _through(states, _stage1(stage1, "R-ASSY", 5, withdrawn=True))

    assembly = pass_id(ITEM, "ASSY-1", at(5))
    assert {(r["pass_id"], r["outcome"]) for r in withdrawn.rows.passes} == {
        (pass_id(ITEM, "CUT-1", at(1)), "movement"),
        (assembly, "withdrawn"),
    }
    assert [(v["pass_id"], v["type"], v["retracted"]) for v in withdrawn.rows.violations] == [
        (assembly, "skipped_stage", 1)
    ]
    [item] = withdrawn.rows.item_state
    assert (item["stage"], item["passes"]) == ("cut", 1)
    minute = at(5) - at(5) % MINUTE_US
    assert {(r["station"], r["minute"]): r["passes"] for r in withdrawn.pass_counts} == {
        ("CUT-1", minute): 1,
        ("ASSY-1", minute): 0,
    }
    # Withdrawn again (a declaration captured twice): nothing more changes.
    assert len(_through(states, _stage1(stage1, "R-ASSY", 5, withdrawn=True)).rows) == 0


# What else a captured event makes is withdrawn the same way: stage 1 sends the link rows and
# the QC row marked withdrawn (the sink deletes their stored rows) and stage 2 takes the move
# or the QC result back, as if it never came.

KIT = kit(1)
JOBS_WHERE, AGGREGATIONS_WHERE = ("lt.jobs", 0, 1), ("lt.aggregations", 0, 1)


def _qc(result: str, seconds: float, withdrawn: bool = False) -> bytes:
    qc = QcResult(item=ITEM, job="", site="S1", line="L1", station="QC-1", result=result, notes="",
                  time_us=at(seconds), withdrawn=withdrawn)  # fmt: skip
    return encode_qc(qc)


def _pack(seconds: float, action: str = "add", withdrawn: bool = False) -> bytes:
    agg = Aggregation(site="S1", line="L1", station="PACK-1", parent=KIT, children=(ITEM,),
                      time_us=at(seconds), action=action, withdrawn=withdrawn)  # fmt: skip
    return encode_aggregation(agg)


def _consumed(seconds: float, withdrawn: bool = False) -> bytes:
    tf = Transformation(site="S1", line="L1", station="MACH-1", transformation_id="t-1", inputs=(ITEM,),
                        outputs=(KIT,), time_us=at(seconds), withdrawn=withdrawn)  # fmt: skip
    return encode_transformation(tf)


def _taken(stage1: Stage1, payloads: list[bytes]) -> tuple[list[dict[str, Any]], dict[str, list[Any]]]:
    """The item records and the trace rows stage 1 makes of job or genealogy events."""
    batch = stage1.new_batch()
    for payload in payloads:
        if message_type(payload) == "qc":
            stage1.take_job_event(batch, payload, JOBS_WHERE)
        else:
            stage1.take_aggregation(batch, payload, AGGREGATIONS_WHERE)
    assert batch.dead_letters == []
    records = [r for _, m in batch.bundles.messages() for r in decode_bundle(m) if r["k"] != "progress"]
    return records, {t: list(rows) for t, rows in batch.trace.items() if rows}


def _status(states: RouteStates) -> str:
    qc = states.items[0][ITEM].qc
    return qc.result if qc else ""


def test_a_withdrawn_qc_result_gives_way_to_the_one_before_it(plant: Plant) -> None:
    stage1, states = Stage1(SETTINGS, plant), RouteStates(SETTINGS, plant)
    states.load(0, [])
    records, _ = _taken(stage1, [_qc("pass", 1), _qc("fail", 2)])
    [row] = _through(states, records).rows.item_state
    assert (row["status"], _status(states)) == ("rejected", "fail")

    records, trace = _taken(stage1, [_qc("fail", 2, withdrawn=True)])

    assert [(r["result"], r.get("withdrawn")) for r in trace["qc_results"]] == [("fail", True)]
    [row] = _through(states, records).rows.item_state
    assert (row["status"], _status(states)) != ("rejected", "fail")
    assert _status(states) == "pass"
    # Withdrawn again, or a withdrawal of a result never taken: nothing changes.
    again, _ = _taken(stage1, [_qc("fail", 2, withdrawn=True), _qc("fail", 9, withdrawn=True)])
    assert len(_through(states, again).rows) == 0


@pytest.mark.parametrize(
    "event", [pytest.param(_pack, id="pack"), pytest.param(_consumed, id="transformation")]
)
def test_a_withdrawn_pack_or_transformation_takes_the_item_out_of_its_parent(
    plant: Plant, event: Callable[..., bytes]
) -> None:
    stage1, states = Stage1(SETTINGS, plant), RouteStates(SETTINGS, plant)
    states.load(0, [])
    records, trace = _taken(stage1, [event(1)])
    _through(states, records)
    assert states.items[0][ITEM].custody.parents == [KIT]

    records, trace = _taken(stage1, [event(1, withdrawn=True)])

    assert {(r["direction"], r.get("withdrawn")) for r in trace["links"]} == {("down", True), ("up", True)}
    changes = _through(states, records)
    custody = states.items[0][ITEM].custody
    assert (custody.parents, custody.memberships, custody.outputs) == ([], {}, set())
    assert [(r["k"], r["item"]) for r in changes.forwards] == [("left", KIT)]
    [row] = changes.rows.item_state
    assert row["parent"] == ""


def _final(states: RouteStates) -> tuple[Any, ...]:
    state = states.items[0][ITEM]
    return (state.qc, state.custody.parents, state.custody.memberships, state.custody.refused)


def test_withdrawals_end_the_same_whatever_order_the_events_arrive_in(plant: Plant) -> None:
    """QC results, packs and unpacks in every arrival order, each withdrawal after the event it
    takes back (the capture sends it later, under the same key): one end state."""
    events = [_qc("fail", 1), _qc("pass", 3), _pack(2), _pack(4, "delete"), _pack(6)]
    withdrawals = {1: _qc("pass", 3, withdrawn=True), 4: _pack(6, withdrawn=True)}  # after events[i]
    expected = None
    for order in itertools.permutations(range(len(events))):
        sequence = []
        for i in order:
            sequence.append(events[i])
            if i in withdrawals:
                sequence.append(withdrawals[i])
        stage1, states = Stage1(SETTINGS, plant), RouteStates(SETTINGS, plant)
        states.load(0, [])
        for payload in sequence:
            _through(states, _taken(stage1, [payload])[0])
        final = _final(states)
        expected = expected or final
        assert final == expected, order
    assert expected is not None and expected[0] is not None
    qc, parents, memberships, _ = expected
    assert (qc.result, parents, [m.time_us for m in memberships[KIT]]) == ("fail", [], [at(2), at(4)])
