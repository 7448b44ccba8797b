from __future__ import annotations

from typing import Any

import pytest

from ingest.epc import item_key
from ingest.records.rows import PassRow
from ingest.settings import Settings
from streams.stage2 import Changes, RouteStates
from streams.verdicts import Rows
from tests.plugins.stage2 import feed
from tests.unit.factories import T0, at, kit, part, pass_record

SETTINGS = Settings(dedup_window_s=1.0, reorder_window_s=2.0)
P = 3  # the partition these states own
ITEM = part(1)
UNKNOWN = item_key("E2801160600002054CC2096F")  # no GTIN: no product until a job binds it

Record = dict[str, Any]


def _feed(states: RouteStates, *records: Record, idle: bool = False) -> Changes:
    return feed(states, P, *records, idle=idle)


def _progress(states: RouteStates, t: float, idle: bool = False) -> Record:
    """Stage 1's report that every input has got to ``t`` (event time)."""
    return {"k": "progress", "item": "", "sources": {s: [at(t), int(idle)] for s in states.sources}}


def _s(us: int) -> float:
    return (us - T0) / 1_000_000


def _passes(rows: Rows) -> list[tuple[str, float, str, str]]:
    return [(r["stage"], _s(r["first_seen"]), r["outcome"], r["detail"]) for r in rows.passes]


def _violations(rows: Rows) -> list[tuple[str, str, str, int]]:
    return [(r["stage"], r["type"], r["detail"], r["retracted"]) for r in rows.violations]


def _wip(rows: Rows) -> list[tuple[str, str, str]]:
    return [(r["item"], r["stage"], r["status"]) for r in rows.item_state]


def _final_outcomes(rows: Rows) -> dict[float, str]:
    """Each pass's outcome as ClickHouse keeps it: the row of the highest revision."""
    latest: dict[str, PassRow] = {}
    for r in rows.passes:
        if r["pass_id"] not in latest or r["revision"] > latest[r["pass_id"]]["revision"]:
            latest[r["pass_id"]] = r
    return {_s(r["first_seen"]): r["outcome"] for r in latest.values()}


@pytest.mark.parametrize(
    "arrivals",
    [
        pytest.param([("CUT-1", 0), ("MACH-1", 3), ("ASSY-1", 6)], id="in order"),
        pytest.param([("MACH-1", 3), ("CUT-1", 1.5), ("ASSY-1", 6)], id="neighbours swapped"),
        pytest.param([("ASSY-1", 1), ("MACH-1", 0.5), ("CUT-1", 0)], id="all reversed"),
        pytest.param(
            [("CUT-1", 0), ("ASSY-1", 10), ("MACH-1", 8.5)],
            id="late by 1.5 s after earlier passes were judged",
        ),
    ],
)
def test_late_passes_inside_the_reorder_window_raise_no_violation(
    states: RouteStates, arrivals: list[tuple[str, float]]
) -> None:
    rows = Rows()

    for station, first in arrivals:
        rows.extend(_feed(states, pass_record(ITEM, station, first)).rows)
    rows.extend(states.settle(P, idle=True).rows)

    assert rows.violations == []
    assert set(_final_outcomes(rows).values()) == {"movement"}
    assert _wip(rows)[-1] == (ITEM, "assemble", "complete")
    assert not states.has_unconfirmed()


def test_a_pass_row_is_written_at_once_and_its_violation_after_the_reorder_window(
    states: RouteStates,
) -> None:
    early = _feed(states, pass_record(ITEM, "MACH-1", 10)).rows

    assert _passes(early) == [("machine", 10, "skipped_stage", "missing cut")]  # provisional
    assert _wip(early) == [(ITEM, "machine", "in_process")]
    assert early.violations == [] and states.has_unconfirmed()

    later = _feed(states, pass_record(ITEM, "ASSY-1", 12.5), _progress(states, 12.5)).rows  # past 10 + 2

    assert _passes(later) == [("assemble", 12.5, "movement", "")]
    assert _violations(later) == [("machine", "skipped_stage", "missing cut", 0)]
    assert not states.has_unconfirmed()


def test_a_pass_later_than_the_reorder_window_is_a_violation_until_it_arrives(states: RouteStates) -> None:
    _feed(states, pass_record(ITEM, "MACH-1", 10))

    before = _feed(states, pass_record(ITEM, "ASSY-1", 20), _progress(states, 20)).rows

    assert _passes(before) == [("assemble", 20, "movement", "")]
    assert _violations(before) == [("machine", "skipped_stage", "missing cut", 0)]
    assert _wip(before) == [(ITEM, "assemble", "complete")]

    after = _feed(states, pass_record(ITEM, "CUT-1", 5)).rows

    assert _passes(after) == [("cut", 5, "movement", ""), ("machine", 10, "movement", "")]
    assert _violations(after) == [("machine", "skipped_stage", "missing cut", 1)]
    assert after.violations[0]["revision"] > before.violations[0]["revision"]
    assert after.violations[0]["pass_id"] == before.violations[0]["pass_id"]
    assert _wip(after) == [(ITEM, "assemble", "complete")]

    last = states.settle(P, idle=True).rows

    assert len(last) == 0


