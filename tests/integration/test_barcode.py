"""Barcode scanners end to end: a fixed scanner on the TCP line protocol at station B1 and a
handheld POSTing batches at C1, for items an RFID portal read at A1, through the real broker,
worker, sink and chDB. A scanned GTIN + serial of a product whose company prefix the plant
knows is the same item as its RFID tag; bad lines and bad scans are dead-lettered with their
reasons while both servers keep taking scans. The handheld posts with a token of its line;
a batch without one, or with another line's, is refused and never stored."""

from __future__ import annotations

import copy
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from prometheus_client import CollectorRegistry

from ingest.broker import free_port
from ingest.deadletter import dead_letter
from ingest.epc import item_key
from ingest.errors import InvalidInput
from ingest.gs1 import company_prefix_length
from ingest.kafka import deliver_or_raise, make_producer
from ingest.schema import ReadCycleReport
from ingest.settings import Settings
from ingest.timefmt import format_us, now_us
from ingest.tokenfile import TokenFile, create_token
from ingest.tokens import Scope
from ingest.topics import Topics
from ingest.wire import encode_report
from readers.auth import ReaderGate
from readers.barcode import BarcodeTcpServer
from readers.barcode_http import BarcodeHttpServer
from tests.integration.conftest import Pipeline
from tests.integration.scenario import LINE, PLANT, SITE, Line, part

pytestmark = pytest.mark.integration

S = 1_000_000
GS = "\x1d"
PART_GTIN = "00614141000012"
SSCC_KEY = "urn:epc:id:sscc:0614141.1234567890"
FOREIGN_KEY = "gs1:01/09506000134352/21/X9"  # a GTIN of a company the plant does not know


class KafkaOutlet:
    """Reports to the reads topic keyed by reader id, rejections to the dead-letter topic."""

    def __init__(self, settings: Settings):
        self.producer = make_producer(settings)
        self.topics = Topics.of(settings)
        self.lock = threading.Lock()
        self.reports: list[ReadCycleReport] = []
        self.rejected: list[str] = []

    def publish_report(self, report: ReadCycleReport) -> None:
        self.producer.produce(self.topics.reads, encode_report(report), key=report.reader_id.encode())
        self.producer.poll(0)
        with self.lock:
            self.reports.append(report)

    def reject(self, source: str, reason: str, detail: str, payload: bytes) -> None:
        record = dead_letter(InvalidInput(reason, detail), f"reader:{source}", 0, 0, payload)
        self.producer.produce(self.topics.dead_letter, record, key=source.encode())
        self.producer.poll(0)
        with self.lock:
            self.rejected.append(reason)


def _plant() -> dict[str, Any]:
    doc = copy.deepcopy(PLANT)
    line = doc["sites"][0]["lines"][0]
    line["read_points"] += [
        {"reader": "SCAN-1", "antenna": 0, "station": "B1"},
        {"reader": "HAND-1", "antenna": 0, "station": "C1"},
    ]
    for product in line["products"]:
        product["company_prefix"] = "0614141"  # what the plant file will carry for each product
    return doc


def _company_prefixes(doc: dict[str, Any]) -> dict[str, int]:
    products = [p for s in doc["sites"] for ln in s["lines"] for p in ln["products"]]
    return {p["gtin"]: company_prefix_length(p["gtin"], p["company_prefix"]) for p in products}


def code(serial: str, symbology: str = "]C1") -> str:
    return symbology + "01" + PART_GTIN + "21" + serial


def _post(url: str, body: bytes, token: str | None) -> tuple[int, dict[str, Any]]:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, body, headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, orjson.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, orjson.loads(error.read())


def _send_lines(port: int, lines: list[bytes]) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        for line in lines:
            conn.sendall(line)
            time.sleep(0.01)  # a scanner sends one code per scan, not one burst


