"""A shipment (items leaving the plant under a despatch advice or order, to a destination): its
wire form, what is refused and why, the CLI's ``TYPE:VALUE`` words, the poster's checks against
the plant, and stage 1's rows and dead letters."""

from __future__ import annotations

import dataclasses
from typing import Any

import orjson
import pytest

from ingest.cli.events import typed
from ingest.errors import InvalidInput
from ingest.plant import Plant
from ingest.posting import EventPoster
from ingest.schema import DESTINATION_TYPES, SHIPMENT_TYPES, Shipment
from ingest.settings import Settings
from ingest.wire import decode_shipment, encode_shipment
from streams.stage1 import Stage1
from tests.unit.factories import LINE, SITE, T0, kit
from tests.unit.ingest.test_names import Recorder

MAX = 1_000_000
SHIP_TO = "urn:epc:id:sgln:4012345.00001.0"
CUSTOMER = "urn:epc:id:pgln:4012345.00000"
PALLET = "urn:epc:id:sscc:0614141.1234567890"
BT = "urn:epcglobal:cbv:bt:4012345000009:D-1"

SHIPMENT = Shipment(
    site=SITE,
    line=LINE,
    station="PACK-1",
    items=(PALLET, kit(1)),
    transactions=(("desadv", "DESADV-4711"), ("po", "urn:epcglobal:cbv:bt:4012345000009:PO-0815")),
    destinations=(("owning_party", CUSTOMER), ("location", SHIP_TO)),
    time_us=T0,
)


def _changed(**changes: Any) -> bytes:
    obj = orjson.loads(encode_shipment(SHIPMENT))
    obj.update(changes)
    return orjson.dumps({k: v for k, v in obj.items() if v is not None})


def test_shipment_round_trip() -> None:
    payload = encode_shipment(SHIPMENT)
    assert orjson.loads(payload)["transactions"][0] == {"type": "desadv", "id": "DESADV-4711"}
    assert decode_shipment(payload, MAX) == SHIPMENT


def test_an_untold_station_and_transaction_type_are_empty() -> None:
    ev = decode_shipment(_changed(station=None, transactions=[{"id": "DESADV-1"}]), MAX)
    assert (ev.station, ev.transactions) == ("", (("", "DESADV-1"),))


def test_items_and_pairs_named_twice_count_once() -> None:
    payload = _changed(items=[PALLET, PALLET], destinations=[{"type": "location", "id": SHIP_TO}] * 2)
    ev = decode_shipment(payload, MAX)
    assert (ev.items, ev.destinations) == ((PALLET,), (("location", SHIP_TO),))


@pytest.mark.parametrize(
    ("payload", "detail"),
    [
        pytest.param(_changed(items=[]), "items must be a non-empty list", id="no items"),
        pytest.param(_changed(items="x"), "items must be a non-empty list", id="items not a list"),
        pytest.param(
            _changed(transactions=[], destinations=[]),
            "needs a transaction",
            id="neither reference nor place",
        ),
        pytest.param(
            _changed(destinations=[{"type": "location", "id": "DOCK 7"}]),
            "id must be a URI",
            id="place no URI",
        ),
        pytest.param(
            _changed(destinations=[{"id": SHIP_TO}]), "type must be one of owning_party", id="untyped place"
        ),
        pytest.param(
            _changed(transactions=[{"type": "invoice", "id": "I-1"}]),
            "type must be one of desadv",
            id="bad type",
        ),
        pytest.param(
            _changed(transactions=[{"type": "po", "id": "P" * 257}]), "at most 256", id="reference too long"
        ),
        pytest.param(_changed(transactions=[{"type": "po"}]), "id must be non-empty", id="reference missing"),
        pytest.param(_changed(transactions={"po": "P-1"}), "must be a list", id="transactions not a list"),
        pytest.param(_changed(transactions=["P-1"]), "type must be one of", id="transaction not an object"),
    ],
)
def test_a_bad_shipment_is_refused_with_its_reason(payload: bytes, detail: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        decode_shipment(payload, MAX)
    assert refused.value.reason == "bad_shipment"
    assert detail in refused.value.detail


def test_a_shipment_needs_item_keys_and_a_time() -> None:
    with pytest.raises(InvalidInput, match="not an item key") as refused:
        decode_shipment(_changed(items=["PALLET-1"]), MAX)
    assert refused.value.reason == "bad_item_key"
    with pytest.raises(InvalidInput) as untimed:
        decode_shipment(_changed(time=None), MAX)
    assert untimed.value.reason == "missing_field"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("DESADV-4711", ("desadv", "DESADV-4711"), id="bare reference"),
        pytest.param("po:PO-0815", ("po", "PO-0815"), id="typed reference"),
        pytest.param("inv:INV:2026:7", ("inv", "INV:2026:7"), id="a colon in the reference"),
        pytest.param(BT, ("desadv", BT), id="URI reference"),
    ],
)
def test_cli_shipment_words(text: str, expected: tuple[str, str]) -> None:
    assert typed(text, SHIPMENT_TYPES, "desadv") == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(SHIP_TO, ("location", SHIP_TO), id="bare URI is the location"),
        pytest.param("owning_party:" + CUSTOMER, ("owning_party", CUSTOMER), id="the customer"),
    ],
)
def test_cli_destination_words(text: str, expected: tuple[str, str]) -> None:
    assert typed(text, DESTINATION_TYPES, "location") == expected


