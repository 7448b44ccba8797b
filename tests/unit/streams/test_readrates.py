from __future__ import annotations

import pytest

from ingest.plant import ReworkLoop, Route
from streams.counters import Taken
from streams.readrates import CHANGELOG_KEY, ReadRates, Tally, settle

ROUTE = Route(("cut", "machine", "qc", "pack"), (ReworkLoop("qc", "machine", 1),))


@pytest.mark.parametrize(
    ("reached", "read", "deltas", "missed"),
    [
        pytest.param(0, {"cut"}, [], [], id="at the first stage nothing is settled"),
        pytest.param(
            2, {"cut", "machine", "qc"}, [("cut", 1, 1), ("machine", 1, 1)], [], id="read everywhere"
        ),
        pytest.param(2, {"cut", "qc"}, [("cut", 1, 1), ("machine", 1, 0)], ["machine"], id="missed read"),
        pytest.param(
            3,
            {"pack"},
            [("cut", 1, 0), ("machine", 1, 0), ("qc", 1, 0)],
            ["cut", "machine", "qc"],
            id="seen only at the end",
        ),
    ],
)
def test_reaching_a_stage_settles_the_stages_before_it(
    reached: int, read: set[str], deltas: list[tuple[str, int, int]], missed: list[str]
) -> None:
    tally = Tally()
    assert settle(tally, ROUTE, reached, read) == deltas
    assert tally.missed == missed


def test_a_late_pass_turns_a_missed_stage_into_a_read() -> None:
    tally = Tally()
    settle(tally, ROUTE, 2, {"cut", "qc"})
    assert settle(tally, ROUTE, 2, {"cut", "machine", "qc"}) == [("machine", 0, 1)]
    assert tally.missed == []


def test_each_stage_is_counted_once_per_item_even_through_rework() -> None:
    tally = Tally()
    settle(tally, ROUTE, 2, {"cut", "machine", "qc"})
    assert settle(tally, ROUTE, 1, {"cut", "machine", "qc"}) == []  # back to machine for rework
    assert settle(tally, ROUTE, 2, {"cut", "machine", "qc"}) == []
    assert settle(tally, ROUTE, 3, {"cut", "machine", "qc", "pack"}) == [("qc", 1, 1)]


def test_no_route_settles_nothing() -> None:
    assert settle(Tally(), None, 3, {"cut"}) == []


def test_counters_add_up_and_emit_only_what_changed() -> None:
    rates = ReadRates()
    rates.add("S", "L", [("cut", 1, 1), ("machine", 1, 0)])
    rates.add("S", "L", [("machine", 1, 1)])
    rows = rates.take(partition=3).rows
    assert [(r["stage"], r["observed"], r["read"], r["partition"], r["revision"]) for r in rows] == [
        ("cut", 1, 1, 3, 1),
        ("machine", 2, 1, 3, 1),
    ]
    assert rates.take(partition=3) == Taken([], [])
    rates.add("S", "L", [("cut", 1, 0)])
    taken = rates.take(partition=3)
    assert [(r["stage"], r["observed"], r["revision"]) for r in taken.rows] == [("cut", 2, 2)]
    assert taken.changelog == [(CHANGELOG_KEY, rates.to_dict())]  # every counter, not only the changed
    restored = ReadRates.from_dict(rates.to_dict())
    assert (restored.counts, restored.revision) == (rates.counts, rates.revision)
