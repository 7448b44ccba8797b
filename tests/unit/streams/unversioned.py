"""Route-state records as workers wrote them before the record was versioned: running
plants have them in their changelogs, and a worker must still load them."""

from __future__ import annotations

from typing import Any

from ingest.records.routestate import to_record
from streams.items import ItemState


def unversioned_record(state: ItemState) -> dict[str, Any]:
    """The state in the last unversioned layout: no ``v``; ``parent`` and ``consumed_into``
    written out; moves without where they happened; "" among ``dirty`` for the item row."""
    record = to_record(state)
    custody = state.custody
    for key in ("v", "outputs", "refusals", "row_changed"):
        del record[key]
    record["parent"] = custody.parent
    record["consumed_into"] = custody.consumed_into
    record["memberships"] = {
        p: [[m.time_us, int(m.into)] for m in ms] for p, ms in custody.memberships.items()
    }
    record["dirty"] = sorted(state.dirty | ({""} if state.row_changed else set()))
    return record
