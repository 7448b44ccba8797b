"""A partner's EPCIS events as linetrace input: reads, genealogy, QC results, refusals, and the
events kept as received."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import orjson
import pytest

from ingest.epcis.capture import Places, capture, item_key, withdrawals_of
from ingest.epcis.eventhash import event_hash
from ingest.epcis.messages import decode_captured, encode_captured
from ingest.errors import InvalidInput
from ingest.plant import Plant
from ingest.timefmt import parse_us
from ingest.wire import (
    decode_aggregation,
    decode_qc,
    decode_report,
    decode_shipment,
    decode_transformation,
    message_type,
)

LOC = "urn:linetrace:loc:S1:L1:"
ITEM = "urn:epc:id:sgtin:0614141.000001.25"
KIT = "urn:epc:id:sgtin:0614141.000002.27"
TIME = "2021-03-01T12:00:00.250+01:00"
MAX = 1_000_000


def _event(kind: str = "ObjectEvent", station: str = "QC-1", **fields: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": kind,
        "eventTime": TIME,
        "eventTimeZoneOffset": "+01:00",
        "action": "OBSERVE",
    }
    event["readPoint"] = {"id": LOC + station}
    return {**event, **fields}


def _doc(*events: dict[str, Any]) -> dict[str, Any]:
    return {
        "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": TIME,
        "epcisBody": {"eventList": list(events)},
    }


def test_observe_at_a_known_read_point_is_a_captured_read_of_its_station(plant: Plant) -> None:
    event = _event(epcList=[ITEM, "https://id.gs1.org/01/00614141000012/21/7"], bizStep="inspecting")

    result = capture(_doc(event), Places.of(plant), "cap-1")

    [row] = result.rows
    assert row["event_id"] == event_hash(event)  # the document gave none
    assert (row["site"], row["line"], row["read_point"], row["capture_id"]) == (
        "S1",
        "L1",
        LOC + "QC-1",
        "cap-1",
    )
    assert orjson.loads(row["document"]) == {**event, "eventID": row["event_id"]}
    [read] = result.inputs[row["event_id"]]
    report = decode_report(read.payload, MAX)
    assert (read.topic, read.key, report.reader_id, report.captured) == ("reads", "R-QC", "R-QC", True)
    assert [(r.key, r.antenna, r.time_us) for r in report.reads] == [
        (ITEM, 1, parse_us(TIME)),
        ("gs1:01/00614141000012/21/7", 1, parse_us(TIME)),
    ]
    assert result.refused == [] and result.not_traced == []


def test_the_same_event_makes_the_same_report(plant: Plant) -> None:
    doc = _doc(_event(epcList=[ITEM]))
    first, again = capture(doc, Places.of(plant), "a"), capture(doc, Places.of(plant), "b")
    assert list(first.inputs.values()) == list(again.inputs.values())


@pytest.mark.parametrize(
    ("disposition", "result"),
    [
        pytest.param("non_conformant", "fail", id="non-conformant fails"),
        pytest.param("https://ref.gs1.org/cbv/Disp-conformant", "pass", id="conformant as a URI passes"),
    ],
)
def test_an_inspection_with_a_disposition_is_a_qc_result(plant: Plant, disposition: str, result: str) -> None:
    doc = _doc(_event(epcList=[ITEM], bizStep="cbv:BizStep-inspecting", disposition=disposition))

    [_read, qc] = next(iter(capture(doc, Places.of(plant), "c").inputs.values()))

    verdict = decode_qc(qc.payload, MAX)
    assert (qc.topic, verdict.item, verdict.station, verdict.result) == ("jobs", ITEM, "QC-1", result)


def test_aggregation_and_transformation_are_genealogy(plant: Plant) -> None:
    pack = _event(
        "AggregationEvent", "PACK-1", action="ADD", parentID=KIT, childEPCs=[ITEM], bizStep="packing"
    )
    unpack = {**pack, "action": "DELETE", "eventTime": "2021-03-02T12:00:00Z"}
    tf = _event(
        "TransformationEvent", "MACH-1", inputEPCList=[ITEM], outputEPCList=[KIT], transformationID="t-1"
    )
    del tf["action"]

    result = capture(_doc(pack, unpack, tf), Places.of(plant), "c")

    [[add], [delete], [made]] = result.inputs.values()
    agg = decode_aggregation(add.payload, MAX)
    assert (add.topic, add.key, agg.station, agg.parent, agg.children, agg.action) == (
        "aggregations",
        KIT,
        "PACK-1",
        KIT,
        (ITEM,),
        "add",
    )
    assert decode_aggregation(delete.payload, MAX).action == "delete"
    transformation = decode_transformation(made.payload, MAX)
    assert (transformation.transformation_id, transformation.inputs, transformation.outputs) == (
        "t-1",
        (ITEM,),
        (KIT,),
    )
    assert [row["epcs"] for row in result.rows] == [[ITEM, KIT], [ITEM, KIT], [ITEM, KIT]]


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        pytest.param(
            _event(epcList=[ITEM], station="NOWHERE"), "unknown_read_point", id="unknown read point"
        ),
        pytest.param(
            _event(epcList=[ITEM], bizStep="https://example.com/steps/polishing"),
            "unknown_biz_step",
            id="unknown business step",
        ),
    ],
)
def test_an_event_the_plant_cannot_place_is_refused_and_the_rest_taken(
    plant: Plant, event: dict[str, Any], reason: str
) -> None:
    good = _event(epcList=[KIT])

    result = capture(_doc(event, good), Places.of(plant), "c")

    assert [(r.index, r.event_id, r.reason) for r in result.refused] == [(0, event_hash(event), reason)]
    assert [row["event_id"] for row in result.rows] == [event_hash(good)]


@pytest.mark.parametrize(
    "event",
    [
        pytest.param(
            {
                "type": "TransactionEvent",
                "eventTime": TIME,
                "eventTimeZoneOffset": "+01:00",
                "action": "ADD",
                "bizTransactionList": [{"type": "po", "bizTransaction": "urn:x:1"}],
                "epcList": [ITEM],
            },
            id="transaction",
        ),
        pytest.param(_event(epcList=[ITEM], action="ADD", bizStep="commissioning"), id="commissioning"),
        pytest.param(_event(epcList=["https://id.gs1.org/01/00614141000012"]), id="a product, not an item"),
        pytest.param({**_event(epcList=[ITEM]), "readPoint": None}, id="no read point"),
    ],
)
def test_events_linetrace_does_not_trace_are_kept_as_received(plant: Plant, event: dict[str, Any]) -> None:
    event = {k: v for k, v in event.items() if v is not None}

    result = capture(_doc(event), Places.of(plant), "c")

    assert result.refused == []
    [row] = result.rows
    assert result.inputs[row["event_id"]] == []
    assert orjson.loads(row["document"])["type"] == event["type"]


@pytest.mark.parametrize(
    ("identifier", "key"),
    [
        pytest.param(ITEM, ITEM, id="EPC URI"),
        pytest.param(
            "urn:epc:class:lgtin:4012345.012345.998877", "urn:epc:class:lgtin:4012345.012345.998877", id="lot"
        ),
        pytest.param(
            "https://example.com/01/04012345123456/21/9?x=1",
            "gs1:01/04012345123456/21/9",
            id="Digital Link elsewhere",
        ),
        pytest.param("https://id.gs1.org/00/106141412345678908", "gs1:00/106141412345678908", id="SSCC"),
        pytest.param("urn:epc:raw:96.x3034257bf7194e4000001a85", "hex:3034257BF7194E4000001A85", id="raw"),
    ],
)
def test_item_keys_of_identifiers(identifier: str, key: str) -> None:
    assert item_key(identifier) == key


def test_a_class_pattern_is_no_item() -> None:
    with pytest.raises(InvalidInput, match="names no item"):
        item_key("urn:epc:idpat:sgtin:4012345.066666.*")


def test_captured_message_round_trips(plant: Plant) -> None:
    [row] = capture(_doc(_event(epcList=[ITEM])), Places.of(plant), "c").rows
    assert decode_captured(encode_captured(row)) == ("epcis_events", row)
    with pytest.raises(InvalidInput):
        decode_captured(b'{"event_id": "x"}')


DECLARATION = {"declarationTime": "2021-03-02T09:00:00Z", "reason": "incorrect_data",
               "correctiveEventIDs": ["urn:uuid:404d95fc-9457-4a51-bd6a-0bba133845a8"]}  # fmt: skip


@pytest.mark.parametrize("declaration_first", [False, True], ids=["original first", "declaration first"])
def test_an_event_declared_in_error_in_its_own_document_makes_nothing(
    plant: Plant, declaration_first: bool
) -> None:
    original = _event(epcList=[ITEM])
    declaring = {**original, "errorDeclaration": DECLARATION}
    events = [declaring, original] if declaration_first else [original, declaring]

    result = capture(_doc(*events), Places.of(plant), "c")

    [row] = result.rows
    assert orjson.loads(row["document"]) == {**original, "eventID": event_hash(original)}
    assert result.inputs == {row["event_id"]: []}
    [declared] = result.declared
    assert declared.index == (0 if declaration_first else 1)
    assert (declared.row["event_id"], declared.row["reason"], declared.row["corrective_event_ids"]) == (
        event_hash(original),  # the hash leaves errorDeclaration out: the original's id
        "incorrect_data",
        DECLARATION["correctiveEventIDs"],
    )
    assert declared.row["declaration_time"] == parse_us("2021-03-02T09:00:00Z")
    assert orjson.loads(declared.row["declaration"]) == DECLARATION
    assert decode_captured(encode_captured(declared.row)) == ("epcis_error_declarations", declared.row)


def test_a_declaration_alone_is_taken_for_the_job_to_match_with_what_is_stored(plant: Plant) -> None:
    declaring = _event(epcList=[ITEM], eventID="urn:uuid:1", errorDeclaration=DECLARATION)

    result = capture(_doc(declaring), Places.of(plant), "c")

    assert (result.rows, result.inputs, result.refused) == ([], {}, [])
    assert [d.row["event_id"] for d in result.declared] == ["urn:uuid:1"]


_DECODERS: dict[str, Callable[[bytes, int], Any]] = {
    "read_cycle": decode_report,
    "qc": decode_qc,
    "shipment": decode_shipment,
    "aggregation": decode_aggregation,
    "transformation": decode_transformation,
}
SHIPPED: dict[str, Any] = {
    "bizStep": "shipping",
    "bizTransactionList": [{"type": "desadv", "bizTransaction": "urn:linetrace:bt:D-1"}],
}


@pytest.mark.parametrize(
    ("event", "kinds"),
    [
        pytest.param(
            _event(epcList=[ITEM], bizStep="inspecting", disposition="non_conformant"),
            ["read_cycle", "qc"],
            id="inspection",
        ),
        pytest.param(_event(epcList=[ITEM], **SHIPPED), ["read_cycle", "shipment"], id="shipping"),
        pytest.param(
            _event("AggregationEvent", "PACK-1", action="ADD", parentID=KIT, childEPCs=[ITEM]),
            ["aggregation"],
            id="pack",
        ),
        pytest.param(
            _event("AggregationEvent", "PACK-1", action="DELETE", parentID=KIT, childEPCs=[ITEM]),
            ["aggregation"],
            id="unpack",
        ),
        pytest.param(
            _event("TransformationEvent", "MACH-1", inputEPCList=[ITEM], outputEPCList=[KIT]),
            ["transformation"],
            id="transformation",
        ),
    ],
)
def test_the_withdrawal_of_an_event_is_every_input_it_made_marked_withdrawn(
    plant: Plant, event: dict[str, Any], kinds: list[str]
) -> None:
    event = {**event, "eventID": "urn:uuid:1"}
    made = capture(_doc(event), Places.of(plant), "c").inputs["urn:uuid:1"]

    withdrawals = withdrawals_of(event, "urn:uuid:1", Places.of(plant))

    assert [message_type(i.payload) for i in made] == kinds
    assert [(i.topic, i.key) for i in withdrawals] == [(i.topic, i.key) for i in made]
    for withdrawal, original in zip(withdrawals, made, strict=True):
        decode = _DECODERS[message_type(original.payload)]
        taken_back, sent = decode(withdrawal.payload, MAX), decode(original.payload, MAX)
        assert taken_back.withdrawn and not sent.withdrawn
        assert taken_back == replace(sent, withdrawn=True)


@pytest.mark.parametrize(
    "event",
    [
        pytest.param(_event(epcList=[ITEM], readPoint={"id": LOC + "NOWHERE"}), id="unknown read point"),
        pytest.param(_event(epcList=[ITEM], action="ADD"), id="commissioning"),
    ],
)
def test_what_no_withdrawal_takes_back(plant: Plant, event: dict[str, Any]) -> None:
    assert withdrawals_of(event, "urn:uuid:1", Places.of(plant)) == []
