"""Events posted by people and systems (CLI, HTTP API): validated like reads, then published."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from confluent_kafka import Producer

from ingest.errors import InvalidInput
from ingest.kafka import deliver_or_raise, make_producer
from ingest.settings import Settings
from ingest.topics import Topics
from ingest.wire import decode_aggregation, decode_hold, decode_job_event, decode_qc, decode_transformation


@dataclass(frozen=True)
class PostedEvent:
    """A validated event: where it goes, under which key, and what it is about."""

    kind: str
    topic: str
    key: str
    site: str
    line: str
    items: tuple[str, ...]  # every item or lot it names
    payload: bytes


def _job(p: bytes, m: int, t: Topics) -> PostedEvent:
    ev = decode_job_event(p, m)
    return PostedEvent("job", t.jobs, ev.job, ev.site, ev.line, ev.items, p)


def _hold(p: bytes, m: int, t: Topics) -> PostedEvent:
    ev = decode_hold(p, m)
    return PostedEvent("hold", t.jobs, ev.hold_id, ev.site, ev.line, ev.items, p)


def _qc(p: bytes, m: int, t: Topics) -> PostedEvent:
    qc = decode_qc(p, m)
    return PostedEvent("qc", t.jobs, qc.job or qc.item, qc.site, qc.line, (qc.item,), p)


def _aggregation(p: bytes, m: int, t: Topics) -> PostedEvent:
    agg = decode_aggregation(p, m)
    return PostedEvent(
        "aggregation", t.aggregations, agg.parent, agg.site, agg.line, (agg.parent, *agg.children), p
    )


def _transformation(p: bytes, m: int, t: Topics) -> PostedEvent:
    tf = decode_transformation(p, m)
    items = (*tf.inputs, *tf.outputs)
    return PostedEvent("transformation", t.aggregations, tf.transformation_id, tf.site, tf.line, items, p)


# kind -> the validated event, with its topic and the key it is published under
_KINDS: dict[str, Callable[[bytes, int, Topics], PostedEvent]] = {
    "job": _job,
    "hold": _hold,
    "qc": _qc,
    "aggregation": _aggregation,
    "transformation": _transformation,
}
EVENT_KINDS = tuple(_KINDS)


class EventPoster:
    """Validates an event's wire form and publishes it, waiting for the broker's ack."""

    def __init__(self, settings: Settings, producer: Producer | None = None):
        self.settings = settings
        self.topics = Topics.of(settings)
        self.producer = producer or make_producer(settings)
        self._lock = threading.Lock()

    def validate(self, kind: str, payload: bytes) -> PostedEvent:
        """The event, validated as the worker would; InvalidInput names what is wrong."""
        if kind not in _KINDS:
            raise InvalidInput("unknown_event", f"{kind!r}; known: {', '.join(EVENT_KINDS)}")
        return _KINDS[kind](payload, self.settings.max_message_bytes, self.topics)

    def publish(self, event: PostedEvent) -> str:
        """Publish a validated event; returns its topic once the broker has it."""
        with self._lock:
            self.producer.produce(event.topic, event.payload, key=event.key.encode())
            deliver_or_raise(self.producer, 10.0)
        return event.topic

    def post(self, kind: str, payload: bytes) -> str:
        """Validate and publish; returns the event's topic."""
        return self.publish(self.validate(kind, payload))
