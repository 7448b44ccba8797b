"""Printable item labels: a GS1 Digital Link QR code per item (``/01/{gtin}/21/{serial}`` at
the Digital Link domain, never an internal host), its human-readable key under it, sheets of
labels for a job and one label for an item. An item whose key is no SGTIN (an SSCC, a lot,
a key with no GTIN) gets its key as text and no code."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import segno
from fastapi import FastAPI, Request
from starlette.responses import Response

from ingest.epc import gs1_check_digit, gtin_of
from ingest.epcis.digitallink import CANONICAL_DOMAIN, canonical
from ingest.errors import InvalidInput, NotFound
from storage.screens.app import Screens, Viewer, job_card_path


@dataclass(frozen=True)
class Label:
    """One item's label: its key, and for an SGTIN the Digital Link address its code carries
    and the GS1 human-readable text ``(01) GTIN (21) SERIAL``."""

    item: str
    url: str = ""
    readable: str = ""
    qr: str = ""  # the code as inline SVG; empty for an item with no GTIN and serial


def digital_link_path(key: str) -> str | None:
    """``/01/{gtin}/21/{serial}`` of an SGTIN item key (EPC URI or ``gs1:01/…/21/…``), else
    None. The GTIN's check digit must hold: a label must not lead to a page that refuses it."""
    gtin = gtin_of(key)
    if gtin is None or gtin[13] != str(gs1_check_digit(gtin[:13])):
        return None
    uri = canonical(key if key.startswith("urn:") else f"{CANONICAL_DOMAIN}/{key.removeprefix('gs1:')}")
    path = uri.removeprefix(CANONICAL_DOMAIN) if uri else ""
    return path if path.startswith(f"/01/{gtin}/21/") and len(path) > len(f"/01/{gtin}/21/") else None


def label_qr(url: str) -> segno.QRCode:
    """A label's QR code: error correction M, as the traveler's (a scuffed label still scans)."""
    return segno.make_qr(url, error="m", boost_error=False)


def label_of(key: str, domain: str) -> Label:
    path = digital_link_path(key)
    if path is None:
        return Label(key)
    _, _, gtin, _, serial = path.split("/", 4)
    url = f"{domain.rstrip('/')}{path}"
    svg = label_qr(url).svg_inline(scale=3, border=2, omitsize=False)
    return Label(key, url, f"(01) {gtin} (21) {unquote(serial)}", svg)


def add_labels(app: FastAPI, screens: Screens) -> None:
    @app.get("/screens/jobs/{site}/{line}/{job}/labels", include_in_schema=False)
    def job_labels(request: Request, site: str, line: str, job: str) -> Response:
        def build(v: Viewer) -> Response:
            return screens.page(
                request, "labels.html", 200, v, **job_labels_figures(screens, v, site, line, job)
            )

        return screens.guarded(request, build)

    @app.get("/screens/label", include_in_schema=False)
    def item_label(request: Request, key: str) -> Response:
        def build(v: Viewer) -> Response:
            if not screens.ask(v, "history", item=key):
                raise NotFound("unknown_item", f"no item {key} in your scope")
            labels = [label_of(key, screens.digital_link_domain)]
            return screens.page(request, "labels.html", 200, v, labels=labels, job="", item=key)

        return screens.guarded(request, build)


def job_labels_figures(screens: Screens, viewer: Viewer, site: str, line: str, job: str) -> dict[str, Any]:
    """Every item of a job (``job_items``, within the viewer's scope) as a label."""
    where = {"site": site, "line": line}
    items = screens.ask(viewer, "job_items", job=job, **where)
    if not items and not screens.ask(viewer, "jobs", job=job, **where):
        raise InvalidInput("unknown_job", f"no job {job} at site {site} line {line}")
    keys = sorted({row["item"] for row in items})
    return {
        "site": site,
        "line": line,
        "job": job,
        "card_path": job_card_path(site, line, job),
        "labels": [label_of(k, screens.digital_link_domain) for k in keys],
    }
