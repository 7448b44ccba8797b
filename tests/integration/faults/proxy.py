"""A TCP fault proxy on loopback: forwards to an upstream address and fails on command.

Modes, switched at runtime with ``set_mode``:

- ``pass``: bytes go both ways as they come.
- ``blackhole``: connections are accepted, nothing is forwarded either way; what a peer sends
  waits in the proxy (and then in the kernel's buffers), as behind a network partition, and
  goes on if the mode returns to ``pass`` before the peers give up.
- ``refuse``: existing connections are reset (RST) and new ones are reset as they arrive.
- ``delay``: every chunk waits ``delay_s`` before it is forwarded.

Kafka clients connect to the address the broker advertises in its metadata, not to the one
they bootstrap from, so the proxy sits behind a broker that advertises the proxy's port
(``LocalBroker(advertised_port=...)``). Every client of that broker then comes through here;
``affects`` picks the connections a fault applies to from the first bytes the client sends
(``kafka_client("linetrace-edge")``: the connections of clients with that ``client.id``),
and the others always pass.
"""

from __future__ import annotations

import contextlib
import enum
import socket
import struct
import threading
import time
from collections.abc import Callable
from types import TracebackType

# How often a blocked pump looks at the mode again; bounds how late a switch takes effect.
POLL_S = 0.05
CHUNK_BYTES = 65536
# Kafka request header up to the client id: size, api key, api version, correlation id, id length.
_KAFKA_HEAD = struct.Struct(">ihhih")


class Mode(enum.Enum):
    PASS = "pass"
    BLACKHOLE = "blackhole"
    REFUSE = "refuse"
    DELAY = "delay"


def kafka_client_id(first: bytes) -> str | None:
    """The ``client.id`` in the header of a Kafka client's first request (None if absent).

    Kafka clients send first, and each request in one write, so on loopback the first read of
    a connection holds the whole header.
    """
    if len(first) < _KAFKA_HEAD.size:
        return None
    *_, length = _KAFKA_HEAD.unpack_from(first)
    if length < 0 or len(first) < _KAFKA_HEAD.size + length:
        return None
    return first[_KAFKA_HEAD.size : _KAFKA_HEAD.size + length].decode(errors="replace")


def kafka_client(client_id: str) -> Callable[[bytes], bool]:
    """``affects`` for the connections of the Kafka clients named ``client_id``."""
    return lambda first: kafka_client_id(first) == client_id


class _Link:
    """One client connection and its upstream connection, served by two pump threads.

    Only the pumps close the sockets (the last one to end), so a reset from another thread
    never frees a descriptor a pump is still reading from.
    """

    def __init__(self, client: socket.socket, upstream: socket.socket, affected: bool):
        self.client, self.upstream, self.affected = client, upstream, affected
        self.lock = threading.Lock()
        self.closed = False
        self.pumps = 2

    def reset(self) -> None:
        """End the link with RST (SO_LINGER 0) on both sides, waking its pumps."""
        with self.lock:
            if self.closed:
                return
            self.closed = True
            for s in (self.client, self.upstream):
                with contextlib.suppress(OSError):
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    s.shutdown(socket.SHUT_RD)

    def pump_ended(self) -> None:
        with self.lock:
            self.pumps -= 1
            if self.pumps == 0:
                self.closed = True
                self.client.close()
                self.upstream.close()


