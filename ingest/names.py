"""Events that name plant things (sites, lines, stations, products) are checked against the
plant: an event about a line that does not exist would enter the trace as if it did.

Posts (CLI and HTTP API) are refused with the reason; the stream worker dead-letters such an
event with the same reason when it arrives on a topic. Items and lots are not checked here:
a hold may name a lot that has not arrived yet.
"""

from __future__ import annotations

from typing import Any

from ingest.errors import InvalidInput
from ingest.plant import Line, Plant


def check_line(plant: Plant, site: str, line: str) -> Line:
    """The plant's line ``site``/``line``; InvalidInput (unknown_site, unknown_line) if none."""
    lines = [ln for ln in plant.lines if ln.site == site]
    if not lines:
        known = sorted({ln.site for ln in plant.lines})
        raise InvalidInput("unknown_site", f"site {site!r} is not in the plant; known: {', '.join(known)}")
    for ln in lines:
        if ln.line == line:
            return ln
    known = sorted(ln.line for ln in lines)
    raise InvalidInput(
        "unknown_line", f"line {line!r} is not a line of site {site}; known: {', '.join(known)}"
    )


def check_station(plant: Plant, site: str, line: str, station: str) -> None:
    """InvalidInput (unknown_site, unknown_line, unknown_station) unless the line has the station."""
    ln = check_line(plant, site, line)
    if not any(s.station == station for s in ln.stations):
        names = sorted(s.station for s in ln.stations)
        raise InvalidInput(
            "unknown_station",
            f"station {station!r} is not a station of {site}/{line}; known: {', '.join(names)}",
        )


def check_place(plant: Plant, site: str, line: str, station: str) -> None:
    """As check_station for an event that names its station, else as check_line: a QC result
    or a shipment may be posted for the line as a whole."""
    if station:
        check_station(plant, site, line, station)
    else:
        check_line(plant, site, line)


def check_product(plant: Plant, site: str, line: str, product: str) -> None:
    """InvalidInput (unknown_site, unknown_line, unknown_product) unless the line makes it."""
    check_line(plant, site, line)
    known = plant.products.get(product)
    if known is None or (known.site, known.line) != (site, line):
        made = sorted(p.product for p in plant.products.values() if (p.site, p.line) == (site, line))
        raise InvalidInput(
            "unknown_product",
            f"product {product!r} is not made on {site}/{line}; known: {', '.join(made) or 'none'}",
        )


def check_hold_placed(hold_id: str, events: list[dict[str, Any]]) -> None:
    """InvalidInput (unknown_hold) unless the hold was placed: a release of a hold never
    placed (a typo in its id) would be taken for a release and say nothing."""
    if not any(e.get("event") == "placed" for e in events):
        raise InvalidInput(
            "unknown_hold",
            f"hold {hold_id!r} was never placed (or is not stored yet); check its id with "
            "'linetrace query held' or 'linetrace query hold HOLD_ID'",
        )
