"""Holds: an item under hold is flagged at its next read, and a hold reaches what it went into."""

from __future__ import annotations

import itertools
from typing import Any

import orjson

from ingest.plant import Plant
from ingest.schema import HoldEvent
from ingest.settings import Settings
from ingest.wire import encode_hold
from streams.holds import END
from streams.stage1 import Stage1
from streams.stage2 import Changes, RouteStates
from tests.plugins.stage2 import feed, loaded, run
from tests.unit.factories import LINE, SITE, at, kit, part, pass_record

SETTINGS = Settings(dedup_window_s=1.0, reorder_window_s=2.0, partitions=1)
P = 0
PALLET = "urn:epc:id:sscc:0614141.1234567890"


def _hold(item: str, placed: bool = True, t: float = 5.0, hold_id: str = "H1") -> dict[str, Any]:
    return {"k": "hold", "item": item, "hold_id": hold_id, "placed": placed, "hold_type": "qc", "time": at(t)}


def _feed(states: RouteStates, *records: dict[str, Any]) -> Changes:
    return feed(states, P, *records, idle=True)


def test_a_held_item_is_flagged_at_its_next_read_and_released(states: RouteStates) -> None:
    _feed(states, pass_record(part(1), "CUT-1", 1))
    placed = _feed(states, _hold(part(1), t=5))
    assert [(r["item"], r["on_hold"]) for r in placed.rows.item_state] == [(part(1), 1)]
    held = _feed(states, pass_record(part(1), "MACH-1", 10))
    assert [(r["stage"], r["outcome"], r["detail"]) for r in held.rows.passes] == [
        ("machine", "on_hold", "hold H1 (qc)")
    ]
    assert [(v["type"], v["retracted"]) for v in held.rows.violations] == [("on_hold", 0)]
    released = _feed(states, _hold(part(1), placed=False, t=20))
    assert [r["on_hold"] for r in released.rows.item_state] == [0]
    after = _feed(states, pass_record(part(1), "ASSY-1", 30))
    assert [(r["stage"], r["outcome"]) for r in after.rows.passes] == [("assemble", "movement")]


def test_a_hold_placed_again_changes_nothing(states: RouteStates) -> None:
    _feed(states, pass_record(part(1), "CUT-1", 1), _hold(part(1)))
    again = _feed(states, _hold(part(1)))
    assert (len(again.rows), again.forwards) == (0, [])


def _assembled(child: str, parent: str, t: float) -> dict[str, Any]:
    return {"k": "assembled", "item": child, "parent": parent, "time": at(t), "site": SITE, "line": LINE}


def _unpacked(child: str, parent: str, t: float) -> dict[str, Any]:
    return {**_assembled(child, parent, t), "k": "unpacked"}


def _settled(states: RouteStates, *records: dict[str, Any]) -> list[Changes]:
    return run(states, P, *records)


def _verdicts(states: RouteStates, item: str) -> list[tuple[str, str]]:
    state = states.items[P][item]
    return [(r.stage, state.route.verdicts[r.pass_id].outcome) for r in state.history]


def test_a_hold_on_a_component_reaches_what_it_went_into(states: RouteStates) -> None:
    _settled(states, pass_record(part(1), "CUT-1", 1), _assembled(part(1), kit(9), 3))
    changes = _feed(states, _hold(part(1), t=5))
    assert [(f["item"], f["hold_id"], f["via"], f["intervals"]) for f in changes.forwards] == [
        (kit(9), "H1", part(1), [[at(5), END]])
    ]
    parent = _feed(states, *changes.forwards)
    assert [(r["item"], r["on_hold"]) for r in parent.rows.item_state] == [(kit(9), 1)]
    flagged = _feed(states, pass_record(kit(9), "QC-1", 8))
    assert [r["outcome"] for r in flagged.rows.passes] == ["on_hold"]


def test_a_held_component_passes_its_hold_on_from_when_it_is_assembled(states: RouteStates) -> None:
    _feed(states, pass_record(part(1), "CUT-1", 1), _hold(part(1), t=2))
    changes = _feed(states, _assembled(part(1), kit(9), 6))
    holds = [f for f in changes.forwards if f["k"] == "hold"]
    assert [(f["item"], f["hold_id"], f["intervals"]) for f in holds] == [(kit(9), "H1", [[at(6), END]])]


