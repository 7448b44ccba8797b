"""Publish reader events to Kafka through the shared linetrace producer."""

from __future__ import annotations

from confluent_kafka import Producer

from ingest.schema import Aggregation, HoldEvent, JobEvent, QcResult, ReadCycleReport
from ingest.topics import Topics
from ingest.wire import encode_aggregation, encode_hold, encode_job_event, encode_qc, encode_report


class EventPublisher:
    def __init__(self, producer: Producer, topics: Topics):
        self.producer = producer
        self.topics = topics
        self.reads = 0
        self.reports = 0

    def publish(self, event: object) -> None:
        if isinstance(event, ReadCycleReport):
            self.producer.produce(self.topics.reads, encode_report(event), key=event.reader_id.encode())
            self.reads += len(event.reads)
            self.reports += 1
        elif isinstance(event, Aggregation):
            self.producer.produce(
                self.topics.aggregations, encode_aggregation(event), key=event.parent.encode()
            )
        elif isinstance(event, JobEvent):
            self.producer.produce(self.topics.jobs, encode_job_event(event), key=event.job.encode())
        elif isinstance(event, HoldEvent):
            self.producer.produce(self.topics.jobs, encode_hold(event), key=event.hold_id.encode())
        elif isinstance(event, QcResult):
            key = (event.job or event.item).encode()
            self.producer.produce(self.topics.jobs, encode_qc(event), key=key)
        else:
            raise TypeError(f"cannot publish {type(event).__name__}")
        self.producer.poll(0)
