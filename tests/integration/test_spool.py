"""Store and forward at the edge, against the real broker, worker, sink and chDB: the broker
stops answering (SIGSTOP) while a reader keeps reading, the reports wait in the spool (the
spool fills and holds the reader back), the broker comes back, and every report reaches
ClickHouse exactly once."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from ingest.broker import LocalBroker
from ingest.kafka import read_partitions
from ingest.schema import ReadCycleReport
from ingest.timefmt import now_us
from ingest.wire import decode_report
from readers.forwarder import Forwarder
from tests.integration.conftest import Pipeline
from tests.integration.scenario import PLANT, Line, S, part

pytestmark = pytest.mark.integration

BEFORE_ITEMS, DURING_ITEMS = 5, 15
# Room for about a dozen of these reports: the reports sent while the broker is stopped fill it.
SPOOL_MAX_BYTES = 6 * 1024
DELIVERY_TIMEOUT_S = 3.0
# The forwarder's message size limit here: a report of 5 items exceeds it, one item does not.
OVERSIZED_BYTES = 1000


def _reports(line: Line, first: int, items: int) -> list[ReadCycleReport]:
    """Per item, a cycle at station A1 and one at B1: two passes, 3 s apart from the next item."""
    out = []
    for i in range(first, first + items):
        out.append(line.at("RA", i * 3.0, [part(500 + i)]))
        out.append(line.at("RB", i * 3.0 + 1.5, [part(500 + i)]))
    return out


def _metric(registry: CollectorRegistry, name: str) -> float:
    return registry.get_sample_value(name) or 0.0


def test_reports_wait_in_the_spool_while_the_broker_is_stopped_and_arrive_once(
    pipeline_factory: Callable[[dict[str, Any]], Pipeline], broker: LocalBroker, tmp_path: Path
) -> None:
    p = pipeline_factory(PLANT)
    assert broker.process is not None
    pid = broker.process.pid
    registry = CollectorRegistry()
    forwarder = Forwarder(
        p.settings.with_(max_message_bytes=OVERSIZED_BYTES),
        tmp_path / "spool",
        spool_max_bytes=SPOOL_MAX_BYTES,
        registry=registry,
        delivery_timeout_s=DELIVERY_TIMEOUT_S,
        retry_backoff_max_s=1.0,
    )
    line = Line(now_us() - 600 * S)
    before = _reports(line, 0, BEFORE_ITEMS)
    during = _reports(line, BEFORE_ITEMS, DURING_ITEMS)
    try:
        for r in before:
            forwarder.publish_report(r)
        forwarder.publish_report(line.at("RC", 100.0, [part(900 + k) for k in range(5)]))
        assert forwarder.drain(30.0), "the first reports reach the broker"

        def keep_reading() -> None:
            for r in during:
                forwarder.publish_report(r)

        reader = threading.Thread(target=keep_reading, daemon=True)
        os.kill(pid, signal.SIGSTOP)
        try:
            forwarder.reject("RA", "bad_read", "a tag report without an EPC", b'{"antenna": 1}')
            reader.start()
            deadline = time.monotonic() + 10.0
            while _metric(registry, "linetrace_reader_spool_full_total") == 0 and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(DELIVERY_TIMEOUT_S + 1.0)  # the deliveries in flight time out: still spooled
            assert forwarder.pending > 0 and _metric(registry, "linetrace_reader_spool_records") > 0
            assert _metric(registry, "linetrace_reader_spool_full_total") >= 1, "the spool filled up"
            assert reader.is_alive(), "a full spool holds the reader back"
            assert _metric(registry, "linetrace_reader_spool_bytes") <= SPOOL_MAX_BYTES
        finally:
            os.kill(pid, signal.SIGCONT)
        reader.join(60.0)
        assert not reader.is_alive(), "the reader goes on once the spool drains"
        assert forwarder.drain(60.0), "the spool drains once the broker is back"
    finally:
        forwarder.close()

    total = len(before) + len(during)
    p.wait_until(lambda: p.query("summary")["reads"]["reports"] == total, what="every report stored")
    p.wait_until(lambda: p.query("summary")["passes"]["passes"] == total, what="every pass judged")
    p.wait_until(lambda: len(p.query("summary")["dead_letters"]) == 2, what="the rejections stored")
    time.sleep(2.0)  # anything sent twice would have landed by now
    summary = p.query("summary")
    assert summary["reads"]["reports"] == total, "no report lost or stored twice"
    assert summary["passes"]["passes"] == total, "two passes per item, no more, no fewer"
    assert sorted(summary["dead_letters"], key=lambda d: d["reason"]) == [
        {"reason": "bad_read", "records": 1},
        {"reason": "oversized", "records": 1},
    ]
    for reason in ("bad_read", "oversized"):
        assert registry.get_sample_value("linetrace_reader_rejections_total", {"reason": reason}) == 1
    assert _metric(registry, "linetrace_reader_reports_sent_total") >= total
    assert _metric(registry, "linetrace_reader_spool_records") == 0
    assert _first_seen_order(p) == {
        reader: sorted(r.cycle_seq for r in before + during if r.reader_id == reader)
        for reader in ("RA", "RB")
    }, "each reader's reports reach the topic complete and in order (a re-sent one repeats, harmlessly)"


def _first_seen_order(p: Pipeline) -> dict[str, list[int]]:
    """Per reader, its cycle numbers in the order they first appear on the reads topic."""
    seen: dict[str, list[int]] = {}
    for msg in read_partitions(p.settings, p.topics.reads, list(range(p.settings.partitions))):
        report = decode_report(msg.value() or b"", p.settings.max_message_bytes)
        order = seen.setdefault(report.reader_id, [])
        if report.cycle_seq not in order:
            order.append(report.cycle_seq)
    return seen
