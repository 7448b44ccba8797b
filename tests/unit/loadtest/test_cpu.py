"""The bench's CPU accounting: a process's CPU seconds from /proc, and per read between samples."""

from __future__ import annotations

import os
import time

from loadtest.cpu import BENCH, CpuMeter, cpu_seconds, per_read


def test_a_process_cpu_seconds_grow_as_it_works() -> None:
    before = cpu_seconds(os.getpid())
    deadline = time.process_time() + 0.05
    while time.process_time() < deadline:
        pass
    assert cpu_seconds(os.getpid()) >= before + 0.02
    assert cpu_seconds(2**22 + 1) == 0.0  # no such process


def test_cpu_per_read_of_each_process_and_all() -> None:
    before = {"worker": 1.0, "sink": 2.0, BENCH: 0.5}
    after = {"worker": 3.0, "sink": 2.5, BENCH: 0.5, "broker": 0.25}  # the broker: first seen after

    assert per_read(before, after, 1_000_000) == {
        "worker": 2.0,
        "sink": 0.5,
        BENCH: 0.0,
        "broker": 0.25,
        "all": 2.75,
    }


def test_the_meter_samples_the_named_processes_and_itself() -> None:
    sample = CpuMeter(lambda: {"me": os.getpid()}).sample()
    assert set(sample) == {"me", BENCH} and sample["me"] > 0
