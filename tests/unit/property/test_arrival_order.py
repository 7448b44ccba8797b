"""The trace is a function of the events, not of the order or batching they arrive in.

Generated scenarios (routes with an optional stage and a rework loop, skipped, swapped and
repeated stages, reports sent twice, assemblies, unpacks, a part packed onto a pallet
while still in its kit or after leaving it, holds placed and released before and after
them; in half of them portals whose antennas face outside and inside, so each pass has the
direction the report that opened it, or a later one, tells) are written to their topics in
any order that keeps each reader's reports in the order it sent them (Kafka keeps a key's
order), taken by stage 1 and stage 2 at random paces and batch sizes, and must end with the
passes (their directions too), verdicts, open violations, WIP, holds, genealogy, read rates
and pass counts of the same events processed in event-time order.
"""

from __future__ import annotations

import pprint
import random
from collections import defaultdict
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ingest.plant import Plant, parse_plant
from ingest.schema import Aggregation, HoldEvent, JobEvent, ReadCycleReport, TagRead
from ingest.settings import Settings
from tests.unit.factories import LINE, SITE, T0, at, kit, kit_epc, part, part_epc
from tests.unit.streams.arrival import PASS_COLUMNS, Sent, in_arrival_order, in_event_time_order

SETTINGS = Settings(partitions=3, dedup_window_s=5.0, reorder_window_s=0.25)
NOW = at(10_000)
READERS = {"CUT-1": "R-CUT", "DEB-1": "R-DEB", "MACH-1": "R-MACH", "ASSY-1": "R-ASSY", "QC-1": "R-QC"}
READERS["PACK-1"] = "R-PACK"
STAGES = {"CUT-1": "cut", "DEB-1": "deburr", "MACH-1": "machine", "ASSY-1": "assemble", "QC-1": "qc"}
STAGES["PACK-1"] = "pack"
PART_PATH = ["CUT-1", "DEB-1", "MACH-1", "ASSY-1"]
KIT_PATH = ["ASSY-1", "QC-1", "PACK-1"]
PALLET = "urn:epc:id:sscc:0614141.1234567890"


# Where a portal's antennas face, on the plant whose portals tell direction.
SIDES = {1: "outside", 2: "inside"}


def _plant(sided: bool = False) -> Plant:
    line = {
        "line": LINE,
        "stages": list(dict.fromkeys(STAGES.values())),
        "stations": [{"station": s, "stage": st} for s, st in STAGES.items()],
        "read_points": [
            {"reader": r, "antenna": a, "station": s} | ({"side": SIDES[a]} if sided else {})
            for s, r in READERS.items()
            for a in (1, 2)
        ],
        "products": [
            {
                "product": "PART",
                "gtin": "00614141000012",
                "route": {"stages": ["cut", {"stage": "deburr", "optional": True}, "machine", "assemble"]},
            },
            {
                "product": "KIT",
                "gtin": "00614141000029",
                "route": {
                    "stages": ["assemble", "qc", "pack"],
                    "rework": [{"from": "qc", "to": "assemble", "max": 1}],
                },
            },
        ],
    }
    return parse_plant({"sites": [{"site": SITE, "lines": [line]}]}, source="arrival")


PLANT, SIDED = _plant(), _plant(sided=True)
# Which reads partition each reader's reports go to (its key's partition).
READER_PARTITION = {r: i % SETTINGS.partitions for i, r in enumerate(sorted(READERS.values()))}

Visit = tuple[str, float]  # station, seconds after T0


@st.composite
def journey(draw: st.DrawFn, path: list[str], start: float) -> list[Visit]:
    """Stations in route order, with a stage skipped, two swapped or one repeated now and then."""
    stations = list(path)
    change = draw(st.sampled_from(["none", "none", "skip", "swap", "repeat"]))
    i = draw(st.integers(0, len(stations) - 1))
    if change == "skip" and len(stations) > 1:
        del stations[i]
    elif change == "swap" and i + 1 < len(stations):
        stations[i], stations[i + 1] = stations[i + 1], stations[i]
    elif change == "repeat":
        stations.insert(i + 1, stations[i])
    t, visits = start, []
    for station in stations:
        visits.append((station, t))
        t += draw(st.floats(8, 15))
    return visits


# The antennas that read a pass, in the order they read it, per reader cycle: both in every
# cycle, outside first (in: it enters) or inside first (out: it exits), or one side in the
# first cycle and the other in the later ones (later: a later report tells the direction).
WAYS = {"in": ((1, 2), (1, 2)), "out": ((2, 1), (2, 1)), "later": ((1,), (2,))}


