"""Vendor JSON readers end to end: an Impinj IoT device interface event stream served from a
local HTTP server (replaying tests/data/vendor with current times, dropping the connection
once) and Zebra IoT Connector tag data events POSTed to the receiver, through the real
adapters, the real broker, worker, sink and chDB. Malformed, stale and oversized input is
dead-lettered with its reason while both adapters keep going; Zebra posts carry a token of
the reader's line, and a post without one is refused and never stored."""

from __future__ import annotations

import contextlib
import copy
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import pytest
from prometheus_client import CollectorRegistry

from ingest.broker import free_port
from ingest.deadletter import dead_letter
from ingest.epc import item_key
from ingest.errors import InvalidInput
from ingest.kafka import deliver_or_raise, make_producer
from ingest.schema import ReadCycleReport
from ingest.settings import Settings
from ingest.timefmt import format_us, now_us, parse_us
from ingest.tokenfile import TokenFile, create_token
from ingest.tokens import Scope
from ingest.topics import Topics
from ingest.wire import encode_report
from readers.auth import ReaderGate
from readers.base import CycleAggregator
from readers.impinj import STREAM_PATH, ImpinjStreamClient, ReadLimits
from readers.zebra import ZebraHttpReceiver
from tests.integration.conftest import Pipeline
from tests.integration.scenario import LINE, PLANT, SITE, part

pytestmark = pytest.mark.integration

VENDOR = Path(__file__).parents[1] / "data" / "vendor"
T0 = parse_us("2023-06-01T08:00:00Z")  # the fixtures' time base
CYCLE_US = 250_000


class KafkaOutlet:
    """Reports and rejections straight to their topics (no spool); shared by both adapters."""

    def __init__(self, settings: Settings):
        self.producer = make_producer(settings)
        self.topics = Topics.of(settings)
        self.lock = threading.Lock()
        self.reports = 0
        self.raw_reads = 0

    def publish_report(self, report: ReadCycleReport) -> None:
        self.producer.produce(self.topics.reads, encode_report(report), key=report.reader_id.encode())
        self.producer.poll(0)
        with self.lock:
            self.reports += 1
            self.raw_reads += sum(r.count for r in report.reads)

    def reject(self, source: str, reason: str, detail: str, payload: bytes) -> None:
        record = dead_letter(InvalidInput(reason, detail), f"reader:{source}", 0, 0, payload)
        self.producer.produce(self.topics.dead_letter, record)
        self.producer.poll(0)


def _plant() -> dict[str, Any]:
    doc = copy.deepcopy(PLANT)
    doc["sites"][0]["lines"][0]["read_points"] += [
        {"reader": "IMPINJ-1", "antenna": 1, "station": "A1"},
        {"reader": "IMPINJ-1", "antenna": 2, "station": "B1"},
        {"reader": "ZEBRA-1", "antenna": 1, "station": "C1"},
        {"reader": "ZEBRA-1", "antenna": 2, "station": "D1"},
    ]
    return doc


def _shift(text: str, shift_us: int, zebra: bool = False) -> str:
    moved = format_us(parse_us(text) + shift_us)
    return moved.replace("Z", "+0000") if zebra else moved  # the IoT Connector's offset form


def _impinj_lines(shift_us: int) -> list[bytes]:
    """The fixture stream with its times moved by ``shift_us`` (keep-alives as they are)."""
    lines = []
    for line in (VENDOR / "impinj_stream.ndjson").read_bytes().splitlines(keepends=True):
        if not line.strip():
            lines.append(line)
            continue
        event = orjson.loads(line)
        event["timestamp"] = _shift(event["timestamp"], shift_us)
        tag = event.get("tagInventoryEvent", {})
        if "lastSeenTime" in tag:
            tag["lastSeenTime"] = _shift(tag["lastSeenTime"], shift_us)
        lines.append(orjson.dumps(event) + b"\n")
    return lines


def _reject_case(name: str, case: str) -> bytes:
    cases = {c["case"]: c for c in json.loads((VENDOR / name).read_text())}
    return str(cases[case].get("line", cases[case].get("body"))).encode()


def _zebra_events(name: str, shift_us: int) -> Any:
    doc = json.loads((VENDOR / name).read_text())
    for event in doc if isinstance(doc, list) else [doc]:
        event["timestamp"] = _shift(event["timestamp"], shift_us, zebra=True)
    return doc


class _StreamHandler(BaseHTTPRequestHandler):
    """The reader's event stream, chunked as an HTTP/1.1 stream is: connection k plays
    ``scripts[k]``; the first connection then drops, later ones hold the stream open."""

    protocol_version = "HTTP/1.1"
    server: _ImpinjReader

    def do_GET(self) -> None:
        if self.path != STREAM_PATH:
            self.send_error(404)
            return
        script, first = self.server.next_script()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        with contextlib.suppress(OSError):
            for line in script:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
            self.wfile.flush()
            if not first:
                self.server.hold.wait()  # an idle stream: nothing until the test ends
                self.wfile.write(b"0\r\n\r\n")
        self.close_connection = True  # the first connection ends mid-stream, without its last chunk

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _ImpinjReader(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, scripts: list[list[bytes]]):
        super().__init__(("127.0.0.1", port), _StreamHandler)
        self.scripts, self.connections = scripts, 0
        self.lock, self.hold = threading.Lock(), threading.Event()

    def next_script(self) -> tuple[list[bytes], bool]:
        with self.lock:
            k, self.connections = self.connections, self.connections + 1
        return (self.scripts[k] if k < len(self.scripts) else [b"\r\n"]), k == 0


