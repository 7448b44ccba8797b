"""``linetrace sink``: the ClickHouse sink and the query API, in the process that owns the store."""

from __future__ import annotations

import logging
import signal
import threading
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ingest.httpserver import Tls
from ingest.metrics import PaceCollector, PlantCollector, SinkMetrics, process_registry
from ingest.plant import Plant
from ingest.plantpub import fetch_plant
from ingest.posting import EventPoster
from ingest.settings import Settings
from storage import jobqueries, pace, queries
from storage.api import QueryServer, announce
from storage.apigate import Gate
from storage.client import Store, connect, embedded_dir, is_embedded
from storage.retention import apply_retention
from storage.screens.app import Screens
from storage.sink import Sink

log = logging.getLogger(__name__)


def run_sink(settings: Settings, stop: threading.Event | None = None) -> None:
    stop = stop or threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    store = connect(settings)
    apply_retention(store, settings)
    poster = EventPoster(settings)
    registry = process_registry()
    registry.register(
        PlantCollector(
            lambda: plant_figures(store), time.monotonic, read_rates=lambda: queries.read_rates(store)
        )
    )
    registry.register(PaceCollector(lambda: pace_figures(store, datetime.now(UTC)), time.monotonic))
    gate = Gate.of(settings)
    screens = Screens.of(settings, store, gate.tokens, gate.limiter, PublishedPlant(settings).start(), poster)
    server = QueryServer(
        store,
        settings.api_host,
        settings.api_port,
        gate,
        poster,
        registry,
        Tls.of(settings),
        settings.forwarded_allow_ips,
        screens,
    ).start()
    announced: Path | None = None
    if is_embedded(settings.clickhouse_dsn):
        announced = announce(embedded_dir(settings.clickhouse_dsn), server.url)
    sink = Sink(settings, store, metrics=SinkMetrics(registry))
    try:
        sink.run(stop)
    finally:
        server.stop()
        if announced is not None:
            announced.unlink(missing_ok=True)
        store.close()
        log.info("sink stopped; rows written: %s", dict(sink.rows_written))


class PublishedPlant:
    """The plant as published on the broker, read once in the background for the screens (the
    line's stage order, its stations' targets, the company prefixes that make a Digital Link
    an item key); None until it has been read, and for good where it cannot be (a broker
    that does not let the sink read the plant topic): the screens then go without it."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.plant: Plant | None = None

    def start(self) -> PublishedPlant:
        threading.Thread(target=self._read, name="screens-plant", daemon=True).start()
        return self

    def _read(self) -> None:
        try:
            self.plant = fetch_plant(self.settings, wait_s=300.0)
        except Exception as exc:  # the screens work without it; say why once
            log.warning("screens: the published plant was not read (%s); stages in name order", exc)

    def __call__(self) -> Plant | None:
        return self.plant


def pace_figures(store: Store, now: datetime) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Each station's pace against its target and the late jobs, for the alert gauges."""
    late = pace.late_jobs(jobqueries.late_jobs(store), now)
    return [asdict(p) for p in pace.read_paces(store, now)], [asdict(j) for j in late]


def plant_figures(store: Store) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """WIP per stage and open violations per type, for the plant gauges of /metrics."""
    filters = {"site": "", "line": ""}
    return queries.wip_by_stage(store), store.query(queries.VIOLATIONS_BY_TYPE, filters)
