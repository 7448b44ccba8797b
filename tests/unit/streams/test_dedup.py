from __future__ import annotations

import pytest

from ingest.errors import InvalidInput
from ingest.plant import Plant
from ingest.schema import Pass, ReadCycleReport
from streams.dedup import PassDetector
from tests.unit.factories import LINE, SITE, at, part, part_epc, report

WINDOW_US = 5_000_000  # 5 s

A, B = part_epc(1), part_epc(2)


def _seen(passes: list[Pass]) -> list[tuple[str, str, str, int, int, int]]:
    """What a pass tells a user: item, station, stage, first and last read, read count."""
    return sorted((p.item, p.station, p.stage, p.first_us, p.last_us, p.reads) for p in passes)


def _detect(reports: list[ReadCycleReport], plant: Plant) -> list[list[tuple[str, str, str, int, int, int]]]:
    detector = PassDetector(WINDOW_US)
    return [_seen(detector.passes_of(r, plant)) for r in reports]


@pytest.mark.parametrize(
    ("reports", "expected"),
    [
        pytest.param(
            [report("R-CUT", [(A, 1, 0), (A, 2, 1), (A, 1, 3)])],
            [[(part(1), "CUT-1", "cut", at(0), at(3), 3)]],
            id="antennas of one station within the window are one pass",
        ),
        pytest.param(
            [report("R-CUT", [(A, 1, 0)]), report("R-CUT", [(A, 2, 4)], seq=2)],
            [[(part(1), "CUT-1", "cut", at(0), at(0), 1)], []],
            id="a later report inside the window adds no pass",
        ),
        pytest.param(
            [
                report("R-CUT", [(A, 1, 0)]),
                report("R-CUT", [(A, 1, 4)], seq=2),
                report("R-CUT", [(A, 1, 8)], seq=3),
            ],
            [[(part(1), "CUT-1", "cut", at(0), at(0), 1)], [], []],
            id="each read inside the window of the last keeps the pass open",
        ),
        pytest.param(
            [report("R-CUT", [(A, 1, 0)]), report("R-CUT", [(A, 1, 5.5)], seq=2)],
            [[(part(1), "CUT-1", "cut", at(0), at(0), 1)], [(part(1), "CUT-1", "cut", at(5.5), at(5.5), 1)]],
            id="a read after the window gap is a new pass",
        ),
        pytest.param(
            [report("R-CUT", [(A, 1, 0), (A, 1, 10), (A, 2, 11)])],
            [
                [
                    (part(1), "CUT-1", "cut", at(0), at(0), 1),
                    (part(1), "CUT-1", "cut", at(10), at(11), 2),
                ]
            ],
            id="one report holding two passes of an item keeps both",
        ),
        pytest.param(
            [report("R-CUT", [(A, 1, 0)]), report("R-MACH-1", [(A, 1, 1), (A, 2, 2)])],
            [
                [(part(1), "CUT-1", "cut", at(0), at(0), 1)],
                [(part(1), "MACH-1", "machine", at(1), at(2), 2)],
            ],
            id="reads at two stations are two passes",
        ),
        pytest.param(
            [report("R-CUT", [(A, 1, 0), (B, 1, 0.1), (A, 2, 0.2)])],
            [
                [
                    (part(1), "CUT-1", "cut", at(0), at(0.2), 2),
                    (part(2), "CUT-1", "cut", at(0.1), at(0.1), 1),
                ]
            ],
            id="two items at one station are two passes",
        ),
        pytest.param(
            [report("R-CUT", [(A.lower(), 1, 0), (A, 2, 1)])],
            [[(part(1), "CUT-1", "cut", at(0), at(1), 2)]],
            id="one tag in two spellings is one item",
        ),
        pytest.param(
            [report("R-CUT", [(A, 1, 0, 4), (A, 2, 1, 2)])],
            [[(part(1), "CUT-1", "cut", at(0), at(1), 6)]],
            id="read counts add up",
        ),
    ],
)
def test_reads_become_passes(
    plant: Plant, reports: list[ReadCycleReport], expected: list[list[tuple[str, str, str, int, int, int]]]
) -> None:
    assert _detect(reports, plant) == expected


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        pytest.param(report("R-CUT", [(A, 9, 0)]), "unknown_read_point", id="unknown antenna"),
        pytest.param(report("R-NOPE", [(A, 1, 0)]), "unknown_read_point", id="unknown reader"),
        pytest.param(report("R-CUT", [(A, 1, 0)], line="L9"), "wrong_line", id="report names another line"),
        pytest.param(report("R-CUT", [(A, 1, 0)], site="S9"), "wrong_line", id="report names another site"),
        pytest.param(
            report("R-CUT", [(A, 1, 0), (B, 9, 0)]), "unknown_read_point", id="one bad read in a good report"
        ),
    ],
)
def test_a_report_the_plant_cannot_place_is_refused(plant: Plant, bad: ReadCycleReport, reason: str) -> None:
    detector = PassDetector(WINDOW_US)

    with pytest.raises(InvalidInput) as raised:
        detector.passes_of(bad, plant)

    assert raised.value.reason == reason
    # The refused report leaves nothing behind: the next good read of its items is a pass.
    [p] = detector.passes_of(report("R-CUT", [(A, 1, 1)], seq=2), plant)
    assert (p.item, p.first_us) == (part(1), at(1))


