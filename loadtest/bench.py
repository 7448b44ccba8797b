"""``linetrace bench``: the pipeline's figures on this machine, as one JSON object.

Ingest: a load of realistic reader-cycle reports (~200 entries, 16 entries per tag per pass)
is encoded beforehand and produced as fast as the producer goes, with the stream worker and
the sink running; the clock runs from the first send to the last expected pass stored. Burst: a paced
producer at a target rate for a while, then every pass of it must be stored. Latency: a
paced producer stamps reads with the time it sends them; latency is the pass row's
``stored_at`` minus its first read time. EPCIS capture: a document of 10,000 events posted
to the API, timed until every event is stored. Queries: a data set generated straight into
ClickHouse (passes, links in both key orders), queried on random items (EPCIS too).

Cost: over the ingest phase, each process's CPU time per read (``cpu_us_per_read``: the
worker, the sink, the broker, the bench's producer, and ``all``; loadtest/cpu.py), and, once
the phase is stored, the transport's own pace on the same topic (``transport_reads_per_s``: one
plain consumer decoding every report with orjson; loadtest/transport.py), so the ingest rate
is also given as a share of it (``ingest_share_of_transport``).

Every phase (warm-up, EPCIS capture, ingest, the paced runs, burst) is checked before the next
starts: its reads lie in their own event-time window (warm-up, capture and ingest in the past,
paced runs stamped as they are sent, one after another), and the store must hold every pass it expects once (a
distinct count: pass rows are revisions), each a movement, with no violation open, since the
bench's line is clean (every item read at every station), nor any confirmed and later
retracted. The JSON reports each phase's numbers under ``phases``, with the pass candidates
the stream worker took while it ran (from its /metrics); a phase's figures are reported only
if its check holds, and the bench fails (after printing the JSON) if any check does not.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, NoReturn

import orjson

from ingest.cli.queryclient import query_api
from ingest.cli.stack import StackPlace, local_stack
from ingest.errors import LinetraceError
from ingest.kafka import deliver_or_raise, make_producer
from ingest.settings import Settings
from ingest.timefmt import format_us, now_us
from ingest.topics import Topics
from ingest.wire import encode_report
from loadtest.benchcheck import (
    CaptureCheck,
    PhaseCheck,
    PhaseRun,
    ReadWindow,
    candidate_counts,
    counted_since,
    failure_message,
    read_offsets,
)
from loadtest.burst import BurstShare, plan, send_burst
from loadtest.capturephase import EVENTS, CaptureDocument, EpcisClient, capture_document
from loadtest.cpu import CpuMeter, per_read
from loadtest.dataset import LINE, SITE, S, Shape, bench_plant, reports
from loadtest.latency import latencies
from loadtest.querydata import QuerySizes, generate_query_data, time_queries
from loadtest.transport import transport_rate

QUICK = {"ingest_items": 1_500, "burst_s": 5.0, "latency_s": 8.0}
FULL = {"ingest_items": 15_000, "burst_s": 60.0, "latency_s": 30.0}
# The burst runs at this many times the ingest phase's rate (what the pipeline sustains), from
# this many producer processes; if the ingest phase gave no figure, at BURST_FALLBACK reads/s.
BURST_TIMES, BURST_PRODUCERS, BURST_FALLBACK = 2.0, 4, 150_000
PACED = ((20_000, "20k"), (100_000, "100k"))  # reads/s and the label of their figures
POLL_S = 0.1
CAPTURE = "epcis_capture"  # the phase that posts an EPCIS document to POST /epcis/capture
# At most this many settle intervals for a phase's verdicts to stop changing.
SETTLE_ROUNDS = 10


def run_bench(
    settings: Settings,
    quick: bool,
    work_dir: Path | None = None,
    only: str = "",
    brokers: tuple[str, ...] = ("tansu",),
    workers: int = 1,
) -> dict[str, Any]:
    """The bench's figures. ``brokers``: the pipeline half runs on each in turn (tansu, the
    local broker; kafka, Apache Kafka 4 from ``make kafka``); with one, its figures are at the
    top level beside ``broker``, with several they are under ``pipeline``, by broker.
    ``workers``: stream worker processes sharing the input partitions."""
    sizes = QUICK if quick else FULL
    owned = work_dir is None
    work = work_dir or Path(tempfile.mkdtemp(prefix="linetrace-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        result: dict[str, Any] = {"mode": "quick" if quick else "full", "workers": workers}
        if only != "queries":
            problems: list[str] = []
            by_broker: dict[str, Any] = {}
            for kind in brokers:
                figures, found = _pipeline_figures(settings, work / kind, sizes, kind, workers)
                by_broker[kind] = figures
                problems += [f"{kind}: {problem}" for problem in found] if len(brokers) > 1 else found
            if len(brokers) == 1:
                result.update(broker=brokers[0], **by_broker[brokers[0]])
            else:
                result["pipeline"] = by_broker
            if problems:
                _fail(result, problems)
        if only == "pipeline":
            return result
        qsizes = QuerySizes.quick() if quick else QuerySizes.full()
        store_settings = settings.with_(clickhouse_dsn=f"chdb://{work / 'queries'}")
        result.update(generate_query_data(store_settings, qsizes))
        figures, wrong = time_queries(store_settings, qsizes)
        result.update(figures)
        if wrong:
            _fail(result, wrong)
        return result
    finally:
        if owned:
            shutil.rmtree(work, ignore_errors=True)


def _fail(result: dict[str, Any], problems: list[str]) -> NoReturn:
    """Print the JSON so far and fail: the CLI prints the bench's JSON only when it returns,
    and exits non-zero with the message of the error."""
    sys.stdout.write(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode() + "\n")
    sys.stdout.flush()
    raise LinetraceError(failure_message(problems))


def _pipeline_figures(
    settings: Settings, work: Path, sizes: dict[str, float], broker_kind: str, workers: int
) -> tuple[dict[str, Any], list[str]]:
    """The pipeline's figures on a broker of ``broker_kind`` and what its checks found wrong
    (empty if nothing)."""
    shape = Shape()
    place = StackPlace(data_dir=work / "pipeline", broker_kind=broker_kind, token="bench", workers=workers)
    with local_stack(settings, bench_plant(shape), place) as stack:
        load = _Load(stack.settings, stack.api, shape, CpuMeter(stack.pids), stack.worker_metrics())
        out, checks, kept = _run_phases(load, sizes)
        stack.children["sink"].stop()  # the latency query opens the embedded store itself
        problems = [check.problem() for check in checks if not check.correct]
        measured, sample_problems = latencies(
            stack.settings, [run for run in kept if run.phase.startswith("paced_")]
        )
        out.update(measured)
        return out, problems + sample_problems


def _run_phases(
    bench: _Load, sizes: dict[str, float]
) -> tuple[dict[str, Any], list[PhaseCheck | CaptureCheck], list[PhaseRun]]:
    """Each phase in turn, checked once it is stored: the figures of the phases whose check
    holds, every check, and the runs that count. A phase left incomplete ends the run, since
    what it left queued would load the next one."""
    figures: dict[str, Any] = {}
    phases: list[Callable[[], PhaseRun]] = [
        bench.warm_up,
        bench.epcis_capture,
        lambda: bench.ingest(int(sizes["ingest_items"])),
        *(partial(bench.paced, label, rate, sizes["latency_s"]) for rate, label in PACED),
        lambda: bench.burst(
            BURST_TIMES * figures.get("ingest_reads_per_s", BURST_FALLBACK / BURST_TIMES), sizes["burst_s"]
        ),
    ]
    checks: list[PhaseCheck | CaptureCheck] = []
    kept: list[PhaseRun] = []
    for run_phase in phases:
        run = run_phase()
        check = bench.check(run)
        checks.append(check)
        if check.correct:
            figures.update(run.figures)
            kept.append(run)
        if not check.complete:
            break
    figures["phases"] = {check.phase: check.report() for check in checks}
    return figures, checks, kept


class _Load:
    """The bench's producers and the phases they run; each phase returns what it sent and
    measured, and ``check`` tells what the store holds of it."""

    def __init__(
        self, settings: Settings, api: str, shape: Shape, meter: CpuMeter, worker_metrics: list[str]
    ):
        self.settings, self.api, self.shape, self.meter = settings, api, shape, meter
        self.worker_metrics = worker_metrics
        self.candidates_seen: dict[str, int] = {}  # the worker's counters at the last check
        self.topic = Topics.of(settings).reads
        self.producer = make_producer(settings, **{"linger.ms": 20, "batch.size": 1_000_000})
        # The paced runs send like a reader adapter: each cycle as it completes.
        self.paced_producer = make_producer(settings)
        self.next_serial = 1
        self.expected_passes = 0  # of every phase so far
        # A violation is confirmed (or retracted) once its partition has been idle for the
        # reorder window; the sink inserts violations within its commit interval at the latest.
        self.settle_s = settings.reorder_window_s + settings.sink_commit_s
        self.plant, self.epcis = bench_plant(shape), EpcisClient(api, settings.api_token)
        # The capture phase's document, the finished job and the epcis_events rows before it.
        self.captured: tuple[CaptureDocument, dict[str, Any], int] | None = None

    def _items(self, count: int) -> tuple[int, int]:
        """The first serial of ``count`` new items, and the passes they make (one per station)."""
        first = self.next_serial
        self.next_serial += count
        passes = count * self.shape.stations
        self.expected_passes += passes
        return first, passes

    def _encoded(self, items: int, start_us: int) -> tuple[list[tuple[bytes, bytes, int]], ReadWindow, int]:
        """Every report of ``items`` new items as (key, payload, reads), their reads' window and
        the passes they make."""
        first, passes = self._items(items)
        window = ReadWindow()
        payloads = []
        for r in reports(items, self.shape, start_us, first):
            window.add(r.cycle_start_us, read_offsets(r))
            payloads.append((r.reader_id.encode(), encode_report(r), len(r.reads)))
        return payloads, window, passes

    def _send(self, payloads: list[tuple[bytes, bytes, int]]) -> None:
        for key, payload, _ in payloads:
            self.producer.produce(self.topic, payload, key=key)
            self.producer.poll(0)
        deliver_or_raise(self.producer, 120)

    def progress(self) -> dict[str, int]:
        return dict(query_api(self.api, "progress", {}, self.settings.api_token))

    def verdicts(self, window: tuple[int, int]) -> dict[str, Any]:
        since, until = window
        params = {"site": SITE, "line": LINE, "since": format_us(since), "until": format_us(until)}
        return dict(query_api(self.api, "verdicts", params, self.settings.api_token)[0])

    def _wait_stored(self, window: tuple[int, int], passes: int, timeout_s: float) -> float:
        """When the distinct passes of the window reached ``passes``: the start of the first
        count that found them all (or the time the timeout ran out)."""
        deadline = time.monotonic() + timeout_s
        # Pass rows are revisions, so their count reaching every phase's passes is necessary,
        # not enough; it is cheap, so it is polled first and the distinct count (FINAL) after.
        while time.monotonic() < deadline and self.progress()["pass_rows"] < self.expected_passes:
            time.sleep(POLL_S)
        while (asked := time.monotonic()) < deadline:
            if self.verdicts(window)["passes"] >= passes:
                return asked
            # The distinct count costs more as the store grows (20 ms at 120k passes): keep
            # its share of a core, taken from the pipeline it waits for, near a fifth.
            time.sleep(max(POLL_S, 4 * (time.monotonic() - asked)))
        return time.monotonic()

    def _wait_rows(self, key: str, rows: int, timeout_s: float) -> float:
        """When the progress count ``key`` reached ``rows``: the start of the first poll that
        found them (or the time the timeout ran out)."""
        deadline = time.monotonic() + timeout_s
        while (asked := time.monotonic()) < deadline:
            if self.progress()[key] >= rows:
                return asked
            time.sleep(POLL_S)
        return time.monotonic()

    def candidates(self) -> dict[str, int]:
        """The pass candidates the workers took since the last call, by outcome."""
        now: dict[str, int] = {}
        for url in self.worker_metrics:
            with urllib.request.urlopen(url, timeout=10) as response:
                for outcome, count in candidate_counts(response.read().decode()).items():
                    now[outcome] = now.get(outcome, 0) + count
        before, self.candidates_seen = self.candidates_seen, now
        return counted_since(before, now)

    def check(self, run: PhaseRun) -> PhaseCheck | CaptureCheck:
        """What the store holds of the phase once its verdicts stop changing, and the pass
        candidates the worker took since the last phase's check; of the capture phase, also
        its events as stored and as the EPCIS query answers them."""
        last = self.verdicts(run.window)
        for _ in range(SETTLE_ROUNDS):
            time.sleep(self.settle_s)
            now = self.verdicts(run.window)
            if now == last:
                break
            last = now
        passes = PhaseCheck.of(run, last, self.candidates())
        if run.phase != CAPTURE or self.captured is None:
            return passes
        sent, job, rows_before = self.captured
        rows = self.progress()["epcis_event_rows"] - rows_before
        answered = self.epcis.object_events(sent.items, sent.window) if job.get("success") else []
        return CaptureCheck.of(passes, sent.events, rows, answered, job)

    def warm_up(self) -> PhaseRun:
        # Phases follow each other in event time, as a line's reads do: the warm-up, then the
        # ingest backlog, then the live paced runs.
        payloads, window, passes = self._encoded(40, now_us() - 3_600 * S)
        self._send(payloads)
        self._wait_stored(window.bounds, passes, 120)
        return PhaseRun("warm_up", window.bounds, passes)

    def epcis_capture(self) -> PhaseRun:
        """A partner's EPCIS document (loadtest/capturephase.py) posted to POST /epcis/capture;
        the clock runs from the POST (the API validates the document before it answers) until
        the job has succeeded and the store holds a row of every event. The passes their reads
        make are then waited for, and checked as any phase's."""
        items = EVENTS // self.shape.stations
        first, passes = self._items(items)
        # Between the warm-up's reads (an hour ago) and the ingest backlog's (50 minutes ago).
        sent = capture_document(self.plant, first, items, now_us() - 3_500 * S)
        rows_before = self.progress()["epcis_event_rows"]
        started = time.monotonic()
        try:
            job = self.epcis.capture(sent.body)
        except LinetraceError as exc:  # refused: the check reports the phase incomplete
            job = {"success": False, "errors": [{"reason": "refused", "detail": str(exc)}]}
        job_s = time.monotonic() - started
        self.captured = sent, job, rows_before
        if not job.get("success"):
            return PhaseRun(CAPTURE, sent.window, passes)
        end = self._wait_rows("epcis_event_rows", rows_before + len(sent.events), 600)
        self._wait_stored(sent.window, passes, 300)
        figures = {
            "epcis_capture_events": len(sent.events),
            "epcis_capture_events_per_s": round(len(sent.events) / (end - started)),
            "epcis_capture_job_s": round(job_s, 2),
            "epcis_capture_s": round(end - started, 2),
        }
        return PhaseRun(CAPTURE, sent.window, passes, figures)

    def ingest(self, items: int) -> PhaseRun:
        """Reports encoded beforehand, produced as fast as the producer goes; the clock runs
        from the first send to the last expected pass stored."""
        payloads, window, passes = self._encoded(items, now_us() - 3_000 * S)
        cpu_before = self.meter.sample()
        started = time.monotonic()
        self._send(payloads)
        produced = time.monotonic()
        end = self._wait_stored(window.bounds, passes, 600)
        cpu_after = self.meter.sample()
        reads = sum(n for _, _, n in payloads)
        transport = transport_rate(self.settings)  # the same topic, once the pipeline is done
        figures = {
            "ingest_reads": reads,
            "ingest_reads_per_s": round(reads / (end - started)),
            "ingest_produce_s": round(produced - started, 2),
            "ingest_s": round(end - started, 2),
            "reads_per_report": self.shape.tags_per_cycle * self.shape.antennas,
            "reads_per_tag_per_pass": self.shape.entries_per_pass,
            "cpu_us_per_read": per_read(cpu_before, cpu_after, reads),
            **transport,
            "ingest_share_of_transport": round(
                reads / (end - started) / transport["transport_reads_per_s"], 3
            ),
        }
        return PhaseRun("ingest", window.bounds, passes, figures)

    def _paced(self, rate: float, duration_s: float) -> tuple[int, float, ReadWindow, int]:
        """Send reports at ``rate`` reads/s, each stamped with its send time.

        Returns the reads sent, the seconds it took, the reads' window and the passes expected.
        """
        shape = self.shape
        per_report = shape.tags_per_cycle * shape.antennas
        items = max(1, int(rate * duration_s / (shape.stations * shape.entries_per_pass)))
        first, passes = self._items(items)
        planned = plan(reports(items, shape, 0, first))  # each send stamps the current time
        interval = per_report / rate
        window = ReadWindow()
        sent = 0
        t0 = time.monotonic()
        for i, (key, template, placeholder, offsets, count) in enumerate(planned):
            while (lag := t0 + i * interval - time.monotonic()) > 0:
                time.sleep(min(lag, 0.005))
                self.producer.poll(0)
            stamp = now_us()
            payload = template.replace(placeholder, format_us(stamp).encode(), 1)
            self.paced_producer.produce(self.topic, payload, key=key)
            self.paced_producer.poll(0)
            window.add(stamp, offsets)
            sent += count
        deliver_or_raise(self.paced_producer, 120)
        return sent, time.monotonic() - t0, window, passes

    def paced(self, label: str, rate: float, duration_s: float) -> PhaseRun:
        sent, elapsed, window, passes = self._paced(rate, duration_s)
        self._wait_stored(window.bounds, passes, 300)
        figures = {f"paced_at_{label}_reads_per_s_sent": round(sent / elapsed)}
        return PhaseRun(f"paced_{label}", window.bounds, passes, figures)

    def burst(self, rate: float, duration_s: float) -> PhaseRun:
        """``duration_s`` of the line at ``rate`` reads/s from BURST_PRODUCERS processes
        (loadtest/burst.py); ``burst_catch_up_s`` runs from the last send to the last pass
        stored."""
        shape = self.shape
        items = max(1, int(rate * duration_s / (shape.stations * shape.entries_per_pass)))
        first, passes = self._items(items)
        shares = [
            BurstShare(self.settings, self.topic, shape, items, first, rate, BURST_PRODUCERS, index)
            for index in range(BURST_PRODUCERS)
        ]
        sent, started = send_burst(shares)
        window = ReadWindow(sent.first_us, sent.last_us)
        end = self._wait_stored(window.bounds, passes, 900)
        stored = time.time() - (time.monotonic() - end)  # the monotonic end on the wall clock
        elapsed = sent.last_send - started
        figures = {
            "burst_reads_per_s_target": round(rate),
            "burst_reads_per_s_sent": round(sent.reads / elapsed),
            "burst_reads_per_s_no_loss": round(sent.reads / elapsed),
            "burst_reads": sent.reads,
            "burst_s": round(elapsed, 1),
            "burst_producers": BURST_PRODUCERS,
            "burst_catch_up_s": round(max(0.0, stored - sent.last_send), 1),
        }
        return PhaseRun("burst", window.bounds, passes, figures)
