"""Fault 4, the broker unreachable from the edge: a reader keeps reading while its link to the
broker first goes silent (blackhole) and then refuses connections, for longer than a
delivery may take; the reports wait in the reader's spool (which fills and holds the reader
back) and reach ClickHouse exactly once when the link is back.

The edge publishes through a fault proxy in front of a broker of its own, which advertises
the proxy's address, so every Kafka connection goes through the proxy. Faults apply only to
the connections of the edge's producer (by its client id); the stream worker and the sink,
which in a plant sit beside the broker, are not cut off.

Negative control: the same outage with store and forward switched off (a forwarder that lets
a report go once its delivery has been tried, acknowledged or not) loses reports.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

import readers.forwarder
from ingest.broker import free_port
from ingest.kafka import make_producer
from ingest.settings import Settings
from readers.forwarder import Forwarder
from storage.client import connect
from tests.integration.brokers import Broker, make_broker
from tests.integration.conftest import Pipeline
from tests.integration.faults.expected import Workload, build_workload, problems, wait_for_trace
from tests.integration.faults.proxy import FaultProxy, Mode, kafka_client
from tests.integration.scenario import PLANT

pytestmark = pytest.mark.integration

EDGE_CLIENT_ID = "linetrace-edge"
ITEMS = 200  # 160 reports of 2-5 KiB
READ_EVERY_S = 0.08  # the reader's pace: 160 reports in about 13 s when nothing holds it back
DELIVERY_TIMEOUT_S = 2.0
BLACKHOLE_S = 5.0  # more than a delivery timeout plus a retry
REFUSE_S = 4.0
MAX_MESSAGE_BYTES = 16 * 1024
SPOOL_MAX_BYTES = 2 * MAX_MESSAGE_BYTES  # room for about ten reports: the outage fills it


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Broker, FaultProxy]]:
    """A broker (of LINETRACE_TEST_BROKER's kind) that advertises a fault proxy in front of it."""
    port = free_port()
    directory = tmp_path_factory.mktemp("edge-broker")
    with (
        FaultProxy(("127.0.0.1", port), affects=kafka_client(EDGE_CLIENT_ID)) as proxy,
        make_broker(directory, port=port, advertised_port=proxy.port) as broker,
    ):
        yield broker, proxy


@pytest.fixture
def settings(settings: Settings, edge: tuple[Broker, FaultProxy]) -> Settings:
    """This module's pipeline runs on the broker behind the proxy."""
    broker, proxy = edge
    proxy.set_mode(Mode.PASS)
    return broker.tuned(settings)


@pytest.fixture
def edge_producers(monkeypatch: pytest.MonkeyPatch) -> None:
    """The forwarder's producers carry the edge's client id, so the proxy's faults reach them."""
    monkeypatch.setattr(
        readers.forwarder,
        "make_producer",
        lambda settings, **extra: make_producer(settings, **{**extra, "client.id": EDGE_CLIENT_ID}),
    )


class DroppingForwarder(Forwarder):
    """Control: store and forward switched off. Each step sends the oldest spooled reports and
    lets them all go, acknowledged or not, as an edge that only produces would."""

    dropped = 0

    def pump(self) -> int:
        records = self.spool.peek(self.batch_records)
        if not records:
            return 0
        failed: list[bool] = []
        for r in records:
            self._producer.produce(
                r.topic, r.value, key=r.key, on_delivery=lambda err, _msg: failed.append(err is not None)
            )
        self._producer.flush(self.delivery_timeout_s + readers.forwarder.CALLBACK_SLACK_S)
        self.spool.commit(len(records))
        self.metrics.reports_sent.inc(failed.count(False))
        self.dropped += len(records) - failed.count(False)
        if len(failed) < len(records) or any(failed):
            self._replace_producer()  # as the real forwarder does: a fenced producer sends nothing
        return len(records)


@dataclass
class Outage:
    sent_at_blackhole: float  # reports the broker had acknowledged a moment into the blackhole
    sent_at_refuse: float  # ... and when it ended
    spool_full: float  # times the full spool held the reader back
    reader_held: bool  # the reader had not finished when the link came back


def metric(registry: CollectorRegistry, name: str) -> float:
    return registry.get_sample_value(name) or 0.0


def read_through_an_outage(
    forwarder: Forwarder, registry: CollectorRegistry, proxy: FaultProxy, w: Workload
) -> Outage:
    """A reader publishes the workload at its pace while the link goes blackhole, then refuse,
    then passes again; returns once the reader is done and the forwarder has nothing left."""

    def keep_reading() -> None:
        for r in w.reports:
            forwarder.publish_report(r)
            time.sleep(READ_EVERY_S)

    reader = threading.Thread(target=keep_reading, daemon=True)
    reader.start()
    deadline = time.monotonic() + 20.0
    while metric(registry, "linetrace_reader_reports_sent_total") < 10 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert metric(registry, "linetrace_reader_reports_sent_total") >= 10, (
        "the edge delivers before the outage"
    )
    try:
        proxy.set_mode(Mode.BLACKHOLE)
        time.sleep(0.5)  # an acknowledgement already on its way may still arrive
        sent_at_blackhole = metric(registry, "linetrace_reader_reports_sent_total")
        time.sleep(BLACKHOLE_S - 0.5)
        sent_at_refuse = metric(registry, "linetrace_reader_reports_sent_total")
        proxy.set_mode(Mode.REFUSE)
        time.sleep(REFUSE_S)
        outage = Outage(
            sent_at_blackhole,
            sent_at_refuse,
            metric(registry, "linetrace_reader_spool_full_total"),
            reader.is_alive(),
        )
        assert metric(registry, "linetrace_reader_reports_sent_total") == sent_at_refuse, (
            "nothing gets through"
        )
    finally:
        proxy.set_mode(Mode.PASS)
    reader.join(60.0)
    assert not reader.is_alive(), "the reader goes on once the link is back"
    assert forwarder.drain(60.0), "the spool drains once the link is back"
    return outage


def start_edge(
    kind: type[Forwarder], p: Pipeline, proxy: FaultProxy, spool: Path
) -> tuple[Forwarder, CollectorRegistry]:
    registry = CollectorRegistry()
    edge_settings = p.settings.with_(kafka_bootstrap=proxy.address, max_message_bytes=MAX_MESSAGE_BYTES)
    forwarder = kind(
        edge_settings,
        spool,
        spool_max_bytes=SPOOL_MAX_BYTES,
        registry=registry,
        delivery_timeout_s=DELIVERY_TIMEOUT_S,
        retry_backoff_max_s=1.0,
    )
    return forwarder, registry


@pytest.mark.usefixtures("edge_producers")
def test_reads_wait_in_the_spool_through_an_outage_and_arrive_once(
    pipeline_factory: Callable[[dict[str, Any]], Pipeline],
    edge: tuple[Broker, FaultProxy],
    tmp_path: Path,
) -> None:
    _, proxy = edge
    p = pipeline_factory(PLANT)
    w = build_workload(ITEMS)
    forwarder, registry = start_edge(Forwarder, p, proxy, tmp_path / "spool")
    try:
        outage = read_through_an_outage(forwarder, registry, proxy, w)
    finally:
        forwarder.close()
    assert outage.sent_at_refuse == outage.sent_at_blackhole, (
        "the blackhole stops delivery: the edge goes through the proxy"
    )
    assert outage.spool_full >= 1 and outage.reader_held, "the spool filled and held the reader back"
    assert metric(registry, "linetrace_reader_spool_bytes") <= SPOOL_MAX_BYTES
    print(f"outage: {outage}")
    wait_for_trace(p, w)
    p.stop_sink()
    assert problems(p.settings, w) == []


@pytest.mark.usefixtures("edge_producers")
def test_control_without_store_and_forward_reads_are_lost(
    pipeline_factory: Callable[[dict[str, Any]], Pipeline],
    edge: tuple[Broker, FaultProxy],
    tmp_path: Path,
) -> None:
    _, proxy = edge
    p = pipeline_factory(PLANT)
    w = build_workload(ITEMS)
    forwarder, registry = start_edge(DroppingForwarder, p, proxy, tmp_path / "spool")
    try:
        read_through_an_outage(forwarder, registry, proxy, w)
    finally:
        forwarder.close()
    assert isinstance(forwarder, DroppingForwarder) and forwarder.dropped > 0
    wait_for_trace(p, w, quiet_s=5.0)
    p.stop_sink()
    found = problems(p.settings, w)
    assert found, "without store and forward the outage must lose reads"
    store = connect(p.settings, migrate=False)
    try:
        stored = store.query("SELECT count() AS n FROM read_cycles FINAL")[0]["n"]
    finally:
        store.close()
    lost = len(w.reports) - stored
    print(f"control: {lost} of {len(w.reports)} reports lost, {forwarder.dropped} let go unsent: {found}")
    assert 0 < lost <= forwarder.dropped, found
