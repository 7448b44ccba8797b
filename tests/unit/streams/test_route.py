from __future__ import annotations

import pytest

from ingest.plant import ReworkLoop, Route
from streams.route import COMPLETE, IN_PROCESS, NEW, UNKNOWN_ITEM, Position, Step, judge

ROUTE = Route(("cut", "machine", "assemble", "qc", "pack"), (ReworkLoop("qc", "assemble", 1),))
ALL = ["cut", "machine", "assemble", "qc", "pack"]

M = ("movement", "")


def _steps(stages: list[str]) -> list[Step]:
    return [Step(f"p{i}", stage, i * 1_000_000) for i, stage in enumerate(stages)]


def _judged(stages: list[str], route: Route | None = ROUTE) -> tuple[list[tuple[str, str]], str, str]:
    """(outcome, detail) of each pass, then the item's stage and status."""
    verdicts, position = judge(route, _steps(stages))
    assert [v.pass_id for v in verdicts] == [f"p{i}" for i in range(len(stages))]
    stage = ROUTE.stages[position.index] if position.index >= 0 else ""
    return [(v.outcome, v.detail) for v in verdicts], stage, position.status


@pytest.mark.parametrize(
    ("stages", "verdicts", "stage", "status"),
    [
        pytest.param([], [], "", NEW, id="no passes"),
        pytest.param(ALL, [M] * 5, "pack", COMPLETE, id="whole route in order"),
        pytest.param(["cut", "machine"], [M, M], "machine", IN_PROCESS, id="movement along the route"),
        pytest.param(["cut", "cut", "machine", "machine"], [M] * 4, "machine", IN_PROCESS, id="repeat visit"),
        pytest.param(
            ["cut", "assemble"],
            [M, ("skipped_stage", "missing machine")],
            "assemble",
            IN_PROCESS,
            id="skipped stage",
        ),
        pytest.param(
            ["cut", "qc", "pack"],
            [M, ("skipped_stage", "missing machine,assemble"), M],
            "pack",
            COMPLETE,
            id="two skipped stages, then on along the route",
        ),
        pytest.param(
            ["machine"],
            [("skipped_stage", "missing cut")],
            "machine",
            IN_PROCESS,
            id="first pass after the first stage",
        ),
        pytest.param(
            ["cut", "machine", "cut", "assemble"],
            [M, M, ("out_of_sequence", "back to cut from machine"), M],
            "assemble",
            IN_PROCESS,
            id="out of sequence leaves the item where it was",
        ),
        pytest.param(
            ["cut", "machine", "assemble", "qc", "assemble", "qc", "pack"],
            [M, M, M, M, ("movement", "rework qc>assemble #1"), M, M],
            "pack",
            COMPLETE,
            id="rework loop within its limit",
        ),
        pytest.param(
            ["cut", "machine", "assemble", "qc", "assemble", "qc", "assemble"],
            [
                M,
                M,
                M,
                M,
                ("movement", "rework qc>assemble #1"),
                M,
                ("loop_limit_exceeded", "rework qc>assemble #2 > 1"),
            ],
            "assemble",
            IN_PROCESS,
            id="rework loop beyond its limit",
        ),
        pytest.param(
            ["cut", "assemble", "machine", "qc", "pack"],
            [M, M, ("out_of_sequence", "back to machine from assemble"), M, M],
            "pack",
            COMPLETE,
            id="two stages swapped: one violation, on the stage read late",
        ),
        pytest.param(
            ["cut", "pack", "machine", "qc"],
            [
                M,
                ("skipped_stage", "missing assemble"),
                ("seen_after_completion", "at machine after completing"),
                ("seen_after_completion", "at qc after completing"),
            ],
            "pack",
            COMPLETE,
            id="stages read late leave the skip of the one never read",
        ),
        pytest.param(
            ["cut", "qc", "assemble", "pack"],
            [
                M,
                ("skipped_stage", "missing machine,assemble"),
                ("movement", "rework qc>assemble #1"),
                ("skipped_stage", "missing qc"),
            ],
            "pack",
            COMPLETE,
            id="a rework loop back to a skipped stage does not make up for it",
        ),
        pytest.param(
            ["cut", "machine", "assemble", "qc", "machine"],
            [M, M, M, M, ("out_of_sequence", "back to machine from qc")],
            "qc",
            IN_PROCESS,
            id="going back where no loop leads",
        ),
        pytest.param(
            [*ALL, "machine"],
            [M] * 5 + [("seen_after_completion", "at machine after completing")],
            "pack",
            COMPLETE,
            id="seen after completion",
        ),
        pytest.param([*ALL, "pack"], [M] * 6, "pack", COMPLETE, id="repeat visit at the last stage"),
        pytest.param(
            ["cut", "paint", "machine"],
            [M, ("stage_not_in_route", "stage paint is not on the route"), M],
            "machine",
            IN_PROCESS,
            id="stage not in route",
        ),
        pytest.param(
            [*ALL, "paint"],
            [M] * 5 + [("stage_not_in_route", "stage paint is not on the route")],
            "pack",
            COMPLETE,
            id="stage not in route after completion",
        ),
    ],
)
def test_judge(stages: list[str], verdicts: list[tuple[str, str]], stage: str, status: str) -> None:
    assert _judged(stages) == (verdicts, stage, status)


