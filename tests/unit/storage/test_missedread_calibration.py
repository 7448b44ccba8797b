"""p_missed_read against the truth of simulated lines: calibrated, and ranking missed reads first.

The scenarios are in tests/unit/storage/calibration.py (``python -m`` it for the figures); each
is simulated once here. Over every skipped-stage violation, each decile of p (140-230 gaps)
holds within 0.1 as many missed reads as its mean p says. Over the violations where a skip
was possible at all (a gap only at the first stage of a route is taken as a missed read),
deciles hold 75-105 gaps, where sampling alone moves a decile's share by 0.05 (one standard
error): there the bound is 0.1 plus two standard errors.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from tests.unit.storage.calibration import (
    CALIBRATION_TOLERANCE,
    MIN_PER_DECILE,
    SCENARIOS,
    Scenario,
    measure,
)

TESTED = [pytest.param(s, id=s.name) for s in SCENARIOS if s.ranking_floor > 0]


@pytest.fixture(scope="module", params=TESTED)
def measured(request: pytest.FixtureRequest) -> tuple[Scenario, dict[str, Any]]:
    scenario: Scenario = request.param
    return scenario, measure(scenario)


def test_each_decile_of_p_holds_as_many_missed_reads_as_it_says(
    measured: tuple[Scenario, dict[str, Any]],
) -> None:
    _, figures = measured
    found = figures["all"]
    assert found["deciles_counted"] == 10  # at least MIN_PER_DECILE gaps in every decile
    for decile in found["deciles"]:
        assert decile["error"] <= CALIBRATION_TOLERANCE, decile


def test_where_a_skip_was_possible_p_is_calibrated_within_sampling(
    measured: tuple[Scenario, dict[str, Any]],
) -> None:
    _, figures = measured
    found = figures["skippable"]
    assert found["deciles_counted"] == 10
    for decile in found["deciles"]:
        p, n = decile["mean_p"], decile["gaps"]
        assert decile["error"] <= CALIBRATION_TOLERANCE + 2 * math.sqrt(p * (1 - p) / n), decile


def test_a_missed_read_scores_above_a_skip(measured: tuple[Scenario, dict[str, Any]]) -> None:
    scenario, figures = measured
    assert figures["all"]["skips"] >= MIN_PER_DECILE
    assert figures["all"]["ranking"] >= scenario.ranking_floor


def test_p_ranks_as_well_as_the_true_transit_times_would(
    measured: tuple[Scenario, dict[str, Any]],
) -> None:
    # What the fitted model leaves on the table: the simulator's own transit times of missed
    # reads and of skips, each span's true share, rank the same gaps at most this much better.
    _, figures = measured
    for subset in ("all", "skippable"):
        assert figures[subset]["ranking"] >= figures[subset]["ranking_true_timing"] - 0.01
