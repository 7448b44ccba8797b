"""The HTTP side of the reader endpoints that devices POST to (Zebra, barcode batches): a
FastAPI app with the POST route and ``GET /health``, served by ``ingest.httpserver``.

The endpoint's own ``receive`` decides each POST from the headers and reads the body only as
far as it needs (``PostBody``, from FastAPI's thread pool, so the adapter's locks and the
outlet's waits never hold the event loop). An answer that leaves the body unread, or not all
of it (401, 403, 411, 413), closes the connection.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

from fastapi import FastAPI, Request
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.responses import Response

from ingest.httpserver import BodyReader, JsonAnswer
from readers.auth import Headers

# Answers after which the rest of the body may still be on its way.
CLOSING = frozenset({401, 403, 411, 413})


class Answer(NamedTuple):
    """What an endpoint answers to one POST: status, JSON body, extra headers."""

    status: int
    body: dict[str, Any]
    headers: Headers = ()


class PostBody:
    """A POST's body for code in a worker thread: ``read`` blocks until the bytes arrive."""

    def __init__(self, body: BodyReader):
        self.body = body

    def read(self, size: int, /) -> bytes:
        return self.body.read_in_thread(size)


class Receive(Protocol):
    def __call__(
        self, authorization: str | None, length: str | None, body: PostBody, peer: str
    ) -> Answer: ...


def device_app(receive: Receive, health: Callable[[], dict[str, Any]], post_path: str | None) -> FastAPI:
    """POST ``post_path`` (None: any path) to ``receive``; ``GET /health`` answers ``health()``;
    anything else 404 saying what is served."""
    post = f"POST {post_path}" if post_path else "POST tag data events"
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    async def take(request: Request) -> Response:
        body = PostBody(BodyReader(request.receive))
        peer = request.client.host if request.client else ""
        headers = request.headers
        answer = await run_in_threadpool(
            receive, headers.get("authorization"), headers.get("content-length"), body, peer
        )
        closing = (("Connection", "close"),) if answer.status in CLOSING else ()
        return JsonAnswer(answer.status, answer.body, answer.headers + closing)

    def health_answer() -> Response:
        return JsonAnswer(200, health())

    app.add_api_route(post_path or "/{path:path}", take, methods=["POST"])
    app.add_api_route("/health", health_answer, methods=["GET"])

    @app.exception_handler(HTTPException)
    async def not_found(request: Request, exc: HTTPException) -> Response:
        detail = post if request.method == "POST" else f"{post}; GET /health"
        return JsonAnswer(404, {"reason": "not_found", "detail": detail})

    return app
