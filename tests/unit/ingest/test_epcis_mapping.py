"""Stored passes and links as EPCIS 2.0 events: exact events, and every document schema-valid."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from ingest.epcis import capture
from ingest.epcis.eventhash import event_hash
from ingest.epcis.mapping import LinkFact, Mapper, PassFact, QcFact, document, event_time, identifier
from ingest.epcis.validation import document_problems
from ingest.plant import parse_plant
from ingest.wire import decode_transformation
from tests.integration.scenario import PLANT

S = 1_000_000
T0 = 1_709_287_200_000_000  # 2024-03-01T10:00:00Z
ITEM = "urn:epc:id:sgtin:0614141.000001.7"
KIT = "urn:epc:id:sgtin:0614141.000002.4"
PALLET = "urn:epc:id:sscc:0614141.1000000001"
LOT = "urn:epc:class:lgtin:0614141.000009.COIL-7"


def _mapper() -> Mapper:
    doc: dict[str, Any] = copy.deepcopy(PLANT)
    site = doc["sites"][0]
    site["time_zone"] = "Europe/Berlin"
    line = site["lines"][0]
    line["biz_steps"] = {"a": "commissioning", "b": "inspecting", "c": "assembling"}
    line["dispatch_stages"] = ["d"]
    line["stations"][2]["read_point"] = "urn:epc:id:sgln:0614141.00777.ASSY1"
    return Mapper(parse_plant(doc))


def test_pass_becomes_object_event() -> None:
    event = _mapper().object_event(PassFact(item=ITEM, station="C1", first_us=T0 + 123_456), "in_progress")
    expected: dict[str, Any] = {
        "type": "ObjectEvent",
        "eventTime": "2024-03-01T10:00:00.123Z",
        "eventTimeZoneOffset": "+01:00",
        "epcList": [ITEM],
        "action": "OBSERVE",
        "bizStep": "assembling",
        "disposition": "in_progress",
        "readPoint": {"id": "urn:epc:id:sgln:0614141.00777.ASSY1"},
        "bizLocation": {"id": "urn:linetrace:loc:SITE-1:LINE-1"},
    }
    assert event == {"type": "ObjectEvent", "eventID": event_hash(expected), **expected}


@pytest.mark.parametrize(
    ("station", "qc", "disposition"),
    [
        pytest.param("B1", [], "in_progress", id="in progress"),
        pytest.param(
            "B1",
            [QcFact(item=ITEM, station="B1", result="fail", time_us=T0 + 5 * S)],
            "non_conformant",
            id="failed qc",
        ),
        pytest.param(
            "B1",
            [QcFact(item=ITEM, station="B1", result="pass", time_us=T0 + 5 * S)],
            "in_progress",
            id="passed qc",
        ),
        pytest.param("D1", [], "in_transit", id="dispatched"),
    ],
)
def test_disposition(station: str, qc: list[QcFact], disposition: str) -> None:
    (event,) = _mapper().events([PassFact(item=ITEM, station=station, first_us=T0)], [], qc)
    assert event["disposition"] == disposition


def test_summer_time_offset() -> None:
    assert event_time(T0 + 120 * 86_400 * S, "Europe/Berlin") == ("2024-06-29T10:00:00.000Z", "+02:00")


def test_pack_and_unpack_become_aggregation_events() -> None:
    links = [
        LinkFact(parent=PALLET, child=KIT, station="D1", time_us=T0),
        LinkFact(parent=PALLET, child=ITEM, station="D1", time_us=T0),
    ]
    links.append(LinkFact(parent=PALLET, child=KIT, station="D1", time_us=T0 + S, action="delete"))
    add, delete = _mapper().events([], links)
    assert {k: add[k] for k in ("parentID", "childEPCs", "action", "bizStep")} == {
        "parentID": PALLET,
        "childEPCs": [ITEM, KIT],
        "action": "ADD",
        "bizStep": "shipping",
    }
    assert (delete["action"], delete["childEPCs"], delete["bizStep"]) == ("DELETE", [KIT], "unpacking")


def test_transformation_of_a_lot() -> None:
    links = [
        LinkFact(parent=out, child=LOT, station="A1", time_us=T0, kind="transformation")
        for out in (ITEM, KIT)
    ]
    (event,) = _mapper().events([], links)
    assert event["inputQuantityList"] == [{"epcClass": LOT}]
    assert event["outputEPCList"] == [ITEM, KIT]
    assert event["bizStep"] == "commissioning"


def test_transformations_are_grouped_by_their_id_and_carry_it() -> None:
    def made(out: str, source: str, tf_id: str) -> LinkFact:
        return LinkFact(
            parent=out, child=source, station="A1", time_us=T0, kind="transformation", transformation_id=tf_id
        )

    links = [
        made(ITEM, LOT, "TF 1"),
        made(KIT, LOT, "urn:uuid:7e6f1c2a-1b3d-4e5f-8a9b-0c1d2e3f4a5b"),
        made(PALLET, LOT, ""),
    ]

    events = _mapper().events([], links)

    assert sorted((e["outputEPCList"], e.get("transformationID")) for e in events) == [
        ([ITEM], "urn:linetrace:transformation:TF%201"),  # one at the same station and time
        ([KIT], "urn:uuid:7e6f1c2a-1b3d-4e5f-8a9b-0c1d2e3f4a5b"),
        ([PALLET], None),  # stored before linetrace kept the id: by station and time
    ]
    assert document_problems(document(events, T0)) == []


def test_a_transformation_id_exported_comes_back_as_posted() -> None:
    event = _mapper().events([], [LinkFact(parent=ITEM, child=LOT, station="A1", time_us=T0,
                                           kind="transformation", transformation_id="TF 1")])[0]  # fmt: skip
    [made] = capture.capture(document([event], T0), capture.Places.of(parse_plant(PLANT)), "c").inputs[
        event["eventID"]
    ]
    assert decode_transformation(made.payload, 1 << 20).transformation_id == "TF 1"


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        pytest.param(ITEM, (ITEM, False), id="epc"),
        pytest.param(LOT, (LOT, True), id="lot"),
        pytest.param(
            "gs1:01/00614141000012/21/7", ("https://id.gs1.org/01/00614141000012/21/7", False), id="gs1"
        ),
        pytest.param(
            "gs1:01/00614141000012/10/L1", ("https://id.gs1.org/01/00614141000012/10/L1", True), id="lot"
        ),
        pytest.param("hex:e2801160", ("urn:epc:raw:32.xE2801160", False), id="raw"),
    ],
)
def test_identifier(item: str, expected: tuple[str, bool]) -> None:
    assert identifier(item) == expected


def test_document_of_every_kind_is_schema_valid() -> None:
    mapper = _mapper()
    passes = [
        PassFact(item=ITEM, station=s, first_us=T0 + i * S) for i, s in enumerate(("A1", "B1", "C1", "D1"))
    ]
    passes.append(PassFact(item="gs1:01/00614141000012/21/8", station="A1", first_us=T0))
    links = [
        LinkFact(parent=KIT, child=ITEM, station="C1", time_us=T0 + 3 * S),
        LinkFact(parent=PALLET, child=KIT, station="D1", time_us=T0 + 4 * S),
    ]
    links += [LinkFact(parent=PALLET, child=KIT, station="D1", time_us=T0 + 5 * S, action="delete")]
    links += [
        LinkFact(parent=out, child=LOT, station="A1", time_us=T0, kind="transformation") for out in (ITEM,)
    ]
    doc = document(
        mapper.events(passes, links, [QcFact(item=ITEM, station="B1", result="fail", time_us=T0 + 2 * S)]),
        T0 + 60 * S,
    )
    assert document_problems(doc) == []
    assert [e["type"] for e in doc["epcisBody"]["eventList"]].count("ObjectEvent") == 5
    assert doc["creationDate"] == "2024-03-01T10:01:00.000Z" and doc["schemaVersion"] == "2.0"
