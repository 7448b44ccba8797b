"""An EPCIS export through the real broker, worker, sink and chDB: a part read at A1 and B1,
assembled into a kit at C1, the kit read at C1 and shipped at D1; the part's recall scope
comes back as the exact events, valid against the EPCIS 2.0 JSON Schema, from the API and the CLI;
captured events come back as received."""

from __future__ import annotations

import copy
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import orjson
import pytest

from ingest.epc import item_key
from ingest.epcis.eventhash import event_hash
from ingest.epcis.mapping import LinkFact, Mapper, PassFact
from ingest.epcis.validation import document_problems
from ingest.plant import parse_plant
from ingest.schema import Aggregation, ReadCycleReport, TagRead
from ingest.timefmt import format_us, now_us, parse_us
from ingest.wire import encode_aggregation, encode_report
from tests.integration.conftest import Pipeline
from tests.integration.scenario import LINE, PLANT, SITE, kit, part
from tests.integration.test_epcis_capture import LOC, _capture, _document, _observe
from tests.integration.test_epcis_error_declaration import DECLARATION

pytestmark = pytest.mark.integration

S = 1_000_000


def _plant() -> dict[str, Any]:
    doc = copy.deepcopy(PLANT)
    doc["sites"][0]["time_zone"] = "Europe/Berlin"
    line = doc["sites"][0]["lines"][0]
    line["dispatch_stages"] = ["d"]
    line["biz_steps"] = {"a": "commissioning", "b": "inspecting", "c": "assembling"}
    line["stations"][2]["read_point"] = "urn:epc:id:sgln:0614141.00777.ASSY1"
    return doc


def _report(reader: str, seq: int, start: int, epc: str) -> bytes:
    reads = tuple(TagRead(epc, 1, start + k * 100_000, 2, -55.0) for k in range(3))
    return encode_report(
        ReadCycleReport(
            site=SITE, line=LINE, reader_id=reader, cycle_seq=seq, cycle_start_us=start, reads=reads
        )
    )


def _get(url: str, token: str) -> tuple[int, bytes, str]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            return resp.status, resp.read(), resp.headers.get("content-type", "")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), ""


def test_recall_scope_exported_as_epcis(pipeline_factory: Callable[[dict[str, Any]], Pipeline]) -> None:
    doc = _plant()
    p = pipeline_factory(doc)
    t = p.topics
    base = (now_us() - 600 * S) // 1000 * 1000
    ep, ek = part(11), kit(12)
    p1, k1 = item_key(ep), item_key(ek)
    p.send(t.reads, _report("RA", 0, base, ep), b"RA")
    p.send(t.reads, _report("RB", 0, base + 10 * S, ep), b"RB")
    agg = Aggregation(site=SITE, line=LINE, station="C1", parent=k1, children=(p1,), time_us=base + 20 * S)
    p.send(t.aggregations, encode_aggregation(agg), k1.encode())
    p.send(t.reads, _report("RC", 0, base + 20 * S, ek), b"RC")
    p.send(t.reads, _report("RD", 0, base + 30 * S, ek), b"RD")
    p.flush()
    p.wait_until(lambda: len(p.query("history", item=k1)) == 2, what="the kit's passes")
    p.wait_until(lambda: len(p.query("recall", item=p1)) == 2, what="the part's recall scope")

    url = f"{p.api}/epcis/export?item={p1}&direction=up"
    p.wait_until(lambda: _get(url, p.settings.api_token)[0] == 200, what="the sink to read the plant")
    status, body, content_type = _get(url, p.settings.api_token)
    exported = orjson.loads(body)
    assert (status, content_type) == (200, "application/ld+json")
    assert document_problems(exported) == []

    facts = [
        PassFact(item=p1, station="A1", first_us=base),
        PassFact(item=p1, station="B1", first_us=base + 10 * S),
    ]
    facts += [
        PassFact(item=k1, station="C1", first_us=base + 20 * S),
        PassFact(item=k1, station="D1", first_us=base + 30 * S),
    ]
    expected = Mapper(parse_plant(doc)).events(
        facts, [LinkFact(parent=k1, child=p1, station="C1", time_us=base + 20 * S)]
    )
    assert exported["epcisBody"]["eventList"] == expected
    # The kit's pass at C1 and its assembly share a time: their order is by eventID.
    assert sorted(
        (e["type"], e["bizStep"], e.get("disposition", "")) for e in exported["epcisBody"]["eventList"]
    ) == [
        ("AggregationEvent", "assembling", ""),
        ("ObjectEvent", "assembling", "in_progress"),
        ("ObjectEvent", "commissioning", "in_progress"),
        ("ObjectEvent", "inspecting", "in_progress"),
        ("ObjectEvent", "shipping", "in_transit"),
    ]

    assert _get(url, "")[0] == 401
    code, out, err = p.cli("epcis", "export", p1, "--up")
    assert code == 0, err
    assert orjson.loads(out)["epcisBody"]["eventList"] == expected
    code, _, err = p.cli("epcis", "export", "urn:epc:id:sgtin:0614141.000001.999", "--down")
    assert code != 0 and "unknown" in err


