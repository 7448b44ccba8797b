"""``linetrace worker``: the faust stream worker, both stages, in one process."""

from __future__ import annotations

import logging

from faust.worker import Worker

from ingest.plantpub import fetch_plant
from ingest.settings import Settings
from streams.app import create_app

log = logging.getLogger(__name__)


def run_worker(settings: Settings) -> None:
    plant = fetch_plant(settings)
    settings.state_path.mkdir(parents=True, exist_ok=True)
    app = create_app(settings, plant)
    # quiet: no console spinner (it sets the root logger to DEBUG and costs ~25% per message).
    worker = Worker(app, loglevel=settings.log_level, quiet=True, redirect_stdouts=False)
    worker.execute_from_commandline()
