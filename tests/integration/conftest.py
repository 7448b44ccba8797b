"""Fixtures that start the real pieces on loopback: the local broker, and on it the local stack
(ingest/cli/stack.py: the stream worker and the sink, with its embedded chDB store and query
API), each stopped by its own process id."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from ingest.broker import free_port
from ingest.cli.queryclient import query_api
from ingest.cli.stack import Child, LocalStack, stack_settings
from ingest.errors import NotFound
from ingest.kafka import deliver_or_raise, make_producer
from ingest.plant import Plant, parse_plant
from ingest.processes import child_env
from ingest.settings import Settings
from ingest.topics import Topics
from tests.integration.brokers import Broker, make_broker


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test under tests/integration is an integration test (a ``pytestmark`` in a
    conftest marks nothing)."""
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    """Tansu, or Apache Kafka with LINETRACE_TEST_BROKER=kafka (tests/integration/brokers.py)."""
    with make_broker(tmp_path_factory.mktemp("broker")) as b:
        yield b


@pytest.fixture
def settings(broker: Broker, tmp_path: Path) -> Settings:
    run = uuid.uuid4().hex[:8]
    # The stack's own plant-wide token: Pipeline.query sees every site.
    return stack_settings(broker.tuned(Settings()), tmp_path, "tests").with_(
        topic_prefix=f"t{run}",
        worker_id=f"w{run}",
        partitions=2,
        reader_metrics_port=free_port(),
        reorder_window_s=0.5,
    )


LAUNCHER = "tests.integration.faults.launcher"


class Process(Child):
    """A linetrace subcommand started at once, with its log kept for failures; ``patches``:
    test-only patches for it (tests/integration/faults/launcher.py). It is not bound to the
    thread that starts it (the rebalance test's supervisor is a thread)."""

    def __init__(self, args: list[str], settings: Settings, log_path: Path, patches: str = ""):
        launch: dict[str, Any] = {}
        if patches:
            env = {"LINETRACE_TEST_PATCHES": patches, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
            launch = {"module": LAUNCHER, "env": env}
        super().__init__(log_path.stem, args, settings, log_path.parent, ends_with_parent=False, **launch)
        self.start()

    @property
    def popen(self) -> subprocess.Popen[bytes]:
        assert self.process is not None, f"{self.name} was stopped"
        return self.process


class Pipeline(LocalStack):
    """The local stack on the session's broker, with what the tests send and ask through it."""

    def __init__(self, settings: Settings, plant: Plant, log_dir: Path):
        super().__init__(settings, plant, log_dir)
        self.processes: dict[str, Process] = {}
        self.children = self.processes  # type: ignore[assignment]  # one dict: the stack stops what tests add
        self.topics = Topics.of(settings)
        self.producer = make_producer(settings)
        self.patches: dict[str, str] = {}

    def start(self, patches: dict[str, str] | None = None, *, restore: bool = False) -> Pipeline:
        """Topics, plant, worker and sink; ``patches`` by process name (test-only, see faults/)."""
        self.patches = patches or {}
        super().start(restore=restore)
        return self

    def launch(self, name: str, args: list[str], settings: Settings | None = None) -> Process:
        own = settings or self.settings
        return Process(args, own, self.log_dir / f"{name}.log", self.patches.get(name, ""))

    def start_process(self, name: str, patches: str = "") -> Process:
        self.processes[name] = Process([name], self.settings, self.log_dir / f"{name}.log", patches)
        return self.processes[name]

    def send(self, topic: str, value: bytes, key: bytes | None = None) -> None:
        self.producer.produce(topic, value, key=key)

    def flush(self) -> None:
        deliver_or_raise(self.producer)

    def query(self, name: str, **params: str) -> Any:
        return query_api(self.api, name, params, self.settings.api_token)

    def cli(self, *args: str) -> tuple[int, str, str]:
        """``linetrace ARGS`` as a person types it, against this pipeline: (exit, stdout, stderr)."""
        done = subprocess.run(
            [sys.executable, "-m", "ingest.cli", *args],
            env=child_env(self.settings),
            capture_output=True,
            text=True,
            timeout=60,
        )
        return done.returncode, done.stdout, done.stderr

    def post(self, kind: str, body: bytes) -> tuple[int, str]:
        """POST /v1/events/<kind>: (status, the topic or the error reason)."""
        request = urllib.request.Request(
            f"{self.api}/v1/events/{kind}",
            data=body,
            method="POST",
            headers={"Authorization": f"Bearer {self.settings.api_token}"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as resp:
                return resp.status, str(orjson.loads(resp.read())["topic"])
        except urllib.error.HTTPError as exc:
            return exc.code, str(orjson.loads(exc.read())["error"])

    def stop_sink(self) -> None:
        """Stop the sink, so this process may open the embedded store itself."""
        assert self.processes["sink"].stop() == 0, self.processes["sink"].log()

    def wait_until(self, check: Callable[[], bool], timeout_s: float = 90.0, what: str = "") -> None:
        """Until ``check()`` holds; an item the store does not hold yet (unknown_item) is not yet."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with contextlib.suppress(NotFound):
                if check():
                    return
            time.sleep(0.5)
        logs = "\n".join(f"--- {n}\n{p.log()}" for n, p in self.processes.items())
        raise AssertionError(f"timed out waiting for {what}\n{logs}")


@pytest.fixture
def pipeline_factory(settings: Settings, tmp_path: Path) -> Iterator[Callable[[dict[str, Any]], Pipeline]]:
    started: list[Pipeline] = []

    def start(plant_doc: dict[str, Any]) -> Pipeline:
        p = Pipeline(settings, parse_plant(plant_doc), tmp_path).start()
        started.append(p)
        return p

    yield start
    for p in started:
        p.stop()
