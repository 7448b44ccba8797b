"""The plant file: any document is a plant or a PlantError, and a generated valid plant keeps
every site, line, stage, station, read point, product, route and job it was written with."""

from __future__ import annotations

import copy
import math
from datetime import date, datetime
from typing import Any

import orjson
from hypothesis import example, given
from hypothesis import strategies as st

from ingest.errors import PlantError
from ingest.plant import Plant, ReworkLoop, parse_plant
from tests.unit.property.shared import delete_at, gtins, paths, set_at, text, value_at

# What yaml.safe_load can give besides JSON: integers of any size, non-finite floats, dates,
# times and bytes (!!binary).
YAML_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | text()
    | st.dates()
    | st.datetimes()
    | st.binary(max_size=8)
)


def yaml_values(max_leaves: int = 12) -> st.SearchStrategy[Any]:
    return st.recursive(
        YAML_SCALARS,
        lambda inner: (
            st.lists(inner, max_size=4)
            | st.dictionaries(text(max_size=10) | st.integers() | st.booleans(), inner, max_size=4)
        ),
        max_leaves=max_leaves,
    )


def unique_names(prefix: str, n: int) -> list[str]:
    return [f"{prefix}{i}" for i in range(n)]


@st.composite
def lines(draw: st.DrawFn, number: int) -> dict[str, Any]:
    """One line: its stages, stations, read points and products, every one named uniquely."""
    line_id = f"L{number}"
    stages = draw(st.lists(text(min_size=1, max_size=6), min_size=1, max_size=5, unique=True))
    stations: list[dict[str, Any]] = [
        {"station": f"{line_id}-ST{i}", "stage": draw(st.sampled_from(stages))}
        for i in range(draw(st.integers(1, 4)))
    ]
    for station in stations:
        if draw(st.booleans()):
            station["target_per_hour"] = draw(st.integers(0, 10**6) | st.floats(0, 1e6))
    read_points = []
    for i in range(draw(st.integers(1, 4))):
        rp = {"reader": f"{line_id}-R{i}", "antenna": draw(st.integers(0, 64))}
        rp["station"] = draw(st.sampled_from(stations))["station"]
        if draw(st.booleans()):
            rp["side"] = draw(st.sampled_from(("inside", "outside")))
        read_points.append(rp)
    dispatch = draw(st.lists(st.sampled_from(stages), unique=True, max_size=2))
    products = [draw(products_of(f"{line_id}-P{i}", stages)) for i in range(draw(st.integers(0, 3)))]
    doc: dict[str, Any] = {
        "line": line_id,
        "stages": stages,
        "stations": stations,
        "read_points": read_points,
    }
    if draw(st.booleans()):
        doc["name"] = draw(text(max_size=10))
    if dispatch:
        doc["dispatch_stages"] = dispatch
    if products:
        doc["products"] = products
    return doc


@st.composite
def products_of(draw: st.DrawFn, product_id: str, stages: list[str]) -> dict[str, Any]:
    product: dict[str, Any] = {"product": product_id}
    if draw(st.booleans()):
        gtin = product["gtin"] = draw(gtins())
        if draw(st.booleans()):
            product["company_prefix"] = gtin[1 : 1 + draw(st.integers(6, 12))]
    if draw(st.booleans()):
        route = draw(st.lists(st.sampled_from(stages), min_size=1, unique=True))
        entries: list[Any] = [{"stage": s, "optional": True} if draw(st.booleans()) else s for s in route]
        spec: dict[str, Any] = {"stages": entries}
        if len(route) > 1 and draw(st.booleans()):
            back, ahead = sorted(
                draw(st.lists(st.integers(0, len(route) - 1), min_size=2, max_size=2, unique=True))
            )
            spec["rework"] = [{"from": route[ahead], "to": route[back], "max": draw(st.integers(0, 9))}]
        product["route"] = spec
    return product


