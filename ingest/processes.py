"""The rule that every process linetrace starts ends with the process that started it, how
it is stopped, and the environment it gets (the children themselves: ingest/cli/stack.py)."""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess

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


def child_env(settings: Settings) -> dict[str, str]:
    """The environment of a child process: this one's, with ``settings`` as the only
    ``LINETRACE_`` variables."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("LINETRACE_")}
    return {**base, **settings.to_env()}
