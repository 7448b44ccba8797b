from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

import ingest
from ingest.errors import PlantError
from ingest.plant import Plant, ReworkLoop, Route, load_plant, parse_plant
from ingest.timefmt import parse_us
from tests.unit.factories import plant_doc

Doc = dict[str, Any]


def _line(doc: Doc) -> Doc:
    line: Doc = doc["sites"][0]["lines"][0]
    return line


def _product(doc: Doc, name: str) -> Doc:
    return next(p for p in _line(doc)["products"] if p["product"] == name)


def test_demo_plant_loads() -> None:
    plant = load_plant(Path(ingest.__file__).parent / "plants" / "demo.yaml")

    [line] = plant.lines
    assert (line.site, line.line, line.stages) == (
        "PLANT-1",
        "LINE-A",
        ("cut", "machine", "assemble", "qc", "pack"),
    )
    assert set(plant.stations()) == {"CUT-1", "MACH-1", "MACH-2", "ASSY-1", "QC-1", "PACK-1"}
    assert len(plant.read_points) == 13
    assert plant.station_of("R-PACK-1", 3) == plant.stations()["PACK-1"]
    assert plant.station_of("R-PACK-1", 4) is None
    housing = plant.product_by_gtin("00614141000012")
    assert housing is not None and housing.product == "HOUSING"
    assert plant.products["ACTUATOR"].route == Route(
        ("assemble", "qc", "pack"), (ReworkLoop("qc", "assemble", 1),)
    )
    assert [(j.job, j.product, j.quantity, j.site, j.line) for j in plant.jobs] == [
        ("J-1001", "HOUSING", 5000, "PLANT-1", "LINE-A"),
        ("J-1002", "ACTUATOR", 2500, "PLANT-1", "LINE-A"),
    ]


def test_the_test_plant_is_valid(plant: Plant) -> None:
    assert plant.station_of("R-CUT", 2) == plant.stations()["CUT-1"]
    assert plant.products["LOOSE"].route is None and plant.products["LOOSE"].gtin is None


def _add_station(doc: Doc) -> None:
    _line(doc)["stations"].append({"station": "PAINT-1", "stage": "paint"})


def _read_point_to_nowhere(doc: Doc) -> None:
    _line(doc)["read_points"].append({"reader": "R-X", "antenna": 1, "station": "NOPE-1"})


def _duplicate_read_point(doc: Doc) -> None:
    _line(doc)["read_points"].append({"reader": "R-CUT", "antenna": 1, "station": "MACH-1"})


def _read_point_without_antenna(doc: Doc) -> None:
    _line(doc)["read_points"].append({"reader": "R-Y", "station": "CUT-1"})


def _forward_rework(doc: Doc) -> None:
    _product(doc, "KIT")["route"]["rework"] = [{"from": "assemble", "to": "qc"}]


def _rework_off_route(doc: Doc) -> None:
    _product(doc, "KIT")["route"]["rework"] = [{"from": "qc", "to": "cut"}]


def _rework_max_not_a_number(doc: Doc) -> None:
    _product(doc, "KIT")["route"]["rework"][0]["max"] = "twice"


def _set(product: str, key: str, value: Any) -> Callable[[Doc], None]:
    def change(doc: Doc) -> None:
        _product(doc, product)[key] = value

    return change


def _route_stage_unknown(doc: Doc) -> None:
    _product(doc, "PART")["route"]["stages"] = ["cut", "paint"]


def _product_twice(doc: Doc) -> None:
    _line(doc)["products"].append({"product": "PART"})


def _stages_repeat(doc: Doc) -> None:
    _line(doc)["stages"].append("cut")


def _job_unknown_product(doc: Doc) -> None:
    doc["jobs"].append({"job": "J-9", "product": "NOPE"})


def _job_quantity_not_a_number(doc: Doc) -> None:
    doc["jobs"][0]["quantity"] = "lots"


def _line_without_stations(doc: Doc) -> None:
    _line(doc)["stations"] = []