def test_the_poster_sends_a_shipment_on_the_jobs_topic_keyed_by_its_first_reference(plant: Plant) -> None:
    producer = Recorder()
    poster = EventPoster(Settings(), producer=producer, plant=lambda: plant)  # type: ignore[arg-type]
    event = poster.validate("shipment", encode_shipment(SHIPMENT))
    assert (event.topic, event.key, event.items) == (poster.topics.jobs, "DESADV-4711", SHIPMENT.items)
    poster.publish(event)
    assert producer.sent == [(poster.topics.jobs, encode_shipment(SHIPMENT))]


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        pytest.param({"station": "DOCK-9"}, "unknown_station", id="unknown station"),
        pytest.param({"line": "L9", "station": ""}, "unknown_line", id="unknown line"),
    ],
)
def test_the_poster_refuses_a_shipment_the_plant_cannot_place(
    plant: Plant, changes: dict[str, Any], reason: str
) -> None:
    producer = Recorder()
    poster = EventPoster(Settings(), producer=producer, plant=lambda: plant)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput) as refused:
        poster.post("shipment", encode_shipment(dataclasses.replace(SHIPMENT, **changes)))
    assert refused.value.reason == reason and producer.sent == []


def test_stage1_records_a_shipment_with_each_item(plant: Plant) -> None:
    stage1 = Stage1(Settings(partitions=4), plant)
    batch = stage1.new_batch()

    stage1.take_job_event(batch, encode_shipment(SHIPMENT), ("lt.jobs", 0, 5))

    rows = batch.trace["shipments"]
    assert [r["item"] for r in rows] == [PALLET, kit(1)]
    assert rows[0] == {
        "item": PALLET,
        "shipment_id": rows[1]["shipment_id"],
        "site": SITE,
        "line": LINE,
        "station": "PACK-1",
        "time": T0,
        "transaction_types": ["desadv", "po"],
        "transactions": ["DESADV-4711", "urn:epcglobal:cbv:bt:4012345000009:PO-0815"],
        "destination_types": ["owning_party", "location"],
        "destinations": [CUSTOMER, SHIP_TO],
    }
    assert batch.dead_letters == []
    again = stage1.new_batch()
    stage1.take_job_event(again, encode_shipment(SHIPMENT), ("lt.jobs", 0, 6))
    assert again.trace["shipments"] == rows  # posted again, the same rows replace themselves


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        pytest.param(_changed(destinations=[{"type": "location", "id": "DOCK 7"}]), "bad_shipment", id="bad"),
        pytest.param(_changed(station="DOCK-9"), "unknown_station", id="unknown station"),
    ],
)
def test_stage1_dead_letters_a_bad_shipment(plant: Plant, payload: bytes, reason: str) -> None:
    stage1 = Stage1(Settings(partitions=4), plant)
    batch = stage1.new_batch()

    stage1.take_job_event(batch, payload, ("lt.jobs", 0, 5))

    assert batch.trace["shipments"] == []
    [dead] = [orjson.loads(d) for d in batch.dead_letters]
    assert dead["reason"] == reason


def test_the_poster_refuses_a_withdrawal_only_the_epcis_capture_sends(plant: Plant) -> None:
    poster = EventPoster(Settings(), producer=Recorder(), plant=lambda: plant)  # type: ignore[arg-type]
    withdrawn = dataclasses.replace(SHIPMENT, withdrawn=True)
    assert decode_shipment(encode_shipment(withdrawn), 1 << 20) == withdrawn

    with pytest.raises(InvalidInput, match="only by the EPCIS capture") as refused:
        poster.validate("shipment", encode_shipment(withdrawn))
    assert refused.value.reason == "bad_field"
    assert b"withdrawn" not in encode_shipment(SHIPMENT)  # sent only when set
