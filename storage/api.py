"""The query API: read-only JSON over HTTP, served by the process that owns the store.

On embedded chDB only one process may open the data directory, so the sink serves the
queries; ``linetrace query`` finds it through the endpoint file beside the directory.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import orjson
from confluent_kafka import KafkaException
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from ingest.errors import InvalidInput, StorageError
from ingest.metrics import ApiMetrics
from ingest.posting import EventPoster
from storage.client import Store
from storage.openapi import openapi_document
from storage.service import QUERIES, run_query

log = logging.getLogger(__name__)


class QueryServer:
    def __init__(
        self,
        store: Store,
        host: str,
        port: int,
        poster: EventPoster | None = None,
        max_body_bytes: int = 1_000_000,
        registry: CollectorRegistry | None = None,
    ):
        self.store = store
        self.host = host
        self.registry = registry or CollectorRegistry()
        handler = _handler(store, poster, max_body_bytes, self.registry, ApiMetrics(self.registry))
        self.httpd = ThreadingHTTPServer((host, port), handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="query-api", daemon=True)

    @property
    def url(self) -> str:
        port = self.httpd.server_address[1]
        return f"http://{self.host}:{port}"

    def start(self) -> QueryServer:
        self.thread.start()
        log.info("query API on %s", self.url)
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _handler(
    store: Store,
    poster: EventPoster | None,
    max_body_bytes: int,
    registry: CollectorRegistry,
    metrics: ApiMetrics,
) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        started = 0.0
        query = ""

        def do_POST(self) -> None:
            self.started, self.query = time.perf_counter(), "post_event"
            parts = [p for p in urlsplit(self.path).path.split("/") if p]
            if poster is None or len(parts) != 3 or parts[:2] != ["v1", "events"]:
                self._send(404, {"error": "not_found", "detail": "POST /v1/events/<kind>"})
                return
            length = int(self.headers.get("Content-Length") or 0)
            if length > max_body_bytes:
                self._send(413, {"error": "oversized", "detail": f"at most {max_body_bytes} bytes"})
                return
            try:
                topic = poster.post(parts[2], self.rfile.read(length))
                self._send(202, {"accepted": True, "topic": topic})
            except InvalidInput as exc:
                self._send(400, {"error": exc.reason, "detail": exc.detail})
            except KafkaException as exc:
                log.error("event not published: %s", exc)
                self._send(503, {"error": "broker", "detail": "the event was not published; retry"})

        def do_GET(self) -> None:
            self.started, self.query = time.perf_counter(), ""
            url = urlsplit(self.path)
            params = dict(parse_qsl(url.query))
            parts = [p for p in url.path.split("/") if p]
            if parts == ["metrics"]:
                data = generate_latest(registry)
                self.send_response(200)
                self.send_header("Content-Type", CONTENT_TYPE_LATEST)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return
            if parts == ["health"]:
                self._send(200, {"status": "ok", "pid": os.getpid()})
                return
            if parts == ["openapi.json"]:
                self._send(200, openapi_document())
                return
            if len(parts) != 2 or parts[0] != "v1":
                self._send(404, {"error": "not_found", "detail": "use /v1/<query>"})
                return
            self.query = parts[1] if parts[1] in QUERIES else "unknown"
            try:
                self._send(200, run_query(store, parts[1], params))
            except InvalidInput as exc:
                self._send(400, {"error": exc.reason, "detail": exc.detail})
            except StorageError as exc:
                log.error("query %s failed: %s", parts[1], exc)
                self._send(500, {"error": "storage", "code": exc.code, "detail": str(exc)})

        def _send(self, status: int, body: Any) -> None:
            data = orjson.dumps(body, default=str)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            if self.query:
                metrics.requests.labels(self.query, str(status)).observe(time.perf_counter() - self.started)

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("api: " + format, *args)

    return Handler


def endpoint_file(data_dir: Path) -> Path:
    """Where the owning process announces its API, beside the embedded data directory."""
    return data_dir.with_name(data_dir.name + ".api.json")


def announce(data_dir: Path, url: str) -> Path:
    path = endpoint_file(data_dir)
    path.write_bytes(orjson.dumps({"url": url, "pid": os.getpid()}))
    return path
