"""What the bench checks after each of its phases, as plain data: no I/O.

A phase sends the reads of known items, every item read at every station of the bench's
clean line, so every pass it expects must be stored once, as a movement, with no violation
left open and none confirmed and later retracted. Its figures count only when that holds.

The stream worker's pass candidates are reported beside the check, not checked: stage 1
sends each pass once while it keeps its state, but a worker that restarts forgets the passes
it had open and sends their next reads again, which stage 2 merges into the passes it holds.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from ingest.schema import ReadCycleReport

# The worker's counter of pass candidates, by outcome (ingest/metrics.py).
CANDIDATES = "linetrace_pass_candidates_total"


@dataclass(frozen=True)
class PhaseRun:
    """What one phase sent and measured. ``window``: the event time of its reads, [since,
    until) in microseconds, holding no other phase's reads; ``figures`` count only once the
    phase is checked complete and correct."""

    phase: str
    window: tuple[int, int]
    passes_expected: int
    figures: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PhaseCheck:
    """What the store holds of a phase's window once its verdicts have settled."""

    phase: str
    passes_expected: int
    passes_stored: int  # distinct passes, each with its latest verdict
    movements: int
    violations_open: int
    retracted_violations: int  # confirmed, then retracted by a late pass
    pass_candidates: int  # stage 2 took, while the phase ran: reported, not checked
    extra_candidates: int  # of those, the ones that were no new pass (merged or duplicates)

    @classmethod
    def of(cls, run: PhaseRun, verdicts: Mapping[str, Any], candidates: Mapping[str, int]) -> PhaseCheck:
        """From a row of the ``verdicts`` query over the phase's window, and the pass candidates
        the worker took while the phase ran, by outcome."""
        taken = sum(candidates.values())
        return cls(
            run.phase,
            run.passes_expected,
            int(verdicts["passes"]),
            int(verdicts["movements"]),
            int(verdicts["violations_open"]),
            int(verdicts["retracted_violations"]),
            taken,
            taken - candidates.get("new", 0),
        )

    @property
    def complete(self) -> bool:
        return self.passes_stored == self.passes_expected

    @property
    def correct(self) -> bool:
        """Complete, and every pass judged a movement, with no violation open or ever confirmed
        and then retracted (the clean line)."""
        return (
            self.complete
            and self.movements == self.passes_expected
            and self.violations_open == 0
            and self.retracted_violations == 0
        )

    def report(self) -> dict[str, int]:
        return {
            "passes_expected": self.passes_expected,
            "passes_stored": self.passes_stored,
            "movements": self.movements,
            "violations_open": self.violations_open,
            "retracted_violations": self.retracted_violations,
            "pass_candidates": self.pass_candidates,
            "extra_candidates": self.extra_candidates,
        }

    def problem(self) -> str:
        """The phase and its numbers, for the bench's failure message."""
        numbers = ", ".join(f"{key} {value:,}" for key, value in self.report().items())
        return f"{self.phase}: {numbers}"


@dataclass(frozen=True)
class CaptureCheck:
    """What the store holds of the EPCIS capture phase: its passes (made by the events' reads),
    checked as any phase's, and its events: each stored once and answered by the EPCIS query
    exactly as posted, nothing else answered, and no event refused by the capture job."""

    passes: PhaseCheck
    events_expected: int
    event_rows: int  # rows the phase added to epcis_events: one per event
    events_answered: int  # ObjectEvents GET /epcis/events answers for the phase's items and window
    events_as_posted: int  # posted events it answers exactly as posted
    capture_errors: int  # events the capture job refused (1 if the job failed without naming one)

    @classmethod
    def of(
        cls,
        passes: PhaseCheck,
        posted: Mapping[str, Mapping[str, Any]],
        event_rows: int,
        answered: Iterable[Mapping[str, Any]],
        job: Mapping[str, Any],
    ) -> CaptureCheck:
        """From the events posted, by eventID, the rows stored, the query's answer and the
        finished capture job."""
        answered = list(answered)
        same = {str(e["eventID"]) for e in answered if posted.get(str(e.get("eventID"))) == e}
        errors = len(job.get("errors", [])) or (0 if job.get("success") else 1)
        return cls(passes, len(posted), event_rows, len(answered), len(same), errors)

    @property
    def phase(self) -> str:
        return self.passes.phase

    @property
    def complete(self) -> bool:
        return self.passes.complete and self.events_as_posted == self.events_expected

    @property
    def correct(self) -> bool:
        return (
            self.complete
            and self.passes.correct
            and self.event_rows == self.events_answered == self.events_expected
            and self.capture_errors == 0
        )

    def report(self) -> dict[str, int]:
        return {
            **self.passes.report(),
            "events_expected": self.events_expected,
            "event_rows": self.event_rows,
            "events_answered": self.events_answered,
            "events_as_posted": self.events_as_posted,
            "capture_errors": self.capture_errors,
        }

    def problem(self) -> str:
        numbers = ", ".join(f"{key} {value:,}" for key, value in self.report().items())
        return f"{self.phase}: {numbers}"


