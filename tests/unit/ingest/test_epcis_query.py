"""The EPCIS 2.0 REST query's parameters, matcher and pages."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from ingest.epcis.query import (
    collection,
    collection_page,
    for_epc,
    matches,
    own_members,
    page,
    parse_query,
    query_document,
    without_echoes,
)
from ingest.epcis.validation import document_problems
from ingest.errors import InvalidInput
from ingest.plant import parse_plant
from tests.integration.scenario import LINE, PLANT, SITE

ITEM = "urn:epc:id:sgtin:0614141.000001.25"
KIT = "urn:epc:id:sgtin:0614141.000002.27"
POINT = "urn:epc:id:sgln:0614141.00777.QC"
PLACE = "urn:epc:id:sgln:0614141.00777.0"
LOT = "urn:epc:class:lgtin:0614141.000009.COIL-7"

OBSERVE = {"type": "ObjectEvent", "eventID": "urn:uuid:1", "eventTime": "2024-03-01T12:00:05.123+01:00",
           "eventTimeZoneOffset": "+01:00", "epcList": [ITEM], "action": "OBSERVE",
           "bizStep": "https://ref.gs1.org/cbv/BizStep-inspecting", "disposition": "in_progress",
           "readPoint": {"id": POINT}, "bizLocation": {"id": PLACE}}  # fmt: skip
PACK = {"type": "AggregationEvent", "eventID": "urn:uuid:2", "eventTime": "2024-03-01T11:10:00Z",
        "eventTimeZoneOffset": "+00:00", "parentID": KIT, "childEPCs": [ITEM], "action": "ADD",
        "bizStep": "packing", "childQuantityList": [{"epcClass": LOT, "quantity": 2}]}  # fmt: skip


@pytest.mark.parametrize(
    ("params", "answered"),
    [
        pytest.param({}, ["urn:uuid:1", "urn:uuid:2"], id="everything"),
        pytest.param({"eventType": "AggregationEvent"}, ["urn:uuid:2"], id="event type"),
        pytest.param({"EQ_bizStep": "inspecting"}, ["urn:uuid:1"], id="step as a word matches the URI"),
        pytest.param({"EQ_disposition": "cbv:Disp-in_progress"}, ["urn:uuid:1"], id="disposition"),
        pytest.param({"EQ_readPoint": POINT}, ["urn:uuid:1"], id="read point"),
        pytest.param({"MATCH_epc": ITEM}, ["urn:uuid:1", "urn:uuid:2"], id="an EPC, also as a child"),
        pytest.param({"MATCH_parentID": KIT}, ["urn:uuid:2"], id="parent"),
        pytest.param({"MATCH_anyEPC": KIT}, ["urn:uuid:2"], id="any EPC"),
        pytest.param({"EQ_bizLocation": PLACE}, ["urn:uuid:1"], id="business location"),
        pytest.param({"MATCH_epcClass": LOT}, ["urn:uuid:2"], id="a class, also as children's"),
        pytest.param({"MATCH_epcClass": ITEM}, [], id="an instance is no class"),
        pytest.param({"GE_eventTime": "2024-03-01T11:05:00Z"}, ["urn:uuid:2"], id="from (UTC)"),
        pytest.param({"LT_eventTime": "2024-03-01T11:00:05.123Z"}, [], id="until, exclusive"),
        pytest.param(
            {"eventType": "ObjectEvent|AggregationEvent", "MATCH_epc": f"{KIT},{ITEM}"},
            ["urn:uuid:1", "urn:uuid:2"],
            id="lists",
        ),
    ],
)
def test_matches(params: dict[str, str], answered: list[str]) -> None:
    query = parse_query(params)
    assert [e["eventID"] for e in (OBSERVE, PACK) if matches(e, query)] == answered


@pytest.mark.parametrize(
    "params",
    [
        pytest.param({"eventType": "SensorEvent"}, id="unknown event type"),
        pytest.param({"GE_eventTime": "yesterday"}, id="bad time"),
        pytest.param({"perPage": "0"}, id="no page"),
        pytest.param({"nextPageToken": "nonsense"}, id="forged token"),
        pytest.param({"EQ_action": "ADD"}, id="unknown parameter"),
    ],
)
def test_bad_parameters_are_refused(params: dict[str, str]) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_query(params)
    assert refused.value.reason == "bad_parameter"


def test_pages_follow_each_other_in_time_order() -> None:
    events: list[dict[str, Any]] = [
        {**OBSERVE, "eventID": f"urn:uuid:{i}", "eventTime": f"2024-03-01T12:00:0{9 - i}Z"} for i in range(5)
    ]
    first, token = page(events, parse_query({"perPage": "2"}))
    second, again = page(events, parse_query({"perPage": "2", "nextPageToken": token}))
    last, end = page(events, parse_query({"perPage": "2", "nextPageToken": again}))
    assert [e["eventID"] for e in first + second + last] == [f"urn:uuid:{i}" for i in (4, 3, 2, 1, 0)]
    assert end == ""


def test_a_captured_event_is_answered_once() -> None:
    derived = {**OBSERVE, "eventID": "ni:///derived", "eventTime": "2024-03-01T11:00:05.123Z"}
    other = {**derived, "epcList": [KIT]}
    assert without_echoes([derived, other], [OBSERVE]) == [other]


def test_the_answer_is_a_valid_query_document() -> None:
    assert document_problems(query_document([OBSERVE, PACK], 1_700_000_000_000_000)) == []


def test_an_epc_s_events_are_those_naming_it_anywhere() -> None:
    query = for_epc({"eventType": "AggregationEvent"}, KIT)
    assert query == parse_query({"eventType": "AggregationEvent", "MATCH_anyEPC": KIT})
    assert [e["eventID"] for e in (OBSERVE, PACK) if matches(e, for_epc({}, ITEM))] == [
        "urn:uuid:1",
        "urn:uuid:2",
    ]
    with pytest.raises(InvalidInput):
        for_epc({"MATCH_anyEPC": ITEM}, KIT)


def test_own_members_are_those_of_the_stations_in_scope() -> None:
    doc: dict[str, Any] = copy.deepcopy(PLANT)
    doc["sites"][0]["lines"][0]["biz_steps"] = {"a": "commissioning", "b": "inspecting", "c": "assembling"}
    plant = parse_plant(doc)
    members = own_members(plant, SITE, LINE)
    assert members["eventTypes"] == {"ObjectEvent", "AggregationEvent", "TransformationEvent"}
    assert members["bizSteps"] == {"commissioning", "inspecting", "assembling", "other", "unpacking"}
    assert members["readPoints"] == {f"urn:linetrace:loc:{SITE}:{LINE}:{s}" for s in ("A1", "B1", "C1", "D1")}
    assert own_members(plant, "ELSEWHERE", "") == {
        "eventTypes": set(),
        "bizSteps": set(),
        "readPoints": set(),
    }


def test_collections_come_a_page_at_a_time() -> None:
    members = {"b", "a", "c"}
    first, token = collection_page(members, {"perPage": "2"})
    rest, end = collection_page(members, {"perPage": "2", "nextPageToken": token})
    assert (first, rest, end) == (["a", "b"], ["c"], "")
    assert collection(first) == {
        "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
        "type": "Collection",
        "member": ["a", "b"],
    }
    with pytest.raises(InvalidInput):
        collection_page(members, {"eventType": "ObjectEvent"})
