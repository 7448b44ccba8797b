"""The bench's checks of a phase: complete and correct on the clean line, or the numbers why not."""

from __future__ import annotations

from typing import Any

import pytest

from ingest.schema import ReadCycleReport, TagRead
from loadtest.benchcheck import (
    CaptureCheck,
    PhaseCheck,
    PhaseRun,
    ReadWindow,
    candidate_counts,
    counted_since,
    epcis_answer_problem,
    failure_message,
    latency_sample_problem,
    read_offsets,
)
from loadtest.dataset import Shape, reports

RUN = PhaseRun("paced_20k", (1_000, 2_000), passes_expected=800)
EVERY_ONE_NEW = {"new": 800}


def verdicts(passes: int = 800, movements: int = 800, open_: int = 0, retracted: int = 0) -> dict[str, Any]:
    return {
        "passes": passes,
        "movements": movements,
        "violations_open": open_,
        "retracted_violations": retracted,
    }


@pytest.mark.parametrize(
    ("row", "complete", "correct"),
    [
        pytest.param(verdicts(), True, True, id="every pass a movement"),
        pytest.param(verdicts(retracted=3), True, False, id="violations confirmed, then retracted"),
        pytest.param(verdicts(passes=790, movements=790), False, False, id="passes missing"),
        pytest.param(verdicts(passes=801, movements=801), False, False, id="more passes than expected"),
        pytest.param(verdicts(movements=798, open_=2), True, False, id="violations open"),
        pytest.param(
            verdicts(movements=799), True, False, id="a pass judged otherwise, violation not yet stored"
        ),
    ],
)
def test_a_phase_is_complete_and_correct(row: dict[str, Any], complete: bool, correct: bool) -> None:
    check = PhaseCheck.of(RUN, row, EVERY_ONE_NEW)

    assert (check.complete, check.correct) == (complete, correct)


def test_extra_pass_candidates_are_reported_not_failed() -> None:
    """A worker that restarted sends again the passes it had open; stage 2 merges them."""
    check = PhaseCheck.of(RUN, verdicts(), {"new": 800, "merged": 60, "duplicate": 4})

    assert check.correct
    assert (check.pass_candidates, check.extra_candidates) == (864, 64)


def test_the_report_and_the_problem_name_the_phase_and_its_numbers() -> None:
    check = PhaseCheck.of(RUN, verdicts(passes=790, movements=788, open_=2, retracted=1), {"new": 790})

    assert check.report() == {
        "passes_expected": 800,
        "passes_stored": 790,
        "movements": 788,
        "violations_open": 2,
        "retracted_violations": 1,
        "pass_candidates": 790,
        "extra_candidates": 0,
    }
    assert check.problem() == (
        "paced_20k: passes_expected 800, passes_stored 790, movements 788, violations_open 2, "
        "retracted_violations 1, pass_candidates 790, extra_candidates 0"
    )
    assert failure_message([check.problem(), "burst: x"]).endswith("extra_candidates 0; burst: x")


WORKER_METRICS = """\
# HELP linetrace_pass_candidates_total Pass candidates stage 2 took, by outcome.
# TYPE linetrace_pass_candidates_total counter
linetrace_pass_candidates_total{outcome="new"} 12000.0
linetrace_pass_candidates_total{outcome="merged"} 7.0
linetrace_pass_candidates_created{outcome="new"} 1.7e+09
# HELP linetrace_passes_total Passes made from reads.
# TYPE linetrace_passes_total counter
linetrace_passes_total 12007.0
"""


def test_the_candidates_are_read_from_the_workers_metrics_by_outcome() -> None:
    assert candidate_counts(WORKER_METRICS) == {"new": 12_000, "merged": 7}
    assert candidate_counts("") == {}


@pytest.mark.parametrize(
    ("before", "now", "taken"),
    [
        pytest.param({}, {"new": 320}, {"new": 320}, id="the first phase"),
        pytest.param(
            {"new": 320}, {"new": 12_320, "merged": 7}, {"new": 12_000, "merged": 7}, id="a later phase"
        ),
        pytest.param({"new": 12_320, "merged": 7}, {"new": 900}, {"new": 900}, id="the worker restarted"),
    ],
)
def test_a_phase_takes_what_the_counters_added_while_it_ran(
    before: dict[str, int], now: dict[str, int], taken: dict[str, int]
) -> None:
    assert counted_since(before, now) == taken


def test_a_latency_sample_must_hold_every_expected_pass() -> None:
    assert latency_sample_problem("paced_100k", 4_000, 4_000) == ""
    assert latency_sample_problem("paced_100k", 4_000, 3_120) == (
        "paced_100k: the latency sample holds 3,120 passes of 4,000 expected"
    )


def report(start_us: int, *times_us: int) -> ReadCycleReport:
    reads = tuple(TagRead(f"epc{i}", 1, t) for i, t in enumerate(times_us))
    return ReadCycleReport(
        site="S", line="L", reader_id="R1", cycle_seq=1, cycle_start_us=start_us, reads=reads
    )


