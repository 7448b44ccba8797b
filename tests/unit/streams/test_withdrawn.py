"""A captured pass withdrawn (its EPCIS event declared in error): stage 1 names the pass the
withdrawn read opened, stage 2 takes it out of the item's trace, its throughput and the
violation it raised, and judges the rest again."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ingest.plant import Plant
from ingest.schema import pass_id
from ingest.settings import Settings
from ingest.wire import encode_report
from streams.bundles import decode_bundle
from streams.passcounts import MINUTE_US
from streams.stage1 import Stage1
from streams.stage2 import Changes, RouteStates
from tests.unit.factories import at, part, part_epc, report

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
