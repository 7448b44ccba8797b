"""The fault proxy against an echo server on loopback: each mode does what it says."""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Iterator

import pytest

from tests.integration.faults.proxy import FaultProxy, Mode, kafka_client, kafka_client_id

pytestmark = pytest.mark.integration


@pytest.fixture
def echo() -> Iterator[tuple[str, int]]:
    """A server that sends back whatever it receives, one thread per connection."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.1)
    stopping = threading.Event()

    def serve(conn: socket.socket) -> None:
        with conn:
            try:
                while data := conn.recv(65536):
                    conn.sendall(data)
            except OSError:
                pass

    def accept() -> None:
        while not stopping.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[:2]
    stopping.set()
    thread.join()
    server.close()


@pytest.fixture
def proxy(echo: tuple[str, int]) -> Iterator[FaultProxy]:
    with FaultProxy(echo) as p:
        yield p


def connect(p: FaultProxy) -> socket.socket:
    return socket.create_connection((p.host, p.port), timeout=2.0)


def round_trip(s: socket.socket, data: bytes) -> bytes:
    s.sendall(data)
    got = b""
    while len(got) < len(data):
        chunk = s.recv(65536)
        if not chunk:
            break
        got += chunk
    return got


def silent_for(s: socket.socket, seconds: float) -> bool:
    s.settimeout(seconds)
    try:
        return not s.recv(1)
    except TimeoutError:
        return True
    finally:
        s.settimeout(2.0)


def test_pass_forwards_both_ways(proxy: FaultProxy) -> None:
    with connect(proxy) as s:
        assert round_trip(s, b"hello") == b"hello"
        big = bytes(range(256)) * 4096  # 1 MiB, many chunks
        assert round_trip(s, big) == big
    assert proxy.accepted == 1 and proxy.forwarded_bytes >= 2 * (5 + len(big))


def test_delay_adds_latency_to_each_chunk(proxy: FaultProxy) -> None:
    proxy.set_mode(Mode.DELAY, delay_s=0.3)
    with connect(proxy) as s:
        started = time.monotonic()
        assert round_trip(s, b"slow") == b"slow"
        assert time.monotonic() - started >= 0.6  # once on the way out, once on the way back


def test_blackhole_stalls_existing_and_new_connections_until_pass(proxy: FaultProxy) -> None:
    with connect(proxy) as before:
        assert round_trip(before, b"a") == b"a"
        proxy.set_mode(Mode.BLACKHOLE)
        before.sendall(b"b")
        with connect(proxy) as during:  # accepted, but nothing comes back
            during.sendall(b"c")
            assert silent_for(before, 0.5) and silent_for(during, 0.1)
            proxy.set_mode(Mode.PASS)
            assert before.recv(1) == b"b" and during.recv(1) == b"c"  # stalled, not lost


def test_refuse_resets_existing_and_new_connections(proxy: FaultProxy) -> None:
    with connect(proxy) as before:
        assert round_trip(before, b"a") == b"a"
        proxy.set_mode(Mode.REFUSE)
        with pytest.raises(ConnectionResetError):
            before.recv(1)
    with pytest.raises(ConnectionResetError), connect(proxy) as during:  # at connect or at first use
        during.sendall(b"b")
        during.recv(1)
    proxy.set_mode(Mode.PASS)
    with connect(proxy) as after:
        assert round_trip(after, b"c") == b"c"


def kafka_request(client_id: str) -> bytes:
    """An ApiVersions v0 request header with the given client id."""
    body = struct.pack(">hhih", 18, 0, 1, len(client_id)) + client_id.encode()
    return struct.pack(">i", len(body)) + body


def test_kafka_client_id_is_read_from_the_first_request() -> None:
    assert kafka_client_id(kafka_request("linetrace-edge")) == "linetrace-edge"
    assert kafka_client_id(kafka_request("")) == ""
    assert kafka_client_id(struct.pack(">ihhih", 10, 18, 0, 1, -1)) is None  # null client id
    assert kafka_client_id(kafka_request("linetrace-edge")[:16]) is None  # cut short
    assert kafka_client_id(b"") is None


def test_faults_apply_only_to_the_connections_affects_picks(echo: tuple[str, int]) -> None:
    with FaultProxy(echo, affects=kafka_client("edge")) as p:
        edge_request, other_request = kafka_request("edge"), kafka_request("worker")
        with connect(p) as edge, connect(p) as other:
            assert round_trip(edge, edge_request) == edge_request
            assert round_trip(other, other_request) == other_request
            p.set_mode(Mode.BLACKHOLE)
            edge.sendall(b"x")
            assert round_trip(other, b"y") == b"y"
            assert silent_for(edge, 0.3)
            p.set_mode(Mode.REFUSE)
            with pytest.raises(ConnectionResetError):
                edge.recv(1)
            assert round_trip(other, b"z") == b"z"
        assert p.accepted == 2 and p.affected == 1