def test_read_offsets_are_from_the_cycle_start() -> None:
    assert read_offsets(report(1_000, 1_400, 1_050, 2_000)) == (50, 1_000)


def test_a_window_holds_every_read_sent_and_ends_just_past_the_last() -> None:
    window = ReadWindow()
    window.add(10_000, (50, 1_000))
    window.add(5_000, (100, 200))  # sent later, stamped earlier

    assert window.bounds == (5_100, 11_001)


def test_a_window_of_nothing_sent_is_an_error() -> None:
    with pytest.raises(ValueError, match="no reads"):
        _ = ReadWindow().bounds


def test_the_window_of_a_bench_load_holds_the_first_read_of_every_pass() -> None:
    shape = Shape()
    window = ReadWindow()
    planned = list(reports(30, shape, 1_000_000, first_serial=7))
    for r in planned:
        window.add(r.cycle_start_us, read_offsets(r))
    times = [read.time_us for r in planned for read in r.reads]

    since, until = window.bounds
    assert since == min(times) and until == max(times) + 1


POSTED = {
    f"ni:///e{i}": {"eventID": f"ni:///e{i}", "type": "ObjectEvent", "epcList": [f"urn:x:{i}"]}
    for i in range(3)
}
SUCCEEDED = {"success": True, "errors": []}
CAPTURE_RUN = PhaseRun("epcis_capture", (1_000, 2_000), passes_expected=3)


def _capture_check(
    rows: int = 3, answered: list[dict[str, Any]] | None = None, job: dict[str, Any] = SUCCEEDED
) -> CaptureCheck:
    passes = PhaseCheck.of(CAPTURE_RUN, verdicts(3, 3), {"new": 3})
    return CaptureCheck.of(passes, POSTED, rows, list(POSTED.values()) if answered is None else answered, job)


ALTERED = {**POSTED["ni:///e0"], "epcList": ["urn:x:9"]}
ECHO = {"eventID": "ni:///derived", "type": "ObjectEvent", "epcList": ["urn:x:0"]}


@pytest.mark.parametrize(
    ("check", "complete", "correct"),
    [
        pytest.param(_capture_check(), True, True, id="every event stored once, answered as posted"),
        pytest.param(_capture_check(rows=2, answered=[*POSTED.values()][:2]), False, False, id="one missing"),
        pytest.param(_capture_check(rows=4), True, False, id="an event stored twice"),
        pytest.param(
            _capture_check(answered=[ALTERED, *[*POSTED.values()][1:]]), False, False, id="answered altered"
        ),
        pytest.param(
            _capture_check(answered=[*POSTED.values(), ECHO]), True, False, id="a pass answered again"
        ),
        pytest.param(
            _capture_check(job={"success": False, "errors": [{"index": 1}]}),
            True,
            False,
            id="an event refused",
        ),
    ],
)
def test_a_capture_phase_is_complete_and_correct(check: CaptureCheck, complete: bool, correct: bool) -> None:
    assert (check.complete, check.correct) == (complete, correct)


def test_the_capture_report_adds_the_events_to_the_passes() -> None:
    check = _capture_check(job={"success": False, "errors": []})

    assert check.report() == {
        **PhaseCheck.of(CAPTURE_RUN, verdicts(3, 3), {"new": 3}).report(),
        "events_expected": 3,
        "event_rows": 3,
        "events_answered": 3,
        "events_as_posted": 3,
        "capture_errors": 1,  # the job failed without naming an event
    }
    assert check.problem().startswith("epcis_capture: passes_expected 3,")


EPC, UNIT = "urn:epc:id:sgtin:0614141.000010.5", "urn:epc:id:sgtin:0614141.000011.1"


def _observed(point: str, epc: str = EPC) -> dict[str, Any]:
    return {"type": "ObjectEvent", "epcList": [epc], "action": "OBSERVE", "readPoint": {"id": point}}


PACKED = {"type": "AggregationEvent", "action": "ADD", "parentID": UNIT, "childEPCs": [EPC]}


@pytest.mark.parametrize(
    ("events", "problem"),
    [
        pytest.param([_observed("p1"), _observed("p2"), PACKED], "", id="passes and the pack"),
        pytest.param([_observed("p1"), PACKED], "1 ObjectEvents", id="a pass missing"),
        pytest.param([_observed("p1"), _observed("p1"), PACKED], "1 of it at distinct", id="a pass twice"),
        pytest.param(
            [_observed("p1"), _observed("p2", UNIT), PACKED], "1 of it at distinct", id="another item"
        ),
        pytest.param([_observed("p1"), _observed("p2")], "0 AggregationEvents", id="the pack missing"),
        pytest.param(
            [_observed("p1"), _observed("p2"), {**PACKED, "parentID": EPC}], "not into", id="the wrong parent"
        ),
    ],
)
def test_an_epcis_answer_holds_the_items_passes_and_its_pack(
    events: list[dict[str, Any]], problem: str
) -> None:
    found = epcis_answer_problem(events, EPC, UNIT, passes=2)

    assert (found == "") if not problem else (problem in found), found