@pytest.mark.parametrize(
    ("reason", "outcome"),
    [
        pytest.param(None, "unknown_route", id="product without a route"),
        pytest.param(UNKNOWN_ITEM, "unknown_item", id="item of no known product"),
    ],
)
def test_without_a_route_every_pass_is_a_violation(reason: str | None, outcome: str) -> None:
    steps = _steps(["cut", "machine"])

    verdicts, position = judge(None, steps) if reason is None else judge(None, steps, no_route_reason=reason)

    assert [(v.outcome, v.detail) for v in verdicts] == [
        (outcome, "no route for stage cut"),
        (outcome, "no route for stage machine"),
    ]
    assert position == Position()


@pytest.mark.parametrize(
    "stages",
    [
        pytest.param(
            ["cut", "machine", "assemble", "qc", "assemble", "qc", "assemble", "qc"], id="rework loops"
        ),
        pytest.param(["cut", "qc", "cut", "paint", "pack", "cut"], id="violations"),
    ],
)
def test_judging_in_two_parts_gives_the_same_verdicts(stages: list[str]) -> None:
    """Folding old passes into a base position changes no verdict. (A skip made up for by a
    stage read late is revised only while both passes are in the history: 64 passes.)"""
    steps = _steps(stages)
    whole, end = judge(ROUTE, steps)

    for split in range(len(steps) + 1):
        head, middle = judge(ROUTE, steps[:split])
        tail, last = judge(ROUTE, steps[split:], start=middle)
        assert (head + tail, last) == (whole, end), split


def test_a_rework_loop_from_the_last_stage_reopens_a_complete_item() -> None:
    route = Route(("cut", "qc", "pack"), (ReworkLoop("pack", "qc", 1),))
    verdicts, position = judge(route, _steps(["cut", "qc", "pack", "qc", "pack", "qc"]))

    assert [(v.outcome, v.detail) for v in verdicts] == [
        M,
        M,
        M,
        ("movement", "rework pack>qc #1"),
        M,
        ("loop_limit_exceeded", "rework pack>qc #2 > 1"),
    ]
    assert (route.stages[position.index], position.status) == ("qc", IN_PROCESS)


def test_optional_stages_may_be_left_out() -> None:
    route = Route(("cut", "deburr", "machine", "pack"), optional=frozenset({"deburr"}))
    verdicts, _ = judge(route, _steps(["cut", "machine", "pack"]))
    assert [(v.outcome, v.detail) for v in verdicts] == [M, M, M]
    verdicts, _ = judge(route, _steps(["cut", "pack"]))
    assert [(v.outcome, v.detail) for v in verdicts] == [M, ("skipped_stage", "missing machine")]


SHIPPED = Route(ROUTE.stages, ROUTE.rework, dispatch=frozenset({"pack"}))


def test_an_item_seen_after_dispatch_is_flagged_and_stays_dispatched() -> None:
    verdicts, stage, status = _judged([*ALL, "pack", "qc"], SHIPPED)
    assert verdicts == [M] * 6 + [("seen_after_dispatch", "at qc after dispatch")]
    assert (stage, status) == ("pack", "dispatched")


def test_a_dispatch_stage_mid_route_dispatches_the_item() -> None:
    route = Route(("cut", "machine", "assemble"), dispatch=frozenset({"machine"}))
    verdicts, position = judge(route, _steps(["cut", "machine", "assemble"]))
    assert [v.outcome for v in verdicts] == ["movement", "movement", "seen_after_dispatch"]
    assert position.status == "dispatched"
