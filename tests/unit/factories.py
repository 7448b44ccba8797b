"""Small builders shared by the unit tests: one plant document, item keys, reads and passes."""

from __future__ import annotations

import copy
from typing import Any

from ingest.epc import encode_sgtin96, item_key
from ingest.schema import ReadCycleReport, TagRead
from ingest.timefmt import parse_us

SITE, LINE = "S1", "L1"
T0 = parse_us("2024-05-01T08:00:00Z")

# station -> (stage, reader of its portal)
STATIONS = {
    "CUT-1": ("cut", "R-CUT"),
    "MACH-1": ("machine", "R-MACH-1"),
    "MACH-2": ("machine", "R-MACH-2"),
    "ASSY-1": ("assemble", "R-ASSY"),
    "QC-1": ("qc", "R-QC"),
    "PACK-1": ("pack", "R-PACK"),
}

_PLANT: dict[str, Any] = {
    "sites": [
        {
            "site": SITE,
            "lines": [
                {
                    "line": LINE,
                    "stages": ["cut", "machine", "assemble", "qc", "pack"],
                    "stations": [{"station": s, "stage": st} for s, (st, _) in STATIONS.items()],
                    "read_points": [
                        {"reader": "R-CUT", "antenna": 1, "station": "CUT-1"},
                        {"reader": "R-CUT", "antenna": 2, "station": "CUT-1"},
                        {"reader": "R-MACH-1", "antenna": 1, "station": "MACH-1"},
                        {"reader": "R-MACH-1", "antenna": 2, "station": "MACH-1"},
                        {"reader": "R-MACH-2", "antenna": 1, "station": "MACH-2"},
                        {"reader": "R-ASSY", "antenna": 1, "station": "ASSY-1"},
                        {"reader": "R-QC", "antenna": 1, "station": "QC-1"},
                        {"reader": "R-PACK", "antenna": 1, "station": "PACK-1"},
                    ],
                    "products": [
                        {
                            "product": "PART",
                            "gtin": "00614141000012",
                            "route": {"stages": ["cut", "machine", "assemble"]},
                        },
                        {
                            "product": "KIT",
                            "gtin": "00614141000029",
                            "route": {
                                "stages": ["assemble", "qc", "pack"],
                                "rework": [{"from": "qc", "to": "assemble", "max": 1}],
                            },
                        },
                        {"product": "LOOSE"},
                    ],
                }
            ],
        }
    ],
    "jobs": [{"job": "J-1", "product": "PART", "quantity": 10}],
}


def plant_doc() -> dict[str, Any]:
    """A fresh copy of the test plant document (one line, products PART, KIT and LOOSE)."""
    return copy.deepcopy(_PLANT)


def at(seconds: float) -> int:
    """Event time ``seconds`` after T0, in microseconds."""
    return T0 + round(seconds * 1_000_000)


def part_epc(serial: int) -> str:
    return encode_sgtin96("0614141", "000001", serial)


def kit_epc(serial: int) -> str:
    return encode_sgtin96("0614141", "000002", serial)


def part(serial: int) -> str:
    """Item key of a PART (its GTIN is PART's)."""
    return item_key(part_epc(serial))


def kit(serial: int) -> str:
    """Item key of a KIT (its GTIN is KIT's)."""
    return item_key(kit_epc(serial))


Read = tuple[str, int, float] | tuple[str, int, float, int]


def report(
    reader: str, reads: list[Read], seq: int = 1, site: str = SITE, line: str = LINE
) -> ReadCycleReport:
    """A read-cycle report; ``reads`` are (epc, antenna, seconds after T0[, count])."""
    tag_reads = []
    for epc, antenna, seconds, *count in reads:
        tag_reads.append(TagRead(epc, antenna, at(seconds), count[0] if count else 1))
    start = min((r.time_us for r in tag_reads), default=T0)
    return ReadCycleReport(
        site=site, line=line, reader_id=reader, cycle_seq=seq, cycle_start_us=start, reads=tuple(tag_reads)
    )


def pass_record(
    item: str, station: str, first_s: float, last_s: float | None = None, reads: int = 1
) -> dict[str, Any]:
    """An item-bundle pass record as stage 1 sends it to stage 2."""
    stage, reader = STATIONS[station]
    return {
        "k": "pass",
        "item": item,
        "site": SITE,
        "line": LINE,
        "station": station,
        "stage": stage,
        "reader": reader,
        "first": at(first_s),
        "last": at(first_s if last_s is None else last_s),
        "reads": reads,
    }
