"""The one local stack: the stream worker and the sink of one settings, with the topics and
the plant they need, started together as child processes on loopback and stopped together.

``local_stack`` runs it on a local broker of its own, in one data directory (the demo, the
load test, the bench); the integration tests run ``LocalStack`` on their session's broker
and start its children through their launcher of test patches.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from ingest.broker import LocalBroker, free_port
from ingest.errors import LinetraceError
from ingest.kafka import create_topics
from ingest.kafkabroker import KafkaBroker
from ingest.plant import Plant
from ingest.plantpub import publish_plant
from ingest.processes import child_env, die_with_parent, stop_process
from ingest.settings import Settings
from ingest.tokenfile import local_token

CLI = "ingest.cli"  # the module every child runs: ``python -m ingest.cli ARGS``


class Child:
    """A linetrace subcommand in its own process group, restarted if it dies on a fault.

    ``module`` and ``env`` run it through another entry (the tests' launcher of test patches);
    ``ends_with_parent=False`` lets a child started from a thread outlive that thread."""

    def __init__(
        self,
        name: str,
        args: list[str],
        settings: Settings,
        log_dir: Path,
        *,
        module: str = CLI,
        env: dict[str, str] | None = None,
        ends_with_parent: bool = True,
    ):
        self.name, self.args, self.settings = name, args, settings
        self.log_path = log_dir / f"{name}.log"
        self.command = [sys.executable, "-m", module, *args]
        self.env = {**child_env(settings), **(env or {})}
        self.preexec = die_with_parent if ends_with_parent else None
        self.process: subprocess.Popen[bytes] | None = None
        self.restarts = 0

    def start(self) -> None:
        with open(self.log_path, "ab") as out:
            self.process = subprocess.Popen(
                self.command,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self.env,
                start_new_session=True,
                preexec_fn=self.preexec,
            )

    def run(self, timeout_s: float = 600.0) -> bytes:
        """Run a one-shot subcommand to its end; returns its standard output."""
        with open(self.log_path, "ab") as err:
            done = subprocess.run(
                self.command,
                stdout=subprocess.PIPE,
                stderr=err,
                env=self.env,
                timeout=timeout_s,
                start_new_session=True,
                preexec_fn=self.preexec,
            )
        if done.returncode != 0:
            raise LinetraceError(f"{self.name} exited with {done.returncode}; see {self.log_path}")
        return done.stdout

    def supervise(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            self.restarts += 1
            print(f"  ! {self.name} exited with {self.process.returncode}; restarting (see {self.log_path})")
            self.start()

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 20.0) -> int | None:
        """Stop it by its own process id; returns its exit status (None if it was not running)."""
        proc, self.process = self.process, None
        return None if proc is None else stop_process(proc, sig, timeout_s)

    def log(self) -> str:
        """The end of its log, for a failure message."""
        return self.log_path.read_text(errors="replace")[-4000:] if self.log_path.exists() else ""


def stack_settings(settings: Settings, data_dir: Path, token: str) -> Settings:
    """``settings`` (already tuned to their broker) for a stack whose data lives in
    ``data_dir``: the embedded store, the worker's state, free ports on loopback and a
    plant-wide API token of its own, named ``token``."""
    tokens = (data_dir / "api-tokens.yaml").resolve()
    return settings.with_(
        clickhouse_dsn=f"chdb://{(data_dir / 'clickhouse').resolve()}",
        state_dir=str(data_dir / "worker"),
        api_port=free_port(settings.api_host),
        metrics_port=free_port(settings.metrics_host),
        api_tokens_file=str(tokens),
        api_token=local_token(tokens, token),
    )


class LocalStack:
    """The stream worker and the sink of ``settings``, their logs in ``log_dir``.

    ``supervised``: a child that dies on a fault is restarted while the stack waits for the
    sink and whenever its user calls ``supervise``."""

    def __init__(
        self, settings: Settings, plant: Plant, log_dir: Path, supervised: bool = False, workers: int = 1
    ):
        self.settings, self.plant, self.log_dir = settings, plant, log_dir
        self.supervised = supervised
        # Stream workers of the one consumer group: they share the input partitions.
        self.worker_settings = [settings] + [
            settings.with_(
                metrics_port=free_port(settings.metrics_host) if settings.metrics_port else 0,
                state_dir=f"{settings.state_dir}-{n}",
            )
            for n in range(2, workers + 1)
        ]
        self.api = f"http://{settings.api_host}:{settings.api_port}"
        self.children: dict[str, Child] = {}
        self.restored: dict[str, Any] | None = None  # what ``linetrace state restore`` wrote, if it ran
        self.own_broker: LocalBroker | KafkaBroker | None = None  # the local broker it runs on, if its own

    def pids(self) -> dict[str, int]:
        """The process id of each running child and of the local broker, by name."""
        found = {name: c.process.pid for name, c in self.children.items() if c.process is not None}
        if self.own_broker is not None and self.own_broker.process is not None:
            found["broker"] = self.own_broker.process.pid
        return found

    def start(self, *, restore: bool = False) -> LocalStack:
        """Topics, plant, worker and sink; returns once the sink's API answers.

        ``restore``: the broker holds no route state but the store keeps a trace, so the
        items' state is rebuilt from the store before a worker starts (or their next reads
        would start afresh); ``linetrace state restore`` opens the store and closes it before
        the sink starts."""
        create_topics(self.settings)
        publish_plant(self.settings, self.plant)
        if restore:
            out = Child("restore", ["state", "restore"], self.settings, self.log_dir).run()
            self.restored = orjson.loads(out)
        for n, settings in enumerate(self.worker_settings, start=1):
            name = "worker" if n == 1 else f"worker-{n}"
            self.children[name] = self.launch(name, ["worker"], settings)
        self.children["sink"] = self.launch("sink", ["sink"])
        self.wait_for_api()
        return self

    def worker_metrics(self) -> list[str]:
        """The /metrics address of each stream worker."""
        return [f"http://{s.metrics_host}:{s.metrics_port}/metrics" for s in self.worker_settings]

    def launch(self, name: str, args: list[str], settings: Settings | None = None) -> Child:
        """Start ``linetrace ARGS`` as the child ``name`` (with the stack's settings, or ``settings``)."""
        child = Child(name, args, settings or self.settings, self.log_dir)
        child.start()
        return child

    def wait_for_api(self, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.supervised:
                self.supervise()
            try:
                with urllib.request.urlopen(self.api + "/health", timeout=1):
                    return
            except OSError:
                time.sleep(0.2)
        sink = self.children["sink"]
        raise LinetraceError(f"the sink's API did not come up; the end of {sink.log_path}:\n{sink.log()}")

    def supervise(self) -> None:
        for child in list(self.children.values()):
            child.supervise()

    def stop(self) -> None:
        """Every child by its own process id, the last started first."""
        for child in reversed(list(self.children.values())):
            child.stop()


def local_broker(kind: str, data_dir: Path) -> LocalBroker | KafkaBroker:
    """The broker of a local stack, not started: Tansu (memory only, the embedded default) or
    Apache Kafka 4 from ``make kafka`` (its log kept in ``data_dir/kafka``)."""
    if kind == "kafka":
        return KafkaBroker(data_dir / "kafka")
    if kind == "tansu":
        return LocalBroker(log_path=data_dir / "broker.log")
    raise ValueError(f"broker kind {kind!r}: tansu or kafka")


@dataclass(frozen=True, kw_only=True)
class StackPlace:
    """Where a local stack lives and on what broker: everything in ``data_dir``, emptied first
    unless ``keep`` (then a trace kept there gets its route state back: from the store on
    Tansu, which keeps nothing, and from its own changelog on Kafka, which kept its log);
    ``token``: the stack's own plant-wide API token."""

    data_dir: Path
    keep: bool = False
    broker_kind: str = "tansu"
    token: str = "local-stack"
    workers: int = 1  # stream worker processes


@contextmanager
def local_stack(settings: Settings, plant: Plant, place: StackPlace) -> Iterator[LocalStack]:
    """A local broker of its own and the stack on it, at ``place``; all of it is stopped when
    the block ends."""
    data_dir, keep, broker_kind = place.data_dir, place.keep, place.broker_kind
    if data_dir.exists() and not keep:
        shutil.rmtree(data_dir)
    stored = (data_dir / "clickhouse").exists()
    broker_kept = broker_kind == "kafka" and (data_dir / "kafka").exists()
    data_dir.mkdir(parents=True, exist_ok=True)
    broker = local_broker(broker_kind, data_dir)
    stack: LocalStack | None = None
    try:
        broker.start()
        settings = stack_settings(broker.tuned(settings), data_dir, place.token)
        stack = LocalStack(settings, plant, data_dir, supervised=True, workers=place.workers)
        stack.own_broker = broker
        yield stack.start(restore=stored and not broker_kept)
    finally:
        if stack is not None:
            stack.stop()
        broker.stop()
