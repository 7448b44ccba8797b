"""What every /v1/ request of the query API passes before its endpoint: a known bearer token
(401), the rate of that token (429 with Retry-After), the size limit (413). A refused request
is answered without being taken in: a body the sender already sent is read and dropped up to
``DRAIN_FACTOR`` times the limit (so the sender sees the answer, not a reset connection); a
larger one is cut off with the connection. Each /v1/ request is timed in
``linetrace_api_request_duration_seconds`` by query (or ``post_event``) and status.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ingest.httpserver import BodyReader, JsonAnswer, content_length
from ingest.metrics import ApiMetrics
from ingest.settings import Settings
from ingest.tokenfile import TokenFile
from ingest.tokens import Token, bearer
from storage.ratelimit import RateLimiter, retry_after
from storage.service import QUERIES

# A refused body up to this many times the limit is read and dropped, so the sender sees the
# answer instead of a reset connection (as the reader endpoints do); a larger one is cut off.
DRAIN_FACTOR = 16


@dataclass(frozen=True)
class Refusal:
    """The answer to a request the gate does not let in."""

    status: int
    error: str
    detail: str
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Gate:
    """A known token, the rate of that token, the size limit."""

    tokens: TokenFile
    limiter: RateLimiter
    max_request_bytes: int
    capture_max_bytes: int = 64 << 20  # an EPCIS document (POST /epcis/capture) has its own limit

    @classmethod
    def of(cls, settings: Settings) -> Gate:
        return cls(
            TokenFile(Path(settings.api_tokens_file)),
            RateLimiter(settings.api_rate_per_s, settings.api_burst),
            settings.api_max_request_bytes,
            settings.epcis_capture_max_bytes,
        )

    def admit(
        self, authorization: str | None, length: str | None, limit: int | None = None
    ) -> Token | Refusal:
        """The caller's token, or why the request is refused (401, 429, 400 or 413 past
        ``limit``, by default ``max_request_bytes``)."""
        limit = self.max_request_bytes if limit is None else limit
        presented = bearer(authorization)
        token = self.tokens.find(presented) if presented else None
        if token is None:
            challenge = 'Bearer realm="linetrace"' + (', error="invalid_token"' if presented else "")
            detail = "unknown token" if presented else "send Authorization: Bearer <token>"
            return Refusal(401, "unauthorized", detail, (("WWW-Authenticate", challenge),))
        wait = self.limiter.admit(token.name)
        if wait:
            after = retry_after(wait)
            detail = f"more than {self.limiter.rate_per_s:g} requests/s; retry after {after} s"
            return Refusal(429, "rate_limited", detail, (("Retry-After", str(after)),))
        if length is not None and not length.isdigit():
            return Refusal(400, "bad_length", "Content-Length must be a number of bytes")
        if length is not None and int(length) > limit:
            return Refusal(413, "oversized", f"{length} bytes exceeds the limit of {limit}")
        return token


# The queries and events, and EPCIS documents (storage.epcisapi): trace data, behind tokens.
GATED = ("/v1/", "/epcis/")
# The path whose body is an EPCIS document, with a limit of its own (epcis_capture_max_bytes).
CAPTURE = "/epcis/capture"
# The events of one EPC (/epcis/epcs/{epc}/events), one query label for every EPC.
EPC_EVENTS = "/epcis/epcs/"


class GateMiddleware:
    """The gate in front of /v1/; the admitted token is the request's ``state.token``."""

    def __init__(self, app: ASGIApp, gate: Gate, metrics: ApiMetrics):
        self.app, self.gate, self.metrics = app, gate, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(GATED):
            await self.app(scope, receive, send)
            return
        started, query = time.perf_counter(), _query_label(scope)

        async def timed(message: Message) -> None:
            if message["type"] == "http.response.start":
                elapsed = time.perf_counter() - started
                self.metrics.requests.labels(query, str(message["status"])).observe(elapsed)
            await send(message)

        headers = Headers(scope=scope)
        capturing = scope["method"] == "POST" and scope["path"] == CAPTURE
        limit = self.gate.capture_max_bytes if capturing else self.gate.max_request_bytes
        admitted = self.gate.admit(headers.get("authorization"), headers.get("content-length"), limit)
        if isinstance(admitted, Token):
            scope.setdefault("state", {})["token"] = admitted
            await self.app(scope, receive, timed)
            return
        answer_headers = admitted.headers
        left = content_length(headers.get("content-length")) or 0
        if left > limit * DRAIN_FACTOR:
            answer_headers += (("Connection", "close"),)
        else:
            await BodyReader(receive).drop(left)
        body = {"error": admitted.error, "detail": admitted.detail}
        await JsonAnswer(admitted.status, body, answer_headers)(scope, receive, timed)


def _query_label(scope: Scope) -> str:
    path = scope["path"]
    if path.startswith(CAPTURE):  # a job's id is no label: one per job
        return "epcis_capture" if scope["method"] == "POST" else "epcis_capture_job"
    if path.startswith(EPC_EVENTS):  # nor is an EPC
        return "epcis_epc_events"
    if scope["method"] == "POST":
        return "post_event"
    name = path.removeprefix("/v1/")
    if name.startswith("/epcis/"):
        return "epcis_" + name.removeprefix("/epcis/")
    return name if name in QUERIES else "unknown"