def candidate_counts(page: str) -> dict[str, int]:
    """The worker's pass candidates so far, by outcome, from the text of its /metrics."""
    return {
        sample.labels["outcome"]: int(sample.value)
        for family in text_string_to_metric_families(page)
        for sample in family.samples
        if sample.name == CANDIDATES
    }


def counted_since(before: Mapping[str, int], now: Mapping[str, int]) -> dict[str, int]:
    """What the counters added from ``before`` to ``now``; a counter that went down was reset
    (the worker restarted), so all it holds counts, as Prometheus's ``increase`` takes it."""
    reset = any(now.get(k, 0) < v for k, v in before.items())
    return {k: v if reset else v - before.get(k, 0) for k, v in now.items()}


def latency_sample_problem(phase: str, passes_expected: int, sampled: int) -> str:
    """Empty if the latency sample holds every expected pass of the phase."""
    if sampled == passes_expected:
        return ""
    return f"{phase}: the latency sample holds {sampled:,} passes of {passes_expected:,} expected"


def epcis_answer_problem(events: list[dict[str, Any]], epc: str, parent: str, passes: int) -> str:
    """Empty if ``events``, the EPCIS query's answer for a component of the query bench's
    store, are its ``passes`` OBSERVE ObjectEvents at distinct read points and the one
    AggregationEvent ADD that packed it into ``parent``."""
    observed = [e for e in events if e["type"] == "ObjectEvent"]
    packed = [e for e in events if e["type"] == "AggregationEvent"]
    own = {e["readPoint"]["id"] for e in observed if e["epcList"] == [epc] and e["action"] == "OBSERVE"}
    if len(observed) != passes or len(own) != passes:
        return (
            f"{epc}: {len(observed)} ObjectEvents, {len(own)} of it at distinct read points; {passes} passes"
        )
    if len(events) != passes + 1 or len(packed) != 1:
        return f"{epc}: {len(events)} events, {len(packed)} AggregationEvents; expected {passes + 1}, 1"
    pack = packed[0]
    if (pack.get("parentID"), pack.get("childEPCs"), pack.get("action")) != (parent, [epc], "ADD"):
        return f"{epc}: packed into {pack.get('parentID')} ({pack.get('action')}), not into {parent}"
    return ""


def failure_message(problems: Iterable[str]) -> str:
    return "bench output not complete and correct; " + "; ".join(problems)


def read_offsets(report: ReadCycleReport) -> tuple[int, int]:
    """The first and last read of a report, in µs after its cycle start."""
    offsets = [read.time_us - report.cycle_start_us for read in report.reads]
    return min(offsets), max(offsets)


@dataclass
class ReadWindow:
    """The event time of a phase's reads, [first, last + 1 µs), added report by report as
    they are sent (a paced run stamps each report's cycle start as it sends it)."""

    first_us: int | None = None
    last_us: int | None = None

    def add(self, cycle_start_us: int, offsets: tuple[int, int]) -> None:
        first, last = cycle_start_us + offsets[0], cycle_start_us + offsets[1]
        self.first_us = first if self.first_us is None else min(self.first_us, first)
        self.last_us = last if self.last_us is None else max(self.last_us, last)

    @property
    def bounds(self) -> tuple[int, int]:
        if self.first_us is None or self.last_us is None:
            raise ValueError("no reads sent")
        return self.first_us, self.last_us + 1
