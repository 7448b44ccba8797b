"""Events posted by people and systems (CLI, HTTP API): validated like reads, then published."""

from __future__ import annotations

import threading
from collections.abc import Callable

from confluent_kafka import Producer

from ingest.errors import InvalidInput
from ingest.kafka import deliver_or_raise, make_producer
from ingest.schema import QcResult
from ingest.settings import Settings
from ingest.topics import Topics
from ingest.wire import decode_aggregation, decode_hold, decode_job_event, decode_qc, decode_transformation

# kind -> (topic of the event, the key it is published under, from the validated payload)
_KINDS: dict[str, tuple[Callable[[Topics], str], Callable[[bytes, int], str]]] = {
    "job": (lambda t: t.jobs, lambda p, m: decode_job_event(p, m).job),
    "hold": (lambda t: t.jobs, lambda p, m: decode_hold(p, m).hold_id),
    "qc": (lambda t: t.jobs, lambda p, m: _qc_key(decode_qc(p, m))),
    "aggregation": (lambda t: t.aggregations, lambda p, m: decode_aggregation(p, m).parent),
    "transformation": (lambda t: t.aggregations, lambda p, m: decode_transformation(p, m).transformation_id),
}
EVENT_KINDS = tuple(_KINDS)


def _qc_key(qc: QcResult) -> str:
    return qc.job or qc.item


class EventPoster:
    """Validates an event's wire form and publishes it, waiting for the broker's ack."""

    def __init__(self, settings: Settings, producer: Producer | None = None):
        self.settings = settings
        self.topics = Topics.of(settings)
        self.producer = producer or make_producer(settings)
        self._lock = threading.Lock()

    def post(self, kind: str, payload: bytes) -> str:
        """Publish a validated event; returns its topic. InvalidInput names what is wrong."""
        if kind not in _KINDS:
            raise InvalidInput("unknown_event", f"{kind!r}; known: {', '.join(EVENT_KINDS)}")
        topic_of, key_of = _KINDS[kind]
        key = key_of(payload, self.settings.max_message_bytes)
        topic = topic_of(self.topics)
        with self._lock:
            self.producer.produce(topic, payload, key=key.encode())
            deliver_or_raise(self.producer, 10.0)
        return topic
