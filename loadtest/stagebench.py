"""The stream worker's stages in one process, without Kafka: CPU microseconds per read.

The bench's reports (loadtest/dataset.py: its clean line of 8 stations, 200 reads per
report, 16 per tag per pass) are encoded to wire bytes first, untimed. Then each part of the
worker is timed on this process's CPU clock (``time.process_time``) as the worker runs it:

- ``stage1``: batches of ``batch_max`` reports through ``Stage1`` (new_batch, take_report,
  end_batch) and the encoding of their item bundles (streams/processor.py ``stage1_batch``);
- ``stage2``: each batch's bundles decoded, applied to the route states of their partition
  and settled, one routes batch behind each stage 1 batch (``routes_batch``);
- ``trace``: the trace rows of both stages encoded into trace messages, chunked as the
  shipper chunks them (streams/shipping.py).

The figures are printed only once the output is checked complete and correct: every read and
report taken, the passes stage 1 found those the generator made (one per item per station),
each stored once as a movement, an item's passes in route order, no violation and no dead
letter (the line is clean). Otherwise the problems go to stderr and the exit status is 1.

    .venv/bin/python -m loadtest.stagebench [--reads N] [--profile]

``--profile`` runs the timed parts under cProfile and writes the functions that cost most
to stderr; its figures include the profiler's overhead.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import sys
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Any

from ingest.settings import Settings
from ingest.topics import Topics
from ingest.wire import encode_report
from loadtest.dataset import S, Shape, bench_plant, reads_for, reports
from streams.bundles import decode_bundle
from streams.progress import source_of
from streams.shipping import TRACE_MAX_BYTES, Row, encode_trace_messages, stage2_trace, trace_chunks
from streams.stage1 import Stage1
from streams.stage2 import RouteStates

PARTS = ("stage1", "stage2", "trace")
# The bench's reports start at a fixed time, so a run is the same on any day; the worker's
# clock is put just after the last read (reads are checked against it for age and skew).
START_US = 1_767_225_600 * S  # 2026-01-01T00:00:00Z
LATEST_ROWS_KEY = {"passes": "pass_id", "item_state": "item", "violations": "pass_id"}


@contextmanager
def charged(cpu_s: dict[str, float], part: str) -> Iterator[None]:
    """The process CPU time of the block, added to ``cpu_s[part]``."""
    started = time.process_time()
    try:
        yield
    finally:
        cpu_s[part] += time.process_time() - started


@dataclass
class Run:
    """What the timed run took and produced: CPU seconds per part, counts, the rows kept."""

    cpu_s: dict[str, float] = field(default_factory=lambda: dict.fromkeys(PARTS, 0.0))
    reads: int = 0
    reports: int = 0
    passes: int = 0
    dead_letters: int = 0
    trace_messages: int = 0
    candidates: Counter[str] = field(default_factory=Counter)
    latest: dict[str, dict[str, Row]] = field(default_factory=lambda: {t: {} for t in LATEST_ROWS_KEY})
    # the trace messages in order, when kept (loadtest/sinkbench.py), each with the reads
    # taken before it was shipped
    messages: list[tuple[int, bytes]] | None = None

    def timed(self, part: str) -> AbstractContextManager[None]:
        return charged(self.cpu_s, part)

    def keep(self, trace: Mapping[str, Sequence[Row]]) -> None:
        """The latest revision of each pass, item and violation row, for the check (untimed)."""
        for table, key in LATEST_ROWS_KEY.items():
            kept = self.latest[table]
            for row in trace.get(table, ()):
                old = kept.get(str(row[key]))
                if old is None or int(row["revision"]) >= int(old["revision"]):  # type: ignore[call-overload]
                    kept[str(row[key])] = row


def encoded_reports(items: int, shape: Shape, partitions: int) -> list[tuple[int, bytes]]:
    """The bench's reports of ``items`` items as (reads partition, wire bytes); each reader
    writes one partition, as its key does on the bench's topic."""
    return [(int(r.reader_id[1:]) % partitions, encode_report(r)) for r in reports(items, shape, START_US)]


def run_stages(
    settings: Settings,
    shape: Shape,
    payloads: Sequence[tuple[int, bytes]],
    now_us: int,
    keep_messages: bool = False,
) -> Run:
    """Every report through both stages and the trace encoding, timed per part; with
    ``keep_messages`` the run keeps the trace messages as the worker would ship them."""
    topics = Topics.of(settings)
    stage1, states = Stage1(settings, bench_plant(shape)), RouteStates(settings, bench_plant(shape))
    for p in range(settings.partitions):
        states.load(p, [])
    # The worker holds every input; only the reads carry traffic, the others are idle.
    inputs = [
        source_of(t, p)
        for t in (topics.reads, topics.jobs, topics.aggregations)
        for p in range(settings.partitions)
    ]
    stage1.progress.hold(inputs)
    stage1.progress.idle = {s: not s.startswith(f"{topics.reads}/") for s in inputs}
    run = Run(messages=[] if keep_messages else None)
    offsets: Counter[int] = Counter()
    for i in range(0, len(payloads), settings.batch_max):
        bundles = _stage1(run, stage1, topics.reads, payloads[i : i + settings.batch_max], offsets, now_us)
        _routes(run, states, bundles, idle=False)
    for p in range(settings.partitions):  # the line stops: every input idle, every verdict settles
        with run.timed("stage2"):
            changes = states.settle(p, idle=True)
        run.candidates.update(changes.candidates)
        _trace(run, stage2_trace(changes))
    return run


