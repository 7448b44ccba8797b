"""Locust load test: RFID portals publishing to Kafka, and analysts asking the query API.

Run it through ``linetrace loadtest`` (which starts the local stack and reports what the
pipeline itself measured), or against a running deployment:

    LINETRACE_KAFKA_BOOTSTRAP=... LINETRACE_API_TOKEN=... locust -f loadtest/locustfile.py \\
        --headless -u 8 -r 8 -t 60s --host http://127.0.0.1:8765

Portals: every ``PortalUser`` drives its share of one simulated line per Locust process (the
realistic portal model of ``readers.simulator``: 60-95% read rates, several antennas,
duplicate storms, drifting clocks, assembly and packing). All of a process's users publish
through one confluent-kafka producer with ``poll(0)``; a blocking poll would stall gevent and
every user with it. Each delivery callback fires a Locust request event (name
``read_cycle``), so Locust's figures are the broker's acknowledgements.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaError, Message, Producer
from locust import HttpUser, User, between, constant, events, task

from ingest.kafka import make_producer
from ingest.plant import Plant, load_plant
from ingest.schema import Aggregation, JobEvent, ReadCycleReport
from ingest.settings import Settings
from ingest.timefmt import now_us
from ingest.topics import Topics
from ingest.wire import encode_aggregation, encode_job_event, encode_report
from readers.simulator import LineSimulator, SimConfig

DEMO_PLANT = Path(__file__).resolve().parents[1] / "ingest" / "plants" / "demo.yaml"


class _Line:
    """One simulated line and one producer per Locust process, shared by its portal users."""

    def __init__(self) -> None:
        self.settings = Settings.from_env()
        self.topics = Topics.of(self.settings)
        self.plant: Plant = load_plant(os.environ.get("LINETRACE_LOADTEST_PLANT", str(DEMO_PLANT)))
        per_minute = float(os.environ.get("LINETRACE_LOADTEST_ITEMS_PER_MINUTE", "600"))
        self.sim = LineSimulator(self.plant, SimConfig(items_per_minute=per_minute), now_us())
        self.producer: Producer = make_producer(self.settings)
        self.reads = 0

    def advance(self) -> None:
        for event in self.sim.advance(now_us()):
            self._publish(event)
        self.producer.poll(0)

    def _publish(self, event: object) -> None:
        if isinstance(event, ReadCycleReport):
            topic, payload, key, name = self.topics.reads, encode_report(event), event.reader_id, "read_cycle"
            self.reads += len(event.reads)
        elif isinstance(event, Aggregation):
            topic, payload, key, name = (
                self.topics.aggregations,
                encode_aggregation(event),
                event.parent,
                "aggregation",
            )
        elif isinstance(event, JobEvent):
            topic, payload, key, name = self.topics.jobs, encode_job_event(event), event.job, "job_event"
        else:
            return
        sent = time.perf_counter()

        def delivered(err: KafkaError | None, msg: Message) -> None:
            events.request.fire(
                request_type="kafka",
                name=name,
                response_time=(time.perf_counter() - sent) * 1000,
                response_length=len(payload),
                exception=Exception(str(err)) if err is not None else None,
                context={},
            )

        self.producer.produce(topic, payload, key=key.encode(), on_delivery=delivered)


_line: _Line | None = None


def line() -> _Line:
    global _line
    if _line is None:
        _line = _Line()
    return _line


@events.quitting.add_listener
def _flush(environment: Any, **kwargs: Any) -> None:
    if _line is not None:
        _line.producer.flush(30)


class PortalUser(User):
    """Keeps the simulated line moving: publishes whatever reader cycles are due."""

    fixed_count = 1  # one line per Locust process; the other users are analysts
    wait_time = constant(0.05)

    @task
    def advance(self) -> None:
        line().advance()


# What an analyst asks (the query API's path, its parameters) and how often, by weight.
ANALYST_QUERIES = (
    ("/v1/wip", "", 4),
    ("/v1/violations", "?limit=50", 2),
    ("/v1/throughput", "?minutes=10", 2),
    ("/v1/summary", "", 1),
)


def _ask(path: str, params: str) -> Callable[[HttpUser], None]:
    """A Locust task: GET ``path`` with ``params``, counted under ``path``."""

    def ask(user: HttpUser) -> None:
        user.client.get(path + params, name=path)

    return ask


class AnalystUser(HttpUser):
    """A plant analyst on the query API, with the token of ``LINETRACE_API_TOKEN``."""

    wait_time = between(0.5, 2.0)
    # Locust picks each task as often as it stands in the list.
    tasks = [task for path, params, weight in ANALYST_QUERIES for task in [_ask(path, params)] * weight]

    def on_start(self) -> None:
        self.client.headers["Authorization"] = f"Bearer {Settings.from_env().api_token}"
