"""Unpacking and transformations: what is in an item follows packs, unpacks and consumption."""

from __future__ import annotations

from typing import Any

import orjson

from ingest.plant import Plant
from ingest.records.routestate import CODEC as ROUTE_STATE
from ingest.records.rows import ItemStateRow
from ingest.schema import Aggregation, Transformation
from ingest.settings import Settings
from ingest.wire import encode_aggregation, encode_transformation
from streams.custody import Custody, Move
from streams.holds import END, Hold, HoldReport
from streams.items import ItemState
from streams.stage1 import Stage1
from streams.stage2 import Changes, RouteStates
from tests.plugins.stage2 import run
from tests.unit.factories import LINE, SITE, at, kit, part, pass_record
from tests.unit.streams.unversioned import unversioned_record

SETTINGS = Settings(partitions=1)
P = 0
PALLET = "urn:epc:id:sscc:0614141.1234567890"
OTHER_PALLET = "urn:epc:id:sscc:0614141.1234567891"
LOT = "gs1:lot:00614141000012:L42"


def _genealogy(kind: str, child: str, parent: str, t: float, consumed: bool = False) -> dict[str, Any]:
    record = {"k": kind, "item": child, "parent": parent, "site": SITE, "line": LINE, "station": "PACK-1"}
    return {**record, "time": at(t), **({"consumed": True} if consumed else {})}


def _pack(child: str, parent: str, t: float = 10) -> dict[str, Any]:
    return _genealogy("assembled", child, parent, t)


def _unpack(child: str, parent: str, t: float = 20) -> dict[str, Any]:
    return _genealogy("unpacked", child, parent, t)


def _hold(item: str, placed: bool = True, t: float = 5) -> dict[str, Any]:
    return {
        "k": "hold",
        "item": item,
        "hold_id": "H1",
        "placed": placed,
        "hold_type": "material",
        "time": at(t),
    }


def _run(states: RouteStates, *records: dict[str, Any]) -> list[Changes]:
    return run(states, P, *records)


def _latest_closure(changes: list[Changes]) -> dict[tuple[str, str, str], tuple[int, int]]:
    """(node, direction, other) -> (depth, present) of the latest closure row, as ClickHouse keeps it."""
    latest: dict[tuple[str, str, str], tuple[int, int, int]] = {}
    for c in changes:
        for r in c.closure:
            key = (r["node"], r["direction"], r["other"])
            if key not in latest or latest[key][2] <= r["version"]:
                latest[key] = (r["depth"], r["present"], r["version"])
    return {k: (d, p) for k, (d, p, _) in latest.items()}


def _state(states: RouteStates, item: str) -> Custody:
    return states.items[P][item].custody


def _row(changes: list[Changes], item: str) -> ItemStateRow:
    return [r for c in changes for r in c.rows.item_state if r["item"] == item][-1]


def test_an_unpacked_kit_leaves_the_pallet_with_everything_in_it(states: RouteStates) -> None:
    done = _run(states, _pack(part(1), kit(9)), _pack(kit(9), PALLET))
    done += _run(states, _unpack(kit(9), PALLET))
    closure = _latest_closure(done)
    assert closure[(part(1), "up", kit(9))] == (1, 1)  # still in the kit
    assert closure[(part(1), "up", PALLET)][1] == 0
    assert closure[(kit(9), "up", PALLET)][1] == 0
    assert closure[(PALLET, "down", kit(9))][1] == 0
    assert _state(states, PALLET).members == {}
    assert _state(states, kit(9)).parents == []
    assert _row(done, kit(9))["status"] == "new" and _row(done, kit(9))["parent"] == ""


def test_repacking_onto_another_pallet_moves_the_contents(states: RouteStates) -> None:
    done = _run(states, _pack(part(1), kit(9)), _pack(kit(9), PALLET))
    done += _run(states, _unpack(kit(9), PALLET, t=20))
    done += _run(states, _pack(kit(9), OTHER_PALLET, t=30))
    closure = _latest_closure(done)
    assert closure[(part(1), "up", OTHER_PALLET)] == (2, 1)
    assert closure[(part(1), "up", PALLET)][1] == 0
    assert _state(states, kit(9)).parents == [OTHER_PALLET]


def test_a_member_reached_two_ways_stays_until_both_are_unpacked(states: RouteStates) -> None:
    # one lot consumed into two kits, both on the pallet
    into_kits = [_genealogy("assembled", LOT, k, 10, consumed=True) for k in (kit(1), kit(2))]
    done = _run(states, *into_kits, _pack(kit(1), PALLET), _pack(kit(2), PALLET))
    done += _run(states, _unpack(kit(1), PALLET))
    assert _latest_closure(done)[(LOT, "up", PALLET)] == (2, 1)
    done += _run(states, _unpack(kit(2), PALLET, t=21))
    assert _latest_closure(done)[(LOT, "up", PALLET)][1] == 0


def test_unpacking_what_is_not_in_the_parent_changes_nothing(states: RouteStates) -> None:
    _run(states, _pack(part(1), kit(9)))
    again = _run(states, _unpack(part(2), kit(9)))
    assert [len(c.rows) for c in again] == [0] and _latest_closure(again) == {}


