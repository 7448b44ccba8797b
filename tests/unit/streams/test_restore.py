"""Route state rebuilt from the stored trace judges the next passes as the original state did."""

from __future__ import annotations

import random
from typing import Any

import orjson
import pytest

from ingest.epc import item_key
from ingest.plant import Plant
from ingest.records.routestate import to_record
from ingest.schema import Aggregation, HoldEvent, JobEvent, QcResult, ReadCycleReport, TagRead, Transformation
from ingest.settings import Settings
from streams.bundles import item_partition
from streams.items import ItemState
from streams.restore import StoredTrace, changelog_records, restore_states, summary
from streams.stage2 import READ_RATES_KEY, Changes, RouteStates
from streams.verdicts import MAX_HISTORY
from tests.unit.factories import LINE, SITE, STATIONS, at, kit, kit_epc, part, part_epc
from tests.unit.streams.memory import MemoryStream

SETTINGS = Settings(dedup_window_s=1.0, reorder_window_s=2.0, partitions=2)
UNKNOWN_EPC = "E2801160600002054CC2096F"  # no GTIN: its product comes from its job binding
UNKNOWN = item_key(UNKNOWN_EPC)
PALLET = "urn:epc:id:sscc:0614141.1234567890"
LOT = "urn:epc:class:lgtin:0614141.000001.L42"
FOLDED = MAX_HISTORY + 6  # passes of the item whose oldest passes fold into its base

Message = Any


class Floor:
    """Messages of the scenario, each with its event time."""

    def __init__(self) -> None:
        self.messages: list[tuple[float, Message]] = []
        self.seq = 0

    def read(self, station: str, t: float, *epcs: str) -> None:
        reader = STATIONS[station][1]
        self.seq += 1
        reads = tuple(TagRead(e, 1, at(t)) for e in epcs)
        self.messages.append(
            (
                t,
                ReadCycleReport(
                    site=SITE,
                    line=LINE,
                    reader_id=reader,
                    cycle_seq=self.seq,
                    cycle_start_us=at(t),
                    reads=reads,
                ),
            )
        )

    def add(self, t: float, message: Message) -> None:
        self.messages.append((t, message))


def first_half() -> Floor:
    f = Floor()
    f.add(
        -300,
        JobEvent(
            event="items_bound",
            job="J-1",
            site=SITE,
            line=LINE,
            product="PART",
            quantity=0,
            items=(part(5), UNKNOWN),
            time_us=at(-300),
        ),
    )
    for k in range(FOLDED):  # part 7: seen at cut again and again
        f.read("CUT-1", -290 + 3 * k, part_epc(7))
    f.read("CUT-1", 0, part_epc(1), part_epc(2), part_epc(3), part_epc(4), part_epc(6))
    f.read("ASSY-1", 0, kit_epc(1))
    f.add(
        5,
        Transformation(
            site=SITE,
            line=LINE,
            station="CUT-1",
            transformation_id="T-1",
            inputs=(LOT,),
            outputs=(part(6),),
            time_us=at(5),
        ),
    )
    f.read("MACH-1", 10, part_epc(1), part_epc(3), part_epc(4), part_epc(9))  # part 1 stays at machine
    f.read("CUT-1", 2, part_epc(9))  # late: retracts the skipped stage of part 9
    f.read("QC-1", 10, kit_epc(1))
    f.read("ASSY-1", 20, part_epc(2), part_epc(3), part_epc(4))  # part 2 skipped machine
    f.read("ASSY-1", 20, kit_epc(1))  # rework qc > assemble, the one allowed
    f.add(
        25,
        Aggregation(
            site=SITE, line=LINE, station="ASSY-1", parent=kit(2), children=(part(3), part(4)), time_us=at(25)
        ),
    )
    f.read("ASSY-1", 25, kit_epc(2))
    f.read("QC-1", 30, kit_epc(1))
    f.add(
        32,
        QcResult(
            item=kit(1),
            job="",
            site=SITE,
            line=LINE,
            station="QC-1",
            result="fail",
            notes="burr",
            time_us=at(32),
        ),
    )
    f.read("QC-1", 35, kit_epc(2))
    f.read("MACH-1", 38, part_epc(10))  # the machine's portal reads on: stage 1 forgets part 1's visit
    f.add(
        40,
        HoldEvent(
            event="placed",
            hold_id="H1",
            site=SITE,
            line=LINE,
            items=(part(3),),
            hold_type="material",
            owner="QA",
            reason="lot",
            time_us=at(40),
        ),
    )
    f.add(
        45,
        Aggregation(
            site=SITE, line=LINE, station="PACK-1", parent=PALLET, children=(kit(2),), time_us=at(45)
        ),
    )
    return f


