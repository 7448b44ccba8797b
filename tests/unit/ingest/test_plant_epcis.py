"""What the plant file says for EPCIS: read points, business locations, business steps, time zones."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from ingest.errors import PlantError
from ingest.plant import load_plant, parse_plant
from tests.integration.scenario import PLANT


def _plant(**changes: Any) -> dict[str, Any]:
    doc = copy.deepcopy(PLANT)
    site = doc["sites"][0]
    line = site["lines"][0]
    for key, value in changes.items():
        target = {"site": site, "line": line, "station": line["stations"][0], "doc": doc}[key.split("__")[0]]
        target[key.split("__")[1]] = value
    return doc


def test_defaults_derive_locations_and_steps() -> None:
    plant = parse_plant(_plant())
    line = plant.lines[0]
    a1 = plant.stations()["A1"]
    assert (a1.read_point, a1.biz_location) == (
        "urn:linetrace:loc:SITE-1:LINE-1:A1",
        "urn:linetrace:loc:SITE-1:LINE-1",
    )
    assert dict(line.biz_steps) == {"a": "other", "b": "other", "c": "other", "d": "other"}
    assert line.time_zone == "UTC"


def test_plant_names_its_own() -> None:
    doc = _plant(
        doc__epcis={"location_prefix": "https://plant.example.com/loc/"},
        site__time_zone="Europe/Berlin",
        line__biz_steps={"c": "assembling", "d": "https://plant.example.com/steps/burn-in"},
        line__dispatch_stages=["d"],
        station__read_point="urn:epc:id:sgln:0614141.00777.ASSY1",
    )
    plant = parse_plant(doc)
    line = plant.lines[0]
    assert plant.stations()["A1"].read_point == "urn:epc:id:sgln:0614141.00777.ASSY1"
    assert plant.stations()["B1"].read_point == "https://plant.example.com/loc/SITE-1/LINE-1/B1"
    assert line.biz_steps["c"] == "assembling" and line.biz_steps["d"].endswith("burn-in")
    assert line.time_zone == "Europe/Berlin"


def test_a_dispatch_stage_ships_by_default() -> None:
    assert parse_plant(_plant(line__dispatch_stages=["d"])).lines[0].biz_steps["d"] == "shipping"


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        pytest.param(
            {"line__biz_steps": {"c": "assembly"}}, "must be a CBV 2.0 word (accepting, arriving", id="word"
        ),
        pytest.param({"line__biz_steps": {"z": "packing"}}, "biz_steps names unknown stage 'z'", id="stage"),
        pytest.param({"site__time_zone": "Mars/Olympus"}, "time_zone must be an IANA name", id="zone"),
        pytest.param({"station__read_point": "A1 dock"}, "read_point must be an SGLN", id="read point"),
        pytest.param({"doc__epcis": {"prefix": "x"}}, "unknown key 'prefix'", id="unknown key"),
    ],
)
def test_refused(change: dict[str, Any], problem: str) -> None:
    with pytest.raises(PlantError, match=None) as err:
        parse_plant(_plant(**change))
    assert problem in str(err.value)


def test_demo_plant_names_business_steps() -> None:
    line = load_plant("ingest/plants/demo.yaml").lines[0]
    assert line.biz_steps["qc"] == "inspecting" and line.time_zone == "Europe/Berlin"
