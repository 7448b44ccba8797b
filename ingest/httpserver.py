"""Every HTTP listener of linetrace (the query API, the readers' device endpoints): an ASGI app
(FastAPI) under uvicorn, in a thread of the process that owns what it serves (the sink owns
the embedded store, a reader adapter its read-cycle aggregator).

``HttpServer.start()`` binds before it returns (port 0: a free port, see ``port``), so a bad
address fails in the caller; ``stop()`` stops listening, lets requests in progress finish
(at most ``GRACE_S``) and joins the thread. Signals stay with the process's main thread: the
process stops the server on SIGTERM/SIGINT by calling ``stop()``.

``BodyReader`` reads a request body as it arrives, so an endpoint can answer before taking a
body it refuses: a refused body within a limit is read and dropped, so the sender sees the
answer rather than a reset connection; a larger one is left unread and the connection closed.
"""

from __future__ import annotations

import logging
import socket
import ssl
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import anyio.from_thread
import uvicorn
from fastapi import FastAPI
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.responses import Response
from starlette.types import ASGIApp, Receive

from ingest.errors import ConfigError
from ingest.settings import Settings
from ingest.timefmt import answer_json

log = logging.getLogger(__name__)

# Seconds requests in progress may take to finish once the server is told to stop.
GRACE_S = 5.0
# Seconds an idle keep-alive connection stays open (a device posting every cycle reuses it).
KEEP_ALIVE_S = 15
_CHUNK = 64 * 1024


@dataclass(frozen=True)
class Tls:
    """Certificate chain and private key (PEM files) of a listener that speaks HTTPS."""

    cert_file: str
    key_file: str

    @classmethod
    def of(cls, settings: Settings) -> Tls | None:
        """The settings' certificate and key, or None (plain HTTP) when neither is set."""
        cert, key = settings.tls_cert_file, settings.tls_key_file
        if not cert and not key:
            return None
        if not cert or not key:
            raise ConfigError("set both LINETRACE_TLS_CERT_FILE and LINETRACE_TLS_KEY_FILE, or neither")
        return cls(cert, key)


class HttpServer:
    """One ASGI app served by uvicorn from a thread of this process."""

    def __init__(
        self,
        app: ASGIApp,
        host: str,
        port: int,
        name: str,
        tls: Tls | None = None,
        forwarded_allow_ips: str = "127.0.0.1",
    ):
        self.host, self.name, self.tls = host, name, tls
        self.config = uvicorn.Config(
            app,
            log_config=None,  # the entrypoint chose the log format
            access_log=False,
            lifespan="off",
            proxy_headers=True,
            forwarded_allow_ips=forwarded_allow_ips,
            timeout_keep_alive=KEEP_ALIVE_S,
            timeout_graceful_shutdown=int(GRACE_S),
            ssl_certfile=tls.cert_file if tls else None,
            ssl_keyfile=tls.key_file if tls else None,
        )
        self.server = uvicorn.Server(self.config)
        self.sock = _bind(host, port)
        self.port = int(self.sock.getsockname()[1])
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, name=name, daemon=True
        )

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    def start(self, timeout_s: float = 10.0) -> HttpServer:
        try:
            self.config.load()  # a certificate that cannot be read fails here, not in the thread
        except (OSError, ssl.SSLError) as exc:
            self.sock.close()
            raise ConfigError(f"{self.name}: cannot load the TLS certificate or key: {exc}") from exc
        self.thread.start()
        deadline = time.monotonic() + timeout_s
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                self.sock.close()
                raise ConfigError(f"{self.name}: the HTTP server did not start on {self.url}")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        """Stop listening, let requests in progress finish, join the server's thread."""
        if self.thread.is_alive():
            self.server.should_exit = True
            self.thread.join(GRACE_S + 5.0)
            if self.thread.is_alive():
                log.warning("%s: the HTTP server did not stop in time", self.name)
        self.sock.close()


def client_context(settings: Settings) -> ssl.SSLContext | None:
    """For this host's own clients of a listener (``linetrace query`` to the sink's API): trust
    the configured certificate itself, whatever names it carries (the endpoint file gives an
    address), and the system's CAs; None without TLS."""
    tls = Tls.of(settings)
    if tls is None:
        return None
    context = ssl.create_default_context()
    context.load_verify_locations(cafile=tls.cert_file)
    context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN  # the leaf itself may be the anchor
    context.check_hostname = False  # pinned: only a holder of the configured key passes
    return context


def metrics_app(registry: CollectorRegistry) -> FastAPI:
    """``GET /metrics`` of a process that serves nothing else over HTTP (worker, readers)."""
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    @app.get("/metrics")
    def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return app


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


class JsonAnswer(Response):
    """A JSON answer (times in RFC 3339, UTC, with Z), with extra headers that may repeat, sent with
    their names as written (``WWW-Authenticate``, ``Retry-After``), as the API always has."""

    media_type = "application/json"

    def __init__(self, status: int, body: Any, headers: Iterable[tuple[str, str]] = ()):
        super().__init__(answer_json(body), status)
        for name, value in headers:
            self.raw_headers.append((name.encode("latin-1"), value.encode("latin-1")))

    def render(self, content: Any) -> bytes:
        return bytes(content)


def content_length(header: str | None) -> int | None:
    """A Content-Length header's value, None when absent or not a number."""
    return int(header) if header is not None and header.isdigit() else None


class BodyReader:
    """A request body read on demand, from the event loop (``read``, ``drop``) or from a worker
    thread of the endpoint (``read_in_thread``, for code written against a blocking stream)."""

    def __init__(self, receive: Receive):
        self._receive = receive
        self._buffer = bytearray()
        self._ended = False

    async def read(self, size: int) -> bytes:
        """Up to ``size`` bytes; fewer only when the body (or the connection) ended."""
        while len(self._buffer) < size and not self._ended:
            message = await self._receive()
            if message["type"] == "http.request":
                self._buffer += message.get("body", b"")
                self._ended = not message.get("more_body", False)
            else:  # http.disconnect
                self._ended = True
        chunk = bytes(self._buffer[:size])
        del self._buffer[:size]
        return chunk

    async def drop(self, size: int) -> None:
        """Read and drop up to ``size`` bytes."""
        while size > 0:
            chunk = await self.read(min(size, _CHUNK))
            if not chunk:
                return
            size -= len(chunk)

    def read_in_thread(self, size: int) -> bytes:
        return anyio.from_thread.run(self.read, size)
