"""Synthetic plant-scale data for benchmarks: a long line, realistic reader-cycle reports.

Reports carry ~200 entries (tags x antennas of one reader cycle) and every tag is seen in
several consecutive cycles on every antenna, so a pass is made of 10-20 entries, as on a
real portal.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from ingest.epc import encode_sgtin96
from ingest.plant import Plant, parse_plant
from ingest.schema import ReadCycleReport, TagRead

S = 1_000_000
SITE, LINE = "BENCH-SITE", "BENCH-LINE"
COMPANY, ITEM_REF = "0614141", "000003"
GTIN = "00614141000036"


@dataclass(frozen=True)
class Shape:
    stations: int = 8
    antennas: int = 4
    cycles_per_pass: int = 4  # x antennas = entries per tag per pass (16)
    tags_per_cycle: int = 50  # x antennas = entries per report (200)
    cycle_us: int = S // 2

    @property
    def entries_per_pass(self) -> int:
        return self.antennas * self.cycles_per_pass

    @property
    def arrivals_per_cycle(self) -> int:
        return self.tags_per_cycle // self.cycles_per_pass


def bench_plant(shape: Shape) -> Plant:
    stages = [f"s{i}" for i in range(shape.stations)]
    doc: dict[str, Any] = {
        "sites": [
            {
                "site": SITE,
                "lines": [
                    {
                        "line": LINE,
                        "stages": stages,
                        "stations": [{"station": f"ST{i}", "stage": s} for i, s in enumerate(stages)],
                        "read_points": [
                            {"reader": f"R{i}", "antenna": a, "station": f"ST{i}"}
                            for i in range(shape.stations)
                            for a in range(1, shape.antennas + 1)
                        ],
                        "products": [{"product": "BENCH", "gtin": GTIN, "route": {"stages": stages}}],
                    }
                ],
            }
        ]
    }
    return parse_plant(doc, source="bench")


def reads_for(items: int, shape: Shape) -> int:
    return items * shape.stations * shape.entries_per_pass


def report_slots(items: int, shape: Shape) -> Iterator[tuple[int, int, int, int]]:
    """(cycle, station, first, end) of every report ``reports`` makes, in its order: the items
    ``[first, end)`` (0-based) present at the station in the cycle. Cheap: no read is built."""
    per = shape.arrivals_per_cycle
    arrival_cycles = (items + per - 1) // per
    gap = shape.cycles_per_pass + 2  # cycles between stations
    total_cycles = arrival_cycles + shape.cycles_per_pass + gap * (shape.stations - 1)
    for cycle in range(total_cycles):
        for station in range(shape.stations):
            local = cycle - station * gap  # this station's cycle index
            if local < 0:
                continue
            first = max(0, local - shape.cycles_per_pass + 1) * per
            end = min(items, (local + 1) * per)
            if first < end:
                yield cycle, station, first, end


def reports(
    items: int,
    shape: Shape,
    start_us: int,
    first_serial: int = 1,
    keep: Callable[[int, int], bool] | None = None,
) -> Iterator[ReadCycleReport]:
    """Every reader cycle of ``items`` items passing every station, in cycle order.

    Item k arrives at station i in cycle ``k // arrivals_per_cycle + i * gap`` and stays
    ``cycles_per_pass`` cycles; each cycle reads every present tag once per antenna.
    ``keep(index, station)``: only the reports it keeps, by their index in the whole sequence
    (a share of the line for one of several producers).
    """
    epcs = [encode_sgtin96(COMPANY, ITEM_REF, first_serial + k) for k in range(items)]
    antennas = range(1, shape.antennas + 1)
    for index, (cycle, station, first, end) in enumerate(report_slots(items, shape)):
        if keep is not None and not keep(index, station):
            continue
        start = start_us + cycle * shape.cycle_us
        reads = tuple(
            TagRead(epc, a, start + 1_000 * a + j, 2, -55.0)
            for j, epc in enumerate(epcs[first:end])
            for a in antennas
        )
        yield ReadCycleReport(
            site=SITE,
            line=LINE,
            reader_id=f"R{station}",
            cycle_seq=cycle,
            cycle_start_us=start,
            reads=reads,
        )
