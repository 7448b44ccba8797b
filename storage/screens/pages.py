"""The screens' pages: the lines of a token's scope, the line board (and its live fragment,
polled by htmx), jobs, the job card and its printable traveler, the item page, and GS1
Digital Link paths answered with the item page. Each reads named queries only
(``Screens.ask``), never raw scans."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import segno
from fastapi import FastAPI, Request
from starlette.responses import Response

from ingest.errors import InvalidInput
from ingest.gs1 import NO_PREFIXES, parse_code, scan_key
from storage import queries
from storage.pace import late_jobs, pace_window
from storage.screens.app import Screens, Viewer, job_card_path
from storage.screens.board import (
    AGEING_S,
    behind_target,
    minute_of,
    stage_columns,
    station_rates,
    station_trends,
    trend_window,
)
from storage.screens.itemholds import PART_HOLD_LOOKUPS, held_parts, holds_through_parts

# How often the board's live part is fetched again: within the 5 s a supervisor expects,
# with the sink's flush (at most LINETRACE_SINK_COMMIT_S) inside it.
POLL_S = 2
# Newest open exceptions the board lists.
BOARD_EXCEPTIONS = 12
# Digital Link qualifiers an item page answers: serial (an item) and lot.
DIGITAL_LINK_QUALIFIERS = {"21": "serial", "10": "lot"}


def add_pages(app: FastAPI, screens: Screens) -> None:
    @app.get("/screens/", include_in_schema=False)
    def index(request: Request) -> Response:
        return screens.guarded(request, lambda v: _index(request, screens, v))

    @app.get("/screens/board/{site}/{line}", include_in_schema=False)
    def board(request: Request, site: str, line: str) -> Response:
        def build(v: Viewer) -> Response:
            figures = board_figures(screens, v, site, line, datetime.now(UTC))
            return screens.page(request, "board.html", 200, v, site=site, line=line, poll_s=POLL_S, **figures)

        return screens.guarded(request, build)

    @app.get("/screens/board/{site}/{line}/live", include_in_schema=False)
    def board_live(request: Request, site: str, line: str) -> Response:
        def build(v: Viewer) -> Response:
            figures = board_figures(screens, v, site, line, datetime.now(UTC))
            return screens.page(request, "board_live.html", 200, v, site=site, line=line, **figures)

        return screens.guarded(request, build)

    @app.get("/screens/jobs/{site}/{line}", include_in_schema=False)
    def jobs(request: Request, site: str, line: str) -> Response:
        def build(v: Viewer) -> Response:
            return screens.page(
                request, "jobs.html", 200, v, site=site, line=line, **jobs_figures(screens, v, site, line)
            )

        return screens.guarded(request, build)

    @app.get("/screens/jobs/{site}/{line}/{job}", include_in_schema=False)
    def job_card(request: Request, site: str, line: str, job: str) -> Response:
        def build(v: Viewer) -> Response:
            card = job_card_figures(screens, v, site, line, job)
            return screens.page(request, "job.html", 200, v, site=site, line=line, actions=True, **card)

        return screens.guarded(request, build)

    @app.get("/screens/jobs/{site}/{line}/{job}/traveler", include_in_schema=False)
    def traveler(request: Request, site: str, line: str, job: str) -> Response:
        def build(v: Viewer) -> Response:
            card = job_card_figures(screens, v, site, line, job)
            url = screens.job_card_url(request, site, line, job)
            qr = job_qr(url).svg_inline(scale=4, border=2, omitsize=False)
            printed = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
            return screens.page(
                request, "traveler.html", 200, v, site=site, line=line, url=url, qr=qr, now=printed, **card
            )

        return screens.guarded(request, build)

    @app.get("/screens/item", include_in_schema=False)
    def item(request: Request, key: str) -> Response:
        return screens.guarded(request, lambda v: _item_page(request, screens, v, key))

    @app.get("/01/{gtin}/{qualifier}/{value}", include_in_schema=False)
    def digital_link(request: Request, gtin: str, qualifier: str, value: str) -> Response:
        def build(v: Viewer) -> Response:
            return _item_page(request, screens, v, item_key_of_link(screens, gtin, qualifier, value))

        return screens.guarded(request, build)


def job_qr(url: str) -> segno.QRCode:
    """The traveler's QR code: the job card's address, error correction M (a creased or
    smudged traveler still scans)."""
    return segno.make_qr(url, error="m", boost_error=False)


def item_key_of_link(screens: Screens, gtin: str, qualifier: str, value: str) -> str:
    """The item key a GS1 Digital Link path names, made as a scanned barcode's is
    (``ingest.gs1``): the plant's company prefixes make it the EPC URI an RFID tag of the
    same item decodes to."""
    if qualifier not in DIGITAL_LINK_QUALIFIERS:
        raise InvalidInput("bad_code", f"/01/{gtin}/{qualifier}/…: a label names a serial (21) or a lot (10)")
    scan = parse_code(f"{screens.digital_link_domain}/01/{gtin}/{qualifier}/{value}")
    plant = screens.plant()
    return scan_key(scan, plant.company_prefixes if plant else NO_PREFIXES)


def line_of(screens: Screens, site: str, line: str) -> Any:
    plant = screens.plant()
    if plant is None:
        return None
    return next((ln for ln in plant.lines if ln.site == site and ln.line == line), None)


def _index(request: Request, screens: Screens, viewer: Viewer) -> Response:
    scope = viewer.token.scope
    places = sorted({p for p in queries.places(screens.store) if scope.covers(*p)})
    plant = screens.plant()
    if not places and plant is not None:
        places = sorted({(ln.site, ln.line) for ln in plant.lines if scope.covers(ln.site, ln.line)})
    return screens.page(request, "index.html", 200, viewer, places=places)


def board_figures(screens: Screens, viewer: Viewer, site: str, line: str, now: datetime) -> dict[str, Any]:
    """What the line board shows now, from the named queries the API answers."""
    where = {"site": site, "line": line}
    hour = now.replace(minute=0, second=0, microsecond=0)
    flow = screens.ask(viewer, "wip_flow", older_than_s=AGEING_S, **where)
    rates = screens.ask(viewer, "read_rates", **where)
    exceptions = screens.ask(viewer, "violations", limit=BOARD_EXCEPTIONS, **where)
    plant_line = line_of(screens, site, line)
    order = list(plant_line.stages) if plant_line else []
    stations = [(s.station, s.stage, s.target_per_hour) for s in plant_line.stations] if plant_line else []
    # One throughput query, per minute, for the hour so far, the pace window and the trend.
    since, until = pace_window(now)
    start, end = trend_window(now)
    minutes = screens.ask(
        viewer, "throughput", since=min(hour, start).isoformat(), until=end.isoformat(), **where
    )
    this_hour = [r | {"target": 60 * float(r["target"] or 0)} for r in minutes if minute_of(r) >= hour]
    recent = [r for r in minutes if since <= minute_of(r) < until]
    return {
        "behind": behind_target(site, line, stations, recent),
        "overdue": late_jobs(screens.ask(viewer, "late_jobs", **where), now),
        "columns": stage_columns(order, flow, rates),
        "stations": station_rates(stations, this_hour, (now - hour).total_seconds() / 60),
        "trends": station_trends(stations, minutes, start),
        "exceptions": exceptions,
        "read_rates": rates,
        "updated": now,
    }


def jobs_figures(screens: Screens, viewer: Viewer, site: str, line: str) -> dict[str, Any]:
    where = {"site": site, "line": line}
    progress: dict[str, list[dict[str, Any]]] = {}
    for row in screens.ask(viewer, "job_progress", **where):
        progress.setdefault(row["job"], []).append(row)
    late = {r["job"]: r for r in screens.ask(viewer, "late_jobs", **where)}
    blocked: dict[str, int] = {}
    held: dict[str, int] = {}
    for row in screens.ask(viewer, "blocked_jobs", **where):
        if row["kind"] == "blocker":
            blocked[row["job"]] = blocked.get(row["job"], 0) + 1
        else:
            held[row["job"]] = int(row["held_items"] or 0)
    return {
        "jobs": screens.ask(viewer, "jobs", **where),
        "progress": progress,
        "late": late,
        "blocked": blocked,
        "held": held,
        "products": _products(screens, site, line),
    }


def job_card_figures(screens: Screens, viewer: Viewer, site: str, line: str, job: str) -> dict[str, Any]:
    """The job card: its plan, each route stage's received, completed, rejected and pending,
    blockers open and resolved, delays, QC results, items under a hold, items waiting for QC,
    the items in process, and every item of the job."""
    where = {"site": site, "line": line}
    plan = screens.ask(viewer, "jobs", job=job, **where)
    stages = screens.ask(viewer, "job_progress", job=job, **where)
    if not plan and not stages:
        raise InvalidInput("unknown_job", f"no job {job} at site {site} line {line}")
    mine = [r for r in screens.ask(viewer, "blocked_jobs", **where) if r["job"] == job]
    events = screens.ask(viewer, "job_events", job=job, **where)
    return {
        "job": job,
        "plan": plan[0] if plan else None,
        "stages": stages,
        "late": [r for r in screens.ask(viewer, "late_jobs", **where) if r["job"] == job],
        "blockers": [r for r in mine if r["kind"] == "blocker"],
        "resolved": resolved_blockers(events),
        "delays": [e for e in events if e["event"] == "delay"],
        "qc": screens.ask(viewer, "qc_results", job=job, **where),
        "held": [r for r in screens.ask(viewer, "held", **where) if r["job"] == job],
        "pending_qc": [r for r in screens.ask(viewer, "pending_qc", **where) if r["job"] == job],
        "wip": [r for r in screens.ask(viewer, "wip_by_job", **where) if r["job"] == job],
        "items": screens.ask(viewer, "job_items", job=job, **where),
        "card_path": job_card_path(site, line, job),
        "products": _products(screens, site, line),
    }


def resolved_blockers(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Blockers resolved, newest first: type and owner from their opening, the resolution's
    note and time (``events``: the job's events, newest first)."""
    opened = {e["blocker_id"]: e for e in events if e["event"] == "blocker_opened"}
    out = []
    for e in events:
        if e["event"] == "blocker_resolved":
            first = opened.get(e["blocker_id"], {})
            out.append(
                {
                    **e,
                    "blocker_type": first.get("blocker_type", ""),
                    "owner": first.get("owner", ""),
                    "opened": first.get("time"),
                    "problem": first.get("note", ""),
                }
            )
    return out


