"""EPCIS 2.0 over the query API, behind the same bearer tokens as /v1/ and within the token's
site and line like every query: ``GET /epcis/export`` answers a recall's scope as an
EPCISDocument (``application/ld+json``); ``POST /epcis/capture`` takes a partner's
EPCISDocument (read as a stream up to ``epcis_capture_max_bytes``, checked against the EPCIS
2.0 JSON Schema) as a capture job, ``GET /epcis/capture/{id}`` tells how it went."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import FastAPI, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from ingest.epcis.query import (
    COLLECTIONS,
    EventQuery,
    collection,
    collection_page,
    for_epc,
    page,
    parse_query,
    query_document,
)
from ingest.epcis.validation import document_problems
from ingest.errors import InvalidInput, NotFound, NotReady
from ingest.httpserver import JsonAnswer
from ingest.plant import Plant
from ingest.timefmt import answer_json, now_us
from ingest.wire import json_object
from storage import epcisquery
from storage.access import narrow
from storage.client import Store
from storage.epciscapture import CaptureJobs
from storage.epcisexport import export
from storage.openapi import accepted_post

JSON_LD = "application/ld+json"


def add_epcis(
    app: FastAPI,
    store: Store,
    plant: Callable[[], Plant | None],
    captures: CaptureJobs | None = None,
    capture_max_bytes: int = 64 << 20,
) -> None:
    if captures is not None:
        _add_capture(app, captures, capture_max_bytes)

    def _plant() -> Plant:
        known = plant()
        if known is None:
            raise NotReady("plant_not_read", "the sink has not read the published plant yet; try again")
        return known

    def _add_collection(name: str) -> None:
        @app.get(
            f"/epcis/{name}",
            operation_id=f"epcis_{name}",
            summary=f"The {name} of the events a token can query (captured ones and linetrace's own), "
            "as an EPCIS 2.0 Collection, a page at a time (perPage, nextPageToken).",
            response_class=Response,
            responses={200: {"description": "Collection JSON-LD.", "content": {JSON_LD: {}}}},
        )
        def epcis_collection(request: Request) -> Response:
            site, line = narrow(request.state.token.scope, "", "")
            members = epcisquery.members(store, _plant(), name, site, line)
            found, token = collection_page(members, request.query_params)
            return Response(
                answer_json(collection(found)), media_type=JSON_LD, headers=_next_link(request, token)
            )

    @app.get(
        "/epcis/events",
        operation_id="epcis_events",
        summary="EPCIS 2.0 events answering a SimpleEventQuery (eventType, GE_eventTime, LT_eventTime, "
        "EQ_bizStep, EQ_disposition, EQ_readPoint, EQ_bizLocation, MATCH_epc, MATCH_anyEPC, "
        "MATCH_parentID, MATCH_epcClass, perPage, nextPageToken) as an EPCISQueryDocument: captured "
        "events as received and linetrace's own (docs/epcis.md, Query).",
        response_class=Response,
        responses={200: {"description": "EPCISQueryDocument JSON-LD.", "content": {JSON_LD: {}}}},
    )
    def epcis_events(request: Request) -> Response:
        return _events(request, parse_query(request.query_params))

    @app.get(
        "/epcis/epcs/{epc:path}/events",
        operation_id="epcis_epc_events",
        summary="The EPCIS 2.0 events of one EPC (any of its fields, as MATCH_anyEPC), with the other "
        "parameters of GET /epcis/events, as an EPCISQueryDocument.",
        response_class=Response,
        responses={200: {"description": "EPCISQueryDocument JSON-LD.", "content": {JSON_LD: {}}}},
    )
    def epcis_epc_events(request: Request, epc: str) -> Response:
        return _events(request, for_epc(request.query_params, epc))

    def _events(request: Request, query: EventQuery) -> Response:
        known = _plant()
        site, line = narrow(request.state.token.scope, "", "")
        found, token = page(epcisquery.events(store, known, query, site, line), query)
        headers = _next_link(request, token)
        return Response(answer_json(query_document(found, now_us())), media_type=JSON_LD, headers=headers)

    for name in COLLECTIONS:
        _add_collection(name)

    @app.get(
        "/epcis/export",
        operation_id="epcis_export",
        summary="An item's recall scope (up: what it is in; down: what is in it) as an EPCIS 2.0 "
        "EPCISDocument: its passes as ObjectEvents, packs and unpacks as AggregationEvents, "
        "transformations as TransformationEvents; captured events as received (docs/epcis.md).",
        response_class=Response,
        responses={200: {"description": "EPCISDocument JSON-LD.", "content": {JSON_LD: {}}}},
    )
    def epcis_export(
        request: Request,
        item: Annotated[str, Query(description="Item key.", min_length=1)],
        direction: Annotated[Literal["up", "down"], Query(description="up (recall) or down.")] = "up",
        site: Annotated[str, Query(description="Only this site.")] = "",
        line: Annotated[str, Query(description="Only this line.")] = "",
    ) -> Response:
        known = _plant()
        site, line = narrow(request.state.token.scope, site, line)
        doc = export(store, known, item, direction, site, line)
        if not doc["epcisBody"]["eventList"]:
            raise NotFound("unknown_item", f"no events of {item!r} within this token's scope")
        return Response(answer_json(doc), media_type=JSON_LD)


def _next_link(request: Request, token: str) -> dict[str, str]:
    """The ``Link`` header to the next page, when there is one."""
    if not token:
        return {}
    params = [(k, v) for k, v in request.query_params.multi_items() if k != "nextPageToken"]
    return {"Link": f'<{request.url.path}?{urlencode([*params, ("nextPageToken", token)])}>; rel="next"'}


def _add_capture(app: FastAPI, captures: CaptureJobs, max_bytes: int) -> None:
    @accepted_post(
        app,
        "/epcis/capture",
        {JSON_LD: {}, "application/json": {}},
        operation_id="epcis_capture",
        summary="Capture an EPCIS 2.0 EPCISDocument (JSON-LD): 202 with the capture job's id and "
        "Location; 400 with the schema's findings when it is not a valid document; 413 past "
        "LINETRACE_EPCIS_CAPTURE_MAX_BYTES; 415 for the XML binding (docs/epcis.md, Capture).",
    )
    async def epcis_capture(request: Request) -> Response:
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media in XML_MEDIA or media.endswith("+xml"):
            detail = (
                f"{media}: linetrace captures the EPCIS 2.0 JSON-LD binding only (application/ld+json); "
                "convert XML documents first (docs/epcis.md, Capture)"
            )
            return JsonAnswer(415, {"error": "unsupported_media_type", "detail": detail})
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > max_bytes:
                detail = f"the document exceeds the limit of {max_bytes} bytes"
                return JsonAnswer(413, {"error": "oversized", "detail": detail}, (("Connection", "close"),))
        document = await run_in_threadpool(_valid_document, bytes(body))
        job = captures.start(document, request.state.token.scope)
        location = f"/epcis/capture/{job.capture_id}"
        return JsonAnswer(202, {"captureID": job.capture_id, "running": True}, (("Location", location),))

    @app.get(
        "/epcis/capture/{capture_id}",
        operation_id="epcis_capture_job",
        summary="A capture job: running, success, the events refused (errors) with reasons, and "
        "those kept that feed no trace (notTraced), notes on what was taken (an error "
        "declaration awaiting its event).",
    )
    def epcis_capture_job(capture_id: str) -> Response:
        answer = captures.answer(capture_id)
        if answer is None:
            detail = f"no capture job {capture_id!r} (one running when the API process stopped is forgotten)"
            raise NotFound("unknown_capture", detail)
        return JsonAnswer(200, answer)


# The XML binding's media types: refused with a reason rather than read as broken JSON.
XML_MEDIA = frozenset({"application/xml", "text/xml"})


def _valid_document(body: bytes) -> dict[str, Any]:
    """The EPCISDocument in ``body``; InvalidInput with the schema's first finding if it is not one."""
    document = json_object(body, "the EPCIS document")
    if document.get("type") != "EPCISDocument":
        raise InvalidInput(
            "not_a_capture_document", f"type must be EPCISDocument, got {document.get('type')!r}"
        )
    problems = document_problems(document)
    if problems:
        raise InvalidInput("invalid_document", "; ".join(problems[:5]))
    return document
