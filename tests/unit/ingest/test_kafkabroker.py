"""The parts of the Kafka broker helper and the broker kind setting that need no broker."""

from __future__ import annotations

import pytest

from ingest.kafkabroker import INTERNAL_TOPIC_PARTITIONS, PROBE_GROUPS, _group_partition
from ingest.settings import Settings, SettingsError


@pytest.mark.parametrize(
    ("group", "java_hash"),
    [
        pytest.param("", 0, id="empty"),
        pytest.param("hello", 99162322, id="positive hash"),
        # Java's String.hashCode of this word is Integer.MIN_VALUE; Kafka's Utils.abs makes it 0.
        pytest.param("polygenelubricants", 0, id="MIN_VALUE hash"),
    ],
)
def test_a_group_maps_to_the_offsets_partition_kafka_gives_it(group: str, java_hash: int) -> None:
    assert _group_partition(group) == (java_hash & 0x7FFFFFFF) % INTERNAL_TOPIC_PARTITIONS


def test_the_start_up_probe_asks_every_offsets_partition() -> None:
    assert sorted(_group_partition(g) for g in PROBE_GROUPS) == list(range(INTERNAL_TOPIC_PARTITIONS))


def test_the_tansu_kind_chooses_its_defaults_and_a_variable_set_wins() -> None:
    tansu = Settings.from_env({"LINETRACE_BROKER_KIND": "tansu", "LINETRACE_KAFKA_FETCH_WAIT_MS": "50"})
    assert (tansu.kafka_session_timeout_s, tansu.kafka_heartbeat_s, tansu.kafka_fetch_wait_ms) == (4, 1, 50)
    kafka = Settings.from_env({})
    assert kafka.broker_kind == "kafka"
    assert (kafka.kafka_session_timeout_s, kafka.kafka_heartbeat_s, kafka.kafka_fetch_wait_ms) == (10, 3, 500)


def test_an_unknown_broker_kind_is_refused() -> None:
    with pytest.raises(SettingsError, match="LINETRACE_BROKER_KIND"):
        Settings.from_env({"LINETRACE_BROKER_KIND": "redpanda"})
