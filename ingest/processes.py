"""linetrace subcommands run as supervised child processes (demo, bench)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from ingest.errors import LinetraceError
from ingest.settings import Settings


class Child:
    """A linetrace subcommand in its own process group, restarted if it dies on a fault."""

    def __init__(self, name: str, args: list[str], settings: Settings, log_dir: Path):
        self.name, self.args, self.settings = name, args, settings
        self.log_path = log_dir / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.restarts = 0

    def start(self) -> None:
        env = {**_base_env(), **self.settings.to_env()}
        with open(self.log_path, "ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "ingest.cli", *self.args],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )

    def run(self, timeout_s: float = 600.0) -> bytes:
        """Run a one-shot subcommand to its end; returns its standard output."""
        env = {**_base_env(), **self.settings.to_env()}
        with open(self.log_path, "ab") as err:
            done = subprocess.run(
                [sys.executable, "-m", "ingest.cli", *self.args],
                stdout=subprocess.PIPE,
                stderr=err,
                env=env,
                timeout=timeout_s,
                start_new_session=True,
            )
        if done.returncode != 0:
            raise LinetraceError(f"{self.name} exited with {done.returncode}; see {self.log_path}")
        return done.stdout

    def supervise(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            self.restarts += 1
            print(f"  ! {self.name} exited with {self.process.returncode}; restarting (see {self.log_path})")
            self.start()

    def stop(self, timeout_s: float = 20.0) -> None:
        proc, self.process = self.process, None
        if proc is not None:
            stop_process(proc, timeout_s=timeout_s)


def stop_process(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout_s: float = 20.0) -> int:
    """Stop a child by its own process id: ``sig`` first, SIGKILL after ``timeout_s``."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def _base_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("LINETRACE_")}
