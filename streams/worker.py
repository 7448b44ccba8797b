"""``linetrace worker``: the faust stream worker, both stages, in one process."""

from __future__ import annotations

import gc
import logging

from faust.worker import Worker

from ingest.httpserver import Tls
from ingest.metrics import WorkerMetrics, process_registry, serve
from ingest.plant import Plant
from ingest.plantpub import fetch_plant
from ingest.settings import Settings
from streams.app import create_app
from streams.shipping import Shipper

log = logging.getLogger(__name__)


def publish_stations(settings: Settings, plant: Plant) -> None:
    """The plant's stations and their targets, for throughput against target."""
    rows = [
        {
            "site": s.site,
            "line": s.line,
            "station": s.station,
            "stage": s.stage,
            "target_per_hour": s.target_per_hour,
        }
        for line in plant.lines
        for s in line.stations
    ]
    shipper = Shipper(settings)
    shipper.trace({"stations": rows})
    shipper.flush()


def run_worker(settings: Settings) -> None:
    plant = fetch_plant(settings)
    publish_stations(settings, plant)
    settings.state_path.mkdir(parents=True, exist_ok=True)
    registry = process_registry()
    metrics = WorkerMetrics(registry)
    if settings.metrics_port:
        serve(registry, settings.metrics_host, settings.metrics_port, Tls.of(settings))
    app = create_app(settings, plant, metrics)
    # Item states are many long-lived objects: collect the young generation less often, so
    # full collections (each a pause of every batch in flight) stay rare.
    gc.set_threshold(50_000, 50, 100)
    # quiet: no console spinner (it sets the root logger to DEBUG and costs ~25% per message).
    worker = Worker(app, loglevel=settings.log_level, quiet=True, redirect_stdouts=False)
    worker.execute_from_commandline()
