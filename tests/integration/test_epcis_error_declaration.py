"""EPCIS error declarations through the real broker, worker, sink and chDB: an OBSERVE event
declared in error makes no pass (its declaration before or after it in one document, or in an
earlier document) or has its pass withdrawn (declared in a later document), the same trace and
the same query answers in every order; the event stays stored and is queried with its
errorDeclaration; a declaration of an event not captured yet is kept, with a note."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from ingest.epc import item_key
from ingest.epcis.eventhash import event_hash
from ingest.epcis.validation import document_problems
from ingest.errors import NotFound
from ingest.timefmt import format_us, now_us
from storage.client import connect
from tests.integration.conftest import Pipeline
from tests.integration.scenario import PLANT, kit, part
from tests.integration.test_epcis_capture import LOC, _call, _capture, _document, _observe

pytestmark = pytest.mark.integration

S = 1_000_000
DECLARATION = {"declarationTime": "2026-01-05T10:00:00.000Z", "reason": "incorrect_data",
               "correctiveEventIDs": ["urn:uuid:4f8c1d3e-2b7a-4c59-9e61-0d2f5a7b8c90"]}  # fmt: skip


def _declared(event: dict[str, Any]) -> dict[str, Any]:
    return {**event, "errorDeclaration": DECLARATION}


def _stations(p: Pipeline, item: str) -> list[str]:
    """The stations of the item's passes; none when no pass of it is stored."""
    try:
        return [str(h["station"]) for h in p.query("history", item=item)]
    except NotFound:
        return []


