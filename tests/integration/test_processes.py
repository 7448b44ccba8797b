"""Every process linetrace starts ends with the command that started it: on SIGTERM, on
SIGINT, and when the command itself is killed (SIGKILL leaves it no chance to clean up; the
kernel tells the children). The demo's stack, kept up after its line has run, emits its
whole trace as EPCIS 2.0 documents that validate against the schema."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

from ingest.broker import free_port
from tests.integration.epcistrace import wait_for_token, whole_trace

# Seconds of the demo's line: long enough for housings to be assembled into actuators and
# actuators to reach QC, so its trace holds passes, assemblies and inspections.
DEMO_LINE_S = 24


def _start(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LINETRACE_")}
    with open(log, "wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "ingest.cli", *args], stdout=out, stderr=subprocess.STDOUT, env=env
        )


def _children_once(
    proc: subprocess.Popen[bytes], wanted: list[str], timeout_s: float
) -> list[psutil.Process]:
    """The command's descendants, once one of them runs each of ``wanted`` (words of its command line)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"the command ended early with {proc.returncode}"
        found = psutil.Process(proc.pid).children(recursive=True)
        lines = [" ".join(_cmdline(c)) for c in found]
        if all(any(w in line for line in lines) for w in wanted):
            return found
        time.sleep(0.3)
    raise AssertionError(f"no children running {wanted} after {timeout_s} s")


def _cmdline(p: psutil.Process) -> list[str]:
    try:
        return p.cmdline()
    except psutil.Error:
        return []


def _alive(p: psutil.Process) -> bool:
    try:
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _survivors(children: list[psutil.Process], timeout_s: float = 30.0) -> list[str]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and any(_alive(c) for c in children):
        time.sleep(0.2)
    return [" ".join(_cmdline(c)) for c in children if _alive(c)]


def _end(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    proc.send_signal(sig)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise AssertionError(f"the command did not end on {sig.name}") from None


SIGNALS = [
    pytest.param(signal.SIGTERM, id="SIGTERM"),
    pytest.param(signal.SIGINT, id="SIGINT"),
    pytest.param(signal.SIGKILL, id="the command is killed"),
]


@pytest.mark.parametrize("sig", SIGNALS)
def test_the_local_broker_ends_with_its_command(tmp_path: Path, sig: signal.Signals) -> None:
    proc = _start(["broker", "--port", str(free_port())], tmp_path / "broker.log")
    try:
        children = _children_once(proc, ["broker"], 30.0)
        _end(proc, sig)
        assert _survivors(children) == []
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.mark.parametrize("sig", [SIGNALS[0], SIGNALS[2]])
def test_the_demo_stack_ends_with_the_demo(tmp_path: Path, sig: signal.Signals) -> None:
    data = tmp_path / "data"
    proc = _start(["demo", "--duration", "600", "--data-dir", str(data)], tmp_path / "demo.log")
    try:
        children = _children_once(proc, ["broker", "worker", "sink"], 90.0)
        _end(proc, sig)
        assert _survivors(children) == [], (tmp_path / "demo.log").read_text()[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()


def test_the_demo_serves_the_screens_and_its_trace_as_epcis_after_the_line_stops_until_ctrl_c(
    tmp_path: Path,
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LINETRACE_")} | {"PYTHONUNBUFFERED": "1"}
    log = tmp_path / "demo.log"
    with open(log, "wb") as out:
        args = ["demo", "--duration", str(DEMO_LINE_S), "--serve", "--data-dir", str(tmp_path / "data")]
        proc = subprocess.Popen([sys.executable, "-m", "ingest.cli", *args], stdout=out, stderr=out, env=env)
    try:
        deadline = time.monotonic() + 120
        while "stay up until Ctrl-C" not in log.read_text() and time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()[-3000:]
            time.sleep(0.5)
        text = log.read_text()
        screens = re.search(r"stay up until Ctrl-C: (http://\S+)/screens/", text)
        assert screens and "sign in at " in text and "linetrace token create" in text, text[-3000:]
        children = _children_once(proc, ["broker", "worker", "sink"], 10.0)
        time.sleep(2)  # the line stopped; the pipeline and the screens are still up
        with urllib.request.urlopen(f"{screens[1]}/screens/sign-in", timeout=10) as page:
            assert page.status == 200 and b'name="token"' in page.read()
        _demo_trace_validates(screens[1], text, env)
        _end(proc, signal.SIGINT)
        assert proc.returncode == 0 and _survivors(children) == [], log.read_text()[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()


def _demo_trace_validates(api: str, text: str, env: dict[str, str]) -> None:
    """With a token made as the demo says, the whole trace as EPCIS documents, each valid."""
    tokens = re.search(r"LINETRACE_API_TOKENS_FILE=(\S+) linetrace token create", text)
    assert tokens, text[-3000:]
    made = subprocess.run(
        [sys.executable, "-m", "ingest.cli", "token", "create", "--name", "epcis", "--all-sites"],
        env=env | {"LINETRACE_API_TOKENS_FILE": tokens[1]},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    token = made.stdout.strip()
    wait_for_token(api, token)
    events, exports, items = whole_trace(api, token)
    assert {e["type"] for e in events} >= {"ObjectEvent", "AggregationEvent"}, events
    assert exports > 0 and len(items) > 1, (exports, items)
