"""The genealogy closure: every item learns everything that went into it, at any depth."""

from __future__ import annotations

from typing import Any

from ingest.plant import Plant
from ingest.settings import Settings
from streams.stage2 import Changes, RouteStates
from tests.plugins.stage2 import run
from tests.unit.factories import kit, part

SETTINGS = Settings(partitions=1)
P = 0
PALLET = "urn:epc:id:sscc:0614141.1234567890"


def _assembled(child: str, parent: str) -> dict[str, Any]:
    return {"k": "assembled", "item": child, "parent": parent, "site": "S1", "line": "L1"}


def _run(states: RouteStates, *records: dict[str, Any]) -> list[Changes]:
    return run(states, P, *records)


def _closure(changes: list[Changes]) -> set[tuple[str, str, str, int]]:
    return {(r["node"], r["direction"], r["other"], r["depth"]) for c in changes for r in c.closure}


def test_contents_reach_every_level_in_any_order(plant: Plant) -> None:
    states = RouteStates(SETTINGS, plant)
    states.load(P, [])
    # the kit goes onto the pallet before its second part goes into the kit
    rows = _closure(
        _run(states, _assembled(part(1), kit(9)))
        + _run(states, _assembled(kit(9), PALLET))
        + _run(states, _assembled(part(2), kit(9)))
    )
    up = {(n, o, d) for n, direction, o, d in rows if direction == "up"}
    assert up == {
        (part(1), kit(9), 1),
        (part(1), PALLET, 2),
        (kit(9), PALLET, 1),
        (part(2), kit(9), 1),
        (part(2), PALLET, 2),
    }
    down = {(n, o, d) for n, direction, o, d in rows if direction == "down"}
    assert down == {(o, n, d) for n, o, d in up}


def test_a_repeated_assembly_writes_nothing_again(plant: Plant) -> None:
    states = RouteStates(SETTINGS, plant)
    states.load(P, [])
    _run(states, _assembled(part(1), kit(9)))
    again = _run(states, _assembled(part(1), kit(9)))
    assert _closure(again) == set()