def _cycles(
    epc: str, station: str, t: float, cycles: int, way: str = "in"
) -> list[tuple[str, float, tuple[TagRead, ...]]]:
    """A pass read over ``cycles`` reader cycles, half a second apart, on the antennas of ``way``."""
    out: list[tuple[str, float, tuple[TagRead, ...]]] = []
    for c in range(cycles):
        start = t + 0.5 * c
        antennas = WAYS[way][min(c, 1)]
        reads = tuple(TagRead(epc, a, at(start + 0.2 * i)) for i, a in enumerate(antennas))
        out.append((READERS[station], start, reads))
    return out


def _pass_reads(
    draw: st.DrawFn, epc: str, visit: Visit, most: int
) -> list[tuple[str, float, tuple[TagRead, ...]]]:
    """The reads of one visit: up to ``most`` cycles, the antennas in any of the ``WAYS``."""
    station, t = visit
    return _cycles(epc, station, t, draw(st.integers(1, most)), draw(st.sampled_from(sorted(WAYS))))


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[Plant, list[Sent]]:
    """The plant (with or without sides) and the events of a scenario."""
    plant = draw(st.sampled_from([PLANT, SIDED]))
    parts = draw(st.integers(1, 4))
    kits = draw(st.integers(0, min(2, parts)))
    reads: list[tuple[str, float, tuple[TagRead, ...]]] = []
    events: list[Sent] = []
    ends: dict[int, float] = {}
    for n in range(1, parts + 1):
        visits = draw(journey(PART_PATH, draw(st.floats(0, 30))))
        ends[n] = visits[-1][1]
        for visit in visits:
            reads += _pass_reads(draw, part_epc(n), visit, 3)
    for k in range(1, kits + 1):
        members = [n for n in range(1, parts + 1) if (n - 1) % kits == k - 1]
        assembled = max(ends[n] for n in members) + draw(st.floats(0.5, 3))
        events.append(_aggregation(kit(k), [part(n) for n in members], assembled, "add", draw))
        visits = draw(journey(KIT_PATH, assembled + 1))
        for visit in visits:
            reads += _pass_reads(draw, kit_epc(k), visit, 2)
        if draw(st.booleans()):
            unpacked = draw(st.floats(assembled + 1, visits[-1][1] + 5))
            events.append(_aggregation(kit(k), [part(members[0])], unpacked, "delete", draw))
            if draw(st.booleans()):  # a hold on the part while it was in the kit, or before
                held = draw(st.floats(assembled - 5, unpacked))
                events.append(_hold(f"HK{k}", part(members[0]), "placed", held, draw))
        if draw(
            st.booleans()
        ):  # the part packed onto a pallet too: after its unpack, before, or never unpacked
            moved = draw(st.floats(assembled - 5, visits[-1][1] + 10))
            events.append(_aggregation(PALLET, [part(members[0])], moved, "add", draw))
    for j in range(draw(st.integers(0, 2))):  # parts bound to a job (the latest binding holds)
        bound = draw(st.lists(st.integers(1, parts), min_size=1, unique=True))
        job = JobEvent(
            event="items_bound",
            job=f"J-{j}",
            site=SITE,
            line=LINE,
            product="PART",
            quantity=0,
            items=tuple(part(n) for n in bound),
            time_us=at(draw(st.floats(0, 90))),
        )
        events.append(Sent(job, draw(st.integers(0, SETTINGS.partitions - 1))))
    items = [part(n) for n in range(1, parts + 1)] + [kit(k) for k in range(1, kits + 1)]
    latest = max(ends.values()) + 40  # holds around the assemblies and the kits' passes
    for h in range(draw(st.integers(0, 2))):
        item, placed = draw(st.sampled_from(items)), draw(st.floats(0, latest))
        events.append(_hold(f"H{h}", item, "placed", placed, draw))
        if draw(st.booleans()):
            events.append(_hold(f"H{h}", item, "released", placed + draw(st.floats(1, 60)), draw))
    return plant, events + _reports(reads, draw)


def _aggregation(parent: str, children: list[str], t: float, action: str, draw: st.DrawFn) -> Sent:
    agg = Aggregation(
        site=SITE,
        line=LINE,
        station="ASSY-1" if action == "add" else "PACK-1",
        parent=parent,
        children=tuple(children),
        time_us=at(t),
        action=action,
    )
    return Sent(agg, draw(st.integers(0, SETTINGS.partitions - 1)))


def _hold(hold_id: str, item: str, event: str, t: float, draw: st.DrawFn) -> Sent:
    ev = HoldEvent(
        event=event,
        hold_id=hold_id,
        site=SITE,
        line=LINE,
        items=(item,),
        hold_type="qc",
        owner="QA",
        reason="",
        time_us=at(t),
    )
    return Sent(ev, draw(st.integers(0, SETTINGS.partitions - 1)))