def _stage1(
    run: Run,
    stage1: Stage1,
    topic: str,
    payloads: Sequence[tuple[int, bytes]],
    offsets: Counter[int],
    now_us: int,
) -> list[tuple[int, bytes]]:
    """One stage 1 batch of reports; its item bundles, encoded."""
    with run.timed("stage1"):
        batch = stage1.new_batch()
        for partition, payload in payloads:
            stage1.take_report(batch, payload, (topic, partition, offsets[partition]), now_us)
            offsets[partition] += 1
        stage1.end_batch(batch)
        bundles = batch.bundles.messages()
    _trace(run, batch.trace)
    run.reads += batch.reads
    run.reports += batch.reports
    run.passes += batch.passes
    run.dead_letters += len(batch.dead_letters)
    return bundles


def _routes(run: Run, states: RouteStates, bundles: list[tuple[int, bytes]], idle: bool) -> None:
    """One routes batch: the bundles applied in order, each partition applied then settled."""
    with run.timed("stage2"):
        applied = set()
        for partition, payload in bundles:
            states.apply(partition, decode_bundle(payload))
            applied.add(partition)
        changes = [states.settle(p, idle) for p in sorted(applied)]
    for c in changes:
        run.candidates.update(c.candidates)
    _trace(run, stage2_trace(*changes))


def _trace(run: Run, rows: Mapping[str, Sequence[Row]]) -> None:
    with run.timed("trace"):
        messages = [m for chunk in trace_chunks(rows) for m in encode_trace_messages(chunk, TRACE_MAX_BYTES)]
    run.trace_messages += len(messages)
    if run.messages is not None:
        run.messages.extend((run.reads, m) for m in messages)
    run.keep(rows)


def problems(run: Run, shape: Shape, items: int, reads: int, reports_sent: int) -> list[str]:
    """What is missing or wrong in the run's output (empty when it is complete and correct)."""
    expected = items * shape.stations
    found = []
    for what, got, want in (
        ("reads taken", run.reads, reads),
        ("reports taken", run.reports, reports_sent),
        ("passes found by stage 1", run.passes, expected),
        ("pass candidates new to stage 2", run.candidates["new"], expected),
        ("pass candidates in all", sum(run.candidates.values()), expected),
        ("distinct passes stored", len(run.latest["passes"]), expected),
        ("items stored", len(run.latest["item_state"]), items),
        ("dead letters", run.dead_letters, 0),
        ("violations", len(run.latest["violations"]), 0),
    ):
        if got != want:
            found.append(f"{what}: {got}, expected {want}")
    not_movements = Counter(
        str(r["outcome"]) for r in run.latest["passes"].values() if r["outcome"] != "movement"
    )
    if not_movements:
        found.append(f"passes that are no movement, by outcome: {dict(not_movements)}")
    route = [f"ST{i}" for i in range(shape.stations)]
    by_item: dict[str, list[Row]] = {}
    for row in run.latest["passes"].values():
        by_item.setdefault(str(row["item"]), []).append(row)
    out_of_order = [
        item
        for item, rows in by_item.items()
        if [r["station"] for r in sorted(rows, key=lambda r: (r["first_seen"], r["route_index"]))] != route
        or sorted(int(r["route_index"]) for r in rows) != list(range(shape.stations))  # type: ignore[call-overload]
    ]
    if out_of_order:
        found.append(f"{len(out_of_order)} items without their passes in route order, e.g. {out_of_order[0]}")
    unfinished = [i for i, r in run.latest["item_state"].items() if r["passes"] != shape.stations]
    if unfinished:
        found.append(f"{len(unfinished)} items whose row does not count every station, e.g. {unfinished[0]}")
    return found


def figures(run: Run) -> dict[str, Any]:
    per_read = {part: round(s * 1e6 / run.reads, 2) for part, s in run.cpu_s.items()}
    per_read["total"] = round(sum(run.cpu_s.values()) * 1e6 / run.reads, 2)
    return {
        "reads": run.reads,
        "reports": run.reports,
        "passes": run.passes,
        "trace_messages": run.trace_messages,
        "cpu_s": round(sum(run.cpu_s.values()), 3),
        "cpu_us_per_read": per_read,
    }


def bench(
    reads: int, profile: bool = False, settings: Settings | None = None
) -> tuple[dict[str, Any], list[str]]:
    """The figures of a run of about ``reads`` reads (whole items), and its problems."""
    settings = settings or Settings()
    shape = Shape()
    items = max(1, reads // reads_for(1, shape))
    payloads = encoded_reports(items, shape, settings.partitions)
    last_cycle_us = START_US + (len(payloads) + 1) * shape.cycle_us
    profiler = cProfile.Profile() if profile else None
    if profiler is not None:
        profiler.enable()
    run = run_stages(settings, shape, payloads, now_us=last_cycle_us + S)
    if profiler is not None:
        profiler.disable()
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(30)
    return figures(run), problems(run, shape, items, reads_for(items, shape), len(payloads))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--reads", type=int, default=256_000, help="reads to send (whole items: 128 each)")
    parser.add_argument("--profile", action="store_true", help="cProfile the timed parts (to stderr)")
    args = parser.parse_args(argv)
    result, found = bench(args.reads, args.profile)
    finish("stagebench: the output is incomplete or wrong", result, found)


def finish(problem: str, result: dict[str, Any], found: list[str]) -> None:
    """Print the bench's figures, or exit 1 with ``problem`` and what its check found wrong:
    a figure counts only for output checked complete and correct."""
    if found:
        sys.stderr.write(f"{problem}:\n" + "".join(f"  {p}\n" for p in found))
        sys.exit(1)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
