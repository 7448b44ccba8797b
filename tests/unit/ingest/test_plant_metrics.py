"""The sink's plant metrics: each route stage's items observed and read, as counters whose
increases give a portal's read rate over any window (the read-rate alert divides them)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from ingest.metrics import PlantCollector

RATES = [
    {"site": "PLANT-1", "line": "LINE-A", "stage": "QC", "observed": 200, "read": 190, "read_rate": 0.95},
    {"site": "PLANT-1", "line": "LINE-A", "stage": "PACK", "observed": 0, "read": 0, "read_rate": 0},
]


def test_read_rates_are_counters_per_stage_refreshed_at_most_every_interval() -> None:
    asked, clock = [0], [0.0]

    def rates() -> list[dict[str, object]]:
        asked[0] += 1
        return [dict(r, observed=int(str(r["observed"])) * asked[0]) for r in RATES]

    registry = CollectorRegistry()
    registry.register(PlantCollector(lambda: ([], []), lambda: clock[0], every_s=15, read_rates=rates))
    qc = {"site": "PLANT-1", "line": "LINE-A", "stage": "QC"}
    assert registry.get_sample_value("linetrace_portal_items_observed_total", qc) == 200
    assert registry.get_sample_value("linetrace_portal_items_read_total", qc) == 190
    clock[0] = 10
    assert registry.get_sample_value("linetrace_portal_items_observed_total", qc) == 200  # cached
    clock[0] = 20
    assert registry.get_sample_value("linetrace_portal_items_observed_total", qc) == 400


def test_without_read_rates_the_counters_have_no_samples() -> None:
    registry = CollectorRegistry()
    registry.register(PlantCollector(lambda: ([], []), lambda: 0.0))
    assert registry.get_sample_value("linetrace_portal_items_read_total", {"stage": "QC"}) is None


def test_every_process_serves_its_memory_cpu_open_files_and_gc() -> None:
    from ingest.metrics import process_registry

    registry = process_registry()
    for sample in (
        "process_resident_memory_bytes",
        "process_cpu_seconds_total",
        "process_open_fds",
        "python_gc_objects_collected_total",
    ):
        labels = {"generation": "0"} if sample.startswith("python_gc") else {}
        value = registry.get_sample_value(sample, labels)
        assert value is not None and value >= 0, sample
    assert registry.get_sample_value("process_resident_memory_bytes")  # more than nothing
