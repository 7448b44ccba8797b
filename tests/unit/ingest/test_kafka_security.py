"""SASL_SSL with SCRAM reaches every confluent-kafka client linetrace builds: each client's
configuration is taken from a Settings read from the environment, with the clients replaced
by recorders (no broker, no network)."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
from prometheus_client import CollectorRegistry

import ingest.kafka as kafka
from ingest.settings import Settings
from ingest.topics import Topics

ROOT = Path(__file__).resolve().parents[3]
PACKAGES = ("ingest", "streams", "storage", "readers", "loadtest")

SECURE = Settings.from_env(
    {
        "LINETRACE_KAFKA_BOOTSTRAP": "kafka-0:9093,kafka-1:9093",
        "LINETRACE_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "LINETRACE_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "LINETRACE_KAFKA_SASL_USERNAME": "linetrace-sink",
        "LINETRACE_KAFKA_SASL_PASSWORD": "scram-secret",
        "LINETRACE_KAFKA_SSL_CAFILE": "/etc/linetrace/kafka-ca/ca.crt",
    }
)
SASL_SSL = {
    "bootstrap.servers": "kafka-0:9093,kafka-1:9093",
    "security.protocol": "SASL_SSL",
    "sasl.mechanism": "SCRAM-SHA-512",
    "sasl.username": "linetrace-sink",
    "sasl.password": "scram-secret",
    "ssl.ca.location": "/etc/linetrace/kafka-ca/ca.crt",
    "logger": kafka.RDKAFKA_LOG,  # librdkafka's log lines through Python logging
}

Made = list[tuple[str, dict[str, Any]]]


@pytest.fixture
def made(monkeypatch: pytest.MonkeyPatch) -> Made:
    """Every client built through ingest.kafka, as (kind, configuration); none connects."""
    clients: Made = []

    def recorder(kind: str) -> type:
        class Recorder:
            def __init__(self, config: dict[str, Any]):
                clients.append((kind, dict(config)))

            def list_topics(self, timeout: float) -> Any:  # the admin client's first call
                return SimpleNamespace(topics=dict.fromkeys(Topics.of(SECURE).layout()))

        return Recorder

    for name in ("Producer", "TrackedProducer"):
        monkeypatch.setattr(kafka, name, recorder("producer"), raising=False)
    monkeypatch.setattr(kafka, "Consumer", recorder("consumer"))
    monkeypatch.setattr(kafka, "AdminClient", recorder("admin"))
    return clients


def secured(config: dict[str, Any]) -> bool:
    return SASL_SSL.items() <= config.items()


def test_the_config_builders_carry_sasl_ssl() -> None:
    assert kafka.client_config(SECURE) == SASL_SSL
    assert secured(kafka.producer_config(SECURE, **{"linger.ms": 20}))
    assert secured(kafka.consumer_config(SECURE, "g"))
    # Extras never drop the security settings.
    assert secured(kafka.producer_config(SECURE, **{"message.timeout.ms": 10_000}))


def test_plaintext_names_no_sasl() -> None:
    config = kafka.client_config(Settings())

    assert config == {
        "bootstrap.servers": "127.0.0.1:9092",
        "security.protocol": "PLAINTEXT",
        "logger": kafka.RDKAFKA_LOG,
    }


def test_the_admin_client_that_creates_topics(made: Made) -> None:
    assert kafka.create_topics(SECURE) == []  # every topic exists already
    assert [(kind, secured(config)) for kind, config in made] == [("admin", True)]


def test_the_api_event_poster_and_the_worker_shipper(made: Made) -> None:
    from ingest.posting import EventPoster
    from streams.shipping import Shipper

    EventPoster(SECURE)
    Shipper(SECURE)

    assert [(kind, secured(config)) for kind, config in made] == [("producer", True), ("producer", True)]


def test_the_sink_consumer(made: Made) -> None:
    from storage.client import Store
    from storage.sink import Sink

    Sink(SECURE, cast(Store, object()))

    [(kind, config)] = made
    assert kind == "consumer" and secured(config) and config["group.id"] == "linetrace-sink"


def test_the_readers_forwarder(made: Made, tmp_path: Path) -> None:
    from readers.forwarder import Forwarder

    Forwarder(SECURE, tmp_path, registry=CollectorRegistry(), start=False)

    [(kind, config)] = made
    assert kind == "producer" and secured(config) and config["message.timeout.ms"] == 10_000


def test_the_bench_producers(made: Made) -> None:
    from loadtest.bench import _Load
    from loadtest.cpu import CpuMeter
    from loadtest.dataset import Shape

    _Load(SECURE, "http://127.0.0.1:1", Shape(), CpuMeter(dict), [])

    assert [(kind, secured(config)) for kind, config in made] == [("producer", True)] * 2


def test_child_processes_get_the_same_settings() -> None:
    """The demo, the bench and the load test (its Locust portals) hand settings to their
    children through the environment."""
    again = Settings.from_env(SECURE.to_env())

    assert kafka.client_config(again) == SASL_SSL


# A client constructed from anything but the config builders of ingest.kafka.
CLIENT = re.compile(
    r"\b(Producer|Consumer|AdminClient|AIOKafkaProducer|AIOKafkaConsumer|KafkaClient)\("
    r"(?!(client|producer|consumer)_config\()"
)


def test_every_kafka_client_is_built_from_the_config_builders() -> None:
    """So every client gets ``client_config``: the Locust portals' producer, the plant
    publisher and the worker's changelog reader through make_producer and make_consumer."""
    outside = [
        f"{path.relative_to(ROOT)}:{n}"
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
        if path != ROOT / "ingest" / "kafka.py"
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if CLIENT.search(line)
    ]

    assert outside == []
