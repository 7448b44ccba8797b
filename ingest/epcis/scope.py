"""The events of a recall scope's EPCIS export, pure of any I/O: linetrace's own events derived
from its passes and links, and the captured events as received (with their errorDeclaration),
each event once.

A captured event belongs to the scope as the derived events do: an AggregationEvent or
TransformationEvent by the end the genealogy follows (``down``, what is in the item: its parent
or outputs; ``up``, what the item is in: its children or inputs), any other event by any item
it names. A derived event that a captured event made (a captured OBSERVE became a pass, a
captured aggregation a link) is left out: the captured one is exported instead.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from ingest.epcis.capture import item_key
from ingest.epcis.mapping import identifier
from ingest.epcis.query import without_echoes
from ingest.errors import InvalidInput
from ingest.timefmt import parse_us

# The fields naming items, by the end of a link they are: (parents, children).
_ENDS = {
    "AggregationEvent": (("parentID",), ("childEPCs", "childQuantityList")),
    "TransformationEvent": (("outputEPCList", "outputQuantityList"), ("inputEPCList", "inputQuantityList")),
}
_ALL = ("epcList", "quantityList", "parentID", "childEPCs", "childQuantityList",
        "inputEPCList", "inputQuantityList", "outputEPCList", "outputQuantityList")  # fmt: skip


def identifiers(items: Collection[str]) -> list[str]:
    """The EPCIS identifiers a captured event can name ``items`` (item keys) by, as stored."""
    return sorted({*items, *(identifier(i)[0] for i in items)})


def in_scope(event: Mapping[str, Any], items: Collection[str], direction: str) -> bool:
    """Whether a captured ``event`` belongs to the export of ``items`` (the scope's item keys)
    in ``direction`` (``up`` or ``down``)."""
    ends = _ENDS.get(str(event.get("type")))
    fields = _ALL if ends is None else ends[0 if direction == "down" else 1]
    return any(key in items for key in _keys(event, fields))


def scope_events(
    own: list[dict[str, Any]], captured: list[dict[str, Any]], items: Collection[str], direction: str
) -> list[dict[str, Any]]:
    """The events of the scope in time order (then eventID): the captured ones in it, as
    received, and the derived ones no captured event made."""
    kept = [e for e in captured if in_scope(e, items, direction)]
    events = kept + without_echoes(own, kept)
    return sorted(events, key=lambda e: (parse_us(str(e["eventTime"])), str(e["eventID"])))


def _keys(event: Mapping[str, Any], fields: tuple[str, ...]) -> set[str]:
    named: list[str] = []
    for name in fields:
        value = event.get(name)
        if isinstance(value, str):
            named.append(value)
        elif isinstance(value, list):
            named += [str(v["epcClass"]) if isinstance(v, Mapping) else str(v) for v in value if v]
    keys = set()
    for name in named:
        try:
            keys.add(item_key(name))
        except InvalidInput:
            continue  # a class pattern or a bare GTIN: no item of a scope
    return keys
