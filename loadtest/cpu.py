"""CPU time of the pipeline's processes, read from ``/proc``: what each costs per read.

The bench samples every process of the stack (the stream worker, the sink, the broker) and
itself (the producer) before and after a phase; the difference per read is each one's
``cpu_us_per_read`` (user + system time, all its threads). Linux only, as the bench is.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path

TICKS_PER_S = os.sysconf("SC_CLK_TCK")
BENCH = "bench"  # the bench process itself: the producer


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far; 0.0 if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    # The command name (field 2) may hold spaces: the fields after it start past its ')'.
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / TICKS_PER_S


class CpuMeter:
    """Samples the CPU seconds of named processes (``pids()`` asked at each sample, since a
    supervised child may have been restarted) and of this process."""

    def __init__(self, pids: Callable[[], Mapping[str, int]]):
        self.pids = pids

    def sample(self) -> dict[str, float]:
        taken = {name: cpu_seconds(pid) for name, pid in self.pids().items()}
        taken[BENCH] = time.process_time()
        return taken


def per_read(before: Mapping[str, float], after: Mapping[str, float], reads: int) -> dict[str, float]:
    """CPU µs per read of each process between two samples, and of them all (``all``)."""
    spent = {name: max(0.0, after[name] - before.get(name, 0.0)) for name in after}
    out = {name: round(seconds * 1e6 / max(1, reads), 2) for name, seconds in spent.items()}
    out["all"] = round(sum(spent.values()) * 1e6 / max(1, reads), 2)
    return out
