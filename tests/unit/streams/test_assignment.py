"""The rebalance rules of the stream worker, without faust: what an assignment owns, what a
revocation drops, which events are applied, skipped or end the worker, which states are
rebuilt from the changelog, and which offsets the guard forgets."""

from __future__ import annotations

from typing import Any

import pytest

from streams.assignment import Assignment
from streams.bundles import BundleBuilder
from streams.guard import NotAssigned, OffsetGap, OffsetGuard, TopicPartition
from streams.progress import InputProgress, source_of
from tests.unit.factories import part, pass_record

BUNDLES, READS = "lt.item-bundles", "lt.reads"


def bundle(*records: dict[str, Any], progress: bool = False) -> bytes:
    """One item-bundles message holding ``records`` (and stage 1's progress, last)."""
    builder = BundleBuilder(1)
    for r in records:
        builder.add(r)
    if progress:
        record = InputProgress()
        record.advance(source_of(READS, 0), 1_000)
        builder.add_progress(record.record())
    [(_, payload)] = builder.messages()
    return payload


PROGRESS_ONLY = bundle(progress=True)
PASSES = bundle(pass_record(part(1), "CUT-1", 1), progress=True)


def assignment(*tps: TopicPartition, committed: dict[TopicPartition, int] | None = None) -> Assignment:
    offsets = committed if committed is not None else {}
    guard = OffsetGuard(offsets.get)
    first, stale = Assignment.before_any(BUNDLES, guard).next(tps, loaded=[])
    assert stale == []
    return first


def test_an_assignment_owns_its_item_bundles_partitions_and_restores_those_without_input() -> None:
    a = assignment((BUNDLES, 0), (BUNDLES, 2), (READS, 1))

    assert a.owned == {0, 2}
    assert a.inputs({READS}) == [(READS, 1)]
    # Partition 2 had input and was rebuilt then; 0 has had none: the timer rebuilds it.
    assert a.to_restore(loaded={2}) == [0]
    assert a.to_restore(loaded={2}, partitions={2}) == []
    assert a.to_restore(loaded=set(), partitions={2, 5}) == [2]  # 5 is not this worker's


def test_before_the_first_assignment_nothing_is_owned_or_restored() -> None:
    a = Assignment.before_any(BUNDLES, OffsetGuard(lambda tp: None))

    assert a.owned == set() and a.to_restore(loaded=set()) == []
    with pytest.raises(NotAssigned):
        a.admit((BUNDLES, 0), 0, PASSES)


def test_a_revocation_drops_the_revoked_partitions_states_and_ownership() -> None:
    a = assignment((BUNDLES, 0), (BUNDLES, 1), (READS, 0))

    assert a.revoke([(BUNDLES, 1), (READS, 0)]) == [1]

    assert a.owned == {0}
    assert a.held == {(BUNDLES, 0)}
    assert a.to_restore(loaded=set()) == [0]


def test_a_reassignment_keeps_no_state_rebuilt_in_the_gap() -> None:
    a = assignment((BUNDLES, 0), (BUNDLES, 1))
    a.revoke([(BUNDLES, 0), (BUNDLES, 1)])  # faust revokes every partition in a rebalance

    # A state of partition 1 loaded between the revocation and the assignment missed what the
    # other worker wrote meanwhile: dropped, and rebuilt from the changelog as it is now.
    b, stale = a.next([(BUNDLES, 1), (BUNDLES, 2)], loaded=[1])

    assert stale == [1]
    assert b.owned == {1, 2}
    assert b.to_restore(loaded=set()) == [1, 2]


def test_a_reassignment_keeps_the_states_of_partitions_held_throughout() -> None:
    a = assignment((BUNDLES, 0), (BUNDLES, 1))
    a.revoke([(BUNDLES, 1)])

    b, stale = a.next([(BUNDLES, 0), (BUNDLES, 3)], loaded=[0, 1])

    assert stale == [1]
    assert b.to_restore(loaded={0}) == [3]


def test_events_of_owned_partitions_are_applied() -> None:
    a = assignment((BUNDLES, 0))

    assert a.admit((BUNDLES, 0), 0, PASSES)
    assert a.admit((BUNDLES, 0), 1, PROGRESS_ONLY)


def test_progress_alone_of_a_revoked_partition_is_skipped() -> None:
    a = assignment((BUNDLES, 0), (BUNDLES, 1))
    a.revoke([(BUNDLES, 1)])

    assert not a.admit((BUNDLES, 1), 7, PROGRESS_ONLY)


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(PASSES, id="item records"),
        pytest.param(bundle(pass_record(part(2), "CUT-1", 1)), id="item records without progress"),
        pytest.param(b"\x00not a bundle", id="undecodable"),
    ],
)
def test_any_other_event_of_a_revoked_partition_ends_the_worker(payload: bytes) -> None:
    a = assignment((BUNDLES, 0), (BUNDLES, 1))
    a.revoke([(BUNDLES, 1)])

    with pytest.raises(NotAssigned, match=r"lt.item-bundles\[1\]@7"):
        a.admit((BUNDLES, 1), 7, payload)


def test_an_offset_hole_in_an_owned_partition_ends_the_worker() -> None:
    a = assignment((BUNDLES, 0), committed={(BUNDLES, 0): 10})

    assert a.admit((BUNDLES, 0), 10, PASSES)
    with pytest.raises(OffsetGap):
        a.admit((BUNDLES, 0), 12, PASSES)


def test_offsets_taken_between_revocation_and_assignment_are_forgotten() -> None:
    committed: dict[TopicPartition, int] = {(READS, 0): 10, (READS, 1): 100}
    a = assignment((READS, 0), (READS, 1), committed=committed)
    a.guard.check((READS, 0), 10)
    a.guard.check((READS, 1), 100)
    a.revoke([(READS, 1)])
    assert a.guard.last((READS, 1)) is None  # revoked: forgotten at once

    # Fetched before the rebalance and taken after the revocation (faust forgets a revoked
    # partition's committed offset); meanwhile the partition's other owner goes on and commits.
    del committed[(READS, 1)]
    a.guard.check((READS, 1), 168)
    committed[(READS, 1)] = 250
    b, _ = a.next([(READS, 0), (READS, 1)], loaded=[])

    assert b.guard.last((READS, 1)) is None
    b.guard.check((READS, 1), 250)  # from the committed offset, not taken for a hole after 168
    b.guard.check((READS, 0), 11)  # held throughout: goes on where it was
    with pytest.raises(OffsetGap):
        b.guard.check((READS, 0), 13)