@pytest.mark.parametrize(
    ("evict", "expected_evicted", "late_read_is_new_pass"),
    [
        pytest.param(False, 0, False, id="kept: a late read extends the old pass"),
        pytest.param(True, 1, True, id="evicted: a late read starts a new pass"),
    ],
)
def test_evict_forgets_passes_no_read_can_extend(
    plant: Plant, evict: bool, expected_evicted: int, late_read_is_new_pass: bool
) -> None:
    detector = PassDetector(WINDOW_US)
    detector.passes_of(report("R-CUT", [(A, 1, 0)]), plant)
    detector.passes_of(report("R-CUT", [(B, 1, 20)], seq=2), plant)  # moves event time on

    evicted = detector.evict() if evict else 0

    assert evicted == expected_evicted
    late = detector.passes_of(report("R-CUT", [(A, 1, 4)], seq=3), plant)
    assert bool(late) is late_read_is_new_pass
    # B's pass is recent: it is never evicted, and its reads still extend it.
    assert detector.passes_of(report("R-CUT", [(B, 1, 22)], seq=4), plant) == []


def test_a_sweep_waits_for_event_time_to_move_a_window(plant: Plant) -> None:
    """Open passes are swept once a station's horizon (two windows behind its latest read) has
    moved a window past the last sweep's, not after every batch."""
    w = WINDOW_US / 1_000_000
    detector = PassDetector(WINDOW_US)
    detector.passes_of(report("R-CUT", [(A, 1, 0)]), plant)
    detector.passes_of(report("R-CUT", [(B, 1, 3 * w)], seq=2), plant)
    assert detector.evict() == 1  # the first sweep, at horizon w: A's pass is stale
    detector.passes_of(report("R-CUT", [(part_epc(3), 1, 3.8 * w)], seq=3), plant)

    assert detector.evict() == 0  # horizon 1.8 w: less than a window on, no sweep
    assert len(detector.open) == 2
    detector.passes_of(report("R-CUT", [(part_epc(4), 1, 6 * w)], seq=4), plant)
    assert detector.evict() == 2  # horizon 4 w: B's and the third tag's passes go


def test_a_pass_is_forgotten_by_its_own_stations_event_time(plant: Plant) -> None:
    """A reader that lags the others of its input partition still extends its open passes."""
    detector = PassDetector(WINDOW_US)
    detector.passes_of(report("R-CUT", [(A, 1, 0)]), plant)
    detector.passes_of(report("R-MACH-1", [(B, 1, 60)], seq=2), plant)  # another station, a minute on

    assert detector.evict() == 0
    assert detector.passes_of(report("R-CUT", [(A, 1, 4)], seq=3), plant) == []  # the same pass


def test_pass_id_is_deterministic(plant: Plant) -> None:
    reports = [
        report("R-CUT", [(A, 1, 0), (B, 2, 0.5)]),
        report("R-MACH-1", [(A, 1, 30), (A, 2, 31)], seq=2),
        report("R-CUT", [(A, 1, 60)], seq=3),
    ]

    def ids() -> list[str]:
        detector = PassDetector(WINDOW_US)
        return [p.pass_id for r in reports for p in detector.passes_of(r, plant)]

    first, second = ids(), ids()
    assert first == second
    assert len(set(first)) == len(first) == 4


def test_report_fields_reach_the_pass(plant: Plant) -> None:
    [p] = PassDetector(WINDOW_US).passes_of(report("R-MACH-2", [(A, 1, 0)]), plant)

    assert (p.site, p.line, p.station, p.stage, p.reader_id) == (SITE, LINE, "MACH-2", "machine", "R-MACH-2")
