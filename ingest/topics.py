"""Topic names and their partition counts."""

from __future__ import annotations

from dataclasses import dataclass

from ingest.records import bundles, routestate, trace
from ingest.settings import Settings


@dataclass(frozen=True)
class Topics:
    prefix: str
    partitions: int

    @classmethod
    def of(cls, settings: Settings) -> Topics:
        return cls(settings.topic_prefix, settings.partitions)

    @property
    def plant(self) -> str:
        """The plant model, one record per site (the latest wins)."""
        return f"{self.prefix}.plant"

    @property
    def reads(self) -> str:
        """Read-cycle reports from readers, keyed by reader id."""
        return f"{self.prefix}.reads"

    @property
    def jobs(self) -> str:
        """Job events (created, items bound), keyed by job."""
        return f"{self.prefix}.jobs"

    @property
    def aggregations(self) -> str:
        """Genealogy events: aggregations (pack, assemble, unpack) keyed by parent, and
        transformations (inputs consumed into outputs) keyed by transformation id."""
        return f"{self.prefix}.aggregations"

    @property
    def item_bundles(self) -> str:
        """Internal: passes and job bindings bundled per partition of their item key
        (format: ingest/records/bundles.py)."""
        return f"{self.prefix}.{bundles.TOPIC}"

    @property
    def route_state(self) -> str:
        """Internal changelog of item route state; partition p holds the items of bundle partition p
        (format: ingest/records/routestate.py)."""
        return f"{self.prefix}.{routestate.TOPIC}"

    @property
    def trace(self) -> str:
        """Rows for ClickHouse (passes, violations, item state, links, read cycles), bundled
        (format: ingest/records/trace.py)."""
        return f"{self.prefix}.{trace.TOPIC}"

    @property
    def dead_letter(self) -> str:
        """Rejected input with the reason it was rejected."""
        return f"{self.prefix}.dead-letter"

    @property
    def epcis_events(self) -> str:
        """EPCIS events captured from partners, as received, keyed by eventID, for the sink to
        store, with error declarations and finished capture jobs (format: ingest/epcis/messages.py)."""
        return f"{self.prefix}.epcis-events"

    def layout(self) -> dict[str, int]:
        """Every topic and the number of partitions it is created with."""
        keyed = self.partitions
        return {
            self.plant: 1,
            self.reads: keyed,
            self.jobs: keyed,
            self.aggregations: keyed,
            self.item_bundles: keyed,
            self.route_state: keyed,
            self.trace: keyed,
            self.dead_letter: 1,
            self.epcis_events: keyed,
        }