def test_a_violation_waits_for_every_input_of_stage_1(states: RouteStates) -> None:
    """One input partition behind holds the confirmation back, however new the others are."""
    lagging = sorted(states.sources)[0]
    ahead = {**_progress(states, 60), "sources": {s: [at(60), 0] for s in states.sources if s != lagging}}

    waiting = _feed(states, pass_record(ITEM, "MACH-1", 10), ahead).rows
    assert waiting.violations == [] and states.has_unconfirmed()

    behind = _feed(states, {**ahead, "sources": {lagging: [at(11), 0]}}).rows  # 10 + 2 not passed
    assert behind.violations == []

    passed = _feed(states, {**ahead, "sources": {lagging: [at(12), 0]}}).rows
    assert _violations(passed) == [("machine", "skipped_stage", "missing cut", 0)]


def test_idle_inputs_hold_nothing_back(states: RouteStates) -> None:
    _feed(states, pass_record(ITEM, "MACH-1", 10))

    idle = _feed(states, _progress(states, 0, idle=True)).rows

    assert _violations(idle) == [("machine", "skipped_stage", "missing cut", 0)]


@pytest.mark.parametrize(
    "settle_between",
    [
        pytest.param(True, id="copy after the pass was judged"),
        pytest.param(False, id="copy before the reorder window passed"),
    ],
)
def test_a_pass_applied_twice_changes_nothing(states: RouteStates, settle_between: bool) -> None:
    record = pass_record(ITEM, "CUT-1", 0, 0.4, reads=3)

    first = _feed(states, record, idle=settle_between)
    second = _feed(states, record, idle=True)

    assert _passes(first.rows) == [("cut", 0, "movement", "")]
    assert len(second.rows) == 0 and second.changelog == []


@pytest.mark.parametrize(
    ("candidate", "pass_rows", "passes"),
    [
        pytest.param(
            pass_record(ITEM, "MACH-1", 10.5, 11), [], [], id="inside the dedup window: the same visit"
        ),
        pytest.param(
            pass_record(ITEM, "MACH-1", 10, 10.2), [], [], id="the same candidate again: nothing new"
        ),
        pytest.param(
            pass_record(ITEM, "MACH-1", 9.5, 10.2),
            [(True, 10.2)],
            [2],
            id="read earlier: the pass starts earlier",
        ),
        pytest.param(
            pass_record(ITEM, "MACH-1", 11.3), [(False, 11.3)], [3], id="after the window: new pass"
        ),
        pytest.param(pass_record(ITEM, "MACH-2", 10.5), [(False, 10.5)], [3], id="other station: new pass"),
    ],
)
def test_a_duplicate_pass_candidate_merges_into_the_pass(
    states: RouteStates, candidate: Record, pass_rows: list[tuple[bool, float]], passes: list[int]
) -> None:
    judged = _feed(states, pass_record(ITEM, "CUT-1", 0), pass_record(ITEM, "MACH-1", 10, 10.2), idle=True)
    machine_pass = judged.rows.passes[-1]["pass_id"]

    rows = _feed(states, candidate, idle=True).rows

    # (is it the machine pass already recorded, its last read)
    assert [(r["pass_id"] == machine_pass, _s(r["last_seen"])) for r in rows.passes] == pass_rows
    assert {r["outcome"] for r in rows.passes} <= {"movement"}
    assert [r["passes"] for r in rows.item_state] == passes


@pytest.mark.parametrize(
    ("product", "outcomes", "violations"),
    [
        pytest.param(
            "PART",
            ["movement", "movement"],
            [
                ("cut", "unknown_item", "no route for stage cut", 1),
                ("machine", "unknown_item", "no route for stage machine", 1),
            ],
            id="bound to a product with a route: retracted",
        ),
        pytest.param(
            "LOOSE",
            ["unknown_route", "unknown_route"],
            [
                ("cut", "unknown_route", "no route for stage cut", 0),
                ("machine", "unknown_route", "no route for stage machine", 0),
            ],
            id="bound to a product without a route",
        ),
    ],
)
def test_binding_a_job_rejudges_unknown_items(
    states: RouteStates, product: str, outcomes: list[str], violations: list[tuple[str, str, str, int]]
) -> None:
    unbound = _feed(states, pass_record(UNKNOWN, "CUT-1", 0), pass_record(UNKNOWN, "MACH-1", 10), idle=True)
    assert [v[1] for v in _violations(unbound.rows)] == ["unknown_item", "unknown_item"]

    bound = _feed(states, {"k": "bind", "item": UNKNOWN, "job": "J-7", "product": product}, idle=True).rows

    assert [r["outcome"] for r in bound.passes] == outcomes
    assert {(r["job"], r["product"]) for r in bound.passes} == {("J-7", product)}
    assert _violations(bound) == violations
    [item_row] = bound.item_state
    assert (item_row["job"], item_row["product"]) == ("J-7", product)

    again = _feed(states, {"k": "bind", "item": UNKNOWN, "job": "J-7", "product": product}, idle=True)
    assert len(again.rows) == 0


