"""`linetrace reader run` as its own process: an LLRP reader (the emulator), a fixed barcode
scanner over TCP, a Zebra receiver and a handheld endpoint, all through the spool, to
ClickHouse; its /metrics scraped over HTTP; SIGTERM stops it cleanly. The two HTTP endpoints
take posts only with a token of their reader's line from the tokens file (Bearer or Basic):
401 without one or with an unknown one, 403 with another line's."""

from __future__ import annotations

import asyncio
import base64
import copy
import os
import signal
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from llrpkit.emulator import LLRPEmulator
from llrpkit.emulator.core import EmulatedTag

from ingest.broker import free_port
from ingest.epc import item_key
from ingest.processes import stop_process
from ingest.timefmt import format_us, now_us
from ingest.tokenfile import create_token
from ingest.tokens import Scope
from tests.integration.conftest import Pipeline
from tests.integration.scenario import LINE, PLANT, SITE, part
from tests.metrics import scrape, total, try_scrape, value

pytestmark = pytest.mark.integration


@pytest.fixture
def emulator() -> Iterator[tuple[int, LLRPEmulator]]:
    """An LLRP reader emulator on loopback, in its own event loop thread."""
    port = free_port()
    loop = asyncio.new_event_loop()
    emu = LLRPEmulator(
        port=port, tags=[EmulatedTag(bytes.fromhex(part(90)), antennas=(1,))], reads_per_sec=50
    )
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(emu.start(), loop).result(10)
    try:
        yield port, emu
    finally:
        asyncio.run_coroutine_threadsafe(emu.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)


def _post(url: str, body: bytes, authorization: str | None) -> tuple[int, list[str]]:
    """Status and WWW-Authenticate challenges of one POST."""
    headers = {"Content-Type": "application/json"}
    if authorization is not None:
        headers["Authorization"] = authorization
    request = urllib.request.Request(url, body, headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.status, []
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get_all("WWW-Authenticate") or []


def test_reader_run_process(
    pipeline_factory: Callable[[dict[str, Any]], Pipeline], emulator: tuple[int, LLRPEmulator], tmp_path: Path
) -> None:
    llrp_port, _ = emulator
    scan_port, zebra_port, hand_port = free_port(), free_port(), free_port()
    doc = copy.deepcopy(PLANT)
    line = doc["sites"][0]["lines"][0]
    line["read_points"] += [
        {"reader": "LLRP-9", "antenna": 1, "station": "A1"},
        {"reader": "SCAN-9", "antenna": 0, "station": "B1"},
        {"reader": "ZEBRA-9", "antenna": 1, "station": "C1"},
        {"reader": "HAND-9", "antenna": 0, "station": "D1"},
    ]
    next(p for p in line["products"] if p["product"] == "PART")["company_prefix"] = "0614141"
    doc["readers"] = [
        {"reader": "LLRP-9", "kind": "llrp", "host": "127.0.0.1", "port": llrp_port, "cycle_s": 0.2},
        {"reader": "SCAN-9", "kind": "barcode_tcp", "listen": f"127.0.0.1:{scan_port}", "operator": "OP-3"},
        {"reader": "ZEBRA-9", "kind": "zebra", "listen": f"127.0.0.1:{zebra_port}"},
        {"reader": "HAND-9", "kind": "barcode_http", "listen": f"127.0.0.1:{hand_port}"},
    ]
    p = pipeline_factory(doc)
    plant_file = tmp_path / "plant.yaml"
    plant_file.write_text(yaml.safe_dump(doc))
    settings = p.settings.with_(spool_dir=str(tmp_path / "spool"))
    tokens_file = Path(settings.api_tokens_file)  # the sink's, which holds a plant-wide token too
    line_token = create_token(tokens_file, "line-devices", Scope(SITE, LINE))
    other_line = create_token(tokens_file, "line-9-devices", Scope(SITE, "LINE-9"))
    basic = "Basic " + base64.b64encode(f"line-devices:{line_token}".encode()).decode()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LINETRACE_")} | settings.to_env()
    log = (tmp_path / "readers.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "ingest.cli", "reader", "run", "--plant", str(plant_file)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    metrics = f"http://127.0.0.1:{settings.reader_metrics_port}/metrics"
    key = item_key(part(90))
    try:
        p.wait_until(
            lambda: value(try_scrape(metrics), "linetrace_reader_connected", reader="LLRP-9") == 1,
            what="LLRP",
        )
        p.wait_until(lambda: bool(p.query("history", item=key)), what="the LLRP reads stored")
        with socket.create_connection(("127.0.0.1", scan_port), timeout=5) as scanner:
            scanner.sendall(b"]C1010061414100001221" + str(90).encode() + b"\r\n" + b"not a code\r\n")
        event = {
            "data": {"idHex": part(90), "antenna": 1, "peakRssi": -50, "reads": 2},
            "timestamp": format_us(now_us() + 12_000_000),
            "type": "SIMPLE",
        }
        scans = {
            "reader_id": "HAND-9",
            "site": SITE,
            "line": LINE,
            "operator": "OP-7",
            "scans": [{"code": "]C1010061414100001221" + "90", "time": format_us(now_us() + 24_000_000)}],
        }
        zebra, hand = f"http://127.0.0.1:{zebra_port}/", f"http://127.0.0.1:{hand_port}/v1/scans"
        for url, body in ((zebra, orjson.dumps(event)), (hand, orjson.dumps(scans))):
            assert _post(url, body, None) == (
                401,
                ['Bearer realm="linetrace"', 'Basic realm="linetrace", charset="UTF-8"'],
            )
            assert _post(url, body, "Bearer lt_not-a-token")[0] == 401
            assert _post(url, body, f"Bearer {other_line}") == (403, [])
        assert _post(zebra, orjson.dumps(event), basic) == (202, [])  # as the IoT Connector sends it
        assert _post(hand, orjson.dumps(scans), f"Bearer {line_token}") == (202, [])

        def stations() -> list[tuple[str, str]]:
            return [(h["station"], h["operator"]) for h in p.query("history", item=key)]

        p.wait_until(
            lambda: stations() == [("A1", ""), ("B1", "OP-3"), ("C1", ""), ("D1", "OP-7")],
            what="A1, B1, C1 and D1",
        )
        samples = scrape(metrics)
        assert total(samples, "linetrace_reader_reports_sent_total") >= 3
        assert value(samples, "linetrace_reader_rejections_total", reason="bad_code") == 1
        assert value(samples, "linetrace_reader_rejections_total", reason="unauthorized") == 4
        assert value(samples, "linetrace_reader_rejections_total", reason="forbidden") == 2
        assert value(samples, "linetrace_reader_reads", reader="LLRP-9") > 0
        assert value(samples, "linetrace_reader_connected", reader="ZEBRA-9") == 1
        assert any(name == "linetrace_reader_spool_bytes" for name, _ in samples)
        p.wait_until(
            lambda: (
                {d["reason"]: d["records"] for d in p.query("summary")["dead_letters"]} == {"bad_code": 1}
            ),
            what="the bad scan dead-lettered",
        )
    finally:
        code = stop_process(proc, signal.SIGTERM, 20)
        log.close()
    logged = (tmp_path / "readers.log").read_text()
    assert code == 0, logged[-3000:]
    assert "refused 1 posts as unauthorized" in logged
    assert line_token not in logged and other_line not in logged and "lt_not-a-token" not in logged
