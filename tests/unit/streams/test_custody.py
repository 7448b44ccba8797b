"""An item is in one parent at a time: a pack into another parent while it is in one is
refused (``already_in_parent``), judged by event time whatever order the events arrive in."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from ingest.records.rows import ViolationRow
from ingest.schema import VIOLATION_TYPES, link_id
from ingest.settings import Settings
from ingest.timefmt import format_us
from streams.custody import ALREADY_IN_PARENT
from streams.stage2 import Changes, RouteStates
from tests.plugins.stage2 import run
from tests.unit.factories import LINE, SITE, at, kit, part

SETTINGS = Settings(partitions=1, reorder_window_s=2.0)
P = 0
PALLET = "urn:epc:id:sscc:0614141.1234567890"
OTHER_PALLET = "urn:epc:id:sscc:0614141.1234567891"
LOT = "gs1:lot:00614141000012:L42"


def _genealogy(kind: str, child: str, parent: str, t: float, consumed: bool = False) -> dict[str, Any]:
    record = {"k": kind, "item": child, "parent": parent, "site": SITE, "line": LINE, "station": "PACK-1"}
    return {**record, "time": at(t), **({"consumed": True} if consumed else {})}


def _pack(child: str, parent: str, t: float) -> dict[str, Any]:
    return _genealogy("assembled", child, parent, t)


def _unpack(child: str, parent: str, t: float) -> dict[str, Any]:
    return _genealogy("unpacked", child, parent, t)


def _hold(item: str, t: float) -> dict[str, Any]:
    return {"k": "hold", "item": item, "hold_id": "H1", "placed": True, "hold_type": "qc", "time": at(t)}


def _run(states: RouteStates, *records: dict[str, Any], idle: bool = True) -> list[Changes]:
    return run(states, P, *records, idle=idle)


def _violations(changes: list[Changes]) -> list[ViolationRow]:
    return [v for c in changes for v in c.rows.violations]


def _open(changes: list[Changes]) -> dict[str, tuple[str, str, str, int]]:
    """The violations standing, as ClickHouse keeps them: the latest row per id, not retracted."""
    latest: dict[str, ViolationRow] = {}
    for v in _violations(changes):
        if v["pass_id"] not in latest or latest[v["pass_id"]]["revision"] <= v["revision"]:
            latest[v["pass_id"]] = v
    return {
        k: (v["item"], v["type"], v["detail"], v["time"]) for k, v in latest.items() if not v["retracted"]
    }


def _closure(changes: list[Changes]) -> dict[tuple[str, str, str], int]:
    """(node, direction, other) -> present, of the latest closure row."""
    latest: dict[tuple[str, str, str], tuple[int, int]] = {}
    for c in changes:
        for r in c.closure:
            key = (r["node"], r["direction"], r["other"])
            if key not in latest or latest[key][1] <= r["version"]:
                latest[key] = (r["present"], r["version"])
    return {k: present for k, (present, _) in latest.items()}


def _refused(
    item: str, parent: str, t: float, was_in: str, since: float
) -> tuple[str, tuple[str, str, str, int]]:
    detail = f"in {was_in} since {format_us(at(since))}; packed into {parent}"
    return link_id(parent, item, at(t)), (item, "already_in_parent", detail, at(t))


def test_packing_an_item_that_is_in_a_pallet_into_another_is_refused(states: RouteStates) -> None:
    done = _run(states, _hold(part(1), 5), _pack(part(1), PALLET, 10), _pack(part(1), OTHER_PALLET, 20))

    assert _open(done) == dict([_refused(part(1), OTHER_PALLET, 20, PALLET, 10)])
    [violation] = _violations(done)
    assert (violation["station"], violation["stage"], violation["site"]) == ("PACK-1", "pack", SITE)
    assert states.items[P][part(1)].custody.parents == [PALLET]
    closure = _closure(done)
    assert closure[(PALLET, "down", part(1))] == 1
    assert (OTHER_PALLET, "down", part(1)) not in closure  # its genealogy never reaches the part
    rows = {r["item"]: r for c in done for r in c.rows.item_state}
    assert rows[PALLET]["on_hold"] == 1 and OTHER_PALLET not in rows  # nor the part's hold


def test_packing_after_an_unpack_is_fine(states: RouteStates) -> None:
    done = _run(
        states, _pack(part(1), PALLET, 10), _unpack(part(1), PALLET, 20), _pack(part(1), OTHER_PALLET, 30)
    )

    assert _violations(done) == []
    assert states.items[P][part(1)].custody.parents == [OTHER_PALLET]
    assert _closure(done)[(OTHER_PALLET, "down", part(1))] == 1


def test_an_unpack_arriving_late_retracts_the_refusal(states: RouteStates) -> None:
    done = _run(states, _hold(part(1), 5), _pack(part(1), PALLET, 10), _pack(part(1), OTHER_PALLET, 30))
    assert _open(done) == dict([_refused(part(1), OTHER_PALLET, 30, PALLET, 10)])

    late = _run(states, _unpack(part(1), PALLET, 20))

    [retraction] = _violations(late)
    assert (retraction["type"], retraction["retracted"]) == ("already_in_parent", 1)
    assert _open(done + late) == {}
    assert states.items[P][part(1)].custody.parents == [OTHER_PALLET]
    closure = _closure(done + late)
    assert (closure[(PALLET, "down", part(1))], closure[(OTHER_PALLET, "down", part(1))]) == (0, 1)
    rows = {r["item"]: r for c in late for r in c.rows.item_state}
    assert (rows[PALLET]["on_hold"], rows[OTHER_PALLET]["on_hold"]) == (0, 1)  # the hold followed it


def test_an_earlier_pack_arriving_late_refuses_the_later_one(states: RouteStates) -> None:
    done = _run(states, _pack(part(1), OTHER_PALLET, 30))
    done += _run(states, _pack(part(1), PALLET, 10))

    assert _open(done) == dict([_refused(part(1), OTHER_PALLET, 30, PALLET, 10)])
    assert states.items[P][part(1)].custody.parents == [PALLET]
    closure = _closure(done)
    assert (closure[(PALLET, "down", part(1))], closure[(OTHER_PALLET, "down", part(1))]) == (1, 0)


def test_a_refusal_waits_for_input_progress(states: RouteStates) -> None:
    waiting = _run(states, _pack(part(1), PALLET, 10), _pack(part(1), OTHER_PALLET, 20), idle=False)
    assert _violations(waiting) == []  # no input of stage 1 has reported: it may still be in flight

    confirmed = states.settle(P, idle=True)

    assert [v["type"] for v in confirmed.rows.violations] == ["already_in_parent"]


@pytest.mark.parametrize(
    "records",
    [
        pytest.param(
            [_genealogy("assembled", LOT, kit(1), 10, True), _genealogy("assembled", LOT, kit(2), 10, True)],
            id="a lot consumed into two outputs",
        ),
        pytest.param(
            [_genealogy("assembled", LOT, kit(1), 10, True), _pack(LOT, PALLET, 20)],
            id="a lot consumed into an output, then packed",
        ),
        pytest.param(
            [_pack(part(1), PALLET, 10), _pack(part(1), PALLET, 20)], id="packed again, same pallet"
        ),
    ],
)
def test_transformations_and_repeated_packs_are_no_refusal(
    states: RouteStates, records: list[dict[str, Any]]
) -> None:
    assert _violations(_run(states, *records)) == []


EVENTS = [
    _hold(part(1), 5),
    _pack(part(1), PALLET, 10),
    _unpack(part(1), PALLET, 20),
    _pack(part(1), OTHER_PALLET, 30),
    _pack(part(1), kit(9), 40),
]


@pytest.mark.parametrize("order", list(itertools.permutations(range(len(EVENTS)))))
def test_any_arrival_order_ends_the_same(states: RouteStates, order: tuple[int, ...]) -> None:
    done = [c for i in order for c in _run(states, EVENTS[i])]

    assert _open(done) == dict([_refused(part(1), kit(9), 40, OTHER_PALLET, 30)])
    closure = _closure(done)
    assert {k for k, present in closure.items() if present} == {
        (OTHER_PALLET, "down", part(1)),
        (part(1), "up", OTHER_PALLET),
    }
    rows = {r["item"]: r for c in done for r in c.rows.item_state}  # the latest row of each
    assert (rows[part(1)]["parent"], rows[OTHER_PALLET]["on_hold"], rows[PALLET]["on_hold"]) == (
        OTHER_PALLET,
        1,
        0,
    )
    assert kit(9) not in rows or rows[kit(9)]["on_hold"] == 0


def test_the_violation_type_is_one_the_queries_know() -> None:
    assert ALREADY_IN_PARENT in VIOLATION_TYPES
