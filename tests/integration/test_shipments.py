"""Shipments through the real broker, worker, sink and chDB: a part assembled into a kit, the kit
shipped from D1 (``linetrace dispatch``), a second kit's shipment captured from a partner's EPCIS
shipping event; the part's recall lists the kit's shipment and destinations, the EPCIS export
puts them on the kit's shipping event (schema-valid), and a bad shipment is refused by the API
and dead-lettered by the worker with its reason."""

from __future__ import annotations

import copy
import time
import urllib.request
from collections.abc import Callable
from typing import Any

import orjson
import pytest

from ingest.epc import item_key
from ingest.epcis.validation import document_problems
from ingest.schema import Aggregation, ReadCycleReport, TagRead
from ingest.timefmt import format_us, now_us
from ingest.wire import encode_aggregation, encode_report
from storage.client import connect
from tests.integration.conftest import Pipeline
from tests.integration.scenario import LINE, PLANT, SITE, kit, part

pytestmark = pytest.mark.integration

S = 1_000_000
CUSTOMER = "urn:epc:id:pgln:4012345.00000"
SHIP_TO = "urn:epc:id:sgln:4012345.00001.0"
DESPATCH = "urn:epcglobal:cbv:bt:4012345000009:D-9"


def _plant() -> dict[str, Any]:
    doc = copy.deepcopy(PLANT)
    doc["sites"][0]["lines"][0]["dispatch_stages"] = ["d"]
    return doc


def _report(reader: str, seq: int, start: int, epc: str) -> bytes:
    reads = (TagRead(epc, 1, start, 2, -55.0),)
    report = ReadCycleReport(
        site=SITE, line=LINE, reader_id=reader, cycle_seq=seq, cycle_start_us=start, reads=reads
    )
    return encode_report(report)


def _api(p: Pipeline, path: str, body: bytes | None = None) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {p.settings.api_token}", "Content-Type": "application/ld+json"}
    request = urllib.request.Request(f"{p.api}{path}", data=body, headers=headers)
    with urllib.request.urlopen(request, timeout=30) as resp:
        answer: dict[str, Any] = orjson.loads(resp.read())
        return answer


def _shipped(p: Pipeline, item: str) -> dict[str, tuple[list[str], list[str]]]:
    return {str(r["item"]): (r["shipments"], r["destinations"]) for r in p.query("recall", item=item)}


def test_a_recall_reaches_the_shipments_its_items_left_in(
    pipeline_factory: Callable[[dict[str, Any]], Pipeline],
) -> None:
    p = pipeline_factory(_plant())
    t = p.topics
    base = (now_us() - 600 * S) // 1000 * 1000
    ep, ek, other = part(31), kit(32), kit(33)
    p1, k1, k2 = item_key(ep), item_key(ek), item_key(other)
    p.send(t.reads, _report("RA", 0, base, ep), b"RA")
    agg = Aggregation(site=SITE, line=LINE, station="C1", parent=k1, children=(p1,), time_us=base + 20 * S)
    p.send(t.aggregations, encode_aggregation(agg), k1.encode())
    p.send(t.reads, _report("RC", 0, base + 20 * S, ek), b"RC")
    p.send(t.reads, _report("RD", 0, base + 30 * S, ek), b"RD")
    p.flush()
    p.wait_until(lambda: len(p.query("history", item=k1)) == 2, what="the kit's passes")

    code, out, err = p.cli(
        *("dispatch", "--site", SITE, "--line", LINE, "--station", "D1", "--item", k1),
        *("--shipment", "DESADV-4711", "--shipment", "po:PO-0815"),
        *("--destination", f"owning_party:{CUSTOMER}", "--destination", SHIP_TO),
    )
    assert code == 0 and "posted: shipment desadv:DESADV-4711, po:PO-0815 of 1 items" in out, err
    expected = (["desadv:DESADV-4711", "po:PO-0815"], [f"owning_party:{CUSTOMER}", f"location:{SHIP_TO}"])
    p.wait_until(lambda: _shipped(p, p1) == {p1: ([], []), k1: expected}, what="the recall's shipments")

    # The export: the shipment on the kit's shipping event, nowhere else.
    exported = _api(p, f"/epcis/export?item={p1}&direction=up")
    assert document_problems(exported) == []
    shipping = [e for e in exported["epcisBody"]["eventList"] if "bizTransactionList" in e]
    assert [(e["epcList"], e["readPoint"]["id"], e["disposition"]) for e in shipping] == [
        ([k1], f"urn:linetrace:loc:{SITE}:{LINE}:D1", "in_transit")
    ]
    assert shipping[0]["bizTransactionList"] == [
        {"type": "desadv", "bizTransaction": "urn:linetrace:bt:DESADV-4711"},
        {"type": "po", "bizTransaction": "urn:linetrace:bt:PO-0815"},
    ]
    assert shipping[0]["destinationList"] == [
        {"type": "owning_party", "destination": CUSTOMER},
        {"type": "location", "destination": SHIP_TO},
    ]
    # Queried, the kit's events are the export's: the same shipping event, the same eventID.
    queried = _api(p, f"/epcis/events?MATCH_epc={k1}&eventType=ObjectEvent")
    answered = queried["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
    assert [e for e in answered if "bizTransactionList" in e] == shipping

    # A partner's shipping event of the second kit becomes its read at D1 and its shipment.
    event = {"type": "ObjectEvent", "eventTime": format_us(base + 40 * S), "eventTimeZoneOffset": "+00:00",
             "epcList": [k2], "action": "OBSERVE", "bizStep": "shipping", "disposition": "in_transit",
             "readPoint": {"id": f"urn:linetrace:loc:{SITE}:{LINE}:D1"},
             "bizTransactionList": [{"type": "desadv", "bizTransaction": DESPATCH}],
             "destinationList": [{"type": "location", "destination": SHIP_TO}]}  # fmt: skip
    document = {"@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
                "type": "EPCISDocument", "schemaVersion": "2.0", "creationDate": format_us(now_us()),
                "epcisBody": {"eventList": [event]}}  # fmt: skip
    job = _api(p, "/epcis/capture", orjson.dumps(document))
    p.wait_until(
        lambda: _api(p, f"/epcis/capture/{job['captureID']}")["running"] is False, what="the capture"
    )
    captured = ([f"desadv:{DESPATCH}"], [f"location:{SHIP_TO}"])
    p.wait_until(lambda: _shipped(p, k2) == {k2: captured}, what="the captured shipment")
    assert [h["station"] for h in p.query("history", item=k2)] == ["D1"]

    # Refused: by the API at once; by the worker (sent to the topic directly) as a dead letter.
    bad = {"v": 1, "type": "shipment", "site": SITE, "line": LINE, "items": [k1], "time": format_us(base),
           "transactions": [{"type": "po", "id": "PO-1"}],
           "destinations": [{"type": "location", "id": "DOCK 7"}]}  # fmt: skip
    assert p.post("shipment", orjson.dumps(bad)) == (400, "bad_shipment")
    p.send(t.jobs, orjson.dumps(bad), b"PO-1")
    p.flush()
    time.sleep(3 * p.settings.sink_commit_s)

    p.stop_sink()
    store = connect(p.settings)
    try:
        dead = store.query("SELECT reason, detail FROM dead_letters WHERE reason = 'bad_shipment'")
        rows = store.query("SELECT item, station FROM shipments FINAL ORDER BY item")
    finally:
        store.close()
    assert [d["reason"] for d in dead] == ["bad_shipment"] and "must be a URI" in dead[0]["detail"]
    assert sorted((r["item"], r["station"]) for r in rows) == sorted([(k1, "D1"), (k2, "D1")])
