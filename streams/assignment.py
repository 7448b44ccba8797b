"""What a stream worker holds between two rebalances, and the rules that follow from it.

faust drives the rebalances: its ``on_partitions_assigned`` signal builds the next
``Assignment`` (as getsentry/arroyo builds a processing strategy per assignment), its
``on_partitions_revoked`` signal tells the current one what was taken away, and the agents
ask it about every item-bundles event. The rules, and why each exists:

- Owned partitions come from the rebalance signals, not from ``consumer.assignment()``,
  which still lists revoked partitions until the next assignment: a state rebuilt in that
  gap was kept through the next assignment and missed what the other worker wrote meanwhile
  (passes doubled, verdicts wrong). So at an assignment every state loaded for a partition
  the previous assignment did not own any more is dropped, and each owned partition is
  rebuilt from its changelog as it is now (``to_restore``), by its first input or by the
  timer when it has none.
- A revoked partition's state is dropped: it is the new owner's.
- An item-bundles event of a partition taken away (fetched before the rebalance) ends the
  worker (``NotAssigned``): its state is another worker's now, and changelog records
  written for it here could land after the new owner's. A bundle of stage 1's input
  progress alone is skipped instead: it changes no state, and the new owner hears the
  progress again (it reaches every partition with every batch, so it is nearly always in
  flight at a revocation).
- The offset guard (``streams/guard.py``) forgets the offsets of revoked partitions, and at
  the next assignment those taken since the revocation (events fetched before the
  rebalance), so it checks the new assignment against the committed offsets instead of
  taking the jump for a hole.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

from ingest.errors import InvalidInput
from streams.bundles import decode_bundle
from streams.guard import NotAssigned, OffsetGuard, TopicPartition
from streams.progress import PROGRESS


class Assignment:
    """The partitions assigned to this worker at one rebalance, less those revoked since."""

    def __init__(self, bundles: str, assigned: Iterable[TopicPartition], guard: OffsetGuard):
        self.bundles = bundles  # the item-bundles topic: its partitions own route states
        self.guard = guard  # lives across assignments; offsets of partitions held throughout go on
        self.held: set[TopicPartition] = set(assigned)
        self.owned: set[int] = {p for topic, p in self.held if topic == bundles}

    @classmethod
    def before_any(cls, bundles: str, guard: OffsetGuard) -> Assignment:
        """A worker's assignment before faust's first: it owns nothing."""
        return cls(bundles, (), guard)

    def next(self, assigned: Iterable[TopicPartition], loaded: Iterable[int]) -> tuple[Assignment, list[int]]:
        """The assignment that follows this one, and which of the ``loaded`` states to drop:
        every one this assignment no longer owns (none rebuilt before the assignment is kept).
        Offsets taken since the revocation are forgotten."""
        stale = sorted(p for p in loaded if p not in self.owned)
        self.guard.retain(self.held)
        return Assignment(self.bundles, assigned, self.guard), stale

    def revoke(self, revoked: Iterable[TopicPartition]) -> list[int]:
        """Told of a revocation: the item-bundles partitions whose states to drop."""
        taken = set(revoked)
        self.guard.forget(taken)
        self.held -= taken
        gone = sorted(p for topic, p in taken if topic == self.bundles)
        self.owned.difference_update(gone)
        return gone

    def to_restore(self, loaded: Collection[int], partitions: Iterable[int] | None = None) -> list[int]:
        """Owned partitions (of ``partitions``, or all) whose states are not loaded: each is
        rebuilt from its changelog before its input is applied."""
        wanted = self.owned if partitions is None else self.owned.intersection(partitions)
        return sorted(p for p in wanted if p not in loaded)

    def admit(self, tp: TopicPartition, offset: int, payload: bytes) -> bool:
        """Whether an item-bundles event is to be applied (True) or skipped (False); raises
        ``NotAssigned`` for one that must end the worker, and ``OffsetGap`` after a hole."""
        if tp[1] not in self.owned:
            if progress_only(payload):
                return False  # changes no state; the partition's new owner hears it again
            raise NotAssigned(f"{tp[0]}[{tp[1]}]@{offset} is not assigned here")
        self.guard.check(tp, offset)
        return True

    def inputs(self, topics: Collection[str]) -> list[TopicPartition]:
        """The held partitions of these topics (stage 1's inputs), sorted."""
        return sorted(tp for tp in self.held if tp[0] in topics)


def progress_only(payload: bytes) -> bool:
    """Whether an item bundle holds only stage 1's input progress (no item's records)."""
    try:
        return all(r["k"] == PROGRESS for r in decode_bundle(payload))
    except (InvalidInput, KeyError, TypeError):
        return False
