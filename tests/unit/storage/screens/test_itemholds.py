"""Holds that reach an item through its parts: by event time, while the part is inside."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from storage.screens.itemholds import held_parts, holds_through_parts

T0 = datetime(2026, 3, 2, 8, 0)  # naive UTC, as the store answers
T0_UTC = T0.replace(tzinfo=UTC)


def _at(minutes: int | None) -> datetime | None:
    return None if minutes is None else T0 + timedelta(minutes=minutes)


def _part(item: str, inside_at: int, depth: int = 1) -> dict[str, Any]:
    return {"item": item, "depth": depth, "time": _at(inside_at), "station": "ASSY-1", "status": "assembled"}


def _hold(hold_id: str, placed: int, released: int | None = None) -> dict[str, Any]:
    return {
        **dict(hold_id=hold_id, site="S1", line="L1", hold_type="material", owner="QA", reason="lot"),
        **dict(placed=_at(placed), released=_at(released)),
    }


@pytest.mark.parametrize(
    ("placed", "released", "reached", "in_force"),
    [
        pytest.param(-30, None, 0, True, id="placed before the part came inside: reaches it as it does"),
        pytest.param(10, None, 10, True, id="placed while inside"),
        pytest.param(-30, 20, 0, False, id="released after the part came inside"),
        pytest.param(5, 20, 5, False, id="placed and released while inside"),
        pytest.param(-30, -10, None, None, id="released before the part came inside: never held it"),
        pytest.param(-30, 0, None, None, id="released as the part came inside"),
    ],
)
def test_a_hold_on_a_part_holds_the_item_while_the_part_is_inside(
    placed: int, released: int | None, reached: int | None, in_force: bool | None
) -> None:
    found = holds_through_parts([_part("lot-1", 0)], {"lot-1": [_hold("H-1", placed, released)]})
    if reached is None:
        assert found == []
        return
    [hold] = found
    assert (hold.part, hold.hold_id, hold.in_force) == ("lot-1", "H-1", in_force)
    assert (hold.placed, hold.reached) == (
        T0_UTC + timedelta(minutes=placed),
        T0_UTC + timedelta(minutes=reached),
    )


def test_holds_in_force_come_first_then_the_latest_to_reach_the_item() -> None:
    parts = [_part("case-1", 0), _part("lot-1", 5, depth=2), _part("screw-9", 0)]
    holds = {
        "case-1": [_hold("H-1", 10, 40)],
        "lot-1": [_hold("H-2", -60), _hold("H-3", 20)],
        "screw-9": [],
    }
    found = holds_through_parts(parts, holds)
    assert [(h.part, h.depth, h.hold_id, h.in_force) for h in found] == [
        ("lot-1", 2, "H-3", True),
        ("lot-1", 2, "H-2", True),
        ("case-1", 1, "H-1", False),
    ]


def test_only_the_parts_on_hold_now_are_looked_up_nearest_first() -> None:
    down = [_part("case-1", 0), _part("bolt-2", 0), _part("lot-1", 0, depth=2)]
    held = [{"item": "lot-1"}, {"item": "the-item"}, {"item": "case-1"}, {"item": "elsewhere"}]
    assert [p["item"] for p in held_parts(down, held)] == ["case-1", "lot-1"]
