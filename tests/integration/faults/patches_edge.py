"""Test-only patches of the edge and rebalance fault tests, applied in a child process by
launcher.py (``LINETRACE_TEST_PATCHES=keep_revoked_state``). Each switches one protection off
for a negative control.
"""

from __future__ import annotations


def patch_keep_revoked_state() -> None:
    """Control: the stream worker keeps the route state of partitions taken from it in a
    rebalance, so when one comes back it goes on from the state it had, without what the other
    worker changed in the meantime (and is not rebuilt from the changelog).

    The worker also skips, instead of ending on, events of a partition already taken from it
    (the new owner processes them): otherwise the supervisor may restart it, it rebuilds every
    partition from the changelog, and the control never uses the state it kept.
    """
    import streams.assignment
    from streams.stage2 import RouteStates

    def drop(self: RouteStates, partition: int) -> None:
        return None

    RouteStates.drop = drop  # type: ignore[method-assign]
    streams.assignment.progress_only = lambda payload: True
