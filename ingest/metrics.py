"""Prometheus metrics of every linetrace process, by process, in one place.

Names follow Prometheus conventions: a `linetrace_` prefix, base units in the name
(`_seconds`, `_bytes`), `_total` for counters. Each process serves its registry on /metrics:
the stream worker and the readers on their metrics port, the sink on its query API port.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ingest.httpserver import HttpServer, Tls, metrics_app

log = logging.getLogger(__name__)


def process_registry() -> CollectorRegistry:
    """The registry a linetrace process serves: its own metrics are registered on it, with
    the process's memory, CPU, open files (process_*), Python's garbage collector
    (python_gc_*) and the interpreter's version (python_info), as every Prometheus client
    serves by default."""
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    return registry


# Read time to stored row, and per-batch work: from a few ms to a minute.
LATENCY_BUCKETS = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.15,
    0.2,
    0.25,
    0.3,
    0.4,
    0.5,
    0.75,
    1.0,
    1.5,
    2.0,
    3.0,
    5.0,
    10.0,
    30.0,
    60.0,
)
ROW_BUCKETS = (1, 10, 100, 1_000, 5_000, 10_000, 50_000, 100_000)


class Declared:
    """Metrics declared on one registry (each process's own, or a test's fresh one)."""

    def __init__(self, registry: CollectorRegistry):
        self.registry = registry

    def counter(self, name: str, doc: str, *labels: str) -> Counter:
        return Counter(name, doc, labels, registry=self.registry)

    def gauge(self, name: str, doc: str, *labels: str) -> Gauge:
        return Gauge(name, doc, labels, registry=self.registry)

    def histogram(
        self, name: str, doc: str, *labels: str, buckets: tuple[float, ...] = LATENCY_BUCKETS
    ) -> Histogram:
        return Histogram(name, doc, labels, buckets=buckets, registry=self.registry)


class WorkerMetrics(Declared):
    """The stream worker: reads in, passes out, rejections, violations, lag, batch times."""

    def __init__(self, registry: CollectorRegistry):
        super().__init__(registry)
        self.reads = self.counter(
            "linetrace_reads", "Read-cycle entries taken in, per reader and antenna.", "reader", "antenna"
        )
        self.reports = self.counter("linetrace_read_cycles", "Read-cycle reports taken in.")
        self.passes = self.counter(
            "linetrace_passes", "Passes made from reads (reads / passes is the dedup ratio)."
        )
        self.pass_candidates = self.counter(
            "linetrace_pass_candidates", "Pass candidates stage 2 took: new, merged or duplicate.", "outcome"
        )
        self.dead_letters = self.counter(
            "linetrace_dead_letters", "Input rejected and dead-lettered, by reason.", "reason"
        )
        self.violations = self.counter("linetrace_violations", "Violations confirmed, by type.", "type")
        self.batch_seconds = self.histogram(
            "linetrace_batch_duration_seconds", "Time to process one stream batch, by stage.", "stage"
        )
        self.lag = self.gauge(
            "linetrace_consumer_lag_messages",
            "Messages in a partition not yet processed by this worker.",
            "topic",
            "partition",
        )
        self.items = self.gauge("linetrace_route_state_items", "Items whose route state this worker holds.")


class SinkMetrics(Declared):
    """The sink: rows and inserts per table, batch sizes, failures, read-to-stored latency."""

    def __init__(self, registry: CollectorRegistry):
        super().__init__(registry)
        self.rows = self.counter("linetrace_sink_rows", "Rows inserted, by table.", "table")
        self.insert_seconds = self.histogram(
            "linetrace_sink_insert_duration_seconds", "Time of one insert, by table.", "table"
        )
        self.batch_rows = self.histogram("linetrace_sink_batch_rows", "Rows per insert.", buckets=ROW_BUCKETS)
        self.errors = self.counter("linetrace_sink_errors", "Inserts ClickHouse refused (retried).")
        self.commits = self.counter("linetrace_sink_commits", "Offset commits after a full flush.")
        self.latency = self.histogram(
            "linetrace_pass_latency_seconds", "From a pass's first read to its row stored in ClickHouse."
        )
        self.dead_letters = self.counter(
            "linetrace_dead_letters_stored", "Dead-letter records stored, by reason.", "reason"
        )


class ApiMetrics(Declared):
    def __init__(self, registry: CollectorRegistry):
        super().__init__(registry)
        self.requests = self.histogram(
            "linetrace_api_request_duration_seconds",
            "Time to answer an API request, by query (or event kind) and status code.",
            "query",
            "code",
        )


Rows = list[dict[str, object]]


class PlantCollector(Collector):
    """WIP per stage and open violations per type, asked of ClickHouse at most every ``every_s``;
    with ``read_rates`` (the ``read_rates`` query's rows), each route stage's items observed
    downstream of it and read by its portals, as counters: a portal's read rate over any
    window is the ratio of their increases."""

    def __init__(
        self,
        ask: Callable[[], tuple[Rows, Rows]],
        clock: Callable[[], float],
        every_s: float = 15.0,
        read_rates: Callable[[], Rows] | None = None,
    ):
        self.ask, self.clock, self.every_s, self.read_rates = ask, clock, every_s, read_rates
        self.cached: tuple[float, Rows, Rows, Rows] | None = None

    def collect(self) -> Iterable[Metric]:
        now = self.clock()
        if self.cached is None or now - self.cached[0] >= self.every_s:
            try:
                wip, violations = self.ask()
                rates = self.read_rates() if self.read_rates is not None else []
                self.cached = (now, wip, violations, rates)
            except Exception as exc:  # a scrape must not fail because ClickHouse is busy
                log.warning("plant metrics not refreshed: %s", exc)
        wip_family = GaugeMetricFamily(
            "linetrace_wip_items",
            "Items in process, by site, line and stage.",
            labels=["site", "line", "stage"],
        )
        open_family = GaugeMetricFamily(
            "linetrace_open_violations", "Open (not retracted) violations, by type.", labels=["type"]
        )
        place = ["site", "line", "stage"]
        observed = CounterMetricFamily(
            "linetrace_portal_items_observed",
            "Items seen downstream of a route stage, by stage.",
            labels=place,
        )
        read = CounterMetricFamily(
            "linetrace_portal_items_read", "Of those, items the stage's portals read, by stage.", labels=place
        )
        if self.cached is not None:
            for row in self.cached[1]:
                wip_family.add_metric(
                    [str(row["site"]), str(row["line"]), str(row["stage"])], float(str(row["items"]))
                )
            for row in self.cached[2]:
                open_family.add_metric([str(row["type"])], float(str(row["violations"])))
            for row in self.cached[3]:
                labels = [str(row["site"]), str(row["line"]), str(row["stage"])]
                observed.add_metric(labels, float(str(row["observed"])))
                read.add_metric(labels, float(str(row["read"])))
        yield from (wip_family, open_family, observed, read)


class PaceCollector(Collector):
    """Target against actual for the alert rules, asked of ClickHouse at most every ``every_s``:
    ``ask`` gives each station's pace (site, line, station, stage, passes_per_hour,
    target_per_hour) and the jobs past their due date (site, line, job, overdue_s)."""

    def __init__(
        self, ask: Callable[[], tuple[Rows, Rows]], clock: Callable[[], float], every_s: float = 15.0
    ):
        self.ask, self.clock, self.every_s = ask, clock, every_s
        self.cached: tuple[float, Rows, Rows] | None = None

    def collect(self) -> Iterable[Metric]:
        now = self.clock()
        if self.cached is None or now - self.cached[0] >= self.every_s:
            try:
                self.cached = (now, *self.ask())
            except Exception as exc:  # a scrape must not fail because ClickHouse is busy
                log.warning("pace metrics not refreshed: %s", exc)
        place = ["site", "line", "station", "stage"]
        pace = GaugeMetricFamily(
            "linetrace_station_passes_per_hour",
            "Passes per hour of a station with a target, over the last 15 complete minutes.",
            labels=place,
        )
        target = GaugeMetricFamily(
            "linetrace_station_target_per_hour", "A station's planned passes per hour.", labels=place
        )
        overdue = GaugeMetricFamily(
            "linetrace_job_overdue_seconds",
            "How long a job with items to go has been past its due date (late jobs only).",
            labels=["site", "line", "job"],
        )
        if self.cached is not None:
            for row in self.cached[1]:
                labels = [str(row[k]) for k in place]
                pace.add_metric(labels, float(str(row["passes_per_hour"])))
                target.add_metric(labels, float(str(row["target_per_hour"])))
            for row in self.cached[2]:
                overdue.add_metric(
                    [str(row["site"]), str(row["line"]), str(row["job"])], float(str(row["overdue_s"]))
                )
        yield from (pace, target, overdue)


def serve(registry: CollectorRegistry, host: str, port: int, tls: Tls | None = None) -> HttpServer:
    """Serve /metrics of ``registry`` on host:port (HTTPS with ``tls``) from a daemon thread."""
    server = HttpServer(metrics_app(registry), host, port, "metrics", tls).start()
    log.info("metrics on %s/metrics", server.url)
    return server