def test_captured_events_are_exported_as_received(
    pipeline_factory: Callable[[dict[str, Any]], Pipeline],
) -> None:
    """A partner's document captured, then a portal's read of the kit: the part's recall scope
    holds every captured event of it as received (the same eventIDs; the one declared in error
    with its errorDeclaration), none again as a derived event, and the portal's pass derived."""
    p = pipeline_factory(PLANT)
    base = (now_us() - 600 * S) // 1000 * 1000
    ep, ek = part(13), kit(14)
    p1, k1 = item_key(ep), item_key(ek)
    pack = {"type": "AggregationEvent", "eventTime": format_us(base + 20 * S),
            "eventTimeZoneOffset": "+00:00", "parentID": k1, "childEPCs": [p1], "action": "ADD",
            "bizStep": "assembling", "readPoint": {"id": LOC + "C1"}}  # fmt: skip
    wrong = _observe(p1, "D1", base + 5 * S)
    events = [
        {**_observe(p1, "A1", base), "eventID": "urn:uuid:5b0c7e2a-1d3f-4a6b-8c9d-0e1f2a3b4c5d"},
        _observe(p1, "B1", base + 10 * S),
        pack,
        _observe(k1, "C1", base + 20 * S),
        wrong,
        {**wrong, "errorDeclaration": DECLARATION},
    ]
    job = _capture(p, _document(*events))
    assert (job["success"], job["captured"]) == (True, 6), job
    p.send(p.topics.reads, _report("RD", 0, base + 30 * S, ek), b"RD")
    p.flush()
    p.wait_until(lambda: len(p.query("history", item=k1)) == 2, what="the kit's passes")
    p.wait_until(lambda: len(p.query("recall", item=p1)) == 2, what="the part's recall scope")

    status, body, _ = _get(f"{p.api}/epcis/export?item={p1}&direction=up", p.settings.api_token)
    exported = orjson.loads(body)
    assert status == 200 and document_problems(exported) == []
    listed = exported["epcisBody"]["eventList"]
    received = [{**e, "eventID": e.get("eventID") or event_hash(e)} for e in events[:5]]
    received[4] = {**received[4], "errorDeclaration": DECLARATION}
    by_id = {e["eventID"]: e for e in listed}
    assert len(by_id) == len(listed) == 6  # each event once
    assert [by_id.get(e["eventID"]) for e in received] == received
    [derived] = [e for e in listed if e["eventID"] not in {r["eventID"] for r in received}]
    assert (derived["epcList"], derived["readPoint"]["id"]) == ([k1], LOC + "D1")
    assert [e["eventID"] for e in listed] == [e["eventID"] for e in sorted(listed, key=_time_then_id)]

    code, out, err = p.cli("epcis", "export", p1, "--up")
    assert code == 0, err
    assert orjson.loads(out)["epcisBody"]["eventList"] == listed


def _time_then_id(event: dict[str, Any]) -> tuple[int, str]:
    return parse_us(event["eventTime"]), event["eventID"]
