"""Shipments in EPCIS 2.0: bizTransactionList and destinationList on the shipping ObjectEvent of
the items they name (an event of their own where no dispatch pass saw the item), schema-valid;
and a partner's shipping event with them captured as a shipment, the export's own included."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from ingest.epcis.capture import Places, capture
from ingest.epcis.eventhash import event_hash
from ingest.epcis.mapping import Mapper, PassFact, ShipmentFact, document, transaction_uri
from ingest.epcis.validation import document_problems
from ingest.plant import Plant, parse_plant
from ingest.wire import decode_shipment
from tests.integration.scenario import PLANT

S = 1_000_000
T0 = 1_709_287_200_000_000  # 2024-03-01T10:00:00Z
PALLET = "urn:epc:id:sscc:0614141.1000000001"
LOT = "urn:epc:class:lgtin:0614141.000009.COIL-7"
SHIP_TO = "urn:epc:id:sgln:4012345.00001.0"
CUSTOMER = "urn:epc:id:pgln:4012345.00000"
MAX = 1_000_000


def _mapper() -> Mapper:
    doc: dict[str, Any] = copy.deepcopy(PLANT)
    doc["sites"][0]["lines"][0]["dispatch_stages"] = ["d"]
    return Mapper(parse_plant(doc))


def _shipment(item: str = PALLET, station: str = "D1", time_us: int = T0 + 10 * S, **kw: Any) -> ShipmentFact:
    fields: dict[str, Any] = {
        "shipment_id": "s1",
        "site": "SITE-1",
        "line": "LINE-1",
        "transactions": (("desadv", "DESADV-4711"), ("po", "urn:epcglobal:cbv:bt:4012345000009:PO-0815")),
        "destinations": (("owning_party", CUSTOMER), ("location", SHIP_TO)),
        **kw,
    }
    return ShipmentFact(item=item, station=station, time_us=time_us, **fields)


def test_a_shipment_goes_on_the_shipping_event_of_its_item() -> None:
    passes = [PassFact(item=PALLET, station=s, first_us=T0 + i * S) for i, s in enumerate(("C1", "D1"))]

    packed, shipped = _mapper().events(passes, [], [], [_shipment()])

    assert "bizTransactionList" not in packed
    assert shipped["disposition"] == "in_transit"
    assert shipped["bizTransactionList"] == [
        {"type": "desadv", "bizTransaction": "urn:linetrace:bt:DESADV-4711"},
        {"type": "po", "bizTransaction": "urn:epcglobal:cbv:bt:4012345000009:PO-0815"},
    ]
    assert shipped["destinationList"] == [
        {"type": "owning_party", "destination": CUSTOMER},
        {"type": "location", "destination": SHIP_TO},
    ]
    assert shipped["eventID"] == event_hash({k: v for k, v in shipped.items() if k != "eventID"})


def test_a_shipment_goes_on_the_dispatch_pass_nearest_to_it() -> None:
    passes = [PassFact(item=PALLET, station="D1", first_us=T0 + s * S) for s in (0, 100)]
    first, again = _mapper().events(passes, [], [], [_shipment(time_us=T0 + 90 * S)])
    assert "bizTransactionList" not in first and "bizTransactionList" in again


def test_a_shipment_no_dispatch_pass_saw_is_an_event_of_its_own() -> None:
    unseen = [_shipment(item=PALLET, station=""), _shipment(item=LOT, station="")]

    [event] = _mapper().events([PassFact(item=PALLET, station="C1", first_us=T0)], [], [], unseen)[1:]

    assert (event["type"], event["action"], event["bizStep"], event["disposition"]) == (
        "ObjectEvent",
        "OBSERVE",
        "shipping",
        "in_transit",
    )
    assert (event["epcList"], event["quantityList"]) == ([PALLET], [{"epcClass": LOT}])
    assert "readPoint" not in event and event["eventTime"] == "2024-03-01T10:00:10.000Z"
    assert [d["destination"] for d in event["destinationList"]] == [CUSTOMER, SHIP_TO]


def test_a_shipment_at_its_station_unseen_there_is_placed_at_it() -> None:
    [event] = _mapper().events([], [], [], [_shipment(item=PALLET, station="D1")])
    assert event["readPoint"] == {"id": "urn:linetrace:loc:SITE-1:LINE-1:D1"}


@pytest.mark.parametrize(
    ("reference", "uri"),
    [
        pytest.param("DESADV-4711", "urn:linetrace:bt:DESADV-4711", id="plain reference"),
        pytest.param("DESADV 47/11", "urn:linetrace:bt:DESADV%2047%2F11", id="quoted"),
        pytest.param(
            "urn:epcglobal:cbv:bt:4012345000009:1", "urn:epcglobal:cbv:bt:4012345000009:1", id="URI"
        ),
    ],
)
def test_transaction_uri(reference: str, uri: str) -> None:
    assert transaction_uri(reference) == uri


def test_a_document_with_shipments_is_schema_valid() -> None:
    passes = [PassFact(item=PALLET, station="D1", first_us=T0)]
    shipments = [
        _shipment(),
        _shipment(item=LOT, station="", transactions=(("", "PO 7"),), destinations=()),
        _shipment(item=PALLET, shipment_id="s2", destinations=(("https://example.com/sdt/dock", SHIP_TO),)),
    ]
    doc = document(_mapper().events(passes, [], [], shipments), T0 + 60 * S)
    assert document_problems(doc) == []
    assert len(doc["epcisBody"]["eventList"]) == 2


def _shipping_doc(**fields: Any) -> dict[str, Any]:
    event = {
        "type": "ObjectEvent",
        "eventTime": "2021-03-01T12:00:00.250+01:00",
        "eventTimeZoneOffset": "+01:00",
        "epcList": [PALLET],
        "action": "OBSERVE",
        "bizStep": "shipping",
        "disposition": "in_transit",
        "readPoint": {"id": "urn:linetrace:loc:S1:L1:PACK-1"},
        **fields,
    }
    return {
        "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2021-03-01T12:00:00Z",
        "epcisBody": {"eventList": [event]},
    }


def test_a_captured_shipping_event_with_transactions_is_a_shipment(plant: Plant) -> None:
    doc = _shipping_doc(
        bizTransactionList=[
            {"type": "desadv", "bizTransaction": "urn:linetrace:bt:DESADV%2047"},
            {"type": "cbv:BTT-po", "bizTransaction": "urn:epcglobal:cbv:bt:4012345000009:PO-0815"},
            {"bizTransaction": "urn:epcglobal:cbv:bt:4012345000009:X"},
        ],
        destinationList=[{"type": "https://ref.gs1.org/cbv/SDT-location", "destination": SHIP_TO}],
    )
    assert document_problems(doc) == []

    result = capture(doc, Places.of(plant), "c")

    [read, shipment] = next(iter(result.inputs.values()))
    ev = decode_shipment(shipment.payload, MAX)
    assert (read.topic, shipment.topic, shipment.key) == ("reads", "jobs", "DESADV 47")
    assert (ev.site, ev.line, ev.station, ev.items) == ("S1", "L1", "PACK-1", (PALLET,))
    assert ev.transactions == (
        ("desadv", "DESADV 47"),
        ("po", "urn:epcglobal:cbv:bt:4012345000009:PO-0815"),
        ("", "urn:epcglobal:cbv:bt:4012345000009:X"),
    )
    assert ev.destinations == (("location", SHIP_TO),)


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param({}, id="no transactions nor destinations"),
        pytest.param(
            {"bizStep": "packing", "bizTransactionList": [{"type": "po", "bizTransaction": SHIP_TO}]},
            id="not a shipping step",
        ),
    ],
)
def test_other_captured_observations_make_no_shipment(plant: Plant, fields: dict[str, Any]) -> None:
    [inputs] = capture(_shipping_doc(**fields), Places.of(plant), "c").inputs.values()
    assert [i.topic for i in inputs] == ["reads"]


def test_a_captured_shipment_linetrace_cannot_take_is_refused(plant: Plant) -> None:
    long = "urn:epcglobal:cbv:bt:4012345000009:" + "7" * 300
    doc = _shipping_doc(bizTransactionList=[{"type": "po", "bizTransaction": long}])
    result = capture(doc, Places.of(plant), "c")
    assert [(r.index, r.reason) for r in result.refused] == [(0, "bad_shipment")] and result.rows == []
