"""``linetrace reader run``: the adapters of the plant file's readers section, one thread each,
all publishing through one store-and-forward outlet, until SIGINT or SIGTERM. The adapters
that take HTTP posts (zebra, barcode_http) admit them through one gate over the tokens file
(``readers.auth``)."""

from __future__ import annotations

import asyncio
import logging
import signal
import ssl
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from ingest.plant import Plant
from ingest.settings import Settings
from ingest.tokenfile import TokenFile
from readers.auth import ReaderGate
from readers.base import CycleAggregator, Outlet
from readers.config import ReaderSpec, parse_readers, split_listen
from readers.healthmetrics import ReaderHealthCollector
from readers.status import ReaderHealthBook

log = logging.getLogger(__name__)

# How often each adapter's health goes to the log.
HEALTH_EVERY_S = 30.0

# Kinds whose devices post to linetrace over HTTP: their posts need a token.
POSTED_KINDS = frozenset({"zebra", "barcode_http"})


class Adapter(Protocol):
    """What ``run_readers`` needs of an adapter: it runs in its own thread until ``stop`` and
    tells how it is doing (RFID readers keep a health book too, ``book``)."""

    @property
    def health(self) -> Any: ...

    def run(self, stop: threading.Event) -> None: ...


@dataclass(frozen=True)
class Context:
    """What adapters are built with besides their spec."""

    settings: Settings
    plant: Plant
    outlet: Outlet
    gate: ReaderGate

    def aggregator(self, spec: ReaderSpec) -> CycleAggregator:
        return aggregator_for(spec, self.outlet)


def aggregator_for(spec: ReaderSpec, outlet: Outlet) -> CycleAggregator:
    """The reader's cycles, each published through ``outlet`` as one read-cycle report."""
    return CycleAggregator(spec.site, spec.line, spec.reader, spec.cycle_us, outlet.publish_report)


class Running:
    """An adapter at work in its own thread, how to ask how it is doing, and the reader's
    health book (RFID readers; scanners have none)."""

    def __init__(self, spec: ReaderSpec, adapter: Adapter, stop: threading.Event):
        self.spec, self.adapter = spec, adapter
        self.book: ReaderHealthBook | None = getattr(adapter, "book", None)
        self.thread = threading.Thread(target=adapter.run, args=(stop,), name=spec.reader, daemon=True)
        self.thread.start()

    def health(self) -> Any:
        return self.adapter.health


class InLoop:
    """An asyncio adapter (LLRP) run in its thread's own event loop until ``stop``."""

    def __init__(self, adapter: Any):
        self.adapter = adapter
        self.book = adapter.book

    @property
    def health(self) -> Any:
        return self.adapter.health

    def run(self, stop: threading.Event) -> None:
        async def main() -> None:
            done = asyncio.Event()
            loop = asyncio.get_running_loop()
            threading.Thread(
                target=lambda: (stop.wait(), loop.call_soon_threadsafe(done.set)), daemon=True
            ).start()
            await self.adapter.run(done)

        asyncio.run(main())


def _llrp(spec: ReaderSpec, c: Context) -> Adapter:
    from readers.llrp import LlrpAdapter

    o = spec.options
    adapter = LlrpAdapter(
        spec.reader,
        str(o["host"]),
        int(o["port"]),
        c.aggregator(spec),
        c.outlet,
        antennas=tuple(o["antennas"]),
        ro_spec_id=int(o["ro_spec_id"]),
        max_future_s=c.settings.max_future_skew_s,
        max_age_s=c.settings.max_age_s,
    )
    return InLoop(adapter)


def _impinj(spec: ReaderSpec, c: Context) -> Adapter:
    from readers.impinj import ImpinjStreamClient, ReadLimits

    o = spec.options
    return ImpinjStreamClient(
        str(o["url"]),
        spec.reader,
        c.aggregator(spec),
        c.outlet,
        limits=ReadLimits.of(c.settings),
        username=str(o["username"]),
        password=c.settings.reader_password,
        ssl_context=ssl.create_default_context(cafile=str(o["ca_file"]) or None),
        idle_timeout_s=float(o["idle_timeout_s"]),
        heartbeat_s=float(o["heartbeat_s"]),
    )


def _zebra(spec: ReaderSpec, c: Context) -> Adapter:
    from ingest.httpserver import Tls
    from readers.vendorjson import ReadLimits
    from readers.zebra import ZebraHttpReceiver

    host, port = split_listen(str(spec.options["listen"]))
    return ZebraHttpReceiver(
        spec.reader,
        c.aggregator(spec),
        c.outlet,
        c.gate,
        host,
        port,
        ReadLimits.of(c.settings),
        heartbeat_s=float(spec.options["heartbeat_s"]),
        tls=Tls.of(c.settings),
    )


