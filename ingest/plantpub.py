"""The plant model on Kafka: published by ``linetrace plant publish``, read by the workers."""

from __future__ import annotations

import logging
import time

from ingest.errors import LinetraceError
from ingest.kafka import deliver_or_raise, producing, read_partitions
from ingest.plant import Plant, parse_plant
from ingest.schema import JobEvent
from ingest.settings import Settings
from ingest.timefmt import now_us
from ingest.topics import Topics
from ingest.wire import encode_job_event

log = logging.getLogger(__name__)

PLANT_KEY = b"plant"


def publish_plant(settings: Settings, plant: Plant) -> None:
    """Publish the plant, and a ``created`` job event for each job the plant file seeds."""
    topics = Topics.of(settings)
    with producing(settings) as producer:
        producer.produce(topics.plant, plant.to_json(), key=PLANT_KEY)
        for job in plant.jobs:
            event = JobEvent(
                event="created",
                job=job.job,
                site=job.site,
                line=job.line,
                product=job.product,
                quantity=job.quantity,
                items=(),
                time_us=now_us(),
                planned_start_us=job.planned_start_us,
                planned_end_us=job.planned_end_us,
                due_us=job.due_us,
                target_rate_per_h=job.target_rate_per_h,
            )
            producer.produce(topics.jobs, encode_job_event(event), key=job.job.encode())
        deliver_or_raise(producer)


def fetch_plant(settings: Settings, wait_s: float = 60.0) -> Plant:
    """The latest published plant; waits for one to be published up to ``wait_s``."""
    import orjson

    deadline = time.monotonic() + wait_s
    topic = Topics.of(settings).plant
    while True:
        latest = None
        for msg in read_partitions(settings, topic, [0]):
            if msg.key() == PLANT_KEY:
                latest = msg.value()
        if latest is not None:
            return parse_plant(orjson.loads(latest), source=topic)
        if time.monotonic() > deadline:
            raise LinetraceError(f"no plant published on {topic}; run 'linetrace plant publish FILE'")
        log.info("waiting for a plant on %s", topic)
        time.sleep(1.0)