BAD_PLANTS = [
    pytest.param(
        _add_station, "station 'PAINT-1' has unknown stage 'paint'", id="unknown stage on a station"
    ),
    pytest.param(
        _read_point_to_nowhere,
        "read point R-X/1 names unknown station 'NOPE-1'",
        id="read point naming an unknown station",
    ),
    pytest.param(_duplicate_read_point, "read point R-CUT/1 is mapped twice", id="duplicate read point"),
    pytest.param(
        _read_point_without_antenna,
        "read point needs a reader name and an antenna number",
        id="read point without antenna",
    ),
    pytest.param(
        _forward_rework,
        "rework loop {'from': 'assemble', 'to': 'qc'} must go back to an earlier route stage",
        id="rework loop going forward",
    ),
    pytest.param(
        _rework_off_route,
        "rework loop {'from': 'qc', 'to': 'cut'} must go back to an earlier route stage",
        id="rework loop to a stage off the route",
    ),
    pytest.param(
        _rework_max_not_a_number,
        "product 'KIT' rework loop: 'max' must be a whole number, got 'twice'",
        id="rework max not a number",
    ),
    pytest.param(
        _set("PART", "gtin", "0061414100001"),
        "product 'PART' gtin must be 14 digits with a valid check digit, got '0061414100001'",
        id="gtin of 13 digits",
    ),
    pytest.param(
        _set("PART", "gtin", "0061414100001X"),
        "product 'PART' gtin must be 14 digits with a valid check digit",
        id="gtin with a letter",
    ),
    pytest.param(
        _set("PART", "gtin", 614141000012),
        "product 'PART' gtin must be 14 digits with a valid check digit, got 614141000012",
        id="gtin as a number",
    ),
    pytest.param(
        _set("PART", "gtin", "00614141000013"),
        "product 'PART' gtin must be 14 digits with a valid check digit, got '00614141000013'",
        id="gtin with a wrong check digit",
    ),
    pytest.param(
        _route_stage_unknown,
        "product 'PART' route has unknown or no stages ['paint']",
        id="route through an unknown stage",
    ),
    pytest.param(_set("PART", "route", {"stages": []}), "route has unknown or no stages", id="empty route"),
    pytest.param(_product_twice, "product 'PART' defined twice", id="product defined twice"),
    pytest.param(_stages_repeat, "stage names repeat", id="stage names repeat"),
    pytest.param(
        _job_unknown_product, "job 'J-9' names unknown product 'NOPE'", id="job naming unknown product"
    ),
    pytest.param(
        _job_quantity_not_a_number,
        "job 'J-1': 'quantity' must be a whole number, got 'lots'",
        id="job quantity not a number",
    ),
    pytest.param(_line_without_stations, "'stations' must be a non-empty list", id="line without stations"),
]


@pytest.mark.parametrize(("change", "problem"), BAD_PLANTS)
def test_a_bad_plant_is_refused_with_its_problem(
    doc: Doc, change: Callable[[Doc], None], problem: str
) -> None:
    change(doc)

    with pytest.raises(PlantError) as raised:
        parse_plant(doc, source="plant.yaml")

    assert problem in str(raised.value)
    assert "plant.yaml" in str(raised.value)


# Problems in different parts of one file, none hiding another.
TOGETHER = {
    "unknown stage on a station",
    "read point naming an unknown station",
    "duplicate read point",
    "rework loop going forward",
    "gtin with a wrong check digit",
    "product defined twice",
    "job naming unknown product",
    "job quantity not a number",
}


def test_every_problem_is_listed_in_one_error(doc: Doc) -> None:
    cases = [case for case in BAD_PLANTS if case.id in TOGETHER]
    assert len(cases) == len(TOGETHER)
    for case in cases:
        change = case.values[0]
        assert callable(change)
        change(doc)

    with pytest.raises(PlantError) as raised:
        parse_plant(doc)

    problems = str(raised.value).splitlines()[1:]
    assert len(problems) == len(cases)
    for case in cases:
        assert any(str(case.values[1]) in line for line in problems), case.id


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(None, id="empty file"),
        pytest.param([], id="a list, not a mapping"),
        pytest.param({"sites": []}, id="no sites"),
        pytest.param({"lines": []}, id="no sites key"),
    ],
)
def test_a_plant_needs_sites(raw: Any) -> None:
    with pytest.raises(PlantError, match="non-empty 'sites' list"):
        parse_plant(raw)


