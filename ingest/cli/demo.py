"""``linetrace demo``: the whole pipeline on one machine, on embedded defaults.

Starts the local broker, creates the topics, publishes the plant, runs the stream worker
and the sink as child processes, drives the simulated line in real time, then prints the
summary. Ctrl-C stops everything; every child is stopped by its own process id.
"""

from __future__ import annotations

import logging
import shutil
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from ingest.broker import LocalBroker, free_port
from ingest.cli.report import summary_text
from ingest.errors import LinetraceError
from ingest.kafka import create_topics, deliver_or_raise, make_producer
from ingest.plant import Plant
from ingest.plantpub import publish_plant
from ingest.processes import Child, stop_on_sigterm
from ingest.queryclient import query_api
from ingest.settings import Settings, redact_dsn
from ingest.timefmt import now_us
from ingest.tokenfile import local_token
from ingest.topics import Topics
from readers.publisher import EventPublisher
from readers.simulator import LineSimulator, SimConfig

log = logging.getLogger(__name__)


@contextmanager
def local_stack(settings: Settings, plant: Plant, data_dir: Path, keep: bool = False) -> Iterator[LocalStack]:
    """The local broker, topics, plant, stream worker and sink, stopped when the block ends."""
    if data_dir.exists() and not keep:
        shutil.rmtree(data_dir)
    stored = (data_dir / "clickhouse").exists()  # a trace kept from an earlier run
    data_dir.mkdir(parents=True, exist_ok=True)
    broker = LocalBroker(log_path=data_dir / "broker.log")
    children: list[Child] = []
    try:
        broker.start()
        # The stack's own plant-wide API token, in its own data directory.
        tokens = (data_dir / "api-tokens.yaml").resolve()
        settings = broker.tuned(settings).with_(
            clickhouse_dsn=f"chdb://{(data_dir / 'clickhouse').resolve()}",
            state_dir=str(data_dir / "worker"),
            api_port=free_port(settings.api_host),
            metrics_port=free_port(settings.metrics_host),
            api_tokens_file=str(tokens),
            api_token=local_token(tokens, "local-stack"),
        )
        create_topics(settings)
        publish_plant(settings, plant)
        # The new broker holds no route state; the items of the kept trace get theirs back
        # from the store before a worker starts, or their next reads would start afresh.
        restored = restore_state(settings, data_dir) if stored else None
        children = [
            Child("worker", ["worker"], settings, data_dir),
            Child("sink", ["sink"], settings, data_dir),
        ]
        for child in children:
            child.start()
        api = f"http://{settings.api_host}:{settings.api_port}"
        _wait_for_api(api, children)
        yield LocalStack(settings, api, children, broker.bootstrap, restored)
    finally:
        for child in reversed(children):
            child.stop()
        broker.stop()


@dataclass
class LocalStack:
    settings: Settings
    api: str
    children: list[Child]
    bootstrap: str
    restored: dict[str, Any] | None = None  # what ``linetrace state restore`` wrote, if it ran

    def supervise(self) -> None:
        for child in self.children:
            child.supervise()


def restore_state(settings: Settings, data_dir: Path) -> dict[str, Any]:
    """``linetrace state restore``, run as a child like the rest of the stack (its log in
    ``restore.log``); it opens the store and closes it before the sink starts."""
    out = Child("restore", ["state", "restore"], settings, data_dir).run()
    result: dict[str, Any] = orjson.loads(out)
    return result


def run_demo(
    settings: Settings, plant: Plant, duration_s: float, data_dir: Path, config: SimConfig, keep: bool = False
) -> dict[str, Any]:
    # Ctrl-C and SIGTERM both unwind through the finally below, which stops every child.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    stop_on_sigterm()
    with local_stack(settings, plant, data_dir, keep) as stack:
        settings, api, children = stack.settings, stack.api, stack.children
        print(f"linetrace demo: broker {stack.bootstrap}, data in {data_dir}, {duration_s:.0f} s of line")
        kept = 0  # reader cycles stored by an earlier run (--keep)
        if stack.restored is not None:
            print(f"  route state of {stack.restored['items']} items restored from the kept trace")
            kept = int(query_api(api, "summary", {}, settings.api_token)["reads"]["reports"] or 0)
        published = _drive_line(settings, plant, duration_s, config, api, children)
        wait_for_drain(api, kept + len(published), settings, children)
        summary = query_api(api, "summary", {}, settings.api_token)
        print()
        print(summary_text(summary))
        dsn = redact_dsn(settings.clickhouse_dsn)
        print(f"\nquery it again: LINETRACE_CLICKHOUSE_DSN={dsn} linetrace query summary")
        return dict(summary)


def _wait_for_api(api: str, children: list[Child], timeout_s: float = 60.0) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for child in children:
            child.supervise()
        try:
            with urllib.request.urlopen(api + "/health", timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise LinetraceError("the sink did not start; see sink.log")


def _drive_line(
    settings: Settings, plant: Plant, duration_s: float, config: SimConfig, api: str, children: list[Child]
) -> set[str]:
    producer = make_producer(settings)
    publisher = EventPublisher(producer, Topics.of(settings))
    sim = LineSimulator(plant, config, now_us())
    report_ids: set[str] = set()
    start = time.monotonic()
    next_progress = start + 5
    while (elapsed := time.monotonic() - start) < duration_s:
        for event in sim.advance(now_us()):
            publisher.publish(event)
            rid = getattr(event, "report_id", None)
            if rid:
                report_ids.add(rid)
        if time.monotonic() >= next_progress:
            next_progress += 5
            for child in children:
                child.supervise()
            _progress(elapsed, publisher, api, settings.api_token)
        time.sleep(0.1)
    deliver_or_raise(producer)
    print(
        f"  line stopped after {duration_s:.0f} s: {publisher.reads} reads in "
        f"{publisher.reports} cycles published"
    )
    return report_ids


def _progress(elapsed: float, publisher: EventPublisher, api: str, token: str) -> None:
    try:
        s = query_api(api, "summary", {}, token)
        stored = (
            f"stored {s['reads']['reads'] or 0} reads, {s['items']['items']} items, "
            f"{s['passes']['movements']} movements, "
            f"{sum(v['violations'] for v in s['violations_by_type'])} violations"
        )
    except (OSError, LinetraceError) as exc:
        stored = f"(query API busy: {exc})"
    print(f"  t={elapsed:5.0f}s  published {publisher.reads} reads; {stored}")


def wait_for_drain(
    api: str, published: int, settings: Settings, children: list[Child], timeout_s: float = 90.0
) -> None:
    """Wait until every published reader cycle is stored and the trace stops changing."""
    deadline = time.monotonic() + timeout_s
    previous = None
    while time.monotonic() < deadline:
        for child in children:
            child.supervise()
        time.sleep(max(1.0, settings.reorder_window_s))
        s = query_api(api, "summary", {}, settings.api_token)
        current = (s["reads"]["reports"], s["passes"]["passes"], s["items"]["items"])
        if s["reads"]["reports"] == published and current == previous:
            return
        previous = current
    print("  ! the pipeline had not drained within", timeout_s, "s; the summary may be incomplete")
