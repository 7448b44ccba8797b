"""The merge that keeps a serving row (storage/serving.py): per element, the highest revision
wins, whatever order the rows come in and however often."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from storage.client import migrations, statements
from storage.serving import SERVED, Elements, Key, merge, refill_statements

PASSES = SERVED["passes"]
STATE = SERVED["item_state"]
CLOSURE = SERVED["genealogy"]


def pass_row(pass_id: str, revision: int, outcome: str = "movement", item: str = "I1") -> dict[str, Any]:
    return {
        "pass_id": pass_id,
        "item": item,
        "site": "S",
        "line": "L",
        "station": "ST",
        "stage": "s",
        "reader_id": "R",
        "first_seen": 10,
        "last_seen": 12,
        "reads": revision,
        "product": "P",
        "job": "J",
        "outcome": outcome,
        "detail": "",
        "route_index": 0,
        "revision": revision,
        "direction": "",
        "operator": "",
    }


def outcomes(merged: dict[Key, Elements], key: Key = ("I1",)) -> dict[str, tuple[int, str]]:
    return {e: (v["revision"], v["outcome"]) for e, v in merged[key].items()}


ROWS = [
    pass_row("p1", 1),
    pass_row("p2", 1),
    pass_row("p1", 2, "skipped_stage"),
    pass_row("p2", 3, "withdrawn"),
]


@pytest.mark.parametrize("order", list(itertools.permutations(range(len(ROWS)))), ids=str)
def test_any_order_gives_the_latest_revision_of_each_pass(order: tuple[int, ...]) -> None:
    rows = [ROWS[i] for i in order]

    assert outcomes(merge(PASSES, {}, rows)) == {"p1": (2, "skipped_stage"), "p2": (3, "withdrawn")}


@pytest.mark.parametrize(
    ("stored_rows", "new_rows", "expected"),
    [
        pytest.param(
            [pass_row("p1", 2)], [pass_row("p1", 1, "x")], None, id="an older revision changes nothing"
        ),
        pytest.param([pass_row("p1", 2)], [pass_row("p1", 2)], None, id="a replay changes nothing"),
        pytest.param(
            [pass_row("p1", 2, "withdrawn")],
            [pass_row("p1", 1)],
            None,
            id="a withdrawal stays over an older revision",
        ),
        pytest.param(
            [pass_row("p1", 1)],
            [pass_row("p2", 1)],
            {"p1": (1, "movement"), "p2": (1, "movement")},
            id="a new pass joins the stored ones",
        ),
        pytest.param(
            [pass_row("p1", 2)],
            [pass_row("p1", 2, "x")],
            {"p1": (2, "x")},
            id="an equal revision replaces, as in the record",
        ),
    ],
)
def test_merge_into_stored(
    stored_rows: list[dict[str, Any]], new_rows: list[dict[str, Any]], expected: dict[str, Any] | None
) -> None:
    stored = merge(PASSES, {}, stored_rows)

    merged = merge(PASSES, stored, new_rows)

    assert (outcomes(merged) if merged else None) == expected
    assert outcomes(stored) == outcomes(merge(PASSES, {}, stored_rows)), "stored is left as it was"


def test_rows_of_several_keys_make_a_row_each() -> None:
    merged = merge(PASSES, {}, [pass_row("p1", 1, item="A"), pass_row("p2", 1, item="B")])

    assert sorted(merged) == [("A",), ("B",)]


def test_an_item_state_keeps_its_latest_revision() -> None:
    def state(stage: str, revision: int) -> dict[str, Any]:
        empty = dict.fromkeys(c.removesuffix("_us") for c in STATE.columns)
        return {**empty, "item": "I1", "stage": stage, "revision": revision}

    merged = merge(STATE, {}, [state("b", 2), state("a", 1)])

    assert merged[("I1",)][""]["stage"] == "b"


def test_closure_rows_are_kept_per_node_and_direction_and_other() -> None:
    def closure(node: str, direction: str, other: str, version: int, present: int) -> dict[str, Any]:
        return {
            "node": node,
            "direction": direction,
            "other": other,
            "depth": 1,
            "present": present,
            "version": version,
            "site": "S",
            "line": "L",
            "station": "PACK",
            "time": version,
        }

    rows = [
        closure("C", "down", "U1", 2, 0),
        closure("C", "down", "U1", 1, 1),
        closure("U1", "up", "C", 1, 1),
    ]

    merged = merge(CLOSURE, {}, rows)

    assert merged[("C", "down")]["U1"]["present"] == 0
    assert merged[("U1", "up")]["C"]["present"] == 1


def test_the_refill_fills_every_serving_table_and_the_migration_creates_them_empty() -> None:
    sql = next(text for _, name, text in migrations() if name == "019_serving_tables.sql")

    assert not [s for s in statements(sql) if s.startswith("INSERT")]
    assert all(s.startswith("INSERT INTO ") for s in refill_statements())
    assert [s.split()[2] for s in refill_statements()] == [spec.table for spec in SERVED.values()]
