"""EPCIS error declarations matched with the events they declare, whatever order they come in.

A declaration (an event carrying ``errorDeclaration``) names the event captured under the same
eventID. Whichever of the two is captured first, the trace ends the same: the declared event is
stored as received but what it would make in the trace is withdrawn, or never made.

- Both in one document: ``capture`` makes no input of the event.
- The event captured before: every input it made is sent again, marked withdrawn
  (``withdrawals_of``).
- The declaration captured before: it is kept, noted as waiting for its event; the event, when
  it comes, is stored and makes no input, as in one document.

Pure: the capture job (storage.epciscapture) asks the store what was captured before.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from ingest.epcis.capture import Captured, Input, Places, Remark, withdrawals_of

AWAITS_EVENT = "awaits_event"
DECLARED_BEFORE = "declared_in_error"


def settle(
    result: Captured,
    originals: Mapping[str, Mapping[str, Any]],
    declared_before: Collection[str],
    places: Places,
) -> list[Input]:
    """Match a document's declarations and events with those captured before it.

    ``originals``: the events its declarations declare that were captured before, by eventID;
    ``declared_before``: the eventIDs of its events that a declaration captured before
    declares. Every declaration is taken. An event declared before makes no input (noted); a
    declaration of an event not captured yet is noted (``result.notes``). Returns what
    withdraws the input of the events captured before.
    """
    withdrawals: list[Input] = []
    for declared in result.declared:
        event_id = declared.row["event_id"]
        if event_id in originals:
            withdrawals += withdrawals_of(originals[event_id], event_id, places)
        elif event_id not in result.inputs:
            detail = "declares an event not captured yet; it applies when that event arrives"
            result.notes.append(Remark(declared.index, event_id, AWAITS_EVENT, detail))
    indexes = _indexes(result)
    for event_id, inputs in result.inputs.items():
        if inputs and event_id in declared_before:
            result.inputs[event_id] = []
            detail = "declared in error before it arrived: stored, it makes nothing in the trace"
            result.notes.append(Remark(indexes.get(event_id, -1), event_id, DECLARED_BEFORE, detail))
    result.notes.sort(key=lambda r: r.index)
    return withdrawals


def _indexes(result: Captured) -> dict[str, int]:
    """Each stored event's index in the document's event list (the rows keep the list's order,
    skipping the declarations and the events refused)."""
    skipped = {d.index for d in result.declared} | {r.index for r in result.refused}
    indexes: dict[str, int] = {}
    index = 0
    for row in result.rows:
        while index in skipped:
            index += 1
        indexes.setdefault(row["event_id"], index)
        index += 1
    return indexes
