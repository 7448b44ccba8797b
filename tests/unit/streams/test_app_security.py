"""The faust app of the stream worker, created without a broker: SASL_SSL/SCRAM credentials
reach faust's own Kafka clients, and its web server is off."""

from __future__ import annotations

import ssl
from typing import Any

import certifi
import faust
import pytest
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth

import ingest.kafka as kafka
from ingest.plant import Plant
from ingest.settings import Settings
from streams.app import create_app


class Recorder:
    def __init__(self, config: dict[str, Any]):
        self.config = config


@pytest.fixture
def app(monkeypatch: pytest.MonkeyPatch, plant: Plant) -> faust.App:
    for name in ("Producer", "TrackedProducer"):  # the worker's confluent-kafka producer
        monkeypatch.setattr(kafka, name, Recorder, raising=False)
    settings = Settings.from_env(
        {
            "LINETRACE_KAFKA_BOOTSTRAP": "kafka-0:9093,kafka-1:9093",
            "LINETRACE_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "LINETRACE_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
            "LINETRACE_KAFKA_SASL_USERNAME": "linetrace-worker",
            "LINETRACE_KAFKA_SASL_PASSWORD": "scram-secret",
            "LINETRACE_KAFKA_SSL_CAFILE": certifi.where(),  # a CA bundle that exists
        }
    )
    return create_app(settings, plant)


def test_faust_clients_authenticate_with_scram_over_tls(app: faust.App) -> None:
    auth = credentials_to_aiokafka_auth(app.conf.broker_credentials)

    assert auth["security_protocol"] == "SASL_SSL"
    assert auth["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (auth["sasl_plain_username"], auth["sasl_plain_password"]) == ("linetrace-worker", "scram-secret")
    assert isinstance(auth["ssl_context"], ssl.SSLContext)
    assert auth["ssl_context"].verify_mode == ssl.CERT_REQUIRED and auth["ssl_context"].check_hostname
    assert [str(url) for url in app.conf.broker] == ["kafka://kafka-0:9093", "kafka://kafka-1:9093"]
    assert "scram-secret" not in repr(app.conf.broker_credentials)


def test_faust_web_server_is_off_and_records_are_json_or_raw(app: faust.App) -> None:
    assert app.conf.web_enabled is False
    assert {app.conf.key_serializer, app.conf.value_serializer} <= {"json", "raw"}