def _orders(records: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    return [list(order) for order in itertools.permutations(records)]


def test_a_released_hold_flags_the_parents_pass_made_while_it_was_in_force_in_any_order(
    plant: Plant,
) -> None:
    """Held after going into the kit, released after the kit's next read: that read is on hold."""
    events = [
        _assembled(part(1), kit(9), 10),
        _hold(part(1), t=20),
        _hold(part(1), placed=False, t=40),
        pass_record(kit(9), "ASSY-1", 30),
        pass_record(kit(9), "QC-1", 50),
    ]
    for order in _orders(events):
        states = loaded(plant, SETTINGS, P)
        for record in order:
            _settled(states, record)
        assert _verdicts(states, kit(9)) == [("assemble", "on_hold"), ("qc", "movement")], order
        assert states.items[P][kit(9)].custody.holds["H1"].intervals() == [(at(20), at(40))]


def test_a_hold_reaches_the_parent_only_from_assembly_to_unpack_in_any_order(plant: Plant) -> None:
    """Placed on a part before it went into the kit: the kit's earlier and later passes are clear."""
    events = [
        _hold(part(1), t=1),
        _assembled(part(1), kit(9), 20),
        _unpacked(part(1), kit(9), 40),
        pass_record(kit(9), "ASSY-1", 10),
        pass_record(kit(9), "QC-1", 30),
        pass_record(kit(9), "PACK-1", 50),
    ]
    for order in _orders(events):
        states = loaded(plant, SETTINGS, P)
        for record in order:
            _settled(states, record)
        assert _verdicts(states, kit(9)) == [
            ("assemble", "movement"),
            ("qc", "on_hold"),
            ("pack", "movement"),
        ], order
        assert (states.items[P][kit(9)].custody.parents, states.items[P][part(1)].custody.parents) == ([], [])


def test_a_hold_reaches_through_two_levels_by_event_time(states: RouteStates) -> None:
    _settled(
        states,
        pass_record(PALLET, "PACK-1", 5),
        pass_record(PALLET, "PACK-1", 25),
        _hold(part(1), t=1),
        _assembled(kit(9), PALLET, 20),
        _assembled(part(1), kit(9), 10),
    )
    assert states.items[P][PALLET].custody.holds["H1"].intervals() == [(at(20), END)]
    assert [
        states.items[P][PALLET].route.verdicts[r.pass_id].detail for r in states.items[P][PALLET].history
    ] == [
        "no route for stage pack",
        "hold H1 (qc)",
    ]


def test_stage1_routes_a_hold_to_each_item_and_records_it(plant: Plant) -> None:
    stage1 = Stage1(SETTINGS, plant)
    batch = stage1.new_batch()
    event = HoldEvent(
        event="placed",
        hold_id="H7",
        site=SITE,
        line=LINE,
        items=(part(1), part(2)),
        hold_type="material",
        owner="QA lead",
        reason="bad lot",
        time_us=at(3),
    )
    stage1.take_job_event(batch, encode_hold(event), ("jobs", 0, 1))
    records = [r for _, payload in batch.bundles.messages() for r in orjson.loads(payload)["records"]]
    assert sorted((r["item"], r["hold_id"], r["placed"]) for r in records) == [
        (part(1), "H7", True),
        (part(2), "H7", True),
    ]
    assert [(h["item"], h["hold_type"], h["owner"]) for h in batch.trace["holds"]] == [
        (part(1), "material", "QA lead"),
        (part(2), "material", "QA lead"),
    ]


def test_a_hold_of_an_unknown_type_is_dead_lettered(plant: Plant) -> None:
    stage1 = Stage1(SETTINGS, plant)
    batch = stage1.new_batch()
    event = HoldEvent(
        event="placed",
        hold_id="H7",
        site=SITE,
        line=LINE,
        items=(part(1),),
        hold_type="weather",
        owner="x",
        reason="",
        time_us=at(3),
    )
    stage1.take_job_event(batch, encode_hold(event), ("jobs", 0, 1))
    assert [orjson.loads(d)["reason"] for d in batch.dead_letters] == ["bad_hold"]
    assert batch.trace["holds"] == []