def _barcode_tcp(spec: ReaderSpec, c: Context) -> Adapter:
    from readers.barcode import BarcodeTcpServer

    o = spec.options
    host, port = split_listen(str(o["listen"]))
    return BarcodeTcpServer(
        spec.reader,
        spec.site,
        spec.line,
        c.outlet,
        host=host,
        port=port,
        antenna=int(o["antenna"]),
        operator=str(o["operator"]),
        cycle_s=float(o["cycle_s"]),
        company_prefixes=c.plant.company_prefixes,
    )


def _barcode_http(spec: ReaderSpec, c: Context) -> Adapter:
    from readers.barcode_http import BarcodeHttpServer

    host, port = split_listen(str(spec.options["listen"]))
    return BarcodeHttpServer(
        c.outlet,
        c.settings,
        c.gate,
        host=host,
        port=port,
        cycle_s=float(spec.options["cycle_s"]),
        reader_ids=frozenset({spec.reader}),
        place=(spec.site, spec.line),
        company_prefixes=c.plant.company_prefixes,
        name=spec.reader,
    )


# Each reader kind and how its adapter is built (imported only when a plant file names it).
ADAPTERS: dict[str, Callable[[ReaderSpec, Context], Adapter]] = {
    "llrp": _llrp,
    "impinj": _impinj,
    "zebra": _zebra,
    "barcode_tcp": _barcode_tcp,
    "barcode_http": _barcode_http,
}


class HealthCollector(Collector):
    """Each running adapter's health as gauges: connected, reads taken."""

    def __init__(self, running: list[Running]):
        self.running = running

    def collect(self) -> Iterable[GaugeMetricFamily]:
        up = GaugeMetricFamily(
            "linetrace_reader_connected",
            "1 while the adapter has its device (or its listener is up).",
            labels=["reader"],
        )
        reads = GaugeMetricFamily(
            "linetrace_reader_reads", "Reads the adapter has taken since it started.", labels=["reader"]
        )
        for r in self.running:
            health = r.health()
            up.add_metric([r.spec.reader], float(bool(getattr(health, "connected", r.thread.is_alive()))))
            reads.add_metric([r.spec.reader], float(getattr(health, "reads", 0)))
        yield up
        yield reads


def reader_gate(
    settings: Settings, specs: list[ReaderSpec], registry: CollectorRegistry | None = None
) -> ReaderGate:
    """The gate of the readers that take HTTP posts, over ``LINETRACE_API_TOKENS_FILE``; the
    file is read (and its absence warned about) only if there are such readers."""
    posted = [s.reader for s in specs if s.kind in POSTED_KINDS]
    if not posted:
        return ReaderGate(lambda: (), registry)  # no adapter asks it
    refused = f"every POST to {', '.join(posted)} gets 401"
    return ReaderGate(TokenFile(Path(settings.api_tokens_file), refused).current, registry)


def run_readers(
    settings: Settings,
    plant: Plant,
    outlet: Outlet,
    only: list[str] | None = None,
    stop: threading.Event | None = None,
    registry: CollectorRegistry | None = None,
) -> None:
    """Run the named readers (default: all in the plant file) until ``stop`` or a signal."""
    specs = [s for s in parse_readers(plant) if not only or s.reader in only]
    unknown = sorted(set(only or []) - {s.reader for s in specs})
    if unknown:
        raise ValueError(f"readers not in the plant file's readers section: {unknown}")
    unsupported = sorted({s.kind for s in specs} - set(ADAPTERS))
    if unsupported:
        raise ValueError(f"reader kinds not available in this build: {unsupported}")
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
    gate = reader_gate(settings, specs, registry)
    context = Context(settings, plant, outlet, gate)
    running = [Running(s, ADAPTERS[s.kind](s, context), stop) for s in specs]
    if registry is not None:
        registry.register(HealthCollector(running))
        registry.register(ReaderHealthCollector(lambda: [r.book for r in running if r.book is not None]))
    log.info("running %d readers: %s", len(running), ", ".join(s.reader for s in specs))
    next_health = time.monotonic() + HEALTH_EVERY_S
    while not stop.wait(1.0):
        if time.monotonic() >= next_health:
            for r in running:
                said = r.book.summary() if r.book is not None else {}
                log.info("reader %s (%s): %s %s", r.spec.reader, r.spec.kind, r.health(), said)
            next_health += HEALTH_EVERY_S
    for r in running:
        r.thread.join(timeout=10)
