"""The missed-read model on plain data: transit spans, the mixture fit and each gap's chance."""

from __future__ import annotations

import math
from typing import Any

import pytest

from storage.missedread import (
    MIN_GAPS,
    Gap,
    LineModel,
    SpanCounts,
    fit_lines,
    fit_span,
    gap_of,
    miss_and_skip,
    missed_read_probabilities,
    transit_bin,
    transit_rows,
)

S = 1_000_000
KEY = ("cut", "machine", "assemble")


def bell(centre: float, width: float, n: int) -> dict[int, int]:
    """n items spread over bins as a normal curve (rounded): a transit distribution."""
    weights = {
        b: math.exp(-0.5 * ((b - centre) / width) ** 2)
        for b in range(int(centre - 4 * width), int(centre + 4 * width) + 1)
    }
    total = sum(weights.values())
    return {b: round(n * w / total) for b, w in weights.items() if round(n * w / total)}


def mixed(*parts: dict[int, int]) -> dict[int, int]:
    out: dict[int, int] = {}
    for part in parts:
        for b, c in part.items():
            out[b] = out.get(b, 0) + c
    return out


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        pytest.param(1.0, 0, id="one second"),
        pytest.param(2.0, 8, id="a doubling is 8 bins"),
        pytest.param(10.0, 26, id="ten seconds"),
        pytest.param(0.0, -48, id="clock skew: floored at 1/64 s"),
        pytest.param(-3.0, -48, id="negative: floored"),
    ],
)
def test_transit_bins_are_log_scale(seconds: float, expected: int) -> None:
    assert transit_bin(int(seconds * S)) == expected


def test_the_share_of_gaps_that_passed_is_recovered() -> None:
    passed, legs = bell(30, 2, 2000), bell(20, 2, 2000)
    gaps = mixed(bell(30, 2, 300), bell(20, 2, 700))
    model = fit_span(KEY, SpanCounts(passed, gaps, legs))
    assert model is not None
    assert model.passed_share == pytest.approx(0.3, abs=0.02)
    assert model.shift_bins == 0
    assert model.posterior(30) > 0.99  # the usual time through the stage: it went through
    assert model.posterior(20) < 0.01  # one leg's time: it went straight on
    assert model.posterior(None) == model.passed_share
    assert model.posterior(25) == pytest.approx(0.5, abs=0.3)


def test_skips_slower_than_a_leg_move_the_skip_component() -> None:
    passed, legs = bell(32, 2, 2000), bell(16, 2, 2000)
    gaps = mixed(bell(32, 2, 500), bell(22, 2, 500))
    model = fit_span(KEY, SpanCounts(passed, gaps, legs))
    assert model is not None
    assert model.shift_bins == 6
    assert model.passed_share == pytest.approx(0.5, abs=0.02)


def test_a_stage_whose_gaps_show_no_skip_still_tells_a_skip_by_its_time() -> None:
    # Every gap took the usual time through the stage: the share stays short of 1 (one gap
    # counted each way), so a gap that took one leg's time is still most likely a skip.
    passed, legs = bell(30, 2, 2000), bell(20, 2, 2000)
    model = fit_span(KEY, SpanCounts(passed, bell(30, 2, 200), legs))
    assert model is not None
    assert 0.98 < model.passed_share < 1 - 1 / 400
    assert model.posterior(20) < 0.1
    assert model.posterior(30) > 0.99


def test_too_few_gaps_give_no_model() -> None:
    few = bell(20, 1, MIN_GAPS - 2)
    assert sum(few.values()) < MIN_GAPS
    assert fit_span(KEY, SpanCounts(bell(30, 2, 500), few, bell(20, 2, 500))) is None


def line_model() -> LineModel:
    rows = [
        *_rows("passed", ("cut", "machine", "assemble"), bell(30, 2, 1000)),
        *_rows("gap", ("cut", "machine", "assemble"), mixed(bell(30, 2, 400), bell(20, 2, 100))),
        *_rows("leg", ("cut", "machine", ""), bell(20, 2, 1000)),
    ]
    return fit_lines(rows)[("S1", "L1")]


def _rows(kind: str, span: tuple[str, str, str], counts: dict[int, int]) -> list[dict[str, Any]]:
    a, s, b = span
    return [
        {"site": "S1", "line": "L1", "kind": kind, "before": a, "stage": s, "after": b, "bin": n, "items": c}
        for n, c in counts.items()
    ]