@contextlib.contextmanager
def _serving(server: ThreadingHTTPServer) -> Iterator[None]:
    thread = threading.Thread(target=server.serve_forever, args=(0.1,), daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _post(url: str, body: bytes, token: str | None) -> tuple[int, dict[str, Any]]:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, body, headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_impinj_stream_and_zebra_posts_to_trace(
    pipeline_factory: Callable[[dict[str, Any]], Pipeline],
) -> None:
    p = pipeline_factory(_plant())
    outlet = KafkaOutlet(p.settings)
    limits = ReadLimits.of(p.settings)
    shift = now_us() - 60_000_000 - T0  # the fixtures' first read a minute ago
    keys = [item_key(part(81)), item_key(part(82))]

    # --- Impinj: A1 reads, a garbled frame and a stale read, then the connection drops;
    # after the reconnect: B1 reads, a frame over the size limit, a keep-alive, silence.
    lines = _impinj_lines(shift)
    stale = _reject_case("impinj_rejects.json", "time a month old") + b"\n"
    garbled = _reject_case("impinj_rejects.json", "truncated frame") + b"\n"
    oversized = b'{"eventType":"tagInventory","pad":"' + b"x" * limits.max_bytes + b'"}\n'
    scripts = [[*lines[:5], garbled, stale], [*lines[5:], oversized, b"\r\n"]]
    reader = _ImpinjReader(free_port(), scripts)
    impinj_aggregator = CycleAggregator(SITE, LINE, "IMPINJ-1", CYCLE_US, outlet.publish_report)
    client = ImpinjStreamClient(
        f"http://127.0.0.1:{reader.server_address[1]}",
        "IMPINJ-1",
        impinj_aggregator,
        outlet,
        limits=limits,
        backoff_s=(0.1, 0.5),
    )
    stop = threading.Event()
    with _serving(reader):
        thread = threading.Thread(target=client.run, args=(stop,))
        thread.start()
        try:
            p.wait_until(lambda: client.health.keepalives >= 2, timeout_s=30, what="the whole Impinj stream")
        finally:
            stop.set()
            thread.join(timeout=10)  # the stream is open and silent: stop must end the read
            reader.hold.set()
        assert not thread.is_alive()
    h = client.health
    assert (h.reads, h.ignored, h.connects, h.reconnects, h.connected) == (6, 2, 2, 1, False)
    assert h.rejected == {"malformed_json": 1, "stale_timestamp": 1, "oversized": 1}
    assert (h.errors, h.last_error) == (1, "StreamError: the reader ended the stream")  # the drop
    deliver_or_raise(outlet.producer)

    def stations(key: str) -> list[str]:
        return [row["station"] for row in p.query("history", item=key)]

    p.wait_until(lambda: all(stations(k) == ["A1", "B1"] for k in keys), what="both items at A1 then B1")

    # --- Zebra: a batch at C1, one event per item at D1, a malformed body, an oversized one,
    # each with a token of the reader's line; the batch once more without a token.
    tokens_file = Path(p.settings.api_tokens_file)
    token = create_token(tokens_file, "zebra-line", Scope(SITE, LINE))
    gate = ReaderGate(TokenFile(tokens_file).current, CollectorRegistry())
    zebra_aggregator = CycleAggregator(SITE, LINE, "ZEBRA-1", CYCLE_US, outlet.publish_report)
    with ZebraHttpReceiver("ZEBRA-1", zebra_aggregator, outlet, gate, port=0, limits=limits) as receiver:
        url = f"http://127.0.0.1:{receiver.port}/zebra"
        second = _zebra_events("zebra_single.json", shift + 100_000)
        second["data"]["idHex"] = part(82)
        batch = json.dumps(_zebra_events("zebra_batch.json", shift)).encode()
        answers = [
            _post(url, batch, None),
            _post(url, batch, token),
            _post(url, json.dumps(_zebra_events("zebra_single.json", shift)).encode(), token),
            _post(url, json.dumps(second).encode(), token),
            _post(url, _reject_case("zebra_rejects.json", "truncated body"), token),
            _post(url, b"[" + b" " * limits.max_bytes + b"]", token),
        ]
    assert [(status, a.get("accepted", a.get("reason"))) for status, a in answers] == [
        (401, "unauthorized"),
        (202, 3),
        (202, 1),
        (202, 1),
        (400, "malformed_json"),
        (413, "oversized"),
    ]
    assert (receiver.health.reads, receiver.health.rejected) == (
        5,
        {"unauthorized": 1, "malformed_json": 1, "oversized": 1},
    )
    deliver_or_raise(outlet.producer)

    expected_dead = [
        {"reason": "malformed_json", "records": 2},
        {"reason": "oversized", "records": 2},
        {"reason": "stale_timestamp", "records": 1},
    ]
    # 6 Impinj reads, and Zebra's singulation counts: 9 + 4 + 2 at C1, 3 + 3 at D1
    assert outlet.raw_reads == 6 + 15 + 6

    def settled() -> bool:
        summary = p.query("summary")
        return (
            all(stations(k) == ["A1", "B1", "C1", "D1"] for k in keys)
            and summary["dead_letters"] == expected_dead
            # every cycle the adapters emitted, once, with every singulation
            and (summary["reads"]["reports"], summary["reads"]["raw_reads"]) == (outlet.reports, 27)
        )

    p.wait_until(settled, what="both items through D1, every read stored, every rejection dead-lettered")
    for k in keys:
        assert [row["outcome"] for row in p.query("history", item=k)] == ["movement"] * 4