def test_route_stages_may_be_marked_optional() -> None:
    from ingest.plant import parse_plant

    doc = {
        "sites": [
            {
                "site": "S",
                "lines": [
                    {
                        "line": "L",
                        "stages": ["a", "b", "c"],
                        "stations": [{"station": "A", "stage": "a"}],
                        "read_points": [{"reader": "R", "antenna": 1, "station": "A"}],
                        "products": [
                            {
                                "product": "P",
                                "route": {"stages": ["a", {"stage": "b", "optional": True}, "c"]},
                            }
                        ],
                    }
                ],
            }
        ]
    }
    route = parse_plant(doc).products["P"].route
    assert route is not None
    assert (route.stages, route.optional) == (("a", "b", "c"), frozenset({"b"}))


def test_read_point_sides_and_dispatch_stages(doc: Doc) -> None:
    line = _line(doc)
    line["dispatch_stages"] = ["pack"]
    line["read_points"][0]["side"] = "outside"
    line["read_points"][1]["side"] = "inside"

    plant = parse_plant(doc)

    first, second = line["read_points"][0], line["read_points"][1]
    assert plant.side_of(first["reader"], first["antenna"]) == "outside"
    assert plant.side_of(second["reader"], second["antenna"]) == "inside"
    assert plant.side_of("R-QC", 1) == ""
    assert plant.lines[0].dispatch_stages == ("pack",)
    route = plant.products["KIT"].route
    assert route is not None and route.dispatch == frozenset({"pack"})


@pytest.mark.parametrize(
    ("field", "value", "problem"),
    [
        pytest.param(
            "dispatch_stages", ["ship"], "dispatch_stages names unknown stages ['ship']", id="dispatch"
        ),
        pytest.param("side", "left", "side must be inside or outside, got 'left'", id="side"),
    ],
)
def test_bad_sides_and_dispatch_stages_are_refused(doc: Doc, field: str, value: Any, problem: str) -> None:
    line = _line(doc)
    if field == "side":
        line["read_points"][0]["side"] = value
    else:
        line[field] = value
    with pytest.raises(PlantError, match=problem.replace("[", r"\[").replace("]", r"\]")):
        parse_plant(doc)


def test_a_products_company_prefix_maps_its_gtin(doc: Doc) -> None:
    _product(doc, "PART")["company_prefix"] = "0614141"
    assert parse_plant(doc).company_prefixes == {"00614141000012": 7}


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        pytest.param(614141, "must be quoted text of 6-12 digits", id="a number"),
        pytest.param("0614142", "does not carry company prefix 0614142", id="not in the gtin"),
    ],
)
def test_a_bad_company_prefix_is_refused(doc: Doc, value: Any, problem: str) -> None:
    _product(doc, "PART")["company_prefix"] = value
    with pytest.raises(PlantError, match=problem):
        parse_plant(doc)


def test_a_plant_job_carries_its_plan() -> None:
    doc = plant_doc()
    doc["jobs"] = yaml.safe_load(
        "- {job: J-1, product: PART, quantity: 10, due: 2026-12-24T16:00:00Z,\n"
        "   planned_start: '2026-12-20T06:00:00+01:00', planned_end: 2026-12-23T18:00:00Z,\n"
        "   target_rate_per_h: 30}"
    )
    (job,) = parse_plant(doc).jobs
    assert (job.due_us, job.planned_start_us, job.planned_end_us, job.target_rate_per_h) == (
        parse_us("2026-12-24T16:00:00Z"),
        parse_us("2026-12-20T05:00:00Z"),
        parse_us("2026-12-23T18:00:00Z"),
        30.0,
    )


def test_a_plant_job_time_without_offset_is_refused() -> None:
    doc = plant_doc()
    doc["jobs"] = yaml.safe_load("- {job: J-1, product: PART, due: 2026-12-24T16:00:00}")
    with pytest.raises(PlantError) as refused:
        parse_plant(doc)
    message = "job 'J-1': due: RFC 3339 timestamp without a UTC offset: '2026-12-24T16:00:00'"
    assert message in str(refused.value)
