from __future__ import annotations

from contextlib import nullcontext

import pytest

from streams.guard import OffsetGap, OffsetGuard, TopicPartition

TP = ("lt.reads", 0)


@pytest.mark.parametrize(
    ("committed", "offsets", "gap_at"),
    [
        pytest.param(10, [10, 11, 12], None, id="continuous from the committed offset"),
        pytest.param(None, [0, 1, 2], None, id="nothing committed yet"),
        pytest.param(None, [57, 58], None, id="nothing committed, first offset anywhere"),
        pytest.param(10, [7, 8, 9, 10, 11], None, id="replay from below the committed offset"),
        pytest.param(10, [10, 11, 11, 10, 12], None, id="replay of offsets already seen"),
        pytest.param(10, [10, 11, 13], 13, id="gap"),
        pytest.param(10, [11], 11, id="first offset past the committed one"),
        pytest.param(10, [10, 11, 9, 13], 13, id="gap after a replay"),
    ],
)
def test_offset_guard(committed: int | None, offsets: list[int], gap_at: int | None) -> None:
    guard = OffsetGuard(lambda tp: committed if tp == TP else None)
    passed = []

    with pytest.raises(OffsetGap) if gap_at is not None else nullcontext():
        for offset in offsets:
            guard.check(TP, offset)
            passed.append(offset)

    assert passed == (offsets[: offsets.index(gap_at)] if gap_at is not None else offsets)


def test_partitions_are_checked_apart() -> None:
    committed: dict[TopicPartition, int] = {TP: 10, ("lt.reads", 1): 500}
    guard = OffsetGuard(committed.get)

    guard.check(TP, 10)
    guard.check(("lt.reads", 1), 500)
    guard.check(TP, 11)
    with pytest.raises(OffsetGap, match="offset 502 follows 500"):
        guard.check(("lt.reads", 1), 502)


def test_forgotten_partitions_start_again_from_the_committed_offset() -> None:
    committed: dict[TopicPartition, int] = {TP: 10}
    guard = OffsetGuard(committed.get)
    guard.check(TP, 10)
    guard.check(TP, 11)

    guard.forget([TP])
    committed[TP] = 12  # another worker processed and committed meanwhile

    guard.check(TP, 12)
    guard.forget([TP])
    with pytest.raises(OffsetGap):
        guard.check(TP, 14)


def test_retained_partitions_go_on_and_the_others_start_again() -> None:
    committed: dict[TopicPartition, int] = {TP: 10}
    guard = OffsetGuard(committed.get)
    guard.check(TP, 10)
    # Taken after a revocation (faust forgets a revoked partition's committed offset), from a
    # fetch before it; meanwhile another worker goes on and commits.
    guard.check(("lt.reads", 1), 168)
    committed[("lt.reads", 1)] = 250

    guard.retain([TP])
    guard.check(TP, 11)
    guard.check(("lt.reads", 1), 250)  # no gap: it starts again from the committed offset
    assert guard.last(("lt.reads", 1)) == 250
