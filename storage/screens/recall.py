"""The recall screen: an item or lot's whole recall scope (itself and everything it went into,
at any depth: the ``recall`` query), each with its current stage, status and job and the
shipments and destinations it left the plant in, the counts by status, every shipment and
destination of the scope, the scope as CSV, and one hold placed on all of it (a hold event names every item;
the form names only the item or lot, and the scope is read again when the hold is posted)."""

from __future__ import annotations

import csv
import io
from collections import Counter
from typing import Any

from fastapi import FastAPI, Request
from starlette.responses import Response

from storage.screens.app import SECURITY_HEADERS, Screens, Viewer

# The CSV's columns, in the recall query's words.
CSV_COLUMNS = ("item", "depth", "via", "product", "job", "stage", "status", "shipments", "destinations")


def add_recall(app: FastAPI, screens: Screens) -> None:
    @app.get("/screens/recall", include_in_schema=False)
    def recall(request: Request, item: str = "") -> Response:
        def build(v: Viewer) -> Response:
            if not item:
                return screens.page(
                    request, "recall.html", 200, v, item="", rows=[], counts={}, shipped=left_in([])
                )
            scope = screens.ask(v, "recall", item=item)
            site, line = _line_of_item(screens, v, item)
            counts = Counter(str(r["status"] or "not read") for r in scope)
            return screens.page(
                request,
                "recall.html",
                200,
                v,
                item=item,
                rows=scope,
                counts=dict(sorted(counts.items())),
                shipped=left_in(scope),
                site=site,
                line=line,
            )

        return screens.guarded(request, build)

    @app.get("/screens/recall.csv", include_in_schema=False)
    def recall_csv(request: Request, item: str) -> Response:
        def build(v: Viewer) -> Response:
            name = "".join(c if c.isalnum() else "-" for c in item)[-80:]
            return Response(
                recall_text(screens.ask(v, "recall", item=item)),
                200,
                media_type="text/csv; charset=utf-8",
                headers={
                    **SECURITY_HEADERS,
                    "Content-Disposition": f'attachment; filename="recall-{name}.csv"',
                },
            )

        return screens.guarded(request, build)


def recall_text(rows: list[dict[str, Any]]) -> str:
    """The recall scope as CSV: a header, then one row per item in the query's order."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for r in rows:
        writer.writerow([_cell(r.get(c)) for c in CSV_COLUMNS])
    return out.getvalue()


def _cell(value: Any) -> str:
    """A CSV cell: a list (shipments, destinations) as its entries joined by spaces."""
    if value is None:
        return ""
    return " ".join(str(v) for v in value) if isinstance(value, list) else str(value)


def left_in(rows: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Every shipment and every destination the items of a recall scope left the plant in,
    each once, in the scope's order: whom a recall must reach beyond the plant gate."""
    return {
        key: list(dict.fromkeys(v for r in rows for v in r.get(key) or ()))
        for key in ("shipments", "destinations")
    }


def _line_of_item(screens: Screens, viewer: Viewer, item: str) -> tuple[str, str]:
    """The line a recall's hold is posted for: where the item was last read, else the token's
    own line (a lot known from a hold or a link only)."""
    history = screens.ask(viewer, "history", item=item)
    if history:
        return str(history[-1]["site"]), str(history[-1]["line"])
    scope = viewer.token.scope
    return (scope.site, scope.line) if scope.line else ("", "")
