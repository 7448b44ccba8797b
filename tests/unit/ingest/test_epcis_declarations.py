"""Error declarations matched with their events in any order: what stands in the trace is the
same whether the declaration comes in the event's document, after it, or before it."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from ingest.epcis.capture import Captured, Input, Places, capture
from ingest.epcis.declarations import AWAITS_EVENT, DECLARED_BEFORE, settle
from ingest.plant import Plant
from ingest.wire import decode_report
from tests.unit.ingest.test_epcis_capture import DECLARATION, ITEM, KIT, MAX, _doc, _event

ID = "urn:uuid:6a1e2f40-0c1b-4d7e-8a5f-1b2c3d4e5f60"
OTHER = "urn:epc:id:sgtin:0614141.000001.26"


def _captured(
    places: Places, *events: dict[str, Any], before: list[Captured]
) -> tuple[Captured, list[Input]]:
    """A document captured after ``before`` (as the capture job does, the store holding them)."""
    result = capture(_doc(*events), places, "c")
    originals = {r["event_id"]: orjson.loads(r["document"]) for c in before for r in c.rows}
    declared = {d.row["event_id"] for c in before for d in c.declared}
    return result, settle(result, originals, declared, places)


def _standing(made: list[Input]) -> list[tuple[str, str, int]]:
    """The reads that stand once the withdrawn ones are taken back: (reader, item, time)."""
    reads: list[tuple[str, str, int]] = []
    for i in made:
        if i.topic != "reads":
            continue
        report = decode_report(i.payload, MAX)
        for read in report.reads:
            key = (report.reader_id, read.key or read.epc, read.time_us)
            if report.withdrawn:
                reads.remove(key)
            else:
                reads.append(key)
    return reads


ORDERS = ["same document", "event first", "declaration first"]


@pytest.mark.parametrize("order", ORDERS)
def test_the_same_reads_stand_in_every_order(plant: Plant, order: str) -> None:
    places = Places.of(plant)
    original = _event(epcList=[ITEM], eventID=ID)
    declaring = {**original, "errorDeclaration": DECLARATION}
    control = _event(epcList=[OTHER])
    if order == "same document":
        documents = [[original, declaring, control]]
    elif order == "event first":
        documents = [[original, control], [declaring]]
    else:
        documents = [[declaring], [original, control]]

    made: list[Input] = []
    before: list[Captured] = []
    stored: set[str] = set()
    for events in documents:
        result, withdrawals = _captured(places, *events, before=before)
        made += [i for eid, inputs in result.inputs.items() if eid not in stored for i in inputs]
        made += withdrawals
        before.append(result)
        stored |= {r["event_id"] for r in result.rows}

    [(_, item, _)] = _standing(made)
    assert item == OTHER
    assert {r["event_id"] for c in before for r in c.rows} == stored  # the event is stored in every order
    assert ID in stored and [d.row["event_id"] for c in before for d in c.declared] == [ID]


def test_a_declaration_before_its_event_is_kept_with_a_note_and_the_event_makes_nothing(plant: Plant) -> None:
    places = Places.of(plant)
    original = _event(epcList=[ITEM], eventID=ID, bizStep="inspecting", disposition="non_conformant")
    pack = _event("AggregationEvent", action="ADD", parentID=KIT, childEPCs=[ITEM], eventID="urn:uuid:2")
    declarations = [{**e, "errorDeclaration": DECLARATION} for e in (original, pack)]

    first, withdrawals = _captured(places, *declarations, before=[])
    assert (first.refused, first.rows, withdrawals) == ([], [], [])
    assert [(n.index, n.event_id, n.reason) for n in first.notes] == [
        (0, ID, AWAITS_EVENT),
        (1, "urn:uuid:2", AWAITS_EVENT),
    ]
    assert "it applies when that event arrives" in first.notes[0].detail

    control = _event(epcList=[OTHER])
    second, withdrawals = _captured(places, control, original, pack, before=[first])
    # Stored, and nothing made of them: not the read, the QC result, nor the pack.
    assert [r["event_id"] for r in second.rows][1:] == [ID, "urn:uuid:2"]
    assert (second.inputs[ID], second.inputs["urn:uuid:2"], withdrawals) == ([], [], [])
    assert [(n.index, n.event_id, n.reason) for n in second.notes] == [
        (1, ID, DECLARED_BEFORE),
        (2, "urn:uuid:2", DECLARED_BEFORE),
    ]
    assert len([i for inputs in second.inputs.values() for i in inputs]) == 1  # the control's read


def test_a_declaration_of_an_event_in_its_document_or_stored_has_no_note(plant: Plant) -> None:
    places = Places.of(plant)
    original = _event(epcList=[ITEM], eventID=ID)
    declaring = {**original, "errorDeclaration": DECLARATION}
    first, _ = _captured(places, original, declaring, before=[])
    later, withdrawals = _captured(places, declaring, before=[first])
    assert (first.notes, later.notes) == ([], [])
    assert [decode_report(w.payload, MAX).withdrawn for w in withdrawals] == [True]
