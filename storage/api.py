"""The query API: read-only JSON over HTTP, served by the process that owns the store.

On embedded chDB only one process may open the data directory, so the sink serves the
queries; ``linetrace query`` finds it through the endpoint file beside the directory.
"""

from __future__ import annotations

import logging
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import orjson
from confluent_kafka import KafkaException

from ingest.errors import InvalidInput, StorageError
from ingest.posting import EventPoster
from storage.client import Store
from storage.openapi import openapi_document
from storage.service import run_query

log = logging.getLogger(__name__)


class QueryServer:
    def __init__(
        self,
        store: Store,
        host: str,
        port: int,
        poster: EventPoster | None = None,
        max_body_bytes: int = 1_000_000,
    ):
        self.store = store
        self.host = host
        handler = _handler(store, poster, max_body_bytes)
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


def _handler(store: Store, poster: EventPoster | None, max_body_bytes: int) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
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
            url = urlsplit(self.path)
            params = dict(parse_qsl(url.query))
            parts = [p for p in url.path.split("/") if p]
            if parts == ["health"]:
                self._send(200, {"status": "ok", "pid": os.getpid()})
                return
            if parts == ["openapi.json"]:
                self._send(200, openapi_document())
                return
            if len(parts) != 2 or parts[0] != "v1":
                self._send(404, {"error": "not_found", "detail": "use /v1/<query>"})
                return
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