class FaultProxy:
    """Listens on ``host`` (a free port unless ``port`` is given) and forwards to ``upstream``."""

    def __init__(
        self,
        upstream: tuple[str, int],
        host: str = "127.0.0.1",
        port: int = 0,
        affects: Callable[[bytes], bool] | None = None,
    ):
        self.upstream = upstream
        self.affects = affects
        self._listener = socket.create_server((host, port))
        self._listener.settimeout(POLL_S)
        self.host, self.port = self._listener.getsockname()[:2]
        self._mode, self._delay_s = Mode.PASS, 0.0
        self._changed = threading.Condition()
        self._links: list[_Link] = []
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self.accepted = 0  # connections accepted
        self.affected = 0  # of which faults apply to
        self.forwarded_bytes = 0

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def mode(self) -> Mode:
        return self._mode

    def set_mode(self, mode: Mode | str, delay_s: float = 0.0) -> None:
        """Switch the mode; ``refuse`` resets the affected connections at once."""
        with self._changed:
            self._mode, self._delay_s = Mode(mode), delay_s
            links = [link for link in self._links if link.affected and not link.closed]
            self._changed.notify_all()
        if self._mode is Mode.REFUSE:
            for link in links:
                link.reset()

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> FaultProxy:
        self._spawn(self._accept_loop, "proxy-accept")
        return self

    def stop(self) -> None:
        """Stop listening and close every connection; returns once every thread has ended."""
        self._stopping.set()
        with self._changed:
            self._changed.notify_all()
            links = list(self._links)
        for link in links:
            link.reset()
        with self._changed:
            threads = list(self._threads)
        for t in threads:
            t.join(5.0)
        self._listener.close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _spawn(self, target: Callable[..., None], name: str, *args: object) -> None:
        t = threading.Thread(target=target, args=args, name=name, daemon=True)
        with self._changed:
            self._threads = [x for x in self._threads if x.is_alive()]
            self._threads.append(t)
        t.start()

    # -- connections ------------------------------------------------------------------------

    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepted += 1
            self._spawn(self._open, "proxy-open", client)

    def _open(self, client: socket.socket) -> None:
        """Decide whether faults apply to the connection, then connect upstream and pump."""
        client.settimeout(POLL_S)
        first: bytes | None = b""
        if self.affects is not None:
            first = self._first_bytes(client)
        if first is None:
            client.close()
            return
        affected = self.affects is None or self.affects(first)
        if affected:
            with self._changed:
                self.affected += 1
            if not self._wait_unless_refused():
                _reset(client)
                return
        try:
            upstream = socket.create_connection(self.upstream, timeout=5.0)
        except OSError:
            _reset(client)
            return
        upstream.settimeout(POLL_S)
        link = _Link(client, upstream, affected)
        with self._changed:
            self._links = [x for x in self._links if not x.closed]
            self._links.append(link)
        self._spawn(self._pump, "proxy-up", link, client, upstream, first)
        self._spawn(self._pump, "proxy-down", link, upstream, client, b"")

    def _first_bytes(self, client: socket.socket) -> bytes | None:
        while not self._stopping.is_set():
            try:
                data = client.recv(CHUNK_BYTES)
            except TimeoutError:
                continue
            except OSError:
                return None
            return data or None
        return None

    def _wait_unless_refused(self) -> bool:
        """Hold a new affected connection while blackholed; False if it is to be refused."""
        with self._changed:
            while self._mode is Mode.BLACKHOLE and not self._stopping.is_set():
                self._changed.wait(POLL_S)
            return self._mode is not Mode.REFUSE and not self._stopping.is_set()

    def _pump(self, link: _Link, src: socket.socket, dst: socket.socket, pending: bytes) -> None:
        try:
            self._forward(link, src, dst, pending)
        finally:
            link.pump_ended()

    def _forward(self, link: _Link, src: socket.socket, dst: socket.socket, pending: bytes) -> None:
        """One direction of a link: read a chunk, wait until the mode lets it go, forward it."""
        delayed = False
        while not link.closed and not self._stopping.is_set():
            if link.affected:
                mode, delay_s = self._flow(link)
                if mode is Mode.REFUSE:
                    break
                if pending and mode is Mode.DELAY and not delayed:
                    time.sleep(delay_s)
                    delayed = True
                    continue  # look at the mode again: it may have changed while the chunk waited
            try:
                if pending:
                    sent = dst.send(pending)
                    pending = pending[sent:]
                    delayed = delayed and bool(pending)
                    with self._changed:
                        self.forwarded_bytes += sent
                    continue
                pending = src.recv(CHUNK_BYTES)
            except TimeoutError:
                continue
            except OSError:
                break
            if not pending:  # end of stream: pass it on, the other direction may go on
                if link.closed:
                    break
                with contextlib.suppress(OSError):
                    dst.shutdown(socket.SHUT_WR)
                return
        link.reset()

    def _flow(self, link: _Link) -> tuple[Mode, float]:
        """The mode once it is not ``blackhole`` (or the link or the proxy is closing)."""
        with self._changed:
            while self._mode is Mode.BLACKHOLE and not link.closed and not self._stopping.is_set():
                self._changed.wait(POLL_S)
            return self._mode, self._delay_s


def _reset(s: socket.socket) -> None:
    with contextlib.suppress(OSError):
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()
