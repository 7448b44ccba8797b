"""What the bench checks after each of its phases, as plain data: no I/O.

A phase sends the reads of known items, every item read at every station of the bench's
clean line, so every pass it expects must be stored once, as a movement, with no violation
left open. Its figures count only when that holds.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ingest.schema import ReadCycleReport


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
    retracted_violations: int  # confirmed, then retracted by a late pass: reported, not failed

    @classmethod
    def of(cls, run: PhaseRun, verdicts: Mapping[str, Any]) -> PhaseCheck:
        """From a row of the ``verdicts`` query over the phase's window."""
        return cls(
            run.phase,
            run.passes_expected,
            int(verdicts["passes"]),
            int(verdicts["movements"]),
            int(verdicts["violations_open"]),
            int(verdicts["retracted_violations"]),
        )

    @property
    def complete(self) -> bool:
        return self.passes_stored == self.passes_expected

    @property
    def correct(self) -> bool:
        """Complete, and every pass judged a movement with no violation open (the clean line)."""
        return self.complete and self.movements == self.passes_expected and self.violations_open == 0

    def report(self) -> dict[str, int]:
        return {
            "passes_expected": self.passes_expected,
            "passes_stored": self.passes_stored,
            "movements": self.movements,
            "violations_open": self.violations_open,
            "retracted_violations": self.retracted_violations,
        }

    def problem(self) -> str:
        """The phase and its numbers, for the bench's failure message."""
        numbers = ", ".join(f"{key} {value:,}" for key, value in self.report().items())
        return f"{self.phase}: {numbers}"


def latency_sample_problem(phase: str, passes_expected: int, sampled: int) -> str:
    """Empty if the latency sample holds every expected pass of the phase."""
    if sampled == passes_expected:
        return ""
    return f"{phase}: the latency sample holds {sampled:,} passes of {passes_expected:,} expected"


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
