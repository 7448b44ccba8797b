"""The query API: read-only JSON over HTTP (FastAPI under uvicorn, ``ingest.httpserver``),
served by the process that owns the store.

On embedded chDB only one process may open the data directory, so the sink serves the
queries; ``linetrace query`` finds it through the endpoint file beside the directory.

Every /v1/ request carries a bearer token (``ingest.tokens``; what its scope may ask:
``storage.access``): 401 without a known one, 429 past its rate, 413 past the size limit
(``storage.apigate``), 403 for data outside its scope, which is also the filter of every
answer. /health, /metrics, /openapi.json and /docs are open (no trace data). The same server
serves the plant-floor screens under /screens (``storage.screens``; signed in with the same
tokens, through a session cookie) and GS1 Digital Link paths /01/<gtin>/21/<serial>.

Each query of ``storage.service.QUERIES`` is ``GET /v1/<name>``, a plain ``def`` endpoint:
FastAPI runs it in its thread pool, so a query that waits on ClickHouse never holds the event
loop. Its parameters are checked by FastAPI and parsed again by the table, which words every
error (400 ``limit: not an integer: 'abc'``); answers are written by orjson as they come from
the store, and the table's response model documents them.
"""

from __future__ import annotations

import inspect
import logging
import os
from pathlib import Path
from typing import Annotated, Any, Literal

import orjson
from confluent_kafka import KafkaException
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.params import Path as PathParam
from fastapi.params import Query as QueryParam
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.responses import Response

from ingest.errors import InvalidInput, NotFound, NotReady, StorageError
from ingest.httpserver import HttpServer, JsonAnswer, Tls
from ingest.metrics import ApiMetrics
from ingest.posting import EVENT_KINDS, EventPoster
from storage.access import Forbidden, scoped_params
from storage.apigate import Gate, GateMiddleware
from storage.client import Store
from storage.epcisapi import add_epcis
from storage.epciscapture import CaptureJobs
from storage.eventcheck import take_event
from storage.openapi import EVENT_ANSWERS, QUERY_ANSWERS, accepted_post, add_docs
from storage.querytable import Param, Query
from storage.screens.app import Screens, add_screens
from storage.service import QUERIES, run_query

log = logging.getLogger(__name__)


class QueryServer:
    def __init__(
        self,
        store: Store,
        host: str,
        port: int,
        gate: Gate,
        poster: EventPoster | None = None,
        registry: CollectorRegistry | None = None,
        tls: Tls | None = None,
        forwarded_allow_ips: str = "127.0.0.1",
        screens: Screens | None = None,
    ):
        self.store = store
        self.registry = registry or CollectorRegistry()
        app = query_app(store, gate, poster, self.registry, screens)
        self.http = HttpServer(app, host, port, "query-api", tls, forwarded_allow_ips)

    @property
    def url(self) -> str:
        return self.http.url

    def start(self) -> QueryServer:
        self.http.start()
        log.info("query API on %s", self.url)
        return self

    def stop(self) -> None:
        self.http.stop()


def query_app(
    store: Store,
    gate: Gate,
    poster: EventPoster | None,
    registry: CollectorRegistry,
    screens: Screens | None = None,
) -> FastAPI:
    app = FastAPI(docs_url=None, redoc_url=None)
    app.add_middleware(GateMiddleware, gate=gate, metrics=ApiMetrics(registry))
    _add_handlers(app)
    add_docs(app)

    @app.get("/health", summary="Liveness of the query API (no token).")
    async def health() -> Response:
        return JsonAnswer(200, {"status": "ok", "pid": os.getpid()})

    @app.get(
        "/metrics",
        summary="Prometheus metrics of the sink and the API (no token; no item keys).",
        response_class=Response,
        responses={200: {"description": "Prometheus text format.", "content": {CONTENT_TYPE_LATEST: {}}}},
    )
    def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    for name, query in QUERIES.items():
        app.add_api_route(
            f"/v1/{name}",
            _query_endpoint(store, name, query),
            methods=["GET"],
            name=name,
            operation_id=name,
            summary=query.summary,
            response_model=query.answer,
            responses=QUERY_ANSWERS,
        )

    @app.get("/v1/{name}", include_in_schema=False)
    def unknown_query(name: str) -> Response:
        raise InvalidInput("unknown_query", f"{name!r}; known: {', '.join(QUERIES)}")

    if poster is not None:
        _add_events(app, store, poster)
    if screens is not None:
        add_screens(app, screens)
    captures = CaptureJobs(store, poster) if poster is not None else None
    plant = screens.plant if screens is not None else lambda: None
    add_epcis(app, store, plant, captures, gate.capture_max_bytes)
    return app


