"""The sink's part of a read in one process, without Kafka: CPU microseconds per read.

The trace messages the worker would ship for the bench's reads are made first, untimed, by
the in-process stage bench (loadtest/stagebench.py: stages 1 and 2, the trace encoded and
chunked as streams/shipping.py ships it). Then they go through the sink's own path
(storage/sink.py) into a fresh embedded store in a temporary directory, each part timed on
this process's CPU clock (``time.process_time``):

- ``decode``: each message decoded and checked by the trace codec (ingest/records/trace.py);
- ``convert``: its rows buffered by table, in the form the sink inserts (``Sink.add_trace``);
- ``insert``: the sink's flushes, real chDB inserts, when its policy calls for them
  (``Sink.flush_if_due`` after each poll, one every ``POLL_S`` while nothing arrives), on a
  clock on which each message arrives once the line has made the reads before it at
  ``--rate`` reads per second (default: what the full bench's pipeline took,
  docs/architecture.md), until the input has paused long enough for the last commit.

chDB runs inside this process, so its work counts in ``insert``. The figures are printed only
once the store is checked: as many distinct passes in ``passes FINAL`` as the stages made, one
``item_state`` row per item, each with the times, revision and counts of the latest row the
stages shipped for it. Otherwise the problems go to stderr and the exit status is 1.

    .venv/bin/python -m loadtest.sinkbench [--reads N] [--rate R] [--batch-max B] [--profile]

``--batch-max``: reports per stage batch (default: the worker's ``batch_max``); smaller
batches make more, smaller trace messages, as a worker that keeps up with its line ships.

A chDB process opens one data directory only: run it in a process of its own.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from typing import Any, cast

from confluent_kafka import Consumer
from prometheus_client import CollectorRegistry

from ingest.metrics import SinkMetrics
from ingest.records.trace import CODEC as TRACE
from ingest.settings import Settings
from loadtest.dataset import S, Shape, reads_for
from loadtest.stagebench import START_US, Run, charged, encoded_reports, finish, run_stages
from storage.client import Store, connect
from storage.sink import POLL_S, Sink

PARTS = ("decode", "convert", "insert")
# Reads per second of the full bench's pipeline (docs/architecture.md, "Where a read's CPU goes").
RATE = 47_000.0
# Reports per stage batch: the worker's batch_max, which its batches reach when it is the
# bottleneck, as in the full bench (about one batch of 100k reads every 2 s).
BATCH_MAX = Settings().batch_max

# What the store must hold, as (query, the key and fields of each latest row the stages shipped).
STORED = {
    "passes": (
        "SELECT pass_id, toUnixTimestamp64Micro(first_seen), toUnixTimestamp64Micro(last_seen),"
        " revision, outcome, reads FROM passes FINAL",
        ("pass_id", "first_seen", "last_seen", "revision", "outcome", "reads"),
    ),
    "item_state": (
        "SELECT item, toUnixTimestamp64Micro(first_seen), toUnixTimestamp64Micro(last_seen),"
        " revision, status, passes FROM item_state FINAL",
        ("item", "first_seen", "last_seen", "revision", "status", "passes"),
    ),
}


class _Unpolled:
    """The sink's consumer in the bench: never polled; a commit only counts."""

    def __init__(self) -> None:
        self.commits = 0

    def commit(self, asynchronous: bool = True) -> None:
        self.commits += 1


@dataclass
class Feed:
    """What feeding the messages cost and did."""

    cpu_s: dict[str, float] = field(default_factory=lambda: dict.fromkeys(PARTS, 0.0))
    wall_s: float = 0.0
    rows: Counter[str] = field(default_factory=Counter)
    inserts: int = 0

    def timed(self, part: str) -> AbstractContextManager[None]:
        return charged(self.cpu_s, part)


def arrivals(messages: Sequence[tuple[int, bytes]], reads_per_s: float) -> list[tuple[float, list[bytes]]]:
    """The messages as the sink's polls take them: those shipped together (after the same
    reads) arrive together, once the line has made those reads at ``reads_per_s``; the clock
    starts at 1 s, as a monotonic clock is never 0 (which the sink reads as "none")."""
    out: list[tuple[float, list[bytes]]] = []
    for reads, payload in messages:
        at = 1.0 + reads / reads_per_s
        if out and out[-1][0] == at:
            out[-1][1].append(payload)
        else:
            out.append((at, [payload]))
    return out


