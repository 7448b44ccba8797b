"""Fixtures that start the real pieces on loopback: the local broker, the stream worker and
the sink (with its embedded chDB store and query API), each stopped by its own process id."""

from __future__ import annotations

import os
import signal
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

from ingest.broker import LocalBroker, free_port
from ingest.kafka import create_topics, deliver_or_raise, make_producer
from ingest.plant import Plant, parse_plant
from ingest.plantpub import publish_plant
from ingest.processes import stop_process
from ingest.queryclient import query_api
from ingest.settings import Settings
from ingest.tokenfile import local_token
from ingest.topics import Topics


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test under tests/integration is an integration test (a ``pytestmark`` in a
    conftest marks nothing)."""
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBroker]:
    log_path = tmp_path_factory.mktemp("broker") / "broker.log"
    with LocalBroker(log_path=log_path) as b:
        yield b


@pytest.fixture
def settings(broker: LocalBroker, tmp_path: Path) -> Settings:
    run = uuid.uuid4().hex[:8]
    tokens = tmp_path / "api-tokens.yaml"
    return broker.tuned(Settings()).with_(
        api_tokens_file=str(tokens),
        api_token=local_token(tokens, "tests"),  # plant-wide: Pipeline.query sees every site
        topic_prefix=f"t{run}",
        worker_id=f"w{run}",
        partitions=2,
        clickhouse_dsn=f"chdb://{tmp_path / 'clickhouse'}",
        state_dir=str(tmp_path / "worker"),
        api_port=free_port(),
        metrics_port=free_port(),
        reader_metrics_port=free_port(),
        reorder_window_s=0.5,
    )


class Process:
    """A linetrace subcommand in its own process group, with its log kept for failures."""

    def __init__(self, args: list[str], settings: Settings, log_path: Path, patches: str = ""):
        """``patches``: test-only patches for the child (tests/integration/faults/launcher.py)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("LINETRACE_")}
        env.update(settings.to_env())
        entry = "ingest.cli"
        if patches:
            env["LINETRACE_TEST_PATCHES"] = patches
            env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
            entry = "tests.integration.faults.launcher"
        self.log_path = log_path
        with open(log_path, "ab") as out:
            self.popen = subprocess.Popen(
                [sys.executable, "-m", entry, *args],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 20.0) -> int:
        return stop_process(self.popen, sig, timeout_s)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]


class Pipeline:
    def __init__(self, settings: Settings, plant: Plant, log_dir: Path):
        self.settings = settings
        self.plant = plant
        self.topics = Topics.of(settings)
        self.log_dir = log_dir
        self.processes: dict[str, Process] = {}
        self.producer = make_producer(settings)
        self.api = f"http://{settings.api_host}:{settings.api_port}"

    def start(self, patches: dict[str, str] | None = None) -> Pipeline:
        """Topics, plant, worker and sink; ``patches`` by process name (test-only, see faults/)."""
        create_topics(self.settings)
        publish_plant(self.settings, self.plant)
        self.start_process("worker", (patches or {}).get("worker", ""))
        self.start_process("sink", (patches or {}).get("sink", ""))
        self._wait_for_api()
        return self

    def start_process(self, name: str, patches: str = "") -> Process:
        self.processes[name] = Process([name], self.settings, self.log_dir / f"{name}.log", patches)
        return self.processes[name]

    def _wait_for_api(self, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.api + "/health", timeout=1):
                    return
            except OSError:
                time.sleep(0.2)
        raise AssertionError("sink API did not come up:\n" + self.processes["sink"].log())

    def send(self, topic: str, value: bytes, key: bytes | None = None) -> None:
        self.producer.produce(topic, value, key=key)

    def flush(self) -> None:
        deliver_or_raise(self.producer)

    def query(self, name: str, **params: str) -> Any:
        return query_api(self.api, name, params, self.settings.api_token)

    def cli(self, *args: str) -> tuple[int, str, str]:
        """``linetrace ARGS`` as a person types it, against this pipeline: (exit, stdout, stderr)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("LINETRACE_")}
        done = subprocess.run(
            [sys.executable, "-m", "ingest.cli", *args],
            env={**env, **self.settings.to_env()},
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
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if check():
                return
            time.sleep(0.5)
        logs = "\n".join(f"--- {n}\n{p.log()}" for n, p in self.processes.items())
        raise AssertionError(f"timed out waiting for {what}\n{logs}")

    def stop(self) -> None:
        for p in reversed(list(self.processes.values())):
            p.stop()


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
