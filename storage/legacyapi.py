"""The query API as it was on http.server, kept only to measure what FastAPI and uvicorn cost
(``loadtest/httpbench.py --server both``); to be removed with that comparison.

The query API: read-only JSON over HTTP, served by the process that owns the store.

On embedded chDB only one process may open the data directory, so the sink serves the
queries; ``linetrace query`` finds it through the endpoint file beside the directory.

Every /v1/ request carries a bearer token (``ingest.tokens``; what its scope may ask:
``storage.access``): 401 without a known one, 429 past its rate, 413 past the size limit, 403
for data outside its scope, which is also the filter of every answer. /health, /metrics and
/openapi.json are open (no trace data).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
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
from ingest.settings import Settings
from ingest.tokenfile import TokenFile
from ingest.tokens import Token, bearer
from storage import queries
from storage.access import Forbidden, check_event, scoped_params
from storage.client import Store
from storage.ratelimit import RateLimiter, retry_after
from storage.service import QUERIES, run_query

log = logging.getLogger(__name__)


# A refused body up to this many times the limit is read and dropped, so the sender sees the
# answer instead of a reset connection (as the reader endpoints do); a larger one is cut off.
DRAIN_FACTOR = 16
_CHUNK = 64 * 1024
# Seconds a request may stall on its socket before its thread gives up on it.
REQUEST_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Gate:
    """What every /v1/ request passes first: a known token, the rate of that token, the size limit."""

    tokens: TokenFile
    limiter: RateLimiter
    max_request_bytes: int

    @classmethod
    def of(cls, settings: Settings) -> Gate:
        return cls(
            TokenFile(Path(settings.api_tokens_file)),
            RateLimiter(settings.api_rate_per_s, settings.api_burst),
            settings.api_max_request_bytes,
        )


class QueryServer:
    def __init__(
        self,
        store: Store,
        host: str,
        port: int,
        gate: Gate,
        poster: EventPoster | None = None,
        registry: CollectorRegistry | None = None,
    ):
        self.store = store
        self.host = host
        self.registry = registry or CollectorRegistry()
        handler = _handler(store, gate, poster, self.registry, ApiMetrics(self.registry))
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
    gate: Gate,
    poster: EventPoster | None,
    registry: CollectorRegistry,
    metrics: ApiMetrics,
) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        timeout = REQUEST_TIMEOUT_S
        started = 0.0
        query = ""

        def do_POST(self) -> None:
            self.started, self.query = time.perf_counter(), "post_event"
            parts = [p for p in urlsplit(self.path).path.split("/") if p]
            if parts[:1] != ["v1"]:
                self._send(404, {"error": "not_found", "detail": "POST /v1/events/<kind>"})
                return
            token = self._admit()
            if token is None:
                return
            if poster is None or len(parts) != 3 or parts[1] != "events":
                self._refuse(404, "not_found", "POST /v1/events/<kind>")
                return
            length = self.headers.get("Content-Length")
            if length is None:
                self._send(411, {"error": "length_required", "detail": "a POST needs a Content-Length"})
                return
            try:
                event = poster.validate(parts[2], self.rfile.read(int(length)))
                if not token.scope.plant_wide:
                    places = queries.item_states(store, list(event.items)) if event.items else []
                    check_event(token.scope, event.site, event.line, _places(places))
                self._send(202, {"accepted": True, "topic": poster.publish(event)})
            except InvalidInput as exc:
                self._send(400, {"error": exc.reason, "detail": exc.detail})
            except Forbidden as exc:
                log.info("token %s refused: %s", token.name, exc.detail)
                self._send(403, {"error": "forbidden", "detail": exc.detail})
            except StorageError as exc:
                log.error("item lookup for a posted event failed: %s", exc)
                self._send(500, {"error": "storage", "code": exc.code, "detail": str(exc)})
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
                self._send(200, {})
                return
            if parts[:1] != ["v1"]:
                self._send(404, {"error": "not_found", "detail": "use /v1/<query>"})
                return
            self.query = parts[1] if len(parts) == 2 and parts[1] in QUERIES else "unknown"
            token = self._admit()
            if token is None:
                return
            if len(parts) != 2:
                self._refuse(404, "not_found", "use /v1/<query>")
                return
            try:
                self._send(200, run_query(store, parts[1], scoped_params(token.scope, parts[1], params)))
            except Forbidden as exc:
                log.info("token %s refused: %s", token.name, exc.detail)
                self._send(403, {"error": "forbidden", "detail": exc.detail})
            except InvalidInput as exc:
                self._send(400, {"error": exc.reason, "detail": exc.detail})
            except StorageError as exc:
                log.error("query %s failed: %s", parts[1], exc)
                self._send(500, {"error": "storage", "code": exc.code, "detail": str(exc)})

        def _admit(self) -> Token | None:
            """The caller's token, or None once the request is answered 401, 429, 400 or 413."""
            presented = bearer(self.headers.get("Authorization"))
            token = gate.tokens.find(presented) if presented else None
            if token is None:
                challenge = 'Bearer realm="linetrace"' + (', error="invalid_token"' if presented else "")
                detail = "unknown token" if presented else "send Authorization: Bearer <token>"
                self._refuse(401, "unauthorized", detail, {"WWW-Authenticate": challenge})
                return None
            wait = gate.limiter.admit(token.name)
            if wait:
                after = retry_after(wait)
                detail = f"more than {gate.limiter.rate_per_s:g} requests/s; retry after {after} s"
                self._refuse(429, "rate_limited", detail, {"Retry-After": str(after)})
                return None
            length = self.headers.get("Content-Length")
            if length is not None and not length.isdigit():
                self._refuse(400, "bad_length", "Content-Length must be a number of bytes")
                return None
            if length is not None and int(length) > gate.max_request_bytes:
                self._refuse(
                    413, "oversized", f"{length} bytes exceeds the limit of {gate.max_request_bytes}"
                )
                return None
            return token

        def _refuse(
            self, status: int, error: str, detail: str, headers: dict[str, str] | None = None
        ) -> None:
            """Answer without taking the request in; a body the sender already sent is dropped."""
            length = self.headers.get("Content-Length") or "0"
            left = int(length) if length.isdigit() else 0
            if left > gate.max_request_bytes * DRAIN_FACTOR:
                left = 0
                self.close_connection = True
            while left > 0:
                chunk = self.rfile.read(min(left, _CHUNK))
                if not chunk:
                    break
                left -= len(chunk)
            self._send(status, {"error": error, "detail": detail}, headers)

        def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
            data = orjson.dumps(body, default=str)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
            if self.query:
                metrics.requests.labels(self.query, str(status)).observe(time.perf_counter() - self.started)

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("api: " + format, *args)

    return Handler


def _places(states: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    return [(str(s["item"]), str(s["site"]), str(s["line"])) for s in states]


def endpoint_file(data_dir: Path) -> Path:
    """Where the owning process announces its API, beside the embedded data directory."""
    return data_dir.with_name(data_dir.name + ".api.json")


def announce(data_dir: Path, url: str) -> Path:
    path = endpoint_file(data_dir)
    path.write_bytes(orjson.dumps({"url": url, "pid": os.getpid()}))
    return path