def test_a_hold_carried_into_a_pallet_ends_there_when_its_item_is_unpacked(states: RouteStates) -> None:
    done = _run(states, _hold(part(1)), _pack(part(1), PALLET))
    assert _row(done, PALLET)["on_hold"] == 1
    done = _run(states, _unpack(part(1), PALLET, t=20))
    assert _row(done, PALLET)["on_hold"] == 0
    assert _state(states, part(1)).holds["H1"].released_us == 0  # still held itself
    # the hold no longer travels to the pallet: releasing it changes only the part
    released = _run(states, _hold(part(1), placed=False, t=30))
    assert [r["item"] for c in released for r in c.rows.item_state] == [part(1)]


def test_a_pallet_held_through_two_items_stays_held_until_both_leave(states: RouteStates) -> None:
    _run(states, _hold(part(1)), _hold(part(2)), _pack(part(1), PALLET), _pack(part(2), PALLET))
    one = _run(states, _unpack(part(1), PALLET, t=20))
    assert PALLET not in [r["item"] for c in one for r in c.rows.item_state]
    both = _run(states, _unpack(part(2), PALLET, t=21))
    assert _row(both, PALLET)["on_hold"] == 0


def test_a_transformation_consumes_a_lot_into_outputs_that_inherit_its_hold(states: RouteStates) -> None:
    done = _run(
        states,
        _hold(LOT),
        _genealogy("assembled", LOT, part(1), 10, consumed=True),
        _genealogy("assembled", LOT, part(2), 10, consumed=True),
    )
    assert _row(done, LOT)["status"] == "consumed"
    assert _row(done, part(1))["on_hold"] == 1 and _row(done, part(2))["on_hold"] == 1
    closure = _latest_closure(done)
    assert closure[(LOT, "up", part(1))] == (1, 1) and closure[(part(2), "down", LOT)] == (1, 1)
    # the outputs are read later: the hold flags them at the read
    flagged = _run(states, pass_record(part(1), "CUT-1", 30))
    assert [r["outcome"] for c in flagged for r in c.rows.passes] == ["on_hold"]


def test_a_state_restored_from_its_changelog_keeps_vias() -> None:
    custody = Custody(
        members={LOT: {kit(1): 2, kit(2): 2}},
        memberships={kit(3): [Move(time_us=at(1), into=True)]},
        outputs={kit(3)},
        parents=[kit(3)],
        closure_seq=4,
    )
    state = ItemState(PALLET, custody=custody)
    custody.holds["H1"] = Hold(hold_type="qc", vias={kit(1): HoldReport(seq=3, intervals=[(at(1), END)])})
    for record in (ROUTE_STATE.encode_value(state), orjson.dumps(unversioned_record(state))):
        again = ROUTE_STATE.decode(record).custody
        assert (again.members, again.holds, again.consumed_into, again.closure_seq) == (
            custody.members,
            custody.holds,
            [kit(3)],
            4,
        )


def test_a_state_written_before_vias_reads_back() -> None:
    old = unversioned_record(ItemState(PALLET))
    old.update(members={part(1): 1}, holds={"H1": ["qc", at(1), 0]})
    for key in ("consumed_into", "closure_seq"):
        del old[key]
    state = ROUTE_STATE.decode(orjson.dumps(old))
    assert state.custody.members == {part(1): {"": 1}}
    assert state.custody.holds["H1"] == Hold(hold_type="qc", placed_us=at(1), released_us=0, vias={})


def test_stage1_sends_unpacks_and_transformations_to_each_child(plant: Plant) -> None:
    stage1 = Stage1(SETTINGS, plant)
    batch = stage1.new_batch()
    unpack = Aggregation(
        site=SITE,
        line=LINE,
        station="PACK-1",
        parent=PALLET,
        children=(kit(1), kit(2)),
        time_us=at(20),
        action="delete",
    )
    stage1.take_aggregation(batch, encode_aggregation(unpack), ("t", 0, 1))
    transform = Transformation(
        site=SITE,
        line=LINE,
        station="CUT-1",
        transformation_id="T-7",
        inputs=(LOT,),
        outputs=(part(1), part(2)),
        time_us=at(30),
    )
    stage1.take_aggregation(batch, encode_transformation(transform), ("t", 0, 2))
    records = [r for rs in batch.bundles.by_partition.values() for r in rs]
    assert sorted((r["k"], r["item"], r["parent"], r.get("consumed", False)) for r in records) == [
        ("assembled", LOT, part(1), True),
        ("assembled", LOT, part(2), True),
        ("unpacked", kit(1), PALLET, False),
        ("unpacked", kit(2), PALLET, False),
    ]
    links = batch.trace["links"]
    assert {
        (r["node"], r["direction"], r["action"], r["kind"]) for r in links if r["node"] in (PALLET, LOT)
    } == {
        (PALLET, "down", "delete", "aggregation"),
        (LOT, "up", "add", "transformation"),
    }
    assert len({r["link_id"] for r in links}) == len(links) // 2 == 4
    assert batch.dead_letters == []


def test_a_transformation_with_an_item_on_both_sides_is_dead_lettered(plant: Plant) -> None:
    stage1 = Stage1(SETTINGS, plant)
    batch = stage1.new_batch()
    bad = Transformation(
        site=SITE,
        line=LINE,
        station="CUT-1",
        transformation_id="T-8",
        inputs=(LOT, part(1)),
        outputs=(part(1),),
        time_us=at(30),
    )
    stage1.take_aggregation(batch, encode_transformation(bad), ("t", 0, 3))
    assert [orjson.loads(d)["reason"] for d in batch.dead_letters] == ["bad_transformation"]
    assert batch.bundles.by_partition == {}