@st.composite
def plants(draw: st.DrawFn) -> dict[str, Any]:
    sites: list[dict[str, Any]] = []
    line_number = 0
    for s in range(draw(st.integers(1, 2))):
        site_lines: list[dict[str, Any]] = []
        for _ in range(draw(st.integers(1, 2))):
            site_lines.append(draw(lines(line_number)))
            line_number += 1
        sites.append({"site": f"S{s}", "name": draw(text(max_size=10)), "lines": site_lines})
    doc: dict[str, Any] = {"sites": sites}
    products = [p["product"] for site in sites for ln in site["lines"] for p in ln.get("products", [])]
    with_jobs: bool = draw(st.booleans())
    if products and with_jobs:
        doc["jobs"] = [
            {
                "job": f"J{i}",
                "product": draw(st.sampled_from(products)),
                "quantity": draw(st.integers(0, 10**6)),
            }
            for i in range(draw(st.integers(1, 3)))
        ]
    return doc


def one_line(product: dict[str, Any] | None = None, **changes: Any) -> dict[str, Any]:
    """A plant of one line with one product (PART), with the line's fields changed."""
    line: dict[str, Any] = {
        "line": "L1",
        "stages": ["cut", "pack"],
        "stations": [{"station": "CUT-1", "stage": "cut"}, {"station": "PACK-1", "stage": "pack"}],
        "read_points": [{"reader": "R1", "antenna": 1, "station": "CUT-1"}],
        "products": [{"product": "PART", "gtin": "00614141000012", **(product or {})}],
    }
    return {"sites": [{"site": "S1", "lines": [{**line, **changes}]}]}


def _parse(doc: Any) -> Plant | None:
    """The plant of a document, or None for a PlantError; a plant reads back from its JSON
    (what the workers take from the plant topic) as itself."""
    try:
        plant = parse_plant(copy.deepcopy(doc), source="generated")
    except PlantError:
        return None
    assert parse_plant(orjson.loads(plant.to_json()), source="topic") == plant
    return plant


@given(plants())
def test_a_valid_plant_keeps_what_it_was_written_with(doc: dict[str, Any]) -> None:
    plant = _parse(doc)
    assert plant is not None
    written_lines = [(site["site"], ln) for site in doc["sites"] for ln in site["lines"]]

    assert [(ln.site, ln.line) for ln in plant.lines] == [(s, ln["line"]) for s, ln in written_lines]
    for line, (_, ln) in zip(plant.lines, written_lines, strict=True):
        assert line.name == ln.get("name", ln["line"])
        assert line.stages == tuple(ln["stages"])
        assert line.dispatch_stages == tuple(ln.get("dispatch_stages", ()))
        assert [(s.station, s.stage, s.target_per_hour) for s in line.stations] == [
            (s["station"], s["stage"], float(s.get("target_per_hour", 0))) for s in ln["stations"]
        ]
        for rp in ln["read_points"]:
            assert plant.station_of(rp["reader"], rp["antenna"]) == plant.stations()[rp["station"]]
            assert plant.side_of(rp["reader"], rp["antenna"]) == rp.get("side", "")
        for p in ln.get("products", []):
            _check_product(plant, line.line, line.dispatch_stages, p)
    assert [(j.job, j.product, j.quantity) for j in plant.jobs] == [
        (j["job"], j["product"], j["quantity"]) for j in doc.get("jobs", [])
    ]


def _check_product(plant: Plant, line: str, dispatch: tuple[str, ...], written: dict[str, Any]) -> None:
    product = plant.products[written["product"]]
    assert (product.line, product.gtin, product.company_prefix) == (
        line,
        written.get("gtin"),
        written.get("company_prefix"),
    )
    if "route" not in written:
        assert product.route is None
        return
    entries = written["route"]["stages"]
    stages = tuple(e["stage"] if isinstance(e, dict) else e for e in entries)
    assert product.route is not None
    assert product.route.stages == stages
    assert product.route.optional == {e["stage"] for e in entries if isinstance(e, dict)}
    assert product.route.dispatch == {s for s in stages if s in dispatch}
    assert product.route.rework == tuple(
        ReworkLoop(lp["from"], lp["to"], lp["max"]) for lp in written["route"].get("rework", [])
    )


