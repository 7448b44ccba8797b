"""``linetrace demo``: the whole pipeline on one machine, on embedded defaults.

Starts the local stack (ingest/cli/stack.py: the local broker, the topics, the plant, the
stream worker and the sink as child processes), drives the simulated line in real time,
then prints the summary. With ``serve``, the pipeline and the screens stay up after the line
stops, until Ctrl-C. Ctrl-C stops everything; every child is stopped by its own process id.
"""

from __future__ import annotations

import logging
import signal
import time
from dataclasses import dataclass
from typing import Any

from ingest.cli.queryclient import query_api
from ingest.cli.report import summary_text
from ingest.cli.stack import LocalStack, StackPlace, local_stack
from ingest.errors import LinetraceError
from ingest.kafka import deliver_or_raise, producing
from ingest.plant import Plant
from ingest.processes import stop_on_sigterm
from ingest.settings import Settings, redact_dsn
from ingest.timefmt import now_us
from ingest.topics import Topics
from readers.publisher import EventPublisher
from readers.simulator import LineSimulator, SimConfig

log = logging.getLogger(__name__)

_BROKER_NAMES = {"tansu": "local broker (Tansu)", "kafka": "Apache Kafka"}


@dataclass(frozen=True, kw_only=True)
class DemoRun:
    """One demo: ``duration_s`` of the line ``config`` simulates, on a stack at ``place``;
    ``serve`` keeps the pipeline and the screens up afterwards, until Ctrl-C."""

    duration_s: float
    config: SimConfig
    place: StackPlace
    serve: bool = False


def run_demo(settings: Settings, plant: Plant, run: DemoRun) -> dict[str, Any]:
    # Ctrl-C and SIGTERM both unwind through the finally below, which stops every child.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    stop_on_sigterm()
    duration_s, config, serve = run.duration_s, run.config, run.serve
    with local_stack(settings, plant, run.place) as stack:
        settings, api = stack.settings, stack.api
        bootstrap, kind = settings.kafka_bootstrap, _BROKER_NAMES[run.place.broker_kind]
        where = run.place.data_dir
        print(f"linetrace demo: {kind} on {bootstrap}, data in {where}, {duration_s:.0f} s of line")
        print(f"  line board: {api}/screens/board/{plant.lines[0].site}/{plant.lines[0].line}")
        print(f"  {sign_in_text(api, settings)}")
        kept = 0  # reader cycles stored by an earlier run (--keep)
        if stack.restored is not None:
            print(f"  route state of {stack.restored['items']} items restored from the kept trace")
            kept = int(query_api(api, "summary", {}, settings.api_token)["reads"]["reports"] or 0)
        published = _drive_line(stack, plant, duration_s, config)
        wait_for_drain(stack, kept + len(published))
        summary = query_api(api, "summary", {}, settings.api_token)
        print()
        print(summary_text(summary))
        dsn = redact_dsn(settings.clickhouse_dsn)
        if serve:
            print(f"\nthe pipeline and the screens stay up until Ctrl-C: {api}/screens/")
            print(sign_in_text(api, settings))
            print(f"query it: LINETRACE_API_TOKEN=<the token> linetrace query summary (API {api})")
            _serve(stack)
        print(f"\nquery it again: LINETRACE_CLICKHOUSE_DSN={dsn} linetrace query summary")
        return dict(summary)


def sign_in_text(api: str, settings: Settings) -> str:
    """How to sign in to the demo's screens: make a token, paste it at the sign-in page."""
    return (
        f"sign in at {api}/screens/sign-in with a token from: LINETRACE_API_TOKENS_FILE="
        f"{settings.api_tokens_file} linetrace token create --name me --all-sites"
    )


def _serve(stack: LocalStack) -> None:
    """Keep the stack up (a child that exits is restarted) until Ctrl-C or SIGTERM, which
    unwind through the stack's ``with`` and stop every child."""
    try:
        while True:
            stack.supervise()
            time.sleep(1.0)
    except KeyboardInterrupt:
        print("\nstopping the pipeline and the screens")


def _drive_line(stack: LocalStack, plant: Plant, duration_s: float, config: SimConfig) -> set[str]:
    settings = stack.settings
    with producing(settings) as producer:
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
                stack.supervise()
                _progress(elapsed, publisher, stack.api, settings.api_token)
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


def wait_for_drain(stack: LocalStack, published: int, timeout_s: float = 90.0) -> None:
    """Wait until every published reader cycle is stored and the trace stops changing."""
    settings = stack.settings
    deadline = time.monotonic() + timeout_s
    previous = None
    while time.monotonic() < deadline:
        stack.supervise()
        time.sleep(max(1.0, settings.reorder_window_s))
        s = query_api(stack.api, "summary", {}, settings.api_token)
        current = (s["reads"]["reports"], s["passes"]["passes"], s["items"]["items"])
        if s["reads"]["reports"] == published and current == previous:
            return
        previous = current
    print("  ! the pipeline had not drained within", timeout_s, "s; the summary may be incomplete")
