"""A recall scope's export: the captured events as received, in place of the events derived
from what they made, each once, in time order, by the end of the genealogy the scope follows."""

from __future__ import annotations

from typing import Any

import pytest

from ingest.epcis.mapping import document
from ingest.epcis.scope import identifiers, in_scope, scope_events
from ingest.epcis.validation import document_problems
from tests.unit.ingest.test_epcis_query import ITEM, KIT, LOT, OBSERVE, PACK

DERIVED = {**OBSERVE, "eventID": "ni:///derived", "eventTime": "2024-03-01T11:00:05.123Z"}
LATER = {**DERIVED, "eventID": "ni:///later", "eventTime": "2024-03-01T13:00:00.000Z"}
MAKE = {"type": "TransformationEvent", "eventID": "urn:uuid:3", "eventTime": "2024-03-01T10:00:00Z",
        "eventTimeZoneOffset": "+00:00", "inputQuantityList": [{"epcClass": LOT}], "outputEPCList": [ITEM],
        "bizStep": "commissioning"}  # fmt: skip
DECLARED = {**OBSERVE, "errorDeclaration": {"declarationTime": "2024-03-02T09:00:00Z"}}


def test_a_captured_event_is_exported_in_place_of_what_it_made() -> None:
    events = scope_events([LATER, DERIVED], [OBSERVE], {ITEM}, "up")
    assert events == [OBSERVE, LATER]  # as received, once, in time order
    assert events[0] is OBSERVE


def test_a_captured_event_declared_in_error_is_exported_with_its_declaration() -> None:
    events = scope_events([LATER], [DECLARED], {ITEM}, "up")
    assert events == [DECLARED, LATER]
    assert document_problems(document(events, 1_700_000_000_000_000)) == []


@pytest.mark.parametrize(
    ("event", "items", "direction", "exported"),
    [
        pytest.param(OBSERVE, {ITEM}, "up", True, id="an item's observation"),
        pytest.param(OBSERVE, {KIT}, "down", False, id="another item's observation"),
        pytest.param(PACK, {ITEM}, "up", True, id="up: the pack of a child in scope"),
        pytest.param(PACK, {ITEM}, "down", False, id="down: the pack of a child only"),
        pytest.param(PACK, {KIT}, "down", True, id="down: the pack of a parent in scope"),
        pytest.param(PACK, {LOT}, "up", True, id="up: a lot packed"),
        pytest.param(MAKE, {LOT}, "up", True, id="up: an input in scope"),
        pytest.param(MAKE, {ITEM}, "down", True, id="down: an output in scope"),
        pytest.param(MAKE, {ITEM}, "up", False, id="up: an output only"),
    ],
)
def test_which_captured_events_belong_to_a_scope(
    event: dict[str, Any], items: set[str], direction: str, exported: bool
) -> None:
    assert in_scope(event, items, direction) is exported


def test_identifiers_name_items_as_the_export_does() -> None:
    assert identifiers([ITEM, "gs1:01/09506000134352/21/7", "hex:ab12"]) == [
        "gs1:01/09506000134352/21/7",
        "hex:ab12",
        "https://id.gs1.org/01/09506000134352/21/7",
        "urn:epc:id:sgtin:0614141.000001.25",
        "urn:epc:raw:16.xAB12",
    ]
