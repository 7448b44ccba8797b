"""Route validation: judge an item's passes, in event-time order, against its product's route.

``judge`` is a pure function of the route and the ordered passes, so a late pass is
handled by inserting it where its event time puts it and judging again; the caller
compares the new verdicts with the old ones and emits only what changed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from ingest.plant import ReworkLoop, Route

MOVEMENT = "movement"
SKIPPED_STAGE = "skipped_stage"
OUT_OF_SEQUENCE = "out_of_sequence"
LOOP_LIMIT_EXCEEDED = "loop_limit_exceeded"
SEEN_AFTER_COMPLETION = "seen_after_completion"
SEEN_AFTER_DISPATCH = "seen_after_dispatch"
OFF_ROUTE = "stage_not_in_route"
UNKNOWN_ITEM = "unknown_item"
UNKNOWN_ROUTE = "unknown_route"
ON_HOLD = "on_hold"  # read while a hold on it (or on anything it was made from) is in force
VIOLATIONS = (
    SKIPPED_STAGE,
    OUT_OF_SEQUENCE,
    LOOP_LIMIT_EXCEEDED,
    SEEN_AFTER_COMPLETION,
    SEEN_AFTER_DISPATCH,
    OFF_ROUTE,
    UNKNOWN_ITEM,
    UNKNOWN_ROUTE,
    ON_HOLD,
)

IN_PROCESS = "in_process"
COMPLETE = "complete"
ASSEMBLED = "assembled"
CONSUMED = "consumed"  # an input of a transformation
DISPATCHED = "dispatched"  # passed a dispatch stage: it has left the plant
NEW = "new"
REJECTED = "rejected"  # failed QC
UNKNOWN = "unknown"  # seen, but no product or route to judge it against


@dataclass(frozen=True, slots=True)
class Step:
    """What the judge needs of a pass."""

    pass_id: str
    stage: str
    time_us: int


class Judged(Protocol):
    """What the judge reads of a pass: a ``Step``, or an item's pass record as it is (stage 2
    judges an item's history on every change, and a step built per pass cost as much as
    judging it)."""

    @property
    def pass_id(self) -> str: ...

    @property
    def stage(self) -> str: ...


# Verdicts and positions are built once per pass each time its item changes, and never
# changed once built; they are not frozen dataclasses because a frozen one sets each field
# through object.__setattr__, which cost stage 2 about a tenth of its CPU.
@dataclass(slots=True)
class Verdict:
    pass_id: str
    outcome: str  # MOVEMENT or one of VIOLATIONS
    detail: str = ""


@dataclass(slots=True)
class Position:
    """Where an item stands on its route after its judged passes."""

    index: int = -1  # index in route.stages of the last stage reached; -1 before the first
    status: str = NEW
    loops: tuple[tuple[str, int], ...] = field(default=())

    def loop_count(self, key: str) -> int:
        return dict(self.loops).get(key, 0)


def judge(
    route: Route | None,
    steps: Sequence[Judged],
    start: Position | None = None,
    no_route_reason: str = UNKNOWN_ROUTE,
) -> tuple[list[Verdict], Position]:
    """Verdict for each step (in the order given, which must be event-time order)."""
    position = start or Position()
    verdicts = []
    skips: list[tuple[int, list[str]]] = []  # skipped-stage verdicts: index, stages still missing
    for step in steps:
        if route is None:
            verdicts.append(Verdict(step.pass_id, no_route_reason, f"no route for stage {step.stage}"))
            continue
        verdict, position = _judge_step(route, step, position)
        if verdict.outcome == SKIPPED_STAGE:
            skips.append((len(verdicts), missing_stages(verdict.outcome, verdict.detail)))
        elif verdict.outcome in (OUT_OF_SEQUENCE, SEEN_AFTER_COMPLETION):
            _account_for(skips, step.stage)
        verdicts.append(verdict)
    for index, missing in skips:
        pass_id = verdicts[index].pass_id
        if not missing:
            verdicts[index] = Verdict(pass_id, MOVEMENT)
        elif missing != missing_stages(SKIPPED_STAGE, verdicts[index].detail):
            verdicts[index] = Verdict(pass_id, SKIPPED_STAGE, f"missing {','.join(missing)}")
    return verdicts, position


def _account_for(skips: list[tuple[int, list[str]]], stage: str) -> None:
    """A stage read after a later stage was: one deviation, reported once, as the
    out-of-sequence pass; the earlier skip no longer counts that stage as missing."""
    for _, missing in skips:
        if stage in missing:
            missing.remove(stage)
            return


def _judge_step(route: Route, step: Judged, pos: Position) -> tuple[Verdict, Position]:
    stages = route.stages
    if step.stage not in stages:
        return Verdict(step.pass_id, OFF_ROUTE, f"stage {step.stage} is not on the route"), pos
    target = stages.index(step.stage)
    if pos.status == DISPATCHED and target != pos.index:
        return Verdict(step.pass_id, SEEN_AFTER_DISPATCH, f"at {step.stage} after dispatch"), pos
    reworked = target < pos.index and _loop(route, stages[pos.index], step.stage) is not None
    if pos.status == COMPLETE and target != pos.index and not reworked:
        return Verdict(step.pass_id, SEEN_AFTER_COMPLETION, f"at {step.stage} after completing"), pos
    if target in (pos.index, pos.index + 1):
        return Verdict(step.pass_id, MOVEMENT), _advance(route, pos, target, pos.loops)
    if target > pos.index:
        missing = [s for s in stages[pos.index + 1 : target] if s not in route.optional]
        verdict = (
            Verdict(step.pass_id, SKIPPED_STAGE, f"missing {','.join(missing)}")
            if missing
            else (Verdict(step.pass_id, MOVEMENT))
        )
        return verdict, _advance(route, pos, target, pos.loops)
    current = stages[pos.index]
    loop = _loop(route, current, step.stage)
    if loop is not None:
        key = f"{loop.from_stage}>{loop.to_stage}"
        count = pos.loop_count(key) + 1
        loops = tuple(sorted({**dict(pos.loops), key: count}.items()))
        if count > loop.max_count:
            return (
                Verdict(
                    step.pass_id,
                    LOOP_LIMIT_EXCEEDED,
                    f"rework {key} #{count} > {loop.max_count}",
                ),
                _advance(route, pos, target, loops),
            )
        return Verdict(step.pass_id, MOVEMENT, f"rework {key} #{count}"), _advance(route, pos, target, loops)
    return Verdict(step.pass_id, OUT_OF_SEQUENCE, f"back to {step.stage} from {current}"), pos


def missing_stages(outcome: str, detail: str) -> list[str]:
    """The stages a skipped-stage verdict says are missing (its detail is 'missing a,b')."""
    if outcome != SKIPPED_STAGE or not detail.startswith("missing "):
        return []
    return detail[len("missing ") :].split(",")


def _loop(route: Route, current: str, back_to: str) -> ReworkLoop | None:
    for loop in route.rework:
        if loop.from_stage == current and loop.to_stage == back_to:
            return loop
    return None


def _advance(route: Route, pos: Position, target: int, loops: tuple[tuple[str, int], ...]) -> Position:
    if route.stages[target] in route.dispatch:
        status = DISPATCHED
    else:
        status = COMPLETE if target == len(route.stages) - 1 else IN_PROCESS
    return Position(target, status, loops)
