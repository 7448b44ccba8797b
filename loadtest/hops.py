"""Read to queryable, hop by hop: where a pass's latency goes at a paced rate.

``python -m loadtest.hops [--rate 20000] [--seconds 8] [--broker tansu|kafka]`` starts a
local stack of its own, sends the bench's warm-up and then a paced run (loadtest/bench.py),
and once every pass of the run is stored, splits each pass's wait into three hops by the
Kafka timestamps (the producer's send time) of the item bundle that carried it to stage 2 and
of the trace message that carried its row to the sink:

- ``read_to_bundle``: its first read to stage 1's send of its item bundle;
- ``bundle_to_trace``: that send to stage 2's send of its pass row;
- ``trace_to_stored``: that send to the row's ``stored_at``.

Prints p50, p90 and p99 of each, and of the whole, in ms, as JSON.
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka import TopicPartition

from ingest.cli.stack import StackPlace, local_stack
from ingest.kafka import make_consumer
from ingest.records.bundles import PASS
from ingest.records.trace import CODEC as TRACE
from ingest.settings import Settings
from ingest.topics import Topics
from loadtest.bench import _Load
from loadtest.cpu import CpuMeter
from loadtest.dataset import Shape, bench_plant
from storage.client import connect
from streams.bundles import decode_bundle

STORED = """
SELECT pass_id, item, station, toUnixTimestamp64Micro(min(first_seen)) AS first_us,
       toUnixTimestamp64Micro(min(stored_at)) AS stored_us
FROM passes
WHERE first_seen >= fromUnixTimestamp64Micro({since:Int64})
  AND first_seen < fromUnixTimestamp64Micro({until:Int64})
GROUP BY pass_id, item, station
"""


def messages(settings: Settings, topic: str) -> Iterator[tuple[int, bytes]]:
    """(timestamp ms, value) of every message of ``topic``, partition by partition."""
    consumer = make_consumer(settings, f"{settings.worker_id}-hops")
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        for p in partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            consumer.assign([TopicPartition(topic, p, low)])
            left = high - low
            while left > 0:
                for m in consumer.consume(1000, 5):
                    if m.error() is None:
                        left -= 1
                        yield m.timestamp()[1], m.value() or b""
    finally:
        consumer.close()


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    at = lambda q: round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)  # noqa: E731
    return {"p50": at(0.5), "p90": at(0.9), "p99": at(0.99)}


def hops(
    stored: list[dict[str, Any]], bundled_ms: dict[tuple[str, str], int], traced_ms: dict[str, int]
) -> dict[str, Any]:
    """The three hops of every stored pass whose bundle and trace message were found."""
    out: dict[str, list[float]] = {"read_to_bundle": [], "bundle_to_trace": [], "trace_to_stored": []}
    total = []
    for row in stored:
        first, done = row["first_us"] / 1000, row["stored_us"] / 1000
        total.append(done - first)
        bundled, traced = bundled_ms.get((row["item"], row["station"])), traced_ms.get(row["pass_id"])
        if bundled is not None and traced is not None:
            out["read_to_bundle"].append(bundled - first)
            out["bundle_to_trace"].append(traced - bundled)
            out["trace_to_stored"].append(done - traced)
    result: dict[str, Any] = {"passes": len(stored), "passes_split": len(out["read_to_bundle"])}
    for name, samples in out.items():
        if samples:
            result[name] = percentiles(samples)
    if total:
        result["read_to_stored"] = percentiles(total)
    return result


def run(rate: float, seconds: float, broker: str, work: Path) -> dict[str, Any]:
    shape = Shape()
    place = StackPlace(data_dir=work, broker_kind=broker, token="bench")
    with local_stack(Settings.from_env(), bench_plant(shape), place) as stack:
        load = _Load(stack.settings, stack.api, shape, CpuMeter(stack.pids), stack.worker_metrics())
        load.warm_up()
        paced = load.paced("hops", rate, seconds)
        since, until = paced.window
        topics = Topics.of(stack.settings)
        bundled: dict[tuple[str, str], int] = {}
        for ms, value in messages(stack.settings, topics.item_bundles):
            for record in decode_bundle(value):
                if record.get("k") == PASS and since <= record["first"] < until:
                    bundled.setdefault((record["item"], record["station"]), ms)
        traced: dict[str, int] = {}
        for ms, value in messages(stack.settings, topics.trace):
            for row in TRACE.decode(value).get("passes", []):
                traced.setdefault(row["pass_id"], ms)
        stack.children["sink"].stop()  # the query opens the embedded store itself
        store = connect(stack.settings)
        try:
            stored = store.query(STORED, {"since": since, "until": until})
        finally:
            store.close()
        return {"rate": rate, "seconds": seconds, "broker": broker, **hops(stored, bundled, traced)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=20_000, help="reads/s of the paced run")
    parser.add_argument("--seconds", type=float, default=8.0, help="length of the paced run")
    parser.add_argument("--broker", choices=("tansu", "kafka"), default="tansu")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="linetrace-hops-") as work:
        result = run(args.rate, args.seconds, args.broker, Path(work))
    print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())


if __name__ == "__main__":
    main()
