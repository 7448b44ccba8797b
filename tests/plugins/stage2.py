"""Stage 2 driven by hand in unit tests: the route states of one partition, records applied
and settled, and what they forward to other items fed back until nothing more is forwarded
(as the item-bundles topic would bring it back).

A pytest plugin (``-p tests.plugins.stage2`` in pyproject.toml): the ``states`` fixture is
fresh route states owning the test module's partition ``P`` under its ``SETTINGS``; the
functions are imported where a test needs more than one set of states (a restart).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest

from ingest.plant import Plant
from ingest.settings import Settings
from streams.stage2 import Changes, RouteStates

Record = dict[str, Any]


def loaded(
    plant: Plant, settings: Settings, partition: int, changelog: Iterable[tuple[bytes, bytes]] = ()
) -> RouteStates:
    """Route states owning ``partition``, rebuilt from ``changelog`` records (none: empty)."""
    states = RouteStates(settings, plant)
    states.load(partition, list(changelog))
    return states


def feed(states: RouteStates, partition: int, *records: Record, idle: bool = False) -> Changes:
    """Apply ``records`` and settle (``idle``: every input idle, so verdicts are confirmed)."""
    states.apply(partition, list(records))
    return states.settle(partition, idle=idle)


def run(states: RouteStates, partition: int, *records: Record, idle: bool = True) -> list[Changes]:
    """Apply ``records``, then everything they forward, until nothing is forwarded."""
    out: list[Changes] = []
    pending = list(records)
    while pending:
        out.append(feed(states, partition, *pending, idle=idle))
        pending = out[-1].forwards
    return out


@pytest.fixture
def states(request: pytest.FixtureRequest, plant: Plant) -> RouteStates:
    """Route states owning the test module's partition ``P`` (0 if it has none), with its
    ``SETTINGS`` (the defaults if it has none), fresh for each test."""
    module = request.module
    return loaded(plant, getattr(module, "SETTINGS", Settings()), getattr(module, "P", 0))
