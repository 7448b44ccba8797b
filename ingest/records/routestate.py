"""The ``route-state`` topic: stage 2's changelog, one record per item key.

Partition p holds the items of item-bundles partition p. The key is the item key and the
value the item's state as JSON (``ItemState.to_dict``, streams/items.py). Each partition
also keeps its counters under keys no item key starts with (a NUL first: portal read rates
and pass counts, encoded by streams/readrates.py and streams/passcounts.py). Stage 2 and
`linetrace state restore` (streams/restore.py) encode; stage 2 decodes when it rebuilds a
partition.
"""

from __future__ import annotations

import orjson

from ingest.errors import InvalidInput
from streams.items import ItemState

TOPIC = "route-state"  # Topics.route_state: <prefix>.route-state

# The first character of every counter key; no item key starts with it.
COUNTER_KEY_START = "\x00"


def is_item_key(key: str) -> bool:
    return not key.startswith(COUNTER_KEY_START)


class RouteStateCodec:
    """Encode an item's state into its changelog record, and decode one back."""

    def encode(self, state: ItemState) -> tuple[bytes, bytes]:
        """(key, value) of the item's changelog record."""
        return state.item.encode(), orjson.dumps(state.to_dict())

    def encode_value(self, state: ItemState) -> bytes:
        return orjson.dumps(state.to_dict())

    def decode(self, value: bytes) -> ItemState:
        try:
            return ItemState.from_dict(orjson.loads(value))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise InvalidInput("bad_state", repr(exc)) from exc


CODEC = RouteStateCodec()
