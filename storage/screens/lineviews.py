"""A line's other screens: exceptions (what needs someone now), dispatch (what is ready to ship
and what is packed) and operators (performance per operator and stage). Each reads named
queries only (``Screens.ask``), within the viewer's scope."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from starlette.responses import Response

from ingest.errors import InvalidInput
from storage.screens.app import Screens, Viewer
from storage.screens.board import AGEING_S
from storage.screens.exceptions import MISSED_READ_P, split_violations
from storage.screens.pages import line_of

# Open violations the exceptions screen reads at most (newest first).
EXCEPTION_VIOLATIONS = 1000
# The operators screen's window: one shift.
OPERATOR_MINUTES = 8 * 60


def add_line_views(app: FastAPI, screens: Screens) -> None:
    @app.get("/screens/exceptions/{site}/{line}", include_in_schema=False)
    def exceptions(request: Request, site: str, line: str, older_than_s: str = "", p: str = "") -> Response:
        def build(v: Viewer) -> Response:
            waiting_s = _number(older_than_s, "older_than_s", AGEING_S)
            threshold = _number(p, "p", MISSED_READ_P)
            figures = exception_figures(screens, v, site, line, int(waiting_s), threshold)
            return screens.page(request, "exceptions.html", 200, v, site=site, line=line, **figures)

        return screens.guarded(request, build)

    @app.get("/screens/dispatch/{site}/{line}", include_in_schema=False)
    def dispatch(request: Request, site: str, line: str) -> Response:
        def build(v: Viewer) -> Response:
            where = {"site": site, "line": line}
            packed: dict[str, list[dict[str, Any]]] = {}
            for row in screens.ask(v, "carriers", **where):
                packed.setdefault(row["carrier"], []).append(row)
            ready = screens.ask(v, "ready_for_dispatch", **where)
            return screens.page(
                request, "dispatch.html", 200, v, site=site, line=line, ready=ready, carriers=packed
            )

        return screens.guarded(request, build)

    @app.get("/screens/operators/{site}/{line}", include_in_schema=False)
    def operators(request: Request, site: str, line: str, minutes: str = "") -> Response:
        def build(v: Viewer) -> Response:
            window = int(_number(minutes, "minutes", OPERATOR_MINUTES))
            rows = screens.ask(v, "operators", minutes=window, site=site, line=line)
            return screens.page(
                request, "operators.html", 200, v, site=site, line=line, rows=rows, minutes=window
            )

        return screens.guarded(request, build)


def exception_figures(
    screens: Screens, viewer: Viewer, site: str, line: str, waiting_s: int, threshold: float
) -> dict[str, Any]:
    where = {"site": site, "line": line}
    plant_line = line_of(screens, site, line)
    stations = [(s.station, s.stage) for s in plant_line.stations] if plant_line else []
    violations = screens.ask(viewer, "violations", limit=EXCEPTION_VIOLATIONS, **where)
    rates = screens.ask(viewer, "read_rates", **where)
    return {
        "late": screens.ask(viewer, "late_jobs", **where),
        "blockers": [r for r in screens.ask(viewer, "blocked_jobs", **where) if r["kind"] == "blocker"],
        "pending_qc": screens.ask(viewer, "pending_qc", **where),
        "held": screens.ask(viewer, "held", **where),
        "waiting": screens.ask(viewer, "wip_ageing", older_than_s=waiting_s, **where),
        "waiting_s": waiting_s,
        "threshold": threshold,
        "violations": split_violations(violations, rates, stations, threshold),
    }


def _number(raw: str, name: str, default: float) -> float:
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise InvalidInput("bad_parameter", f"{name}: not a number: {raw!r}") from None
    if value < 0:
        raise InvalidInput("bad_parameter", f"{name}: must be at least 0, got {raw}")
    return value