def feed(
    sink: Sink, registry: CollectorRegistry, messages: Sequence[tuple[int, bytes]], reads_per_s: float
) -> Feed:
    """Every message through the sink's decode, buffer and insert, as ``Sink.run`` takes them:
    a poll that finds nothing every POLL_S while none arrive, the flush policy after each poll,
    until the input has paused long enough for everything to be inserted and committed."""
    out = Feed()
    wall = time.perf_counter()
    now = 1.0
    for at, payloads in arrivals(messages, reads_per_s):
        while now + POLL_S < at:
            now += POLL_S
            with out.timed("insert"):
                sink.flush_if_due(now, False)
        now = max(now, at)
        for payload in payloads:
            with out.timed("decode"):
                tables = TRACE.decode(payload)
            for table, rows in tables.items():
                out.rows[table] += len(rows)
            with out.timed("convert"):
                sink.add_trace(tables)
        sink.uncommitted = True
        with out.timed("insert"):
            sink.flush_if_due(now, True)
    while sink.uncommitted or sink.buffered_rows:
        now += POLL_S
        with out.timed("insert"):
            sink.flush_if_due(now, False)
    out.wall_s = time.perf_counter() - wall
    out.inserts = int(registry.get_sample_value("linetrace_sink_batch_rows_count") or 0)
    return out


def problems(store: Store, run: Run) -> list[str]:
    """What the store holds that differs from what the stages shipped (empty when all agree)."""
    found = []
    for table, (sql, fields) in STORED.items():
        stored = {str(r[0]): list(r[1:]) for r in (list(row.values()) for row in store.query(sql))}
        shipped = {key: [row[f] for f in fields[1:]] for key, row in run.latest[table].items()}
        if len(stored) != len(shipped):
            found.append(f"{table}: {len(stored)} distinct keys stored, expected {len(shipped)}")
        wrong = [k for k, v in shipped.items() if stored.get(k) != v]
        if wrong:
            found.append(f"{table}: {len(wrong)} rows differ, e.g. {wrong[0]}: {stored.get(wrong[0])}")
    if len(run.latest["passes"]) != run.passes:
        found.append(f"passes shipped: {len(run.latest['passes'])}, the stages made {run.passes}")
    return found


def figures(run: Run, out: Feed) -> dict[str, Any]:
    per_read = {part: round(s * 1e6 / run.reads, 2) for part, s in out.cpu_s.items()}
    per_read["total"] = round(sum(out.cpu_s.values()) * 1e6 / run.reads, 2)
    return {
        "reads": run.reads,
        "passes": run.passes,
        "trace_messages": run.trace_messages,
        "rows": dict(sorted(out.rows.items())),
        "inserts": out.inserts,
        "cpu_s": round(sum(out.cpu_s.values()), 3),
        "wall_s": round(out.wall_s, 3),
        "cpu_us_per_read": per_read,
    }


def bench(
    reads: int, reads_per_s: float, profile: bool = False, settings: Settings | None = None
) -> tuple[dict[str, Any], list[str]]:
    """The figures of a run of about ``reads`` reads (whole items), and its problems."""
    base = settings or Settings()
    shape = Shape()
    items = max(1, reads // reads_for(1, shape))
    payloads = encoded_reports(items, shape, base.partitions)
    last_cycle_us = START_US + (len(payloads) + 1) * shape.cycle_us
    run = run_stages(base, shape, payloads, now_us=last_cycle_us + S, keep_messages=True)
    with tempfile.TemporaryDirectory(prefix="sinkbench-") as directory:
        settings = replace(base, clickhouse_dsn=f"chdb://{directory}")
        store = connect(settings)
        try:
            registry = CollectorRegistry()
            sink = Sink(settings, store, cast(Consumer, _Unpolled()), SinkMetrics(registry))
            profiler = cProfile.Profile() if profile else None
            if profiler is not None:
                profiler.enable()
            out = feed(sink, registry, run.messages or [], reads_per_s)
            if profiler is not None:
                profiler.disable()
                pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(30)
            return figures(run, out), problems(store, run)
        finally:
            store.close()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--reads", type=int, default=256_000, help="reads to send (whole items: 128 each)")
    parser.add_argument("--rate", type=float, default=RATE, help="reads per second of the sink's clock")
    parser.add_argument("--batch-max", type=int, default=BATCH_MAX, help="reports per stage batch")
    parser.add_argument("--profile", action="store_true", help="cProfile the sink's part (to stderr)")
    args = parser.parse_args(argv)
    settings = Settings(batch_max=args.batch_max)
    result, found = bench(args.reads, args.rate, args.profile, settings)
    finish("sinkbench: the store is incomplete or wrong", result, found)


if __name__ == "__main__":
    main()
