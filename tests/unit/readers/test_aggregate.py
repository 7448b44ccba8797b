"""Read-cycle aggregation: one entry per tag and antenna per cycle, nothing dropped."""

from __future__ import annotations

from ingest.schema import ReadCycleReport
from readers.base import CycleAggregator, Observation
from tests.unit.factories import at, part_epc

A, B = part_epc(1), part_epc(2)
CYCLE_US = 500_000


def _aggregator(out: list[ReadCycleReport], grace_us: int = 0) -> CycleAggregator:
    return CycleAggregator("S1", "L1", "R-CUT", CYCLE_US, out.append, grace_us=grace_us)


def _obs(epc: str, antenna: int, t: float, rssi: float | None = None, count: int = 1) -> Observation:
    return Observation("R-CUT", antenna, at(t), epc=epc, rssi=rssi, count=count)


def test_one_entry_per_tag_and_antenna_with_first_last_count_and_peak_rssi() -> None:
    out: list[ReadCycleReport] = []
    agg = _aggregator(out)
    for obs in [
        _obs(A, 1, 0.01, -60.0),
        _obs(A, 1, 0.20, -52.5, count=3),
        _obs(A, 2, 0.05, -70.0),
        _obs(B, 1, 0.30),
        _obs(A, 1, 0.40, -55.0),
    ]:
        agg.add(obs)
    agg.tick(at(0.6))
    [report] = out
    assert (report.reader_id, report.cycle_seq, report.cycle_start_us) == ("R-CUT", 0, at(0.0))
    assert [(r.epc, r.antenna, r.time_us, r.last_us, r.count, r.rssi) for r in report.reads] == [
        (A, 1, at(0.01), at(0.40), 5, -52.5),
        (A, 2, at(0.05), at(0.05), 1, -70.0),
        (B, 1, at(0.30), at(0.30), 1, None),
    ]


def test_a_read_of_the_next_cycle_closes_the_open_one() -> None:
    out: list[ReadCycleReport] = []
    agg = _aggregator(out)
    agg.add(_obs(A, 1, 0.1))
    agg.add(_obs(A, 1, 0.6))
    assert [(r.cycle_seq, len(r.reads)) for r in out] == [(0, 1)]
    agg.flush()
    assert [(r.cycle_seq, r.cycle_start_us) for r in out] == [(0, at(0.0)), (1, at(0.5))]


def test_a_straggler_of_an_emitted_cycle_is_sent_in_a_new_report() -> None:
    out: list[ReadCycleReport] = []
    agg = _aggregator(out)
    agg.add(_obs(A, 1, 0.6))
    agg.add(_obs(B, 1, 0.4))  # late, from the cycle before
    agg.flush()
    assert [(r.cycle_seq, [x.epc for x in r.reads]) for r in out] == [(0, [A]), (1, [B])]
    assert len({r.report_id for r in out}) == 2


def test_tick_waits_for_the_grace_period() -> None:
    out: list[ReadCycleReport] = []
    agg = _aggregator(out, grace_us=100_000)
    agg.add(_obs(A, 1, 0.1))
    agg.tick(at(0.55))
    assert out == []
    agg.tick(at(0.61))
    assert len(out) == 1


def test_barcode_scans_aggregate_by_item_key() -> None:
    out: list[ReadCycleReport] = []
    agg = _aggregator(out)
    key = "gs1:01/00614141000012/21/7"
    agg.add(Observation("R-CUT", 0, at(0.1), key=key))
    agg.add(Observation("R-CUT", 0, at(0.2), key=key))
    agg.flush()
    [(read,)] = [r.reads for r in out]
    assert (read.epc, read.key, read.count) == ("", key, 2)