def _query_endpoint(store: Store, name: str, query: Query) -> Any:
    def answer(request: Request, **_: Any) -> Response:
        params = scoped_params(request.state.token.scope, name, request.query_params)
        return JsonAnswer(200, run_query(store, name, params))

    declared = [inspect.Parameter("request", inspect.Parameter.KEYWORD_ONLY, annotation=Request)]
    declared += [_declared(p) for p in query.params]
    answer.__signature__ = inspect.Signature(declared)  # type: ignore[attr-defined]
    answer.__name__ = name
    return answer


def _declared(param: Param) -> inspect.Parameter:
    """A parameter of the table as FastAPI declares it: its type and description in the
    document, checked before the endpoint runs."""
    kind: Any = str if param.kind is not int else int
    extra = {"format": "date-time"} if param.kind is not str and param.kind is not int else None
    if param.choices:
        kind = Literal.__getitem__(param.choices)
    if param.default is None and not param.required:
        kind = kind | None
    default = QueryParam(
        ... if param.required else param.default,
        description=param.description,
        json_schema_extra=extra,
    )
    return inspect.Parameter(param.name, inspect.Parameter.KEYWORD_ONLY, annotation=kind, default=default)


class Posted(BaseModel):
    """A posted event the broker has."""

    accepted: bool
    topic: str


KIND = PathParam(description="The event's kind.", json_schema_extra={"enum": list(EVENT_KINDS)})


def _add_events(app: FastAPI, store: Store, poster: EventPoster) -> None:
    @accepted_post(
        app,
        "/v1/events/{kind}",
        {"application/json": {"schema": {"type": "object"}}},
        operation_id="post_event",
        summary="Post a job event, hold, QC result, aggregation, transformation or shipment "
        "(see docs/wire-format.md) for a site and line of the token's scope, about items not "
        "known at another line.",
        response_model=Posted,
        responses=EVENT_ANSWERS,
    )
    async def post_event(kind: Annotated[str, KIND], request: Request) -> Response:
        if request.headers.get("content-length") is None:
            return JsonAnswer(411, {"error": "length_required", "detail": "a POST needs a Content-Length"})
        payload = await request.body()
        event = await run_in_threadpool(take_event, store, poster, request.state.token, kind, payload)
        return JsonAnswer(202, {"accepted": True, "topic": event.topic})


def _add_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def bad_parameter(request: Request, exc: RequestValidationError) -> Response:
        return JsonAnswer(400, {"error": "bad_parameter", "detail": _parameter_error(request, exc)})

    @app.exception_handler(InvalidInput)
    async def invalid(request: Request, exc: InvalidInput) -> Response:
        return JsonAnswer(400, {"error": exc.reason, "detail": exc.detail})

    @app.exception_handler(NotReady)
    async def not_ready(request: Request, exc: NotReady) -> Response:
        return JsonAnswer(503, {"error": exc.reason, "detail": exc.detail}, (("Retry-After", "1"),))

    @app.exception_handler(NotFound)
    async def unknown(request: Request, exc: NotFound) -> Response:
        return JsonAnswer(404, {"error": exc.reason, "detail": exc.detail})

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, exc: Forbidden) -> Response:
        log.info("token %s refused: %s", request.state.token.name, exc.detail)
        return JsonAnswer(403, {"error": "forbidden", "detail": exc.detail})

    @app.exception_handler(StorageError)
    async def storage(request: Request, exc: StorageError) -> Response:
        log.error("%s failed: %s", request.url.path, exc)
        return JsonAnswer(500, {"error": "storage", "code": exc.code, "detail": str(exc)})

    @app.exception_handler(KafkaException)
    async def broker(request: Request, exc: KafkaException) -> Response:
        log.error("event not published: %s", exc)
        return JsonAnswer(503, {"error": "broker", "detail": "the event was not published; retry"})

    @app.exception_handler(HTTPException)
    async def not_found(request: Request, exc: HTTPException) -> Response:
        detail = "POST /v1/events/<kind>" if request.method == "POST" else "use /v1/<query>"
        return JsonAnswer(404, {"error": "not_found", "detail": detail})


def _parameter_error(request: Request, exc: RequestValidationError) -> str:
    """The table's wording of the first bad parameter (as the CLI says it)."""
    error = exc.errors()[0]
    loc = [str(part) for part in error.get("loc", ())]
    name = loc[-1] if loc else ""
    query = QUERIES.get(request.url.path.removeprefix("/v1/"))
    param = query.param(name) if query else None
    if param is not None:
        try:
            param.parse(request.query_params.get(name))
        except InvalidInput as problem:
            return problem.detail
    return f"{name}: {error.get('msg', 'invalid')}"


def endpoint_file(data_dir: Path) -> Path:
    """Where the owning process announces its API, beside the embedded data directory."""
    return data_dir.with_name(data_dir.name + ".api.json")


def announce(data_dir: Path, url: str) -> Path:
    path = endpoint_file(data_dir)
    path.write_bytes(orjson.dumps({"url": url, "pid": os.getpid()}))
    return path