def second_half() -> Floor:
    f = Floor()
    f.read("MACH-1", 10.5, part_epc(1))  # the same visit, read again within the dedup window
    f.read("CUT-1", 100, part_epc(5), UNKNOWN_EPC)  # bound to J-1 before any read
    f.read("MACH-1", 100, part_epc(7), part_epc(8))
    f.read("ASSY-1", 101, part_epc(1))
    f.read("ASSY-1", 105, kit_epc(1))  # a second rework: beyond the loop's limit
    f.add(
        106,
        QcResult(
            item=kit(1),
            job="",
            site=SITE,
            line=LINE,
            station="QC-1",
            result="pass",
            notes="",
            time_us=at(106),
        ),
    )
    f.read("CUT-1", 110, part_epc(2))  # seen after completion
    f.read("PACK-1", 120, kit_epc(2))  # under hold H1, placed on part 3 inside it
    f.add(
        130,
        Aggregation(
            site=SITE,
            line=LINE,
            station="PACK-1",
            parent=PALLET,
            children=(kit(2),),
            time_us=at(130),
            action="delete",
        ),
    )
    f.add(
        140,
        HoldEvent(
            event="placed",
            hold_id="H2",
            site=SITE,
            line=LINE,
            items=(part(4),),
            hold_type="qc",
            owner="QA",
            reason="",
            time_us=at(140),
        ),
    )
    f.add(
        150,
        HoldEvent(
            event="placed",
            hold_id="H3",
            site=SITE,
            line=LINE,
            items=(LOT,),
            hold_type="material",
            owner="QA",
            reason="",
            time_us=at(150),
        ),
    )
    f.read("MACH-1", 160, part_epc(6))  # under hold H3, placed on the lot it was made from
    return f


def run(stream: MemoryStream, floor: Floor) -> list[Changes]:
    changes: list[Changes] = []
    for t, message in floor.messages:
        changes.extend(stream.send(message, at(t + 1)))
    return changes


def restored_stream(stored: StoredTrace, plant: Plant) -> tuple[MemoryStream, dict[int, list[Any]]]:
    """A worker after a restart: empty stage 1, stage 2 loaded from the rebuilt changelog."""
    records = changelog_records(restore_states(stored, plant), stored, SETTINGS.partitions)
    states = RouteStates(SETTINGS, plant)
    for p in range(SETTINGS.partitions):
        states.load(p, records[p])
    return MemoryStream(SETTINGS, plant, states), records


def outputs(changes: list[Changes]) -> list[Any]:
    """Everything the stream wrote, as it would reach ClickHouse and the changelog."""
    return [
        {
            "rows": [c.rows.passes, c.rows.violations, c.rows.item_state],
            "counters": [c.read_rates, c.pass_counts],
            "closure": c.closure,
            "forwards": c.forwards,
            "changelog": [(p, k, orjson.loads(v)) for p, k, v in c.changelog],
        }
        for c in changes
    ]


@pytest.fixture
def original(plant: Plant) -> MemoryStream:
    stream = MemoryStream(SETTINGS, plant)
    run(stream, first_half())
    return stream


def test_every_item_state_comes_back_as_it_was(original: MemoryStream, plant: Plant) -> None:
    restored = restore_states(original.stored(), plant)

    held = {k: s for p in range(SETTINGS.partitions) for k, s in original.states.items[p].items()}
    assert set(restored) == set(held)
    for item, state in held.items():
        assert _judged(restored[item]) == _judged(state), item
    assert restored[part(7)].route.folded == FOLDED - MAX_HISTORY


def test_the_next_passes_are_judged_as_without_a_restart(original: MemoryStream, plant: Plant) -> None:
    restored, _ = restored_stream(original.stored(), plant)

    expected = outputs(run(original, second_half()))
    got = outputs(run(restored, second_half()))

    assert got == expected
    verdicts = {(v["item"], v["type"], v["detail"]) for c in expected for v in c["rows"][1]}
    assert verdicts == {
        (part(8), "skipped_stage", "missing cut"),
        (kit(1), "loop_limit_exceeded", "rework qc>assemble #2 > 1"),
        (part(2), "seen_after_completion", "at cut after completing"),
        (kit(2), "on_hold", "hold H1 (material)"),
        (part(6), "on_hold", "hold H3 (material)"),
    }


