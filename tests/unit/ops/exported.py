"""The metric names linetrace's processes export, as Prometheus exposes them."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from ingest.metrics import ApiMetrics, PaceCollector, PlantCollector, SinkMetrics, WorkerMetrics
from readers.forwarder import ReaderMetrics
from readers.healthmetrics import ReaderHealthCollector
from readers.run import HealthCollector


def exported_metric_names() -> set[str]:
    registry = CollectorRegistry()
    WorkerMetrics(registry)
    SinkMetrics(registry)
    ApiMetrics(registry)
    ReaderMetrics(registry)
    registry.register(HealthCollector([]))
    registry.register(PlantCollector(lambda: ([], []), lambda: 0.0, read_rates=lambda: []))
    registry.register(ReaderHealthCollector(lambda: []))
    registry.register(PaceCollector(lambda: ([], []), lambda: 0.0))
    names = set()
    for family in registry.collect():
        names.add(family.name)
        names.update(s.name for s in family.samples)
        if family.type == "counter":
            names.add(family.name + "_total")
    return names