@pytest.mark.parametrize(
    ("gap", "expected"),
    [
        pytest.param(Gap(("cut",), True, None, None), 1.0, id="first stage of the route: entered there"),
        pytest.param(
            Gap(("cut", "machine"), True, None, None), 0.8, id="first stage and one more: that one's share"
        ),
        pytest.param(Gap(("machine",), False, KEY, 30), 1.0, id="the usual time: it passed"),
        pytest.param(Gap(("machine",), False, KEY, 20), 0.0, id="one leg's time: skipped"),
        pytest.param(Gap(("machine",), False, None, None), 0.8, id="untimed: the share"),
        pytest.param(Gap(("qc",), False, ("assemble", "qc", "pack"), 20), None, id="no model for the stage"),
    ],
)
def test_a_gap_scores_by_its_stage_share_and_its_time(gap: Gap, expected: float | None) -> None:
    found = line_model().missed_read_probability(gap)
    if expected is None:
        assert found is None
    else:
        assert found == pytest.approx(expected, abs=0.02)


def test_the_missed_read_chance_rises_from_a_legs_time_to_the_usual() -> None:
    # Far outside both (a floor each), a time says nothing and the chance falls back to the share.
    model = line_model()
    chances = [model.missed_read_probability(Gap(("machine",), False, KEY, b)) or 0.0 for b in range(20, 31)]
    assert chances == sorted(chances)


@pytest.mark.parametrize(
    ("gap_rate", "passed_share", "m", "q"),
    [
        pytest.param(0.25, 0.6, 1 / 6, 0.1, id="both"),
        pytest.param(0.25, 1.0, 0.25, 0.0, id="every gap a missed read"),
        pytest.param(0.25, 0.0, 0.0, 0.25, id="every gap a skip"),
    ],
)
def test_gap_rate_splits_into_miss_and_skip(gap_rate: float, passed_share: float, m: float, q: float) -> None:
    found_m, found_q = miss_and_skip(gap_rate, passed_share)
    assert (found_m, found_q) == (pytest.approx(m), pytest.approx(q))
    assert found_q + (1 - found_q) * found_m == pytest.approx(gap_rate)


def p(
    item: str, pass_id: str, stage: str, t: float, outcome: str = "movement", detail: str = ""
) -> dict[str, Any]:
    """A pass row as the queries read it (times in µs), read for 0.5 s."""
    return {
        "site": "S1",
        "line": "L1",
        "item": item,
        "pass_id": pass_id,
        "stage": stage,
        "first_us": int(t * S),
        "last_us": int((t + 0.5) * S),
        "outcome": outcome,
        "detail": detail,
    }


def test_transit_rows_are_legs_passed_spans_and_gaps_of_one_stage() -> None:
    passes = [
        p("i1", "1a", "cut", 0),
        p("i1", "1b", "machine", 10),
        p("i1", "1c", "assemble", 20),
        p("i2", "2a", "cut", 0),
        p("i2", "2c", "assemble", 4.5, "skipped_stage", "missing machine"),
        p("i3", "3c", "assemble", 7, "skipped_stage", "missing cut,machine"),
        p("i4", "4a", "assemble", 0),
        p("i4", "4b", "qc", 10),
        p("i4", "4c", "assemble", 20, detail="rework qc>assemble #1"),
        p("i4", "4d", "qc", 30),
    ]
    rows = {
        (r["kind"], r["before"], r["stage"], r["after"], r["bin"], r["items"]) for r in transit_rows(passes)
    }
    assert rows == {
        ("leg", "cut", "machine", "", transit_bin(int(9.5 * S)), 1),
        ("leg", "machine", "assemble", "", transit_bin(int(9.5 * S)), 1),
        ("passed", "cut", "machine", "assemble", transit_bin(int(19.5 * S)), 1),
        ("gap", "cut", "machine", "assemble", transit_bin(4 * S), 1),
        ("leg", "assemble", "qc", "", transit_bin(int(9.5 * S)), 2),  # the rework step is no leg
    }


def test_a_gap_is_timed_from_the_pass_before_it() -> None:
    passes = [p("i2", "2c", "assemble", 4.5, "skipped_stage", "missing machine"), p("i2", "2a", "cut", 0)]
    assert gap_of(passes, "2c", ["machine"]) == Gap(("machine",), False, KEY, transit_bin(4 * S))
    first = [p("i3", "3c", "assemble", 7, "skipped_stage", "missing cut,machine")]
    assert gap_of(first, "3c", ["cut", "machine"]) == Gap(("cut", "machine"), True, None, None)


def test_violations_get_their_line_models_chance() -> None:
    passes = [
        p("i2", "2a", "cut", 0),
        p("i2", "2c", "assemble", 20.5, "skipped_stage", "missing machine"),
    ]
    violations = [
        {"site": "S1", "line": "L1", "item": "i2", "pass_id": "2c", "missing": ["machine"]},
        {"site": "S1", "line": "L1", "item": "i5", "pass_id": "5a", "missing": []},
        {"site": "S1", "line": "L2", "item": "i2", "pass_id": "2c", "missing": ["machine"]},
    ]
    models = {("S1", "L1"): line_model()}
    found = missed_read_probabilities(violations, passes, models)
    assert found[0] == pytest.approx(1.0, abs=0.01)  # 20 s, as items that went through take
    assert found[1:] == [None, None]  # nothing missing; no model of that line
