"""EPCIS capture through the real broker, worker, sink and chDB: a partner's document with two
OBSERVE events (a month old, past the readers' age limit) and a TransactionEvent is captured,
its OBSERVE events become passes of the right stations, capturing it again changes nothing,
queried back (also as one EPC's events) they are the same events, and a document with an
unknown read point lists that event's refusal while the rest is taken."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import orjson
import pytest

from ingest.epc import item_key
from ingest.epcis.eventhash import event_hash
from ingest.epcis.validation import document_problems
from ingest.schema import ReadCycleReport, TagRead
from ingest.timefmt import format_us, now_us
from ingest.wire import encode_report
from storage.client import connect
from tests.integration.conftest import Pipeline
from tests.integration.scenario import LINE, PLANT, SITE, part

pytestmark = pytest.mark.integration

S = 1_000_000
LOC = f"urn:linetrace:loc:{SITE}:{LINE}:"


def _observe(item: str, station: str, time_us: int) -> dict[str, Any]:
    return {"type": "ObjectEvent", "eventTime": format_us(time_us), "eventTimeZoneOffset": "+00:00",
            "epcList": [item], "action": "OBSERVE", "bizStep": "other",
            "readPoint": {"id": LOC + station}}  # fmt: skip


def _document(*events: dict[str, Any]) -> bytes:
    return orjson.dumps(
        {
            "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
            "type": "EPCISDocument",
            "schemaVersion": "2.0",
            "creationDate": format_us(now_us()),
            "epcisBody": {"eventList": list(events)},
        }
    )


def _call(
    p: Pipeline,
    path: str,
    body: bytes | None = None,
    header: str = "Location",
    media: str = "application/ld+json",
) -> tuple[int, dict[str, Any], str]:
    headers = {"Authorization": f"Bearer {p.settings.api_token}", "Content-Type": media}
    request = urllib.request.Request(f"{p.api}{path}", data=body, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            return resp.status, orjson.loads(resp.read()), resp.headers.get(header, "")
    except urllib.error.HTTPError as exc:
        return exc.code, orjson.loads(exc.read()), ""


def _capture(p: Pipeline, document: bytes) -> dict[str, Any]:
    """POST the document and poll its job until it has finished; the finished job."""
    status, answer, location = _call(p, "/epcis/capture", document)
    assert status == 202 and location == f"/epcis/capture/{answer['captureID']}", answer
    job: dict[str, Any] = {}

    def finished() -> bool:
        nonlocal job
        status, job, _ = _call(p, location)
        return status == 200 and not job["running"]

    p.wait_until(finished, what="the capture job")
    return job


def _report(reader: str, seq: int, start: int, epc: str) -> bytes:
    reads = (TagRead(epc, 1, start, 2, -55.0),)
    return encode_report(
        ReadCycleReport(
            site=SITE, line=LINE, reader_id=reader, cycle_seq=seq, cycle_start_us=start, reads=reads
        )
    )


def _stations(p: Pipeline, item: str) -> list[str]:
    return [str(h["station"]) for h in p.query("history", item=item)]


def test_capture_feeds_the_trace_once(pipeline_factory: Callable[[dict[str, Any]], Pipeline]) -> None:
    p = pipeline_factory(PLANT)
    month_ago = (now_us() - 30 * 86_400 * S) // 1000 * 1000
    first, second = item_key(part(21)), item_key(part(22))
    order = {"type": "po", "bizTransaction": "urn:epcglobal:cbv:bt:0614141000005:PO-1"}
    trade = {"type": "TransactionEvent", "eventTime": format_us(month_ago), "eventTimeZoneOffset": "+00:00",
             "action": "ADD", "epcList": [first], "bizTransactionList": [order]}  # fmt: skip
    events = [_observe(first, "A1", month_ago), _observe(first, "B1", month_ago + 10 * S)]
    document = _document(*events, trade)
    status, _, _ = _call(p, "/epcis/capture", b'{"type": "EPCISDocument"}')
    p.wait_until(lambda: _call(p, "/epcis/capture", b"{}")[0] == 400, what="the API")
    assert status == 400
    xml = b'<epcis:EPCISDocument xmlns:epcis="urn:epcglobal:epcis:xsd:2"/>'
    status, refused, _ = _call(p, "/epcis/capture", xml, media="application/xml")
    assert (status, refused["error"]) == (415, "unsupported_media_type"), refused

    job = _capture(p, document)
    assert (job["success"], job["events"], job["captured"], job["errors"]) == (True, 3, 3, []), job
    p.wait_until(lambda: _stations(p, first) == ["A1", "B1"], what="the captured passes")
    time.sleep(3 * p.settings.sink_commit_s)  # the sink has stored the events with the passes

    again = _capture(p, document)
    assert (again["success"], again["alreadyCaptured"]) == (True, 3), again

    # Queried back: the captured events as received, each once (not again as derived from the
    # passes they made), in time order, a page at a time; a reader's pass as linetrace maps it.
    third = part(23)
    p.send(p.topics.reads, _report("RA", 7, now_us() - 60 * S, third), b"RA")
    p.flush()
    p.wait_until(lambda: _stations(p, item_key(third)) == ["A1"], what="the reader's pass")
    status, answer, _ = _call(p, f"/epcis/events?MATCH_epc={first}")
    assert status == 200 and document_problems(answer) == [], answer
    listed = answer["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
    sent = [*events, trade]
    in_order = sorted((e["eventTime"], event_hash(e)) for e in sent)  # one time: by eventID
    assert [e["eventID"] for e in listed] == [event_id for _, event_id in in_order]
    assert [
        {k: v for k, v in e.items() if k != "eventID"} for e in listed if e["type"] == "ObjectEvent"
    ] == events
    status, first_page, link = _call(p, f"/epcis/events?MATCH_epc={first}&perPage=2", header="Link")
    assert len(first_page["epcisBody"]["queryResults"]["resultsBody"]["eventList"]) == 2
    _, last_page, _ = _call(p, link.split(";")[0].strip("<>"))
    assert [e["eventID"] for e in last_page["epcisBody"]["queryResults"]["resultsBody"]["eventList"]] == [
        listed[2]["eventID"]
    ]
    _, by_epc, _ = _call(p, f"/epcis/epcs/{first}/events")
    assert by_epc["epcisBody"]["queryResults"]["resultsBody"]["eventList"] == listed
    _, types, _ = _call(p, "/epcis/eventTypes")
    assert "TransactionEvent" in types["member"], types
    _, points, _ = _call(p, "/epcis/readPoints?perPage=1000")
    assert {LOC + s for s in ("A1", "B1", "C1", "D1")} <= set(points["member"]), points
    place = LOC.rstrip(":")
    _, own, _ = _call(
        p, f"/epcis/events?MATCH_epc={item_key(third)}&EQ_readPoint={LOC}A1&EQ_bizLocation={place}"
    )
    [derived] = own["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
    assert (derived["type"], derived["epcList"], derived["action"]) == (
        "ObjectEvent",
        [item_key(third)],
        "OBSERVE",
    )

    unknown = _observe(second, "NOWHERE", month_ago)
    partial = _capture(p, _document(unknown, _observe(second, "A1", month_ago + 5 * S)))
    assert partial["success"] is False
    assert [(e["index"], e["reason"]) for e in partial["errors"]] == [(0, "unknown_read_point")]
    assert partial["captured"] == 1
    p.wait_until(lambda: _stations(p, second) == ["A1"], what="the rest of the partial document")
    time.sleep(3 * p.settings.sink_commit_s)
    assert _stations(p, first) == ["A1", "B1"]

    p.stop_sink()
    store = connect(p.settings)
    try:
        rows = store.query(
            "SELECT event_type, read_point FROM epcis_events FINAL ORDER BY event_time, read_point"
        )
        passes = store.query("SELECT count() AS n FROM passes FINAL WHERE item = {i:String}", {"i": first})
    finally:
        store.close()
    assert [(r["event_type"], r["read_point"]) for r in rows] == [
        ("TransactionEvent", ""),  # kept as received
        ("ObjectEvent", LOC + "A1"),
        ("ObjectEvent", LOC + "A1"),
        ("ObjectEvent", LOC + "B1"),
    ]
    assert passes == [{"n": 2}]
