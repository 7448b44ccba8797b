"""The HTTP listeners (FastAPI under uvicorn, ``ingest.httpserver``) over real sockets on
loopback: HTTPS with a self-signed certificate, a refused body a little too large is drained
so the sender sees the answer, and stopping a server leaves no thread behind."""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from ingest.cli.queryclient import query
from ingest.errors import ConfigError
from ingest.httpserver import Tls, client_context
from ingest.settings import Settings
from ingest.timefmt import parse_us
from ingest.tokenfile import TokenFile, create_token
from ingest.tokens import Scope, Token, hash_token
from readers.auth import ReaderGate
from readers.base import CycleAggregator
from readers.vendorjson import ReadLimits
from readers.zebra import ZebraHttpReceiver
from storage.api import QueryServer, announce
from storage.apigate import DRAIN_FACTOR, Gate
from storage.ratelimit import RateLimiter

pytestmark = pytest.mark.integration

VENDOR = Path(__file__).parents[1] / "data" / "vendor"
LIMIT = 64 * 1024
WIP = [{"site": "S1", "line": "L1", "stage": "qc", "items": 3}]
NOW = parse_us("2023-06-01T08:01:00Z")  # a minute after the reads of tests/data/vendor
READER_TOKENS = (Token("line-1", hash_token("lt_line_1"), Scope("S1", "L1")),)


class _Store:
    """Answers the WIP query; every other query finds nothing."""

    def query(self, sql: str, parameters: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        return WIP if "GROUP BY site, line, stage" in sql else []


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    """A self-signed certificate for 127.0.0.1, made by the openssl command."""
    d = tmp_path_factory.mktemp("tls")
    cert, key = d / "cert.pem", d / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=linetrace-test", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return Tls(str(cert), str(key))


def _api(tmp_path: Path, tls: Tls | None = None) -> tuple[QueryServer, str]:
    tokens = tmp_path / "tokens.yaml"
    token = create_token(tokens, "line-1", Scope("S1", "L1"))
    gate = Gate(TokenFile(tokens), RateLimiter(0, 1), LIMIT)
    server = QueryServer(_Store(), "127.0.0.1", 0, gate, None, CollectorRegistry(), tls)  # type: ignore[arg-type]
    return server.start(), token


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[QueryServer, str]]:
    server, token = _api(tmp_path)
    yield server, token
    server.stop()


def _zebra(tls: Tls | None = None) -> tuple[ZebraHttpReceiver, list[Any]]:
    reports: list[Any] = []
    aggregator = CycleAggregator("S1", "L1", "ZEBRA-1", 500_000, reports.append)
    outlet = type("Outlet", (), {"publish_report": reports.append, "reject": lambda *a: None})()
    gate = ReaderGate(lambda: READER_TOKENS, CollectorRegistry())
    limits = ReadLimits(max_bytes=LIMIT)
    receiver = ZebraHttpReceiver(
        "ZEBRA-1", aggregator, outlet, gate, port=0, limits=limits, clock=lambda: NOW, tls=tls
    )
    return receiver.start(), reports


def test_the_api_and_a_reader_answer_over_https(tmp_path: Path, tls: Tls) -> None:
    server, token = _api(tmp_path, tls)
    receiver, reports = _zebra(tls)
    try:
        assert server.url.startswith("https://")
        store_dir = tmp_path / "clickhouse"
        settings = Settings(
            tls_cert_file=tls.cert_file,
            tls_key_file=tls.key_file,
            clickhouse_dsn=f"chdb://{store_dir}",
            api_token=token,
        )
        announce(store_dir, server.url)  # as the sink does: `linetrace query` finds the API there
        assert query(settings, "wip", {}) == WIP
        context = client_context(settings)
        with pytest.raises(OSError):  # the system's CAs do not know a self-signed certificate
            urllib.request.urlopen(server.url + "/health", timeout=5)
        with pytest.raises(http.client.RemoteDisconnected):  # no plain HTTP on an HTTPS listener
            plain = http.client.HTTPConnection("127.0.0.1", server.http.port, timeout=5)
            plain.request("GET", "/health")
            plain.getresponse()

        body = (VENDOR / "zebra_batch.json").read_bytes()
        https = http.client.HTTPSConnection("127.0.0.1", receiver.port, timeout=5, context=context)
        https.request("POST", "/", body, {"Authorization": "Bearer lt_line_1"})
        answer = https.getresponse()
        assert (answer.status, json.loads(answer.read())) == (202, {"accepted": 3})
        https.close()
    finally:
        receiver.stop()
        server.stop()
    assert [len(r.reads) for r in reports] == [2]


def test_half_a_tls_setting_is_refused() -> None:
    with pytest.raises(ConfigError, match="LINETRACE_TLS_KEY_FILE"):
        Tls.of(Settings(tls_cert_file="cert.pem"))
    assert Tls.of(Settings()) is None


def _post_all(port: int, path: str, size: int, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    """POST a body of ``size`` bytes, all of it sent before the answer is read (as a device does)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {size}\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    sock.sendall(head.encode() + b" " * size)
    answer = http.client.HTTPResponse(sock)
    answer.begin()
    status, body = answer.status, json.loads(answer.read())
    sock.close()
    return status, body


@pytest.mark.parametrize("auth", [pytest.param(True, id="known token"), pytest.param(False, id="no token")])
def test_a_body_a_little_too_large_is_drained_and_answered(api: tuple[QueryServer, str], auth: bool) -> None:
    server, token = api
    headers = {"Authorization": f"Bearer {token}"} if auth else {}
    size = LIMIT * DRAIN_FACTOR // 2  # far more than the socket buffers hold
    status, body = _post_all(server.http.port, "/v1/events/hold", size, headers)
    assert (status, body["error"]) == ((413, "oversized") if auth else (401, "unauthorized"))


def test_a_reader_drains_a_body_a_little_too_large_and_answers_413() -> None:
    receiver, _ = _zebra()
    try:
        status, body = _post_all(receiver.port, "/", LIMIT * 8, {"Authorization": "Bearer lt_line_1"})
    finally:
        receiver.stop()
    assert (status, body["reason"]) == (413, "oversized")
    assert receiver.health.rejected == {"oversized": 1}


def test_a_bad_parameter_is_a_400_in_the_tables_words(api: tuple[QueryServer, str]) -> None:
    server, token = api
    request = urllib.request.Request(
        server.url + "/v1/violations?limit=abc", headers={"Authorization": f"Bearer {token}"}
    )
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=5)
    assert caught.value.code == 400
    assert json.loads(caught.value.read()) == {
        "error": "bad_parameter",
        "detail": "limit: not an integer: 'abc'",
    }


def test_swagger_ui_is_served_from_this_host(api: tuple[QueryServer, str]) -> None:
    server, _ = api
    with urllib.request.urlopen(server.url + "/docs", timeout=5) as page:
        html = page.read().decode()
    assert "/docs/static/swagger-ui-bundle.js" in html and "cdn" not in html
    with urllib.request.urlopen(server.url + "/docs/static/swagger-ui-bundle.js", timeout=5) as js:
        assert len(js.read()) > 100_000


def test_stopping_leaves_no_thread_behind(tmp_path: Path) -> None:
    before = set(threading.enumerate())
    server, token = _api(tmp_path)
    receiver, _ = _zebra()
    request = urllib.request.Request(server.url + "/v1/wip", headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=5) as answer:  # a query runs in the thread pool
        assert json.loads(answer.read()) == WIP
    receiver.stop()
    server.stop()
    deadline = time.monotonic() + 5
    while set(threading.enumerate()) - before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert set(threading.enumerate()) - before == set()
