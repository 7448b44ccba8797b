"""``linetrace bench``: the pipeline's figures on this machine, as one JSON object.

Ingest: a load of realistic reader-cycle reports (~200 entries, 16 entries per tag per pass)
is encoded beforehand and produced as fast as the producer goes, with the stream worker and
the sink running; the clock runs from the first send to the last expected pass stored. Burst: a paced
producer at a target rate for a while, then every pass of it must be stored. Latency: a
paced producer stamps reads with the time it sends them; latency is the pass row's
``stored_at`` minus its first read time. Queries: a data set generated straight into
ClickHouse (passes, links in both key orders), queried on random items.
"""

from __future__ import annotations

import shutil
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from ingest.broker import LocalBroker, free_port
from ingest.errors import LinetraceError
from ingest.kafka import create_topics, deliver_or_raise, make_producer
from ingest.plantpub import publish_plant
from ingest.processes import Child
from ingest.queryclient import query_api
from ingest.settings import Settings
from ingest.timefmt import format_us, now_us
from ingest.tokenfile import local_token
from ingest.topics import Topics
from ingest.wire import encode_report
from loadtest.dataset import S, Shape, bench_plant, reports
from loadtest.querydata import QuerySizes, generate_query_data, time_queries
from storage.client import connect

QUICK = {"ingest_items": 1_500, "burst_s": 5.0, "latency_s": 8.0}
FULL = {"ingest_items": 15_000, "burst_s": 20.0, "latency_s": 30.0}


