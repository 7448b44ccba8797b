"""Tests whose answers count "this hour" (the line board: passes per station this hour) build
their scenario at one moment and read it a little later: across the top of an hour the same
data would count in the previous one. They start clear of it."""

from __future__ import annotations

import time

HOUR_S = 3600


def clear_of_the_hour(needed_s: float) -> None:
    """Return once the current clock hour has at least ``needed_s`` left (sleeping into the
    next hour if it has not), so a scenario built now is read within the same hour."""
    left = HOUR_S - time.time() % HOUR_S
    if left < needed_s:
        time.sleep(left + 1.0)
