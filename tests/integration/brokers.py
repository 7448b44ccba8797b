"""The broker the integration and fault suites run on, chosen by ``LINETRACE_TEST_BROKER``:
``tansu`` (the default: the local broker, memory only) or ``kafka`` (Apache Kafka 4 from
``make kafka``, the broker production runs). Both offer ``bootstrap``, ``tuned(settings)``,
``process`` and a context manager."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ingest.broker import LocalBroker
from ingest.kafkabroker import KafkaBroker

KIND = os.environ.get("LINETRACE_TEST_BROKER", "tansu")
if KIND not in ("tansu", "kafka"):
    raise pytest.UsageError(f"LINETRACE_TEST_BROKER={KIND!r}: tansu or kafka")

Broker = LocalBroker | KafkaBroker

kafka_only = pytest.mark.skipif(
    KIND != "kafka", reason="needs a broker that keeps its log on disk (LINETRACE_TEST_BROKER=kafka)"
)


def make_broker(directory: Path, port: int | None = None, advertised_port: int | None = None) -> Broker:
    """A broker of the chosen kind, not started, keeping its files in ``directory``;
    ``advertised_port`` puts something in front of it (a fault proxy)."""
    if KIND == "kafka":
        return KafkaBroker(directory, port=port, advertised_port=advertised_port)
    return LocalBroker(port=port, advertised_port=advertised_port, log_path=directory / "broker.log")
