"""The line simulator's portal model: read rates, storms, clocks, assembly and packing."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

import ingest
from ingest.epc import item_key
from ingest.plant import Plant, load_plant
from ingest.schema import Aggregation, ReadCycleReport
from readers.simulator import LineSimulator, SimConfig

S = 1_000_000
T0 = 1_700_000_000 * S


@pytest.fixture(scope="module")
def demo() -> Plant:
    return load_plant(Path(ingest.__file__).parent / "plants" / "demo.yaml")


def _run(plant: Plant, config: SimConfig, minutes: float) -> tuple[LineSimulator, list[object]]:
    sim = LineSimulator(plant, config, T0)
    events: list[object] = []
    t = T0
    while t < T0 + int(minutes * 60 * S):
        t += S
        events.extend(sim.advance(t))
    return sim, events


def test_each_reader_reads_passes_at_its_own_rate(demo: Plant) -> None:
    sim, _ = _run(demo, SimConfig(items_per_minute=60, seed=3), 0.1)
    assert set(sim.read_rate) == {"R-CUT-1", "R-MACH-1", "R-MACH-2", "R-ASSY-1", "R-QC-1", "R-PACK-1"}
    assert all(0.6 <= r <= 0.95 for r in sim.read_rate.values())
    assert len({round(r, 3) for r in sim.read_rate.values()}) > 1


def test_reader_clocks_are_off_and_drift_within_bounds(demo: Plant) -> None:
    sim = LineSimulator(demo, SimConfig(clock_offset_ms=200, clock_drift_ppm=50), T0)
    for reader in sim.read_rate:
        now = sim.reader_time(reader, T0)
        later = sim.reader_time(reader, T0 + 3_600 * S)
        assert abs(now - T0) <= 200_000
        assert abs((later - T0 - 3_600 * S) - (now - T0)) <= 3_600 * 50 + 1
    assert len({sim.reader_time(r, T0) for r in sim.read_rate}) > 1


def test_actuators_are_assembled_from_two_housings_and_packed_into_cases(demo: Plant) -> None:
    sim, events = _run(demo, SimConfig(items_per_minute=120, case_size=4, seed=5), 3)
    aggregations = [e for e in events if isinstance(e, Aggregation)]
    assemblies = [a for a in aggregations if a.station == "ASSY-1"]
    cases = [a for a in aggregations if a.station == "PACK-1"]
    assert assemblies and all(len(a.children) == 2 for a in assemblies)
    assert cases and all(len(c.children) == 4 and c.parent.startswith("urn:epc:id:sscc:") for c in cases)
    actuators = {a.parent for a in assemblies}
    assert {child for c in cases for child in c.children} <= actuators
    assert 0 < len(cases) <= sim.cases  # the rest are still on their way through packing


def test_a_duplicate_storm_reads_a_parked_tag_hundreds_of_times(demo: Plant) -> None:
    _, events = _run(demo, SimConfig(items_per_minute=30, storm_rate=1.0, seed=2), 0.5)
    counts = [r.count for e in events if isinstance(e, ReadCycleReport) for r in e.reads]
    assert max(counts) >= 50


def test_the_same_seed_gives_the_same_line(demo: Plant) -> None:
    config = SimConfig(items_per_minute=60, seed=11)
    assert _run(demo, config, 0.5)[1] == _run(demo, config, 0.5)[1]
    other = dataclasses.replace(config, seed=12)
    assert _run(demo, config, 0.5)[1] != _run(demo, other, 0.5)[1]


def test_passes_are_missed_at_about_the_readers_rate(demo: Plant) -> None:
    sim, events = _run(demo, SimConfig(items_per_minute=240, storm_rate=0, seed=9), 4)
    cut_items = {
        item_key(r.epc)
        for e in events
        if isinstance(e, ReadCycleReport) and e.reader_id == "R-CUT-1"
        for r in e.reads
    }
    housings = sim.housings
    assert abs(len(cut_items) / housings - sim.read_rate["R-CUT-1"]) < 0.1


def test_the_supervisors_plan_block_inspect_and_log_in(demo: Plant) -> None:
    from ingest.schema import HoldEvent, JobEvent, QcResult

    _, events = _run(demo, SimConfig(items_per_minute=60, seed=5, supervisors=True), 3)
    jobs = [(e.event, e.job) for e in events if isinstance(e, JobEvent) and e.event != "items_bound"]
    assert jobs == [
        ("created", "J-1001"),
        ("created", "J-0999"),
        ("blocker_opened", "J-1002"),
        ("delay", "J-1001"),
        ("ready_for_dispatch", "J-0999"),
    ]
    assert {(e.site, e.line) for e in events if isinstance(e, JobEvent | QcResult | HoldEvent)} == {
        ("PLANT-1", "LINE-A")
    }
    plan = next(e for e in events if isinstance(e, JobEvent) and e.job == "J-1001")
    assert plan.due_us - T0 == 30 * 60 * S and plan.target_rate_per_h * 30 / 60 < plan.quantity  # late
    results = [e for e in events if isinstance(e, QcResult)]
    assert {r.result for r in results} == {"pass", "fail", "rework"}
    failed = {r.item for r in results if r.result == "fail"}
    packed = {c for e in events if isinstance(e, Aggregation) and e.station == "PACK-1" for c in e.children}
    assert failed and not failed & packed, "a failed actuator is not packed"
    bound = {i for e in events if isinstance(e, JobEvent) and e.job == "J-1002" for i in e.items}
    assert {r.item for r in results} <= bound
    (hold,) = [e for e in events if isinstance(e, HoldEvent)]
    assert (hold.event, hold.hold_type, len(hold.items)) == ("placed", "material", 1)
    assembled = {
        c for e in events if isinstance(e, Aggregation) and e.station == "ASSY-1" for c in e.children
    }
    assert hold.items[0] in assembled, "the held housing goes into an actuator"
    operators = {(e.reader_id, e.operator) for e in events if isinstance(e, ReadCycleReport) and e.operator}
    assert operators == {("R-QC-1", "OP-07")}


def test_without_supervisors_a_seed_gives_only_reads_packing_and_bindings(demo: Plant) -> None:
    from ingest.schema import JobEvent

    _, events = _run(demo, SimConfig(items_per_minute=60, seed=5), 3)
    kinds = {type(e).__name__ for e in events}
    assert kinds == {"ReadCycleReport", "Aggregation", "JobEvent"}
    assert {e.event for e in events if isinstance(e, JobEvent)} == {"items_bound"}
    assert not any(isinstance(e, ReadCycleReport) and e.operator for e in events)
