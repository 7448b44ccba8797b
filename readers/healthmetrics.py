"""Reader health as Prometheus metrics, per reader and antenna, from each reader's
``ReaderHealthBook`` (``readers.status``), at every scrape.

- ``linetrace_reader_antenna_connected{reader,antenna}``: 1 connected, 0 disconnected, as the
  reader last said (antennas it never reported on are left out);
- ``linetrace_reader_antenna_reads_total{reader,antenna}``: reads the adapter took;
- ``linetrace_reader_heartbeat_timestamp_seconds{reader}``: when the last heartbeat (or, for
  a stream, any sign of life) arrived, on this host's clock; absent before the first;
- ``linetrace_reader_heartbeat_interval_seconds{reader}``: the interval the reader is set to
  send them at (``heartbeat_s``), so an alert can count missed heartbeats;
- ``linetrace_reader_status_events_total{reader,kind}``: status messages by kind (error,
  warning, antenna, heartbeat, state, other).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from readers.status import ReaderHealthBook


class ReaderHealthCollector(Collector):
    """The health books of the running readers (``books`` is asked at every scrape)."""

    def __init__(self, books: Callable[[], Iterable[ReaderHealthBook]]):
        self.books = books

    def collect(self) -> Iterable[Metric]:
        connected = GaugeMetricFamily(
            "linetrace_reader_antenna_connected",
            "1 while the reader reports the antenna connected, 0 while it reports it disconnected.",
            labels=["reader", "antenna"],
        )
        reads = CounterMetricFamily(
            "linetrace_reader_antenna_reads",
            "Reads the adapter took, per antenna.",
            labels=["reader", "antenna"],
        )
        beat = GaugeMetricFamily(
            "linetrace_reader_heartbeat_timestamp_seconds",
            "Unix time this host last heard from the reader (its heartbeat, or any stream line).",
            labels=["reader"],
        )
        interval = GaugeMetricFamily(
            "linetrace_reader_heartbeat_interval_seconds",
            "The interval the reader is set to send heartbeats at (heartbeat_s).",
            labels=["reader"],
        )
        events = CounterMetricFamily(
            "linetrace_reader_status_events",
            "Status messages of the reader, by kind (error, warning, antenna, heartbeat, state, other).",
            labels=["reader", "kind"],
        )
        for book in self.books():
            r = book.reader_id
            for antenna, port in sorted(list(book.antennas.items())):  # list(): one step under the GIL
                if port.connected is not None:
                    connected.add_metric([r, str(antenna)], float(port.connected))
                reads.add_metric([r, str(antenna)], float(port.reads))
            if book.last_heartbeat_us:
                beat.add_metric([r], book.last_heartbeat_us / 1e6)
            if book.heartbeat_s:
                interval.add_metric([r], book.heartbeat_s)
            for kind, n in sorted(list(book.events.items())):
                events.add_metric([r, kind], float(n))
        yield from (connected, reads, beat, interval, events)
