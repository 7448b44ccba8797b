"""The plant file's readers section."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from ingest.cli import main
from ingest.errors import PlantError
from ingest.plant import parse_plant
from readers.config import parse_readers
from tests.unit.factories import LINE, SITE, plant_doc


def _with(readers: Any) -> dict[str, Any]:
    doc = plant_doc()
    doc["readers"] = readers
    return doc


def test_readers_take_their_line_from_their_read_points_and_defaults() -> None:
    specs = parse_readers(parse_plant(_with([{"reader": "R-CUT", "kind": "llrp", "host": "10.0.0.5"}])))
    [spec] = specs
    assert (spec.reader, spec.kind, spec.site, spec.line) == ("R-CUT", "llrp", SITE, LINE)
    assert spec.options["port"] == 5084 and spec.cycle_us == 500_000


def test_no_readers_section_means_no_readers() -> None:
    assert parse_readers(parse_plant(plant_doc())) == []


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        pytest.param({"reader": "R-CUT", "kind": "telnet"}, "kind must be one of", id="unknown kind"),
        pytest.param(
            {"reader": "R-NONE", "kind": "zebra"}, "needs read points on exactly one line", id="no points"
        ),
        pytest.param({"reader": "R-CUT", "kind": "llrp"}, "needs ['host']", id="missing host"),
        pytest.param(
            {"reader": "R-CUT", "kind": "llrp", "host": "h", "speed": 3}, "unknown options", id="unknown"
        ),
        pytest.param(
            {"reader": "R-QC", "kind": "zebra", "listen": "8090"}, "listen must be host:port", id="listen"
        ),
        pytest.param({"reader": "R-QC", "kind": "zebra", "cycle_s": 0}, "cycle_s must be", id="cycle"),
        pytest.param(
            {"reader": "R-QC", "kind": "zebra", "heartbeat_s": 0}, "heartbeat_s must be", id="heartbeat"
        ),
        pytest.param(
            {"reader": "R-QC", "kind": "llrp", "host": "h", "heartbeat_s": 30},
            "unknown options",
            id="llrp beat",
        ),
    ],
)
def test_a_bad_reader_entry_is_refused(entry: dict[str, Any], problem: str) -> None:
    with pytest.raises(PlantError) as raised:
        parse_readers(parse_plant(_with([entry])))
    assert problem in str(raised.value)


def test_zebra_and_impinj_readers_have_a_heartbeat_interval() -> None:
    doc = _with([{"reader": "R-QC", "kind": "zebra", "heartbeat_s": 30}])
    [spec] = parse_readers(parse_plant(doc))
    assert spec.options["heartbeat_s"] == 30
    [spec] = parse_readers(parse_plant(_with([{"reader": "R-QC", "kind": "impinj", "url": "https://r"}])))
    assert spec.options["heartbeat_s"] == 30


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        pytest.param({}, "antenna 0 has no read point", id="the default antenna 0"),
        pytest.param({"antenna": 2}, "antenna 2 has no read point", id="an antenna without a read point"),
        pytest.param({"antenna": "1"}, "antenna must be a whole number", id="not a number"),
    ],
)
def test_a_fixed_scanner_needs_a_read_point_on_its_antenna(entry: dict[str, Any], problem: str) -> None:
    """R-QC's read point is on antenna 1: a scanner reporting on any other would have every
    scan dead-lettered as unknown_read_point."""
    with pytest.raises(PlantError) as raised:
        parse_readers(parse_plant(_with([{"reader": "R-QC", "kind": "barcode_tcp", **entry}])))
    assert problem in str(raised.value)
    [spec] = parse_readers(parse_plant(_with([{"reader": "R-QC", "kind": "barcode_tcp", "antenna": 1}])))
    assert spec.options["antenna"] == 1


@pytest.mark.parametrize("action", ["check", "run"])
def test_linetrace_reader_refuses_a_scanner_without_a_read_point_on_its_antenna(
    action: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plant_file = tmp_path / "plant.yaml"
    plant_file.write_text(yaml.safe_dump(_with([{"reader": "R-QC", "kind": "barcode_tcp"}])))
    assert main(["reader", action, "--plant", str(plant_file)]) == 2
    err = capsys.readouterr().err
    assert "'R-QC' antenna 0 has no read point" in err and "antennas 1" in err
