"""Direction through a portal with inside and outside antennas (operators on passes:
test_scan_context.py)."""

from __future__ import annotations

from typing import Any

import pytest

from ingest.plant import Plant, parse_plant
from ingest.settings import Settings
from streams.bundles import BundleBuilder
from streams.dedup import PassDetector
from streams.stage2 import RouteStates
from tests.unit.factories import at, part, part_epc, plant_doc, report

WINDOW_US = 5_000_000
A = part_epc(1)


@pytest.fixture(scope="module")
def sided() -> Plant:
    """The test plant with the cut portal's antenna 1 outside and antenna 2 inside."""
    doc = plant_doc()
    points = doc["sites"][0]["lines"][0]["read_points"]
    points[0]["side"], points[1]["side"] = "outside", "inside"
    return parse_plant(doc)


def _ways(
    detector: PassDetector, plant: Plant, *reads: tuple[int, float], seq: int = 1
) -> list[tuple[Any, ...]]:
    passes = detector.passes_of(report("R-CUT", [(A, antenna, t) for antenna, t in reads], seq=seq), plant)
    return [(p.first_us, p.last_us, p.reads, p.direction) for p in passes]


@pytest.mark.parametrize(
    ("reads", "direction"),
    [
        pytest.param([(1, 0), (1, 0.1), (2, 0.5), (2, 0.9)], "enter", id="outside then inside"),
        pytest.param([(2, 0), (1, 0.4)], "exit", id="inside then outside"),
        pytest.param([(1, 0), (1, 0.5)], "", id="one side only"),
    ],
)
def test_the_side_read_first_and_the_other_side_tell_the_direction(
    sided: Plant, reads: list[tuple[int, float]], direction: str
) -> None:
    [(_, _, count, way)] = _ways(PassDetector(WINDOW_US), sided, *reads)
    assert (count, way) == (len(reads), direction)


def test_a_direction_told_by_a_later_report_updates_the_pass(sided: Plant) -> None:
    detector = PassDetector(WINDOW_US)
    assert _ways(detector, sided, (1, 0), (1, 0.2)) == [(at(0), at(0.2), 2, "")]
    # the same pass, sent again with its direction; reads are not counted twice
    assert _ways(detector, sided, (2, 0.8), (2, 1.1), seq=2) == [(at(0), at(1.1), 0, "enter")]
    assert _ways(detector, sided, (1, 1.5), seq=3) == []  # told once


def test_a_portal_without_sides_tells_no_direction(plant: Plant) -> None:
    assert [w[3] for w in _ways(PassDetector(WINDOW_US), plant, (1, 0), (2, 0.5))] == [""]


def test_stage2_takes_the_direction_update_and_keeps_the_reads(sided: Plant) -> None:
    detector = PassDetector(WINDOW_US)
    states = RouteStates(Settings(partitions=1, reorder_window_s=0), sided)
    states.load(0, [])
    rows = []
    for seq, reads in enumerate([[(1, 0), (1, 0.2)], [(2, 0.8)]], start=1):
        builder = BundleBuilder(1)
        for p in detector.passes_of(report("R-CUT", [(A, a, t) for a, t in reads], seq=seq), sided):
            builder.add_pass(p)
        states.apply(0, builder.by_partition[0])
        rows += states.settle(0, idle=True).rows.passes
    assert [(r["item"], r["reads"], r["last_seen"], r["direction"]) for r in rows] == [
        (part(1), 2, at(0.2), ""),
        (part(1), 2, at(0.8), "enter"),
    ]
    assert len({r["pass_id"] for r in rows}) == 1


def test_a_reopened_candidate_of_the_same_visit_keeps_the_direction_it_tells(sided: Plant) -> None:
    """A second candidate of one visit (a worker that lost its dedup state) merges into the
    pass stage 2 holds, and the direction it knows is not lost, whichever comes first."""
    plain = PassDetector(WINDOW_US).passes_of(report("R-CUT", [(A, 1, 0), (A, 1, 0.2)]), sided)
    turned = PassDetector(WINDOW_US).passes_of(report("R-CUT", [(A, 1, 0.4), (A, 2, 0.6)], seq=2), sided)
    for order in ([*plain, *turned], [*turned, *plain]):
        states = RouteStates(Settings(partitions=1, reorder_window_s=0), sided)
        states.load(0, [])
        builder = BundleBuilder(1)
        for p in order:
            builder.add_pass(p)
        states.apply(0, builder.by_partition[0])
        states.settle(0, idle=True)
        [record] = states.items[0][part(1)].history
        assert (record.first_us, record.direction) == (at(0), "enter")
