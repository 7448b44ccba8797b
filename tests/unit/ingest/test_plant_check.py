"""`linetrace plant check` on bad plant files: every problem with where it is, one exit code;
and every plant file of the repository still passes, against the published schema too."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import pytest
import yaml

import ingest
from ingest.cli import main
from ingest.plant import Plant, load_plant, parse_plant
from ingest.plantschema import plant_json_schema
from tests.unit.factories import plant_doc

Doc = dict[str, Any]
ROOT = Path(ingest.__file__).parent.parent
LINE = "sites[0].lines[0]"
WHERE = "site S1 line 'L1'"


def _line(doc: Doc) -> Doc:
    line: Doc = doc["sites"][0]["lines"][0]
    return line


def _rename(key: str, to: str, at: Callable[[Doc], Doc]) -> Callable[[Doc], None]:
    def change(doc: Doc) -> None:
        mapping = at(doc)
        mapping[to] = mapping.pop(key)

    return change


def _station(index: int) -> Callable[[Doc], Doc]:
    return lambda doc: _line(doc)["stations"][index]


def _dispatch_stage(doc: Doc) -> None:
    _line(doc)["dispatch_stage"] = ["pack"]


def _optinal(doc: Doc) -> None:
    _line(doc)["products"][1]["route"]["stages"][1] = {"stage": "qc", "optinal": True}


def _optional_as_text(doc: Doc) -> None:
    _line(doc)["products"][1]["route"]["stages"][1] = {"stage": "qc", "optional": "yes"}


def _stage_as_number(doc: Doc) -> None:
    _line(doc)["stages"][1] = 5


def _set(value: Any, *path: str | int) -> Callable[[Doc], None]:
    def change(doc: Doc) -> None:
        target: Any = doc
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return change


def _delete(*path: str | int) -> Callable[[Doc], None]:
    def change(doc: Doc) -> None:
        target: Any = doc
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]

    return change


STATIONS = ("sites", 0, "lines", 0, "stations")
BAD_PLANTS = [
    pytest.param(
        _rename("target_per_hour", "targt_per_hour", _station(3)),
        [f"{LINE}.stations[3]: unknown key 'targt_per_hour'; did you mean 'target_per_hour'?"],
        id="targt_per_hour",
    ),
    pytest.param(
        _rename("jobs", "job", lambda doc: doc),
        ["unknown key 'job'; did you mean 'jobs'?"],
        id="job for jobs",
    ),
    pytest.param(
        _dispatch_stage,
        [f"{LINE}: unknown key 'dispatch_stage'; did you mean 'dispatch_stages'?"],
        id="dispatch_stage",
    ),
    pytest.param(
        _optinal,
        [f"{LINE}.products[1].route.stages[1]: unknown key 'optinal'; did you mean 'optional'?"],
        id="optinal",
    ),
    pytest.param(
        _set("antenna-1", "sites", 0, "lines", 0, "stationz"),
        [f"{LINE}: unknown key 'stationz'; did you mean 'stations'?"],
        id="unknown key with a close name",
    ),
    pytest.param(
        _set("x", "sites", 0, "colour"),
        ["sites[0]: unknown key 'colour' (known keys: site, name, time_zone, lines)"],
        id="unknown key with no close name",
    ),
    pytest.param(
        _delete(*STATIONS, 4, "stage"), [f"{WHERE}: station 'QC-1' has no stage"], id="station without stage"
    ),
    pytest.param(
        _delete("sites", 0, "lines", 0, "products", 2, "product"),
        [f"{WHERE}: missing or empty 'product'"],
        id="product without its name",
    ),
    pytest.param(
        _optional_as_text,
        [f"{LINE}.products[1].route.stages[1].optional: input should be a valid boolean"],
        id="optional as text",
    ),
    pytest.param(
        _stage_as_number,
        [
            f"{LINE}.stages[1]: input should be a valid string",
            f"{WHERE}: station 'MACH-1' has unknown stage 'machine'",
            f"{WHERE}: station 'MACH-2' has unknown stage 'machine'",
            f"{WHERE}: product 'PART' route has unknown or no stages ['machine']",
        ],
        id="stage name as a number",
    ),
    pytest.param(
        _set("fast", *STATIONS, 0, "target_per_hour"),
        [f"{WHERE}: station 'CUT-1' target_per_hour must be a number >= 0"],
        id="target as text",
    ),
    pytest.param(
        _set("one", "sites", 0, "lines", 0, "read_points", 0, "antenna"),
        [
            f"{WHERE}: read point needs a reader name and an antenna number: "
            "{'antenna': 'one', 'reader': 'R-CUT', 'station': 'CUT-1'}"
        ],
        id="antenna as text",
    ),
]


@pytest.mark.parametrize(("change", "problems"), BAD_PLANTS)
def test_plant_check_lists_every_problem_with_where_it_is(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], change: Callable[[Doc], None], problems: list[str]
) -> None:
    doc = plant_doc()
    _line(doc)["stations"][3]["target_per_hour"] = 600
    change(doc)
    path = tmp_path / "plant.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")

    code = main(["plant", "check", str(path)])

    captured = capsys.readouterr()
    assert (code, captured.out) == (2, "")
    listed = "".join(f"\n  {path}: {problem}" for problem in problems)
    assert captured.err == f"linetrace: invalid plant file:{listed}\n"


def test_misspellings_anywhere_are_listed_at_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = plant_doc()
    _line(doc)["stations"][3]["targt_per_hour"] = 600
    for change in (_rename("jobs", "job", lambda d: d), _dispatch_stage, _optinal):
        change(doc)
    path = tmp_path / "plant.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")

    assert main(["plant", "check", str(path)]) == 2

    assert [line.split("unknown key ")[1][:16] for line in capsys.readouterr().err.splitlines()[1:]] == [
        "'targt_per_hour'",
        "'optinal'; did y",
        "'dispatch_stage'",
        "'job'; did you m",
    ]


@pytest.mark.parametrize(
    ("name", "make", "message"),
    [
        pytest.param("absent.yaml", None, "cannot read: No such file or directory", id="missing file"),
        pytest.param("plants", "dir", "cannot read: Is a directory", id="a directory"),
        pytest.param(
            "broken.yaml",
            "sites: [\n  - {site: S1\n",
            "cannot parse: expected the node content, but found '-' at line 2 column 3",
            id="bad YAML",
        ),
        pytest.param("latin1.yaml", b"sites: [\xe9]\n", "cannot read: not UTF-8 text", id="not UTF-8"),
    ],
)
def test_a_file_that_cannot_be_read_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, make: Any, message: str
) -> None:
    path = tmp_path / name
    if make == "dir":
        path.mkdir()
    elif isinstance(make, bytes):
        path.write_bytes(make)
    elif make is not None:
        path.write_text(make, encoding="utf-8")

    code = main(["plant", "check", str(path)])

    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(f"linetrace: {path}: {message}")
    assert err.count("\n") == 1


def test_an_unreadable_file_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "secret.yaml"
    path.write_text("sites: []\n", encoding="utf-8")
    path.chmod(0)
    try:
        path.read_text()
    except PermissionError:
        pass
    else:  # root reads any file (as CI runs): the file system refuses as it would refuse a user
        read_text = Path.read_text

        def refused(self: Path, *args: Any, **kwargs: Any) -> str:
            if self == path:
                raise PermissionError(13, "Permission denied", str(self))
            return read_text(self, *args, **kwargs)

        monkeypatch.setattr(Path, "read_text", refused)

    assert main(["plant", "check", str(path)]) == 2
    assert capsys.readouterr().err == f"linetrace: {path}: cannot read: Permission denied\n"


def _repository_plants() -> list[Any]:
    from loadtest.dataset import Shape, bench_plant
    from tests.unit.property.test_arrival_order import PLANT as ARRIVAL_PLANT

    files = [
        *sorted((ROOT / "ingest" / "plants").glob("*.yaml")),
        ROOT / "k8s" / "base" / "config" / "plant.yaml",
    ]
    return [
        *(pytest.param(load_plant(f), id=str(f.relative_to(ROOT))) for f in files),
        pytest.param(parse_plant(plant_doc()), id="tests/unit/factories.py"),
        pytest.param(bench_plant(Shape()), id="loadtest/dataset.py"),
        pytest.param(ARRIVAL_PLANT, id="tests/unit/property/test_arrival_order.py"),
    ]


@pytest.mark.parametrize("plant", _repository_plants())
def test_every_plant_of_the_repository_is_valid_against_the_published_schema(plant: Plant) -> None:
    jsonschema.Draft202012Validator(plant_json_schema()).validate(orjson.loads(plant.to_json()))


def test_plant_schema_prints_the_json_schema(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plant", "schema"]) == 0

    schema = orjson.loads(capsys.readouterr().out)
    jsonschema.Draft202012Validator.check_schema(schema)
    line = schema["$defs"]["Line"]
    assert line["additionalProperties"] is False
    assert "dispatch_stages" in line["properties"]
    with pytest.raises(jsonschema.ValidationError, match="'targt_per_hour' was unexpected"):
        doc = plant_doc()
        _line(doc)["stations"][0]["targt_per_hour"] = 1
        jsonschema.validate(doc, schema)