def _products(screens: Screens, site: str, line: str) -> list[str]:
    plant = screens.plant()
    if plant is None:
        return []
    return sorted(p.product for p in plant.products.values() if (p.site, p.line) == (site, line))


def _stations(screens: Screens, site: str, line: str) -> list[str]:
    plant_line = line_of(screens, site, line)
    return [s.station for s in plant_line.stations] if plant_line else []


def _item_page(request: Request, screens: Screens, viewer: Viewer, key: str) -> Response:
    history = screens.ask(viewer, "history", item=key)
    last = history[-1] if history else None
    site, line = (last["site"], last["line"]) if last else _only_line(screens, viewer)
    down = screens.ask(viewer, "genealogy", item=key, direction="down")
    held = screens.ask(viewer, "held")
    parts = held_parts(down, held)
    looked = parts[:PART_HOLD_LOOKUPS]
    part_holds = {p["item"]: screens.ask(viewer, "item_holds", item=p["item"]) for p in looked}
    return screens.page(
        request,
        "item.html",
        200,
        viewer,
        item=key,
        history=history,
        down=down,
        up=screens.ask(viewer, "genealogy", item=key, direction="up"),
        held=[r for r in held if r["item"] == key],
        held_parts={p["item"] for p in parts},
        holds=screens.ask(viewer, "item_holds", item=key),
        through_parts=holds_through_parts(looked, part_holds),
        parts_not_looked=len(parts) - len(looked),
        qc=screens.ask(viewer, "qc_results", item=key),
        last=last,
        site=site,
        line=line,
        stations=_stations(screens, site, line),
        job_path=job_card_path(last["site"], last["line"], last["job"]) if last and last["job"] else "",
    )


def _only_line(screens: Screens, viewer: Viewer) -> tuple[str, str]:
    """The line an action on an item never read is posted for: the token's own line, if it
    grants one; else none, and the page asks for none."""
    scope = viewer.token.scope
    return (scope.site, scope.line) if scope.line else ("", "")