def test_without_the_restore_the_next_passes_are_judged_as_new(original: MemoryStream, plant: Plant) -> None:
    fresh = MemoryStream(SETTINGS, plant)

    changes = run(fresh, second_half())

    verdicts = {(v["item"], v["type"]) for c in changes for v in c.rows.violations}
    assert (part(1), "skipped_stage") in verdicts  # at assemble with no cut or machine known
    assert (UNKNOWN, "unknown_item") in verdicts  # its job binding is gone
    assert (kit(2), "on_hold") not in verdicts  # the hold no longer reaches it
    assert (kit(1), "loop_limit_exceeded") not in verdicts  # the loop count is gone


def test_each_item_goes_to_the_partition_that_owns_it(original: MemoryStream, plant: Plant) -> None:
    stored = original.stored()
    states = restore_states(stored, plant)

    records = changelog_records(states, stored, SETTINGS.partitions)

    for p, recs in records.items():
        keys = [k.decode() for k, _ in recs]
        items = [k for k in keys if not k.startswith("\x00")]
        assert all(item_partition(k, SETTINGS.partitions) == p for k in items)
        assert READ_RATES_KEY in keys  # each partition counted read rates in the first half
    counted = summary(records, states)
    assert counted["items"] == len(states) == sum(counted["items_by_partition"].values())


def test_the_same_rows_in_any_order_give_the_same_records(original: MemoryStream, plant: Plant) -> None:
    stored = original.stored()
    shuffled = StoredTrace(**{name: _shuffled(rows) for name, rows in vars(stored).items()})

    first = changelog_records(restore_states(stored, plant), stored, SETTINGS.partitions)
    again = changelog_records(restore_states(shuffled, plant), shuffled, SETTINGS.partitions)

    assert again == first


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        pytest.param([part(5)], {"job": "J-1", "product": "PART", "history": []}, id="bound, never read"),
        pytest.param(
            [PALLET],
            {"members": {kit(2): {kit(2): 1}, part(3): {kit(2): 2}, part(4): {kit(2): 2}}},
            id="packed, never read",
        ),
        pytest.param([LOT], {"parents": [part(6)], "consumed_into": [part(6)]}, id="consumed lot"),
    ],
)
def test_items_without_passes_keep_what_the_stream_knew(
    original: MemoryStream, plant: Plant, items: list[str], expected: dict[str, Any]
) -> None:
    [state] = restore_states(original.stored(items), plant).values()

    record = {**to_record(state), "consumed_into": state.custody.consumed_into}
    assert {k: v for k, v in record.items() if k in expected} == expected


def _shuffled(rows: list[Any]) -> list[Any]:
    out = list(rows)
    random.Random(7).shuffle(out)
    return out


def test_an_item_in_two_parents_keeps_the_one_it_went_into_last(plant: Plant) -> None:
    """Event time, not arrival order, tells which parent the item went into last (a lot
    consumed into two outputs is in both)."""
    stream = MemoryStream(SETTINGS, plant)
    for t, parent in ((50, kit(3)), (40, kit(4))):  # the earlier transformation arrives last
        stream.send(
            Transformation(
                site=SITE,
                line=LINE,
                station="ASSY-1",
                transformation_id=f"T-{t}",
                inputs=(part(10),),
                outputs=(parent,),
                time_us=at(t),
            ),
            at(60),
        )

    [state] = restore_states(stream.stored([part(10)]), plant).values()

    assert (state.custody.parents, state.custody.parent) == ([kit(4), kit(3)], kit(3))


def test_an_item_packed_into_a_second_parent_stays_in_the_first(plant: Plant) -> None:
    """Event time, not arrival order, tells which pack came first; the later one is refused."""
    stream = MemoryStream(SETTINGS, plant)
    for t, parent in ((50, kit(3)), (40, kit(4))):  # the earlier packing arrives last
        stream.send(
            Aggregation(
                site=SITE, line=LINE, station="ASSY-1", parent=parent, children=(part(10),), time_us=at(t)
            ),
            at(60),
        )

    [state] = restore_states(stream.stored([part(10)]), plant).values()

    assert (state.custody.parents, state.custody.parent) == ([kit(4)], kit(4))
    held = next(
        s for p in range(SETTINGS.partitions) for k, s in stream.states.items[p].items() if k == part(10)
    )
    assert _judged(state) == _judged(held)


def _judged(state: ItemState) -> dict[str, object]:
    """The state's record without where it is counted, which stage 2 works out again on load."""
    return {k: v for k, v in to_record(state).items() if k != "counted"}
