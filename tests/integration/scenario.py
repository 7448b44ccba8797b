"""A hand-built line and its reads, with the exact trace they must produce."""

from __future__ import annotations

from typing import Any

from ingest.epc import encode_sgtin96, item_key
from ingest.schema import Aggregation, ReadCycleReport, TagRead

S = 1_000_000
SITE, LINE = "SITE-1", "LINE-1"

PLANT: dict[str, Any] = {
    "sites": [
        {
            "site": SITE,
            "lines": [
                {
                    "line": LINE,
                    "stages": ["a", "b", "c", "d"],
                    "stations": [
                        {"station": "A1", "stage": "a", "target_per_hour": 120},
                        {"station": "B1", "stage": "b"},
                        {"station": "C1", "stage": "c"},
                        {"station": "D1", "stage": "d"},
                    ],
                    "read_points": [
                        {"reader": "RA", "antenna": 1, "station": "A1"},
                        {"reader": "RA", "antenna": 2, "station": "A1"},
                        {"reader": "RB", "antenna": 1, "station": "B1"},
                        {"reader": "RC", "antenna": 1, "station": "C1"},
                        {"reader": "RD", "antenna": 1, "station": "D1"},
                    ],
                    "products": [
                        {
                            "product": "PART",
                            "gtin": "00614141000012",
                            "route": {"stages": ["a", "b", "c", "d"]},
                        },
                        {"product": "KIT", "gtin": "00614141000029", "route": {"stages": ["c", "d"]}},
                    ],
                }
            ],
        }
    ]
}


def part(serial: int) -> str:
    return encode_sgtin96("0614141", "000001", serial)


def kit(serial: int) -> str:
    return encode_sgtin96("0614141", "000002", serial)


class Line:
    """Builds reader cycles: ``at(reader, t, epcs)`` makes one cycle with repeated reads."""

    def __init__(self, base_us: int):
        self.base = base_us
        self.seq: dict[str, int] = {}
        self.reports: list[ReadCycleReport] = []

    def at(
        self, reader: str, t_s: float, epcs: list[str], antennas: tuple[int, ...] = (1,), repeats: int = 3
    ) -> ReadCycleReport:
        start = self.base + int(t_s * S)
        reads = tuple(
            TagRead(epc, antenna, start + k * 50_000, count=2, rssi=-50.0)
            for epc in epcs
            for antenna in antennas
            for k in range(repeats)
        )
        seq = self.seq.get(reader, 0)
        self.seq[reader] = seq + 1
        report = ReadCycleReport(
            site=SITE, line=LINE, reader_id=reader, cycle_seq=seq, cycle_start_us=start, reads=reads
        )
        self.reports.append(report)
        return report


def build(base_us: int) -> tuple[list[ReadCycleReport], list[Aggregation], dict[str, str]]:
    """The scenario's reports and aggregations, and its item keys by name."""
    line = Line(base_us)
    p1, p2, p3, p5, p6, k4 = part(1), part(2), part(3), part(5), part(6), kit(4)
    # p1: the whole route, two antennas and several cycles at A1 (duplicates).
    line.at("RA", 0, [p1, p2, p3, p5, p6], antennas=(1, 2))
    line.at("RA", 0.5, [p1, p2], antennas=(1, 2))
    line.at("RB", 10, [p1, p3])
    line.at("RC", 20, [p1, p2, p3])  # p2 skipped stage b
    line.at("RD", 30, [p1])
    line.at("RB", 60, [p3])  # p3 back to b: out of sequence
    # k4 assembled at C1 from p5 and p6, then packed at D1.
    line.at("RC", 40, [k4])
    line.at("RD", 50, [k4])
    assembly = Aggregation(
        site=SITE,
        line=LINE,
        station="C1",
        parent=item_key(k4),
        children=(item_key(p5), item_key(p6)),
        time_us=base_us + 40 * S,
    )
    keys = {
        name: item_key(epc)
        for name, epc in {"p1": p1, "p2": p2, "p3": p3, "p5": p5, "p6": p6, "k4": k4}.items()
    }
    return line.reports, [assembly], keys
