"""linetrace subcommands run as supervised child processes (demo, bench), and the rule that
every process linetrace starts ends with the process that started it."""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
from pathlib import Path

from ingest.errors import LinetraceError
from ingest.settings import Settings

_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def die_with_parent() -> None:
    """Run in a child between fork and exec: the kernel sends it SIGTERM when the parent ends,
    however the parent ends (SIGKILL included), so no broker or worker outlives its command.

    Linux ties this to the thread that started the child, so children are started from the
    main thread."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def stop_on_sigterm() -> None:
    """SIGTERM unwinds like Ctrl-C, through every ``finally`` and ``with`` that stops a child."""
    signal.signal(signal.SIGTERM, _interrupt)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


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
                preexec_fn=die_with_parent,
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
                preexec_fn=die_with_parent,
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