def run_bench(
    settings: Settings, quick: bool, work_dir: Path | None = None, only: str = ""
) -> dict[str, Any]:
    sizes = QUICK if quick else FULL
    owned = work_dir is None
    work = work_dir or Path(tempfile.mkdtemp(prefix="linetrace-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        result: dict[str, Any] = {"mode": "quick" if quick else "full"}
        if only != "queries":
            result.update(_pipeline_figures(settings, work, sizes))
        if only == "pipeline":
            return result
        qsizes = QuerySizes.quick() if quick else QuerySizes.full()
        store_settings = settings.with_(clickhouse_dsn=f"chdb://{work / 'queries'}")
        result.update(generate_query_data(store_settings, qsizes))
        result.update(time_queries(store_settings, qsizes))
        return result
    finally:
        if owned:
            shutil.rmtree(work, ignore_errors=True)


def _pipeline_figures(settings: Settings, work: Path, sizes: dict[str, float]) -> dict[str, Any]:
    shape = Shape()
    broker = LocalBroker(log_path=work / "broker.log")
    children: dict[str, Child] = {}
    try:
        broker.start()
        tokens = (work / "api-tokens.yaml").resolve()
        settings = broker.tuned(settings).with_(
            clickhouse_dsn=f"chdb://{work / 'pipeline'}",
            state_dir=str(work / "worker"),
            api_port=free_port(settings.api_host),
            api_tokens_file=str(tokens),
            api_token=local_token(tokens, "bench"),
        )
        create_topics(settings)
        publish_plant(settings, bench_plant(shape))
        for name in ("sink", "worker"):
            children[name] = Child(name, [name], settings, work)
            children[name].start()
        api = f"http://{settings.api_host}:{settings.api_port}"
        _wait_for_api(api)
        bench = _Load(settings, api, shape)
        bench.warm_up()
        out: dict[str, Any] = {}
        out.update(bench.ingest(int(sizes["ingest_items"])))
        windows = {}
        for rate, key in ((20_000, "latency_p99_ms_at_20k"), (100_000, "latency_p99_ms_at_100k")):
            figures, windows[key] = bench.paced(rate, sizes["latency_s"])
            out[key.replace("latency_p99_ms", "paced") + "_reads_per_s_sent"] = figures["rate_sent"]
        out.update(bench.burst(150_000, sizes["burst_s"]))
        children["sink"].stop()
        out.update(_latencies(settings, windows))
        return out
    finally:
        for child in reversed(list(children.values())):
            child.stop()
        broker.stop()


class _Load:
    def __init__(self, settings: Settings, api: str, shape: Shape):
        self.settings, self.api, self.shape = settings, api, shape
        self.topic = Topics.of(settings).reads
        self.producer = make_producer(settings, **{"linger.ms": 20, "batch.size": 1_000_000})
        # The paced runs send like a reader adapter: each cycle as it completes.
        self.paced_producer = make_producer(settings)
        self.next_serial = 1
        self.expected_passes = 0

    def _items(self, count: int) -> int:
        first = self.next_serial
        self.next_serial += count
        self.expected_passes += count * self.shape.stations
        return first

    def _send_all(self, items: int, start_us: int) -> int:
        first = self._items(items)
        sent = 0
        for report in reports(items, self.shape, start_us, first):
            self.producer.produce(self.topic, encode_report(report), key=report.reader_id.encode())
            self.producer.poll(0)
            sent += len(report.reads)
        deliver_or_raise(self.producer, 120)
        return sent

    def progress(self) -> dict[str, int]:
        return dict(query_api(self.api, "progress", {}, self.settings.api_token))

    def _wait_for_passes(self, timeout_s: float) -> float:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.progress()["pass_rows"] >= self.expected_passes:
                return time.monotonic()
            time.sleep(0.1)
        raise LinetraceError(f"passes not all stored after {timeout_s} s: {self.progress()}")

    def warm_up(self) -> None:
        self._send_all(40, now_us() - 600 * S)
        self._wait_for_passes(120)

    def ingest(self, items: int) -> dict[str, Any]:
        """Reports encoded beforehand, produced as fast as the producer goes; the clock runs
        from the first send to the last expected pass stored."""
        first = self._items(items)
        payloads = [
            (r.reader_id.encode(), encode_report(r), len(r.reads))
            for r in reports(items, self.shape, now_us() - 3_000 * S, first)
        ]
        started = time.monotonic()
        for key, payload, _ in payloads:
            self.producer.produce(self.topic, payload, key=key)
            self.producer.poll(0)
        deliver_or_raise(self.producer, 120)
        produced = time.monotonic()
        end = self._wait_for_passes(600)
        reads = sum(n for _, _, n in payloads)
        return {
            "ingest_reads": reads,
            "ingest_reads_per_s": round(reads / (end - started)),
            "ingest_produce_s": round(produced - started, 2),
            "ingest_s": round(end - started, 2),
            "reads_per_report": self.shape.tags_per_cycle * self.shape.antennas,
            "reads_per_tag_per_pass": self.shape.entries_per_pass,
        }

    def _paced(self, rate: float, duration_s: float) -> tuple[int, float, int, int]:
        """Send reports at ``rate`` reads/s, each stamped with its send time.

        Returns (reads sent, seconds, first and last read time) so the run's passes can be found.
        """
        shape = self.shape
        per_report = shape.tags_per_cycle * shape.antennas
        items = max(1, int(rate * duration_s / (shape.stations * shape.entries_per_pass)))
        first = self._items(items)
        # Encoded beforehand; each send stamps the current time over the report's cycle_start
        # text (reads are offsets from cycle_start), so the producer stays cheap.
        planned = [
            (r.reader_id.encode(), encode_report(r), format_us(r.cycle_start_us).encode(), len(r.reads))
            for r in reports(items, shape, 0, first)
        ]
        interval = per_report / rate
        t0 = time.monotonic()
        stamp0 = now_us()
        sent = 0
        for i, (key, template, placeholder, count) in enumerate(planned):
            while (lag := t0 + i * interval - time.monotonic()) > 0:
                time.sleep(min(lag, 0.005))
                self.producer.poll(0)
            payload = template.replace(placeholder, format_us(now_us()).encode(), 1)
            self.paced_producer.produce(self.topic, payload, key=key)
            self.paced_producer.poll(0)
            sent += count
        deliver_or_raise(self.paced_producer, 120)
        return sent, time.monotonic() - t0, stamp0, now_us()

    def paced(self, rate: float, duration_s: float) -> tuple[dict[str, Any], tuple[int, int]]:
        sent, elapsed, since, until = self._paced(rate, duration_s)
        self._wait_for_passes(300)
        return {"reads": sent, "rate_sent": round(sent / elapsed)}, (since, until)

    def burst(self, rate: float, duration_s: float) -> dict[str, Any]:
        sent, elapsed, _, _ = self._paced(rate, duration_s)
        self._wait_for_passes(600)
        return {"burst_reads_per_s_no_loss": round(sent / elapsed), "burst_reads": sent}


LATENCY_P99 = """
SELECT quantileExact(0.99)(ms) AS p99, quantileExact(0.5)(ms) AS p50, count() AS passes
FROM (
    SELECT (toUnixTimestamp64Micro(min(stored_at)) - toUnixTimestamp64Micro(min(first_seen))) / 1000 AS ms
    FROM passes
    WHERE first_seen >= fromUnixTimestamp64Micro({since:Int64})
      AND first_seen <= fromUnixTimestamp64Micro({until:Int64})
    GROUP BY pass_id
)
"""


def _latencies(settings: Settings, windows: dict[str, tuple[int, int]]) -> dict[str, Any]:
    """p99 of read time to stored pass row, per paced run (the sink must be stopped)."""
    store = connect(settings)
    try:
        out: dict[str, Any] = {}
        for key, (since, until) in windows.items():
            row = store.query(LATENCY_P99, {"since": since, "until": until})[0]
            out[key] = round(float(row["p99"]), 1)
            out[key.replace("p99", "p50")] = round(float(row["p50"]), 1)
        return out
    finally:
        store.close()


def _wait_for_api(api: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(api + "/health", timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise LinetraceError("the sink did not start")
