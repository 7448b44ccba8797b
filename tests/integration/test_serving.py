"""The serving tables (storage/serving.py) on real chDB: rows flushed by the sink in any order,
more than once, with later revisions, withdrawals and members unpacked, give the trace
lookups the same answers from the serving tables as from the MergeTree record."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from confluent_kafka import Consumer

from ingest.records.bundles import WITHDRAWN
from ingest.settings import Settings
from storage import queries
from storage.client import Store, connect
from storage.serving import SERVED, rebuild, refill
from storage.sink import Sink

pytestmark = pytest.mark.integration

S = 1_000_000
T0 = 1_767_225_600 * S  # 2026-01-01
SITE, LINE = "S1", "L1"
PALLET, CASE = "urn:epc:id:sscc:0614141.1000000001", "urn:epc:id:sgtin:0614141.000012.1"
UNITS = [f"urn:epc:id:sgtin:0614141.000011.{n}" for n in range(3)]
LOT = "urn:epc:class:lgtin:0614141.000009.COIL-7"


def pass_row(item: str, n: int, revision: int, outcome: str = "movement", line: str = LINE) -> dict[str, Any]:
    return {
        "pass_id": f"{item}#{n}",
        "item": item,
        "site": SITE,
        "line": line,
        "station": f"ST{n}",
        "stage": f"s{n}",
        "reader_id": f"R{n}",
        "first_seen": T0 + n * 60 * S,
        "last_seen": T0 + n * 60 * S + 2 * S,
        "reads": 10 + revision,
        "product": "P",
        "job": f"J-{revision}",
        "outcome": outcome,
        "detail": f"rev {revision}",
        "route_index": n,
        "revision": revision,
        "direction": "",
        "operator": "",
    }


def state_row(item: str, revision: int, stage: str, line: str = LINE) -> dict[str, Any]:
    return {
        "item": item,
        "site": SITE,
        "line": line,
        "product": "P",
        "job": "J-1",
        "stage": stage,
        "station": f"ST-{stage}",
        "status": "in_process",
        "parent": "",
        "first_seen": T0,
        "last_seen": T0 + revision * S,
        "passes": revision,
        "on_hold": 0,
        "revision": revision,
        "route_stage": stage,
    }


def closure_row(
    node: str, direction: str, other: str, depth: int, version: int, present: int = 1
) -> dict[str, Any]:
    return {
        "node": node,
        "direction": direction,
        "other": other,
        "depth": depth,
        "present": present,
        "version": version,
        "site": SITE,
        "line": LINE,
        "station": "PACK",
        "time": T0 + version * S,
    }


def messages() -> list[dict[str, list[dict[str, Any]]]]:
    """What stage 2 sends, one trace message each: passes revised (their verdict changed),
    one withdrawn, states revised, a case packed into a pallet and a unit unpacked from it."""
    out: list[dict[str, list[dict[str, Any]]]] = []
    for item in [*UNITS, CASE, PALLET]:
        for rev in (1, 2, 3):
            out.append(
                {
                    "passes": [
                        pass_row(item, n, rev, "movement" if rev < 3 else "skipped_stage")
                        for n in range(rev + 1)
                    ],
                    "item_state": [state_row(item, rev, f"s{rev}")],
                }
            )
    out.append({"passes": [pass_row(UNITS[0], 1, 4, WITHDRAWN)]})
    out.append(
        {"passes": [pass_row(UNITS[1], 5, 4, line="L2")], "item_state": [state_row(UNITS[1], 4, "s5", "L2")]}
    )
    links = []
    for unit in UNITS:
        links += [closure_row(CASE, "down", unit, 1, 1), closure_row(unit, "up", CASE, 1, 1)]
        links += [closure_row(PALLET, "down", unit, 2, 2), closure_row(unit, "up", PALLET, 2, 2)]
    links += [closure_row(PALLET, "down", CASE, 1, 2), closure_row(CASE, "up", PALLET, 1, 2)]
    # a lot never read itself (no state, no passes) went into the pallet
    links += [closure_row(PALLET, "up", LOT, 1, 2), closure_row(LOT, "down", PALLET, 1, 2)]
    out.append({"genealogy": links})
    unpacked = UNITS[2]
    out.append(
        {
            "genealogy": [
                closure_row(CASE, "down", unpacked, 1, 3, present=0),
                closure_row(unpacked, "up", CASE, 1, 3, present=0),
                closure_row(PALLET, "down", unpacked, 2, 3, present=0),
                closure_row(unpacked, "up", PALLET, 2, 3, present=0),
            ]
        }
    )
    return out


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[tuple[Store, Store]]:
    """A store the messages reach in the order sent, and one they reach as a test delivers
    them (two databases of one engine: chDB opens one directory per process)."""
    dsn = f"chdb://{tmp_path / 'ch'}"
    sent, delivered = (
        connect(Settings(clickhouse_dsn=dsn, clickhouse_database=db, serving_tables=True))
        for db in ("sent", "delivered")
    )
    try:
        deliver(sent, [[m] for m in messages()])
        yield sent, delivered
    finally:
        sent.close()
        delivered.close()


def deliver(
    store: Store, batches: list[list[dict[str, list[dict[str, Any]]]]], serving_tables: bool = True
) -> None:
    """Each batch of messages taken by the sink and flushed, as a run of the sink does."""
    sink = Sink(Settings(serving_tables=serving_tables), store, consumer=cast(Consumer, object()))
    for batch in batches:
        for message in batch:
            sink.add_trace(message)
        sink.flush()


def answers(store: Store, serving: bool) -> dict[str, Any]:
    store.serving = serving
    try:
        items = [*UNITS, CASE, PALLET, LOT]
        return {
            "history": {i: queries.item_history(store, i) for i in items},
            "history_l1": {i: queries.item_history(store, i, SITE, LINE) for i in items},
            "states": sorted(queries.item_states(store, items), key=lambda s: str(s["item"])),
            "trace_up": {i: queries.trace(store, i, "up") for i in items},
            "trace_down": {i: queries.trace(store, i, "down", SITE, LINE) for i in items},
            "recall": queries.recall(store, UNITS[0]),
        }
    finally:
        store.serving = True


def expected_sample(found: dict[str, Any]) -> None:
    """What the scenario must show, whichever path answers."""
    withdrawn = {p["pass_id"] for p in found["history"][UNITS[0]]}
    assert f"{UNITS[0]}#1" not in withdrawn and f"{UNITS[0]}#0" in withdrawn
    assert {p["detail"] for p in found["history"][CASE]} == {"rev 3"}
    assert [p["line"] for p in found["history"][UNITS[1]]].count("L2") == 1
    assert [n["item"] for n in found["trace_down"][CASE]["nodes"]] == UNITS[:2]
    assert {s["item"]: s["stage"] for s in found["states"]}[UNITS[1]] == "s5"
    assert [(n["item"], n["stage"]) for n in found["trace_up"][PALLET]["nodes"]] == [(LOT, "")]


# Rows sent later overtake earlier ones (unkeyed trace messages on several partitions, or a
# replay): the serving tables keep the latest revision of each element whatever the order.
# The record does too, but for one case: a withdrawal that arrives before an older revision
# of its pass deletes nothing, and the older revision inserted after it shows in the record.
@pytest.mark.parametrize(
    ("order", "record_too"),
    [
        pytest.param("in order", True, id="in order, one flush each"),
        pytest.param("one flush", True, id="all in one flush"),
        pytest.param("newest first", False, id="newest first"),
        pytest.param("shuffled twice", None, id="shuffled and every message delivered twice"),
    ],
)
def test_serving_tables_answer_as_the_record_of_the_rows_in_order(
    stores: tuple[Store, Store], order: str, record_too: bool | None
) -> None:
    """``record_too``: whether the record answers as in order too (None: it depends on the shuffle)."""
    sent, delivered = stores
    messages_sent = messages()
    if order == "newest first":
        batches = [[m] for m in reversed(messages_sent)]
    elif order == "shuffled twice":
        twice = messages_sent + messages_sent
        random.Random(18).shuffle(twice)
        batches = [twice[i : i + 3] for i in range(0, len(twice), 3)]
    elif order == "one flush":
        batches = [messages_sent]
    else:
        batches = [[m] for m in messages_sent]
    deliver(delivered, batches)
    reference = answers(sent, serving=False)

    assert answers(sent, serving=True) == reference
    assert answers(delivered, serving=True) == reference
    if record_too is not None:
        assert (answers(delivered, serving=False) == reference) is record_too
    expected_sample(reference)


def test_a_replayed_older_revision_replaces_neither_a_newer_one_nor_a_withdrawal(
    stores: tuple[Store, Store],
) -> None:
    sent, delivered = stores
    deliver(delivered, [[m] for m in messages()])
    deliver(delivered, [[m] for m in messages()[:6]])  # the oldest messages again, after a restart

    assert answers(delivered, serving=True) == answers(sent, serving=False)


def test_a_refill_from_the_record_answers_as_the_sinks_merges(stores: tuple[Store, Store]) -> None:
    """What the query bench and a store upgraded run (``serving.refill``) gives what the sink wrote."""
    sent, _ = stores
    merged = answers(sent, serving=True)
    for spec in SERVED.values():
        sent.command(f"TRUNCATE TABLE {spec.table}")
    assert answers(sent, serving=True) != merged

    refill(sent)

    assert answers(sent, serving=True) == merged


def test_a_store_kept_without_them_is_rebuilt_before_they_are_turned_on(stores: tuple[Store, Store]) -> None:
    """``linetrace serving refill``: a sink that ran without the serving tables left them
    behind the record; rebuilt, they answer as the record does, and hold no row of a key the
    record does not have."""
    sent, delivered = stores
    deliver(delivered, [[m] for m in messages()], serving_tables=False)
    delivered.command("INSERT INTO kv_item_state (item, site, revision) VALUES ('urn:gone', 'S', 1)")
    reference = answers(sent, serving=False)
    assert answers(delivered, serving=True) != reference

    rows = rebuild(delivered)

    assert answers(delivered, serving=True) == reference
    assert rows["kv_item_state"] > 0
    assert delivered.query("SELECT count() AS n FROM kv_item_state WHERE item = 'urn:gone'")[0]["n"] == 0
