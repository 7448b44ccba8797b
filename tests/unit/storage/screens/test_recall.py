"""The recall screen's own figures: every shipment and destination of a scope, and its CSV."""

from __future__ import annotations

from typing import Any

from storage.screens.recall import left_in, recall_text

SHIP_TO = "location:urn:epc:id:sgln:4012345.00001.0"
ROWS: list[dict[str, Any]] = [
    {"item": "urn:epc:id:sgtin:0614141.000001.7", "depth": 0, "via": "", "product": "PART", "job": "J-1",
     "stage": "c", "status": "assembled", "shipments": [], "destinations": []},
    {"item": "urn:epc:id:sgtin:0614141.000002.4", "depth": 1, "via": None, "product": "KIT", "job": "",
     "stage": "d", "status": "dispatched", "shipments": ["desadv:D-1", "po:P-7"], "destinations": [SHIP_TO]},
    {"item": "urn:epc:id:sscc:0614141.1000000001", "depth": 2, "via": None, "product": "", "job": "",
     "stage": "", "status": "", "shipments": ["desadv:D-1"], "destinations": [SHIP_TO]},
]  # fmt: skip


def test_every_shipment_and_destination_of_the_scope_once() -> None:
    assert left_in(ROWS) == {"shipments": ["desadv:D-1", "po:P-7"], "destinations": [SHIP_TO]}
    assert left_in([]) == {"shipments": [], "destinations": []}


def test_the_csv_lists_each_items_shipments_and_destinations() -> None:
    lines = recall_text(ROWS).split("\r\n")
    assert lines[0] == "item,depth,via,product,job,stage,status,shipments,destinations"
    assert lines[2] == (
        "urn:epc:id:sgtin:0614141.000002.4,1,,KIT,,d,dispatched,desadv:D-1 po:P-7,"
        "location:urn:epc:id:sgln:4012345.00001.0"
    )
    assert lines[1].endswith("J-1,c,assembled,,")
