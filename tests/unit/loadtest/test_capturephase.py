"""The bench's EPCIS capture document: valid against the EPCIS 2.0 schema, every item observed
at every station in route order at the station's read point, in time order, each event under
its CBV 2.0 event hash, and captured as reads of the bench's items at those stations."""

from __future__ import annotations

import orjson

from ingest.epc import encode_sgtin96, item_key
from ingest.epcis.capture import Places, capture
from ingest.epcis.eventhash import event_hash
from ingest.epcis.validation import document_problems
from ingest.timefmt import parse_us
from loadtest.capturephase import ITEM_GAP_US, STATION_GAP_US, capture_document
from loadtest.dataset import COMPANY, ITEM_REF, S, Shape, bench_plant

START_US = 1_700_000_000 * S + 123_456  # taken to the millisecond


def test_the_document_observes_every_item_at_every_station_in_order() -> None:
    plant = bench_plant(Shape())
    sent = capture_document(plant, first_serial=41, items=3, start_us=START_US)
    doc = orjson.loads(sent.body)
    events = doc["epcisBody"]["eventList"]
    stations = plant.lines[0].stations

    assert document_problems(doc) == []
    assert len(events) == len(sent.events) == 3 * len(stations)
    assert sent.items == [item_key(encode_sgtin96(COMPANY, ITEM_REF, n)) for n in (41, 42, 43)]
    times = [parse_us(e["eventTime"]) for e in events]
    assert times == sorted(times)
    assert sent.window == (START_US - 456, START_US - 456 + 2 * ITEM_GAP_US + 7 * STATION_GAP_US + 1)
    for item in sent.items:
        seen = [e["readPoint"]["id"] for e in events if e["epcList"] == [item]]
        assert seen == [s.read_point for s in stations]
    for event in events:
        assert event["eventID"] == event_hash({k: v for k, v in event.items() if k != "eventID"})
        assert sent.events[event["eventID"]] == event


def test_capture_takes_every_event_as_a_read_of_its_item() -> None:
    plant = bench_plant(Shape())
    sent = capture_document(plant, first_serial=1, items=2, start_us=START_US)

    result = capture(orjson.loads(sent.body), Places.of(plant), "cap-1")

    assert (result.refused, result.not_traced) == ([], [])
    assert sorted(result.inputs) == sorted(sent.events)
    assert all(len(inputs) == 1 and inputs[0].topic == "reads" for inputs in result.inputs.values())