@pytest.mark.parametrize(
    ("passes", "passes_counted"),
    [
        pytest.param([("CUT-1", 0), ("MACH-1", 10), ("ASSY-1", 20)], 3, id="after its route"),
        pytest.param([], 0, id="before any pass"),
    ],
)
def test_assembled_item_says_so(
    states: RouteStates, passes: list[tuple[str, float]], passes_counted: int
) -> None:
    _feed(states, *(pass_record(ITEM, s, t) for s, t in passes), idle=True)

    rows = _feed(states, {"k": "assembled", "item": ITEM, "parent": kit(1)}, idle=True).rows

    [row] = rows.item_state
    assert (row["status"], row["parent"], row["passes"]) == ("assembled", kit(1), passes_counted)
    assert rows.passes == [] and rows.violations == []
    assert len(_feed(states, {"k": "assembled", "item": ITEM, "parent": kit(1)}, idle=True).rows) == 0


K, U = kit(1), UNKNOWN


@pytest.mark.parametrize(
    "journey",
    [
        pytest.param(
            [
                (pass_record(ITEM, "CUT-1", 0), [(ITEM, "cut", "in_process")]),
                (pass_record(ITEM, "MACH-2", 10), [(ITEM, "machine", "in_process")]),
                (pass_record(ITEM, "ASSY-1", 20), [(ITEM, "assemble", "complete")]),
                (pass_record(ITEM, "CUT-1", 30), [(ITEM, "cut", "complete")]),
            ],
            id="along the route to complete, then seen again where it was read last",
        ),
        pytest.param(
            [
                (pass_record(K, "ASSY-1", 0), [(K, "assemble", "in_process")]),
                (pass_record(K, "QC-1", 10), [(K, "qc", "in_process")]),
                (pass_record(K, "ASSY-1", 20), [(K, "assemble", "in_process")]),
                (pass_record(K, "QC-1", 30), [(K, "qc", "in_process")]),
                (pass_record(K, "PACK-1", 40), [(K, "pack", "complete")]),
            ],
            id="rework loop and back",
        ),
        pytest.param(
            [
                (pass_record(ITEM, "MACH-1", 0), [(ITEM, "machine", "in_process")]),
                (pass_record(K, "ASSY-1", 5), [(K, "assemble", "in_process")]),
                (pass_record(ITEM, "ASSY-1", 10), [(ITEM, "assemble", "complete")]),
            ],
            id="two items, each counted on its own",
        ),
        pytest.param(
            [
                (pass_record(U, "MACH-1", 0), [(U, "machine", "unknown")]),
                ({"k": "bind", "item": U, "job": "J-1", "product": "PART"}, [(U, "machine", "in_process")]),
            ],
            id="unknown item is not work in process until a job binds it",
        ),
    ],
)
def test_item_state_rows_account_for_work_in_process(
    states: RouteStates, journey: list[tuple[Record, list[tuple[str, str, str]]]]
) -> None:

    for record, wip in journey:
        assert _wip(_feed(states, record, idle=True).rows) == wip


def test_item_state_row_carries_where_and_when(states: RouteStates) -> None:

    rows = _feed(
        states,
        pass_record(ITEM, "CUT-1", 0, 0.5),
        pass_record(ITEM, "MACH-2", 10, 12),
        {"k": "bind", "item": ITEM, "job": "J-1", "product": "PART"},
        idle=True,
    ).rows

    [row] = rows.item_state
    assert {k: v for k, v in row.items() if k != "revision"} == {
        "item": ITEM,
        "site": "S1",
        "line": "L1",
        "product": "PART",
        "job": "J-1",
        "stage": "machine",
        "route_stage": "machine",
        "station": "MACH-2",
        "status": "in_process",
        "parent": "",
        "first_seen": at(0),
        "last_seen": at(12),
        "passes": 2,
        "on_hold": 0,
    }


def test_wip_counts_an_item_where_it_was_read_last_after_an_out_of_sequence_pass(states: RouteStates) -> None:

    rows = _feed(
        states, pass_record(ITEM, "CUT-1", 0), pass_record(ITEM, "MACH-2", 10), pass_record(ITEM, "CUT-1", 20)
    ).rows

    [row] = rows.item_state
    assert (row["stage"], row["station"], row["route_stage"], row["status"]) == (
        "cut",
        "CUT-1",
        "machine",
        "in_process",
    )


def test_partitions_are_independent(states: RouteStates) -> None:
    states.load(P + 1, [])
    states.apply(P + 1, [pass_record(part(2), "CUT-1", 100)])

    assert _wip(_feed(states, pass_record(ITEM, "CUT-1", 0)).rows) == [(ITEM, "cut", "in_process")]
    assert _wip(states.settle(P + 1).rows) == [(part(2), "cut", "in_process")]

    states.drop(P + 1)
    assert not states.is_loaded(P + 1) and states.is_loaded(P)
