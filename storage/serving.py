"""Key-value serving tables: the rows a trace looks up by key, one row per key.

The MergeTree tables are the record; a point lookup there costs 4-10 ms on chDB, a key
lookup in an EmbeddedRocksDB table about 1 ms (docs/architecture.md, "Key-value serving
tables"). So each of the three tables a trace reads by key has a serving copy:

- ``kv_passes``: an item's passes, one array element per pass (its latest revision);
- ``kv_item_state``: an item's latest state;
- ``kv_genealogy``: the closure of a (node, direction), one array element per other item
  (its latest version; a member that left has ``present = 0``, as in the record).

The sink writes them after the record (``write``), merging a flush's rows into what is
stored: per element, the highest revision (version) wins and an equal one replaces, as a
ReplacingMergeTree and ``queries._latest`` decide. The merge gives the same row whatever
order the rows arrive in and however often (at-least-once delivery). A withdrawn pass stays
in ``kv_passes`` as a tombstone (outcome ``withdrawn``, its revision), so a replay of an
older revision cannot bring it back; lookups leave tombstones out. Times are integer
microseconds in the rows, DateTime64 in the tables, as in the record.

A serving row is read, merged and written back by one process at a time: the sink. With
several sinks (a cluster), docs/operations.md says how the serving tables are kept.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from operator import itemgetter
from typing import Any

from storage.client import Store, statements

Row = Mapping[str, Any]
Key = tuple[str, ...]


@dataclass(frozen=True)
class Serving:
    """How the rows of a record table are kept in its serving table."""

    table: str
    key: tuple[str, ...]  # the serving table's primary key: columns of the record's rows
    entry: str  # the column that tells a key's elements apart; '' for one element per key
    version: str  # the higher wins, an equal one replaces
    columns: tuple[str, ...]  # the values kept: columns of the record's rows
    times: frozenset[str]  # those that hold times (DateTime64; microseconds in the rows)
    # the record columns of the values, in order (itemgetter: ~4x a dict comprehension)
    _sources: Callable[[Row], tuple[Any, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_sources", itemgetter(*self.columns))

    def values(self, row: Row) -> dict[str, Any]:
        """The values of a record row as the serving table keeps them."""
        return dict(zip(self.columns, self._sources(row), strict=True))


PASS_COLUMNS = (
    "pass_id",
    "first_seen",
    "last_seen",
    "site",
    "line",
    "stage",
    "station",
    "reader_id",
    "reads",
    "outcome",
    "detail",
    "product",
    "job",
    "direction",
    "operator",
    "revision",
)
STATE_COLUMNS = (
    "site",
    "line",
    "product",
    "job",
    "stage",
    "station",
    "status",
    "parent",
    "last_seen",
    "revision",
)
CLOSURE_COLUMNS = ("other", "depth", "present", "version", "site", "line", "station", "time")

SERVED: dict[str, Serving] = {
    "passes": Serving(
        "kv_passes", ("item",), "pass_id", "revision", PASS_COLUMNS, frozenset({"first_seen", "last_seen"})
    ),
    "item_state": Serving(
        "kv_item_state", ("item",), "", "revision", STATE_COLUMNS, frozenset({"last_seen"})
    ),
    "genealogy": Serving(
        "kv_genealogy", ("node", "direction"), "other", "version", CLOSURE_COLUMNS, frozenset({"time"})
    ),
}

# The elements of one serving row, by entry ('' for a one-element row).
Elements = dict[Any, dict[str, Any]]


def merge(spec: Serving, stored: Mapping[Key, Elements], rows: Iterable[Row]) -> dict[Key, Elements]:
    """The serving rows of the keys of ``rows`` once ``rows`` (record rows, in arrival order)
    are merged into ``stored``: per element, the highest version wins, an equal one replaces.
    Only the keys whose row changed are returned; ``stored`` is left as it was."""
    merged: dict[Key, Elements] = {}
    for row in rows:
        key = tuple(str(row[k]) for k in spec.key)
        elements = merged.get(key)
        if elements is None:
            elements = merged[key] = dict(stored.get(key, {}))
        entry = row[spec.entry] if spec.entry else ""
        kept = elements.get(entry)
        if kept is None or row[spec.version] >= kept[spec.version]:
            elements[entry] = spec.values(row)
    return {k: v for k, v in merged.items() if v != stored.get(k)}


def _key_filter(spec: Serving) -> str:
    if len(spec.key) == 1:
        return f"{spec.key[0]} IN {{keys:Array(String)}}"
    return f"({', '.join(spec.key)}) IN {{keys:Array(Tuple({', '.join('String' for _ in spec.key)}))}}"


def _as_micros(spec: Serving, column: str) -> str:
    """A column as ``read`` selects it: times as integer microseconds, as the rows hold them
    (the values of one array are then all integers when merged ones are written back)."""
    if column not in spec.times:
        return column
    if spec.entry:
        return f"arrayMap(t -> toUnixTimestamp64Micro(t), {column}) AS {column}"
    return f"toUnixTimestamp64Micro({column}) AS {column}"


def read(store: Store, spec: Serving, keys: Sequence[Key]) -> dict[Key, Elements]:
    """The stored serving rows of ``keys`` (keys never written are absent)."""
    if not keys:
        return {}
    names = ", ".join((*spec.key, *(_as_micros(spec, c) for c in spec.columns)))
    params = [k[0] for k in keys] if len(spec.key) == 1 else [tuple(k) for k in keys]
    found = store.query(f"SELECT {names} FROM {spec.table} WHERE {_key_filter(spec)}", {"keys": params})
    out: dict[Key, Elements] = {}
    entry_at = spec.columns.index(spec.entry) if spec.entry else 0
    for r in found:
        key = tuple(str(r[k]) for k in spec.key)
        if spec.entry:
            values = zip(*(r[c] for c in spec.columns), strict=True)
            out[key] = {v[entry_at]: dict(zip(spec.columns, v, strict=True)) for v in values}
        else:
            out[key] = {"": {c: r[c] for c in spec.columns}}
    return out


def write(store: Store, table: str, rows: Sequence[Row]) -> int:
    """Merge record rows of ``table`` into its serving table; returns the serving rows written.
    Run after the record's insert of the same rows: a failure leaves both to be written again."""
    spec = SERVED[table]
    keys = list(dict.fromkeys(tuple(str(r[k]) for k in spec.key) for r in rows))
    changed = merge(spec, read(store, spec, keys), rows)
    if not changed:
        return 0
    out = []
    for key, elements in changed.items():
        if spec.entry:
            kept = list(elements.values())
            out.append([*key, *([e[c] for e in kept] for c in spec.columns)])
        else:
            out.append([*key, *(elements[""][c] for c in spec.columns)])
    store.insert(spec.table, out, [*spec.key, *spec.columns])
    return len(out)


# The INSERT ... SELECTs that fill the serving tables from the record.
REFILL = "serving_refill.sql"


def refill_statements() -> list[str]:
    """The INSERT ... SELECTs that fill the serving tables from the record: what the sink's
    merges leave there, for a record written without them. ``linetrace serving refill`` runs
    them, the query bench after generating its record, and a cluster replica on its own
    tables (docs/operations.md)."""
    return statements(resources.files("storage").joinpath(REFILL).read_text(encoding="utf-8"))


def refill(store: Store) -> None:
    for statement in refill_statements():
        store.command(statement)


def rebuild(store: Store) -> dict[str, int]:
    """Empty the serving tables and fill them from the record (``linetrace serving refill``,
    with the sink stopped): what a store whose sink ran without them needs before they are
    turned on. Returns the rows of each."""
    for spec in SERVED.values():
        store.command(f"TRUNCATE TABLE {spec.table}")
    refill(store)
    return {
        spec.table: int(store.query(f"SELECT count() AS n FROM {spec.table}")[0]["n"])
        for spec in SERVED.values()
    }