@given(yaml_values())
@example({"sites": [{"site": "S", "lines": []}], "jobs": 5})
@example({**one_line(), "jobs": [{"job": "J1", "product": "PART", "quantity": math.inf}]})
@example({"sites": [1, "two", None]})
@example(one_line(read_points=[{"reader": "R1", "antenna": 1, "station": ["CUT-1"]}]))
@example(one_line(stations=[{"station": "CUT-1", "stage": "cut", "target_per_hour": 10**400}]))
@example(one_line(dispatch_stages=5))
@example(one_line({"route": ["cut", "pack"]}))
@example(one_line({"route": {"stages": [{"optional": True}]}}))
@example(one_line({"route": {"stages": 5}}))
@example(one_line({"route": {"stages": ["cut", "pack"], "rework": 5}}))
@example(one_line({"gtin": "0061414100001\u00b2"}))
@example(one_line(stages=["cut", datetime(2025, 1, 1), "pack"]))
@example(one_line(name=b"line one"))
@example(one_line(read_points=[{"reader": "R1", "antenna": 1, "station": "CUT-1", 7: "x"}]))
def test_any_document_is_a_plant_or_a_plant_error(doc: Any) -> None:
    _parse(doc)


@given(yaml_values(max_leaves=6).map(lambda v: {"sites": [v]}))
def test_any_site_is_a_plant_or_a_plant_error(doc: Any) -> None:
    _parse(doc)


@given(st.data(), plants(), yaml_values(max_leaves=4))
def test_a_plant_with_one_value_changed_is_a_plant_or_a_plant_error(
    data: st.DataObject, doc: dict[str, Any], value: Any
) -> None:
    path = data.draw(st.sampled_from(paths(doc)))
    set_at(doc, path, value)
    _parse(doc)


@given(st.data(), plants())
def test_a_plant_with_one_value_removed_is_a_plant_or_a_plant_error(
    data: st.DataObject, doc: dict[str, Any]
) -> None:
    path = data.draw(st.sampled_from(paths(doc)))
    delete_at(doc, path)
    _parse(doc)


@given(st.data(), plants())
def test_an_entry_of_a_list_that_is_not_a_mapping_is_a_plant_error(
    data: st.DataObject, doc: dict[str, Any]
) -> None:
    # Every list of a plant file (sites, lines, stations, read points, products, rework loops,
    # jobs) holds mappings; a stray entry is a mistake to report, not to skip.
    lists = [
        p
        for p in paths(doc)
        if isinstance(value_at(doc, p), list) and p[-1] not in ("stages", "dispatch_stages")
    ]
    path = data.draw(st.sampled_from(lists))
    value_at(doc, path).append(
        data.draw(st.none() | st.integers() | text() | st.lists(st.integers(), max_size=2))
    )

    assert _parse(doc) is None


# What a plant engineer might type where a rate or a whole number belongs.
NOT_RATES = [math.inf, -math.inf, math.nan, 10**400, -1, True, "12", date(2025, 1, 1), b"1"]
NOT_COUNTS = [*NOT_RATES, 2.5, 2.0]


@given(st.sampled_from(NOT_RATES))
@example(math.nan)
@example(10**400)
def test_a_station_target_that_is_not_a_finite_rate_is_a_plant_error(value: Any) -> None:
    assert _parse(one_line(stations=[{"station": "CUT-1", "stage": "cut", "target_per_hour": value}])) is None


@given(st.sampled_from(NOT_COUNTS), st.booleans())
@example(2.5, True)
@example(math.inf, False)
def test_a_count_that_is_not_a_whole_number_is_a_plant_error(value: Any, quantity: bool) -> None:
    if quantity:
        doc = {**one_line(), "jobs": [{"job": "J1", "product": "PART", "quantity": value}]}
    else:
        doc = one_line(
            {"route": {"stages": ["cut", "pack"], "rework": [{"from": "pack", "to": "cut", "max": value}]}}
        )
    assert _parse(doc) is None


@given(st.data(), plants())
def test_a_station_named_twice_is_a_plant_error(data: st.DataObject, doc: dict[str, Any]) -> None:
    lines = [ln for site in doc["sites"] for ln in site["lines"]]
    station = data.draw(st.sampled_from([s for ln in lines for s in ln["stations"]]))
    data.draw(st.sampled_from(lines))["stations"].append(dict(station))

    assert _parse(doc) is None