def test_fixed_and_handheld_scans_join_the_rfid_trace(
    pipeline_factory: Callable[[dict[str, Any]], Pipeline],
) -> None:
    doc = _plant()
    prefixes = _company_prefixes(doc)
    assert prefixes == {PART_GTIN: 7, "00614141000029": 7}
    p = pipeline_factory(doc)
    p1, p2 = item_key(part(1)), item_key(part(2))
    assert p1 == "urn:epc:id:sgtin:0614141.000001.1"

    # RFID at A1, a little before the scans.
    rfid = Line(now_us() - 30 * S)
    for report in [rfid.at("RA", 0, [part(1), part(2)])]:
        p.send(p.topics.reads, encode_report(report), key=report.reader_id.encode())
    p.flush()

    outlet = KafkaOutlet(p.settings)
    tokens_file = Path(p.settings.api_tokens_file)
    token = create_token(tokens_file, "handhelds", Scope(SITE, LINE))
    other_line = create_token(tokens_file, "other-line", Scope(SITE, "LINE-9"))
    gate = ReaderGate(TokenFile(tokens_file).current, CollectorRegistry())
    tcp = BarcodeTcpServer(
        "SCAN-1", SITE, LINE, outlet, port=free_port(), operator="anna", company_prefixes=prefixes
    ).start()
    http = BarcodeHttpServer(outlet, p.settings, gate, port=free_port(), company_prefixes=prefixes).start()
    try:
        _send_lines(
            tcp.port,
            [
                (code("1") + "\r\n").encode(),
                b"\xff\xfe garbage\r\n",  # malformed_frame
                ("]d2" + "01" + PART_GTIN + "17" + "271231" + "21" + "2" + "\n").encode(),
                b"hello\n",  # bad_code
                b"9" * 2000 + b"\n",  # oversized
                b"0614141000012\r",  # bad_code: a GTIN alone
                ("]C1" + "00" + "106141412345678908" + "\r\n").encode(),
            ],
        )
        _send_lines(tcp.port, [b"0100614141"])  # closed in the middle of a line: malformed_frame
        url = f"http://127.0.0.1:{http.port}/v1/scans"
        batch = {
            "reader_id": "HAND-1",
            "site": SITE,
            "line": LINE,
            "operator": "ben",
            "scans": [
                {"code": code("1"), "time": format_us(now_us() + S)},
                {"code": "]Q3" + "01" + "09506000134352" + "21" + "X9"},
                {"code": code("7"), "time": "2001-01-01T00:00:00Z"},
                {"code": code("8"), "time": format_us(now_us() + 3600 * S)},
                {"code": "not a code"},
            ],
        }
        assert _post(url, orjson.dumps(batch), None)[0] == 401
        assert _post(url, orjson.dumps(batch), other_line)[0] == 403
        status, answer = _post(url, orjson.dumps(batch), token)
        assert status == 202, answer
        assert (answer["accepted"], answer["rejected"]) == (2, 3)
        assert answer["reasons"] == {"stale_timestamp": 1, "future_timestamp": 1, "bad_code": 1}
        assert _post(url, b'{"reader_id": "HAND-1", "scans": [', token)[0] == 400
        assert _post(url, b"[" + b"0," * 200_000 + b"0]", token)[0] == 413
        later = {**batch, "scans": [{"code": code("2")}]}  # the endpoint still takes scans
        assert _post(url, orjson.dumps(later), token)[1]["accepted"] == 1
        deadline = time.monotonic() + 10
        while sum(tcp.health.rejected.values()) < 5 and time.monotonic() < deadline:
            time.sleep(0.05)  # the last connection's end is taken after the client closed it
    finally:
        tcp.stop()
        http.stop()
    deliver_or_raise(outlet.producer)
    assert tcp.health.scans == 3 and tcp.health.connections == 0
    assert sorted(tcp.health.rejected.items()) == [("bad_code", 2), ("malformed_frame", 2), ("oversized", 1)]
    assert (http.health.rejected["unauthorized"], http.health.rejected["forbidden"]) == (1, 1)

    p.wait_until(
        lambda: (
            {r["station"] for r in p.query("history", item=p1)} >= {"A1", "B1", "C1"}
            and {r["station"] for r in p.query("history", item=p2)} >= {"A1", "B1", "C1"}
            and bool(p.query("history", item=FOREIGN_KEY))
            and bool(p.query("history", item=SSCC_KEY))
        ),
        what="the scanned passes",
    )
    history = {r["station"]: r for r in p.query("history", item=p1)}
    assert (history["A1"]["reader_id"], history["A1"]["operator"]) == ("RA", "")
    assert (history["B1"]["reader_id"], history["B1"]["operator"]) == ("SCAN-1", "anna")
    assert (history["C1"]["reader_id"], history["C1"]["operator"]) == ("HAND-1", "ben")
    assert {r["product"] for r in history.values()} == {"PART"}  # the scans found the product
    assert [r["outcome"] for r in sorted(history.values(), key=lambda r: r["first_seen"])] == ["movement"] * 3
    assert {r["station"]: r["operator"] for r in p.query("history", item=p2)} == {
        "A1": "",
        "B1": "anna",
        "C1": "ben",
    }
    assert [r["station"] for r in p.query("history", item=SSCC_KEY)] == ["B1"]
    assert [(r["station"], r["operator"]) for r in p.query("history", item=FOREIGN_KEY)] == [("C1", "ben")]

    wanted = {
        "malformed_frame": 2,
        "bad_code": 3,
        "oversized": 2,
        "stale_timestamp": 1,
        "future_timestamp": 1,
        "malformed_json": 1,
    }

    def dead_letters() -> dict[str, int]:
        return {r["reason"]: int(r["records"]) for r in p.query("summary")["dead_letters"]}

    p.wait_until(lambda: dead_letters() == wanted, what=f"dead letters {wanted}")
