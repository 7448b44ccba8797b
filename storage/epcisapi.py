"""EPCIS 2.0 over the query API: ``GET /epcis/export`` answers a recall's scope as an
EPCISDocument (``application/ld+json``), behind the same bearer tokens as /v1/ and filtered
by the token's site and line like every query."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Literal

from fastapi import FastAPI, Query, Request
from starlette.responses import Response

from ingest.errors import InvalidInput, NotFound
from ingest.plant import Plant
from ingest.timefmt import answer_json
from storage.access import narrow
from storage.client import Store
from storage.epcisexport import export

JSON_LD = "application/ld+json"


def add_epcis(app: FastAPI, store: Store, plant: Callable[[], Plant | None]) -> None:
    @app.get(
        "/epcis/export",
        operation_id="epcis_export",
        summary="An item's recall scope (up: what it is in; down: what is in it) as an EPCIS 2.0 "
        "EPCISDocument: its passes as ObjectEvents, packs and unpacks as AggregationEvents, "
        "transformations as TransformationEvents (docs/epcis.md).",
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
        known = plant()
        if known is None:
            raise InvalidInput("plant_not_read", "the sink has not read the published plant yet; try again")
        site, line = narrow(request.state.token.scope, site, line)
        doc = export(store, known, item, direction, site, line)
        if not doc["epcisBody"]["eventList"]:
            raise NotFound("unknown_item", f"no events of {item!r} within this token's scope")
        return Response(answer_json(doc), media_type=JSON_LD)