def _reports(reads: list[tuple[str, float, tuple[TagRead, ...]]], draw: st.DrawFn) -> list[Sent]:
    """Each reader's cycles as reports in the order it sends them, some sent twice."""
    out = []
    seq: dict[str, int] = defaultdict(int)
    for reader, start, tag_reads in sorted(reads, key=lambda r: (r[1], r[0])):
        seq[reader] += 1
        sent = Sent(
            ReadCycleReport(
                site=SITE,
                line=LINE,
                reader_id=reader,
                cycle_seq=seq[reader],
                cycle_start_us=at(start),
                reads=tag_reads,
            ),
            READER_PARTITION[reader],
        )
        out.append(sent)
        if draw(st.integers(0, 9)) == 0:
            out.append(sent)  # a reader cycle sent twice
    return out


def _written_order(sent: list[Sent], rng: random.Random) -> list[Sent]:
    """Any order in which each reader's reports keep the order it sent them in."""
    order = list(sent)
    rng.shuffle(order)
    by_reader: dict[str, list[Sent]] = defaultdict(list)
    for s in sent:
        if isinstance(s.message, ReadCycleReport):
            by_reader[s.message.reader_id].append(s)
    cursor: dict[str, int] = defaultdict(int)
    out = []
    for s in order:
        if isinstance(s.message, ReadCycleReport):
            reader = s.message.reader_id
            s = by_reader[reader][cursor[reader]]
            cursor[reader] += 1
        out.append(s)
    return out


def _differences(got: dict[str, Any], want: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in want.items():
        if got[key] != value:
            if isinstance(value, dict):
                keys = set(value) | set(got[key])
                out[key] = {
                    k: (got[key].get(k), value.get(k)) for k in keys if got[key].get(k) != value.get(k)
                }
            else:
                out[key] = (sorted(got[key] - value), sorted(value - got[key]))
    return out


@given(scenarios(), st.randoms(use_true_random=False))
def test_any_arrival_order_and_batching_gives_the_event_time_order_trace(
    scenario: tuple[Plant, list[Sent]], rng: random.Random
) -> None:
    plant, sent = scenario
    reference = in_event_time_order(SETTINGS, plant, NOW, sent)
    assert reference.dead_letters == []  # every generated event is valid input
    want = reference.final()
    got = in_arrival_order(SETTINGS, plant, NOW, _written_order(sent, rng), rng).final()
    differences = _differences(got, want)
    assert not differences, pprint.pformat(differences)  # (in arrival order, in event-time order)


def test_the_reference_run_judges_a_plain_scenario() -> None:
    """A sanity check of the harness: one part along its route, one skipped stage."""
    reads = _cycles(part_epc(1), "CUT-1", 0, 1) + _cycles(part_epc(1), "ASSY-1", 20, 1)
    sent = [
        Sent(
            ReadCycleReport(site=SITE, line=LINE, reader_id=r, cycle_seq=i, cycle_start_us=at(t), reads=tr),
            READER_PARTITION[r],
        )
        for i, (r, t, tr) in enumerate(reads)
    ]
    final = in_event_time_order(SETTINGS, PLANT, NOW, sent).final()
    [violation] = final["open_violations"].values()
    assert {"skipped_stage", "missing machine"} <= set(violation)
    assert sorted(p[1:3] for p in final["passes"].values()) == [("ASSY-1", at(20)), ("CUT-1", T0)]


@pytest.mark.parametrize(
    ("way", "cycles", "direction"),
    [
        pytest.param("in", 1, "enter", id="outside then inside"),
        pytest.param("out", 2, "exit", id="inside then outside"),
        pytest.param("later", 3, "enter", id="told by a later report"),
        pytest.param("later", 1, "", id="one side only"),
    ],
)
def test_the_sided_plant_tells_the_direction_of_a_pass(way: str, cycles: int, direction: str) -> None:
    """A sanity check of the harness: the generated reads give passes a direction."""
    reads = _cycles(part_epc(1), "CUT-1", 0, cycles, way)
    sent = [
        Sent(
            ReadCycleReport(site=SITE, line=LINE, reader_id=r, cycle_seq=i, cycle_start_us=at(t), reads=tr),
            READER_PARTITION[r],
        )
        for i, (r, t, tr) in enumerate(reads, start=1)
    ]
    [row] = in_event_time_order(SETTINGS, SIDED, NOW, sent).final()["passes"].values()
    assert dict(zip(PASS_COLUMNS, row, strict=True))["direction"] == direction