def _queried(p: Pipeline, item: str) -> list[dict[str, Any]]:
    status, answer, _ = _call(p, f"/epcis/events?MATCH_epc={item}")
    assert status == 200 and document_problems(answer) == [], answer
    events: list[dict[str, Any]] = answer["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
    return events


def _notes(job: dict[str, Any]) -> list[tuple[int, str, str]]:
    return [(n["index"], n["eventID"], n["reason"]) for n in job["notes"]]


def test_a_declaration_withdraws_what_its_event_made_in_any_order(
    pipeline_factory: Callable[[dict[str, Any]], Pipeline],
) -> None:
    p = pipeline_factory(PLANT)
    day_ago = (now_us() - 86_400 * S) // 1000 * 1000
    before, after, later, ahead, kept = (item_key(part(n)) for n in (41, 42, 43, 45, 44))
    original_first = {
        **_observe(before, "A1", day_ago),
        "eventID": "urn:uuid:6a1e2f40-0c1b-4d7e-8a5f-1b2c3d4e5f60",
    }
    declaration_first = _observe(after, "A1", day_ago)
    declared_later = _observe(later, "A1", day_ago)  # no eventID: the declaration names its hash
    declared_ahead = _observe(ahead, "A1", day_ago)  # declared a document before it comes
    control = _observe(kept, "A1", day_ago)

    job = _capture(
        p,
        _document(
            original_first,
            _declared(original_first),
            _declared(declaration_first),
            declaration_first,
            declared_later,
            control,
            _declared(declared_ahead),
        ),
    )
    assert (job["success"], job["events"], job["captured"], job["errors"]) == (True, 7, 7, []), job
    assert _notes(job) == [(6, event_hash(declared_ahead), "awaits_event")]
    p.wait_until(lambda: _stations(p, later) == _stations(p, kept) == ["A1"], what="the captured passes")

    second = _capture(
        p, _document(_declared(declared_later), declared_ahead, _observe(kept, "B1", day_ago + 10 * S))
    )
    assert (second["success"], second["captured"], second["errors"]) == (True, 3, []), second
    assert _notes(second) == [(1, event_hash(declared_ahead), "declared_in_error")]
    p.wait_until(lambda: _stations(p, kept) == ["A1", "B1"], what="the rest of the second document")
    p.wait_until(lambda: _stations(p, later) == [], what="the pass withdrawn")
    assert _stations(p, before) == _stations(p, after) == _stations(p, ahead) == []

    # Queried: each event declared in error as received, with its declaration, in every order;
    # the control without.
    declared = (
        (before, original_first),
        (after, declaration_first),
        (later, declared_later),
        (ahead, declared_ahead),
    )
    for item, event in declared:
        [answered] = _queried(p, item)
        assert answered == {"eventID": event_hash(event), **event, "errorDeclaration": DECLARATION}
    assert [("errorDeclaration" in e, e["readPoint"]["id"][-2:]) for e in _queried(p, kept)] == [
        (False, "A1"),
        (False, "B1"),
    ]

    p.stop_sink()
    store = connect(p.settings)
    try:
        passes = store.query(
            "SELECT item, count() AS n FROM passes FINAL WHERE item IN {items:Array(String)} GROUP BY item",
            {"items": [before, after, later, ahead, kept]},
        )
        declarations = store.query(
            "SELECT event_id, reason FROM epcis_error_declarations FINAL ORDER BY event_id"
        )
        stored = store.query("SELECT count() AS n FROM epcis_events FINAL")
        state = store.query(
            "SELECT item, passes FROM item_state FINAL WHERE item IN {i:Array(String)} ORDER BY item",
            {"i": [before, after, later, ahead]},
        )
    finally:
        store.close()
    assert {r["item"]: r["n"] for r in passes} == {kept: 2}
    assert [(r["event_id"], r["reason"]) for r in declarations] == sorted(
        (event_hash(e) if "eventID" not in e else e["eventID"], "incorrect_data") for _, e in declared
    )
    assert stored == [{"n": 6}]  # the six events captured, each once; the declarations apart
    assert [r["passes"] for r in state] in ([], [0])  # a withdrawn pass leaves its item with none


def _event(kind: str, station: str, time_us: int, **fields: Any) -> dict[str, Any]:
    return {"type": kind, "eventTime": format_us(time_us), "eventTimeZoneOffset": "+00:00",
            "readPoint": {"id": LOC + station}, **fields}  # fmt: skip


def test_a_later_declaration_withdraws_the_qc_result_pack_shipment_and_transformation(
    pipeline_factory: Callable[[dict[str, Any]], Pipeline],
) -> None:
    """Declared in a later document than its event: what the event made beside its pass
    leaves the store and the item's state; the same kinds of events not declared stay."""
    p = pipeline_factory(PLANT)
    t = (now_us() - 86_400 * S) // 1000 * 1000
    item, kept, made, lot = (item_key(part(n)) for n in (51, 52, 53, 54))
    box, kept_box = (item_key(kit(n)) for n in (51, 52))
    inspected = {"action": "OBSERVE", "bizStep": "inspecting", "disposition": "non_conformant"}
    shipment = [{"type": "desadv", "bizTransaction": "urn:linetrace:bt:D-51"}]
    shipped = {"action": "OBSERVE", "bizStep": "shipping", "bizTransactionList": shipment}
    declared = [
        _event("ObjectEvent", "B1", t, epcList=[item], **inspected),
        _event("AggregationEvent", "C1", t + S, action="ADD", parentID=box, childEPCs=[item]),
        _event("ObjectEvent", "D1", t + 2 * S, epcList=[item], **shipped),
        _event("TransformationEvent", "B1", t + 3 * S, inputEPCList=[lot], outputEPCList=[made]),
    ]
    controls = [
        _event("ObjectEvent", "B1", t, epcList=[kept], **inspected),
        _event("AggregationEvent", "C1", t + S, action="ADD", parentID=kept_box, childEPCs=[kept]),
    ]
    first = _capture(p, _document(*declared, *controls))
    assert (first["success"], first["captured"], first["errors"]) == (True, 6, []), first

    def seen() -> dict[str, Any]:
        """Each item's QC results, what it is in, and the shipments recall lists."""
        return {
            i: (
                [r["result"] for r in _answer(p, "qc_results", item=i)],
                [r["item"] for r in _answer(p, "genealogy", item=i, direction="up")],
                [s for r in _answer(p, "recall", item=i) for s in r["shipments"]],
            )
            for i in (item, kept, lot)
        }

    everything = {
        item: (["fail"], [box], ["desadv:D-51"]),
        kept: (["fail"], [kept_box], []),
        lot: ([], [made], []),
    }
    p.wait_until(lambda: seen() == everything, what="what the events made")

    second = _capture(p, _document(*(_declared(e) for e in declared)))
    assert (second["success"], second["captured"], second["errors"]) == (True, 4, []), second

    left: dict[str, tuple[list[str], list[str], list[str]]] = {
        item: ([], [], []),
        kept: (["fail"], [kept_box], []),
        lot: ([], [], []),
    }
    p.wait_until(lambda: seen() == left, what="what the declared events made withdrawn")

    p.stop_sink()
    store = connect(p.settings)
    try:
        items = {"i": [item, kept, lot, made, box, kept_box]}
        stored = [
            store.query(
                f"SELECT count() AS n FROM {table} FINAL WHERE {column} IN {{i:Array(String)}}", items
            )
            for table, column in (("qc_results", "item"), ("links", "node"), ("shipments", "item"))
        ]
        state = store.query(
            "SELECT item, status, parent FROM item_state FINAL WHERE item IN {i:Array(String)}", items
        )
    finally:
        store.close()
    assert stored == [[{"n": 1}], [{"n": 2}], [{"n": 0}]]  # the control's QC result and link, both ways
    # The item is as if never read, inspected, packed or shipped; the lot as if never consumed.
    statuses = {r["item"]: (r["status"], r["parent"]) for r in state}
    assert statuses == {kept: ("assembled", kept_box), item: ("new", ""), lot: ("new", "")}


def _answer(p: Pipeline, name: str, **params: str) -> list[dict[str, Any]]:
    """A named query's rows; none where it answers 404."""
    try:
        rows: list[dict[str, Any]] = p.query(name, **params)
    except NotFound:
        return []
    return rows


def test_a_declaration_after_a_restart_finds_its_event_the_sink_has_not_stored(
    pipeline_factory: Callable[[dict[str, Any]], Pipeline],
) -> None:
    """The API restarts between an event and its declaration, and the store holds neither (the
    sink is behind on the epcis-events topic): the new process finds the event on that topic."""
    p = pipeline_factory(PLANT)
    item, warm = item_key(part(61)), item_key(part(62))
    day_ago = (now_us() - 86_400 * S) // 1000 * 1000
    event = _observe(item, "A1", day_ago)
    # The sink in its group before it is stopped: the local broker holds the join of a
    # consumer that replaces one stopped mid-join.
    _capture(p, _document(_observe(warm, "A1", day_ago)))
    p.wait_until(lambda: _stations(p, warm) == ["A1"], what="the first sink at work")

    def restart_behind() -> None:
        p.processes["sink"].stop()
        p.start_process("sink", patches="store_no_epcis_events")
        p.wait_for_api()

    restart_behind()
    first = _capture(p, _document(event))
    assert (first["success"], first["captured"], first["notes"]) == (True, 1, []), first
    p.wait_until(lambda: _stations(p, item) == ["A1"], what="the captured pass")

    restart_behind()
    second = _capture(p, _document(_declared(event)))

    assert (second["success"], second["captured"], second["notes"]) == (True, 1, []), second
    p.wait_until(lambda: _stations(p, item) == [], what="the pass withdrawn")
