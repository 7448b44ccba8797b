"""Events posted by people and systems (CLI, HTTP API): validated like reads, then published."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TypeVar

from confluent_kafka import Producer

from ingest.errors import InvalidInput
from ingest.kafka import deliver_or_raise, make_producer, read_partitions, shut_down
from ingest.names import check_line, check_place, check_product, check_station
from ingest.plant import Plant
from ingest.schema import Aggregation, QcResult, Shipment, Transformation
from ingest.settings import Settings
from ingest.topics import Topics
from ingest.wire import (
    decode_aggregation,
    decode_hold,
    decode_job_event,
    decode_qc,
    decode_shipment,
    decode_transformation,
)


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
    event: str = ""  # what happened, where the kind has several (a hold: placed or released)


_Withdrawable = TypeVar("_Withdrawable", QcResult, Aggregation, Transformation, Shipment)


def _not_withdrawn(ev: _Withdrawable) -> _Withdrawable:
    """An event posted, not one the EPCIS capture withdraws (ingest/schema.py, WITHDRAWN_NOTE)."""
    if ev.withdrawn:
        raise InvalidInput("bad_field", "withdrawn is set only by the EPCIS capture of an errorDeclaration")
    return ev


def _job(p: bytes, m: int, t: Topics, plant: Plant) -> PostedEvent:
    ev = decode_job_event(p, m)
    check_line(plant, ev.site, ev.line)
    if ev.product or ev.event == "created":
        check_product(plant, ev.site, ev.line, ev.product)
    return PostedEvent("job", t.jobs, ev.job, ev.site, ev.line, ev.items, p)


def _hold(p: bytes, m: int, t: Topics, plant: Plant) -> PostedEvent:
    ev = decode_hold(p, m)
    check_line(plant, ev.site, ev.line)
    return PostedEvent("hold", t.jobs, ev.hold_id, ev.site, ev.line, ev.items, p, ev.event)


def _qc(p: bytes, m: int, t: Topics, plant: Plant) -> PostedEvent:
    qc = _not_withdrawn(decode_qc(p, m))
    check_place(plant, qc.site, qc.line, qc.station)
    return PostedEvent("qc", t.jobs, qc.job or qc.item, qc.site, qc.line, (qc.item,), p)


def _aggregation(p: bytes, m: int, t: Topics, plant: Plant) -> PostedEvent:
    agg = _not_withdrawn(decode_aggregation(p, m))
    check_station(plant, agg.site, agg.line, agg.station)
    return PostedEvent(
        "aggregation", t.aggregations, agg.parent, agg.site, agg.line, (agg.parent, *agg.children), p
    )


def _transformation(p: bytes, m: int, t: Topics, plant: Plant) -> PostedEvent:
    tf = _not_withdrawn(decode_transformation(p, m))
    check_station(plant, tf.site, tf.line, tf.station)
    items = (*tf.inputs, *tf.outputs)
    return PostedEvent("transformation", t.aggregations, tf.transformation_id, tf.site, tf.line, items, p)


def _shipment(p: bytes, m: int, t: Topics, plant: Plant) -> PostedEvent:
    ev = _not_withdrawn(decode_shipment(p, m))
    check_place(plant, ev.site, ev.line, ev.station)
    key = ev.transactions[0][1] if ev.transactions else ev.destinations[0][1]
    return PostedEvent("shipment", t.jobs, key, ev.site, ev.line, ev.items, p)


# kind -> the validated event, with its topic and the key it is published under
_KINDS: dict[str, Callable[[bytes, int, Topics, Plant], PostedEvent]] = {
    "job": _job,
    "hold": _hold,
    "qc": _qc,
    "aggregation": _aggregation,
    "transformation": _transformation,
    "shipment": _shipment,
}
EVENT_KINDS = tuple(_KINDS)


# How long a poster trusts the plant it fetched; a plant published since is used after this.
PLANT_REFRESH_S = 60.0


class EventPoster:
    """Validates an event (its wire form, and the site, line, station and product it names,
    against the plant) and publishes it, waiting for the broker's ack.

    ``plant`` gives the plant to check against; by default the one published on the plant
    topic, fetched on first use and again after PLANT_REFRESH_S."""

    def __init__(
        self, settings: Settings, producer: Producer | None = None, plant: Callable[[], Plant] | None = None
    ):
        self.settings = settings
        self.topics = Topics.of(settings)
        self.producer = producer or make_producer(settings)
        self._plant = plant or self._published_plant
        self._fetched: tuple[float, Plant] | None = None
        self._lock = threading.Lock()

    def validate(self, kind: str, payload: bytes) -> PostedEvent:
        """The event, validated as the worker would; InvalidInput names what is wrong."""
        if kind not in _KINDS:
            raise InvalidInput("unknown_event", f"{kind!r}; known: {', '.join(EVENT_KINDS)}")
        return _KINDS[kind](payload, self.settings.max_message_bytes, self.topics, self._plant())

    def publish(self, event: PostedEvent) -> str:
        """Publish a validated event; returns its topic once the broker has it."""
        with self._lock:
            self.producer.produce(event.topic, event.payload, key=event.key.encode())
            deliver_or_raise(self.producer, 10.0)
        return event.topic

    def last_published(self, topic: str, last: int) -> Iterator[bytes]:
        """About the last ``last`` messages of ``topic`` (as many from each partition), oldest
        first within each partition."""
        partitions = list(range(self.topics.layout()[topic]))
        each = max(1, last // len(partitions))
        for msg in read_partitions(self.settings, topic, partitions, last=each):
            yield msg.value() or b""

    def publish_all(self, messages: Iterable[tuple[str, str, bytes]], timeout_s: float = 60.0) -> None:
        """Publish (topic, key, payload) messages, such as a captured EPCIS document's, in order;
        returns once the broker has them all."""
        with self._lock:
            for topic, key, payload in messages:
                while True:
                    try:
                        self.producer.produce(topic, payload, key=key.encode())
                        break
                    except BufferError:  # the local queue is full: let deliveries drain it
                        self.producer.poll(0.1)
            deliver_or_raise(self.producer, timeout_s)

    def close(self) -> None:
        """Shut the producer down (see ``ingest.kafka.producing``)."""
        shut_down(self.producer)

    def plant(self) -> Plant:
        """The plant events are checked against."""
        return self._plant()

    def post(self, kind: str, payload: bytes) -> str:
        """Validate and publish; returns the event's topic."""
        return self.publish(self.validate(kind, payload))

    def _published_plant(self) -> Plant:
        from ingest.plantpub import fetch_plant

        with self._lock:
            if self._fetched is None or time.monotonic() - self._fetched[0] > PLANT_REFRESH_S:
                self._fetched = (time.monotonic(), fetch_plant(self.settings, wait_s=5.0))
            return self._fetched[1]
