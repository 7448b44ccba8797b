"""What the screens' action forms become: the wire events the CLI and the API post."""

from __future__ import annotations

import orjson
import pytest

from ingest.errors import InvalidInput
from ingest.timefmt import parse_us
from storage.screens.actionforms import hold_released, item_keys, job_created

NOW = parse_us("2026-03-02T08:00:00Z")
WHERE = {"site": "S1", "line": "L1"}


def test_item_keys_are_taken_one_per_line_or_separated_by_commas_once_each() -> None:
    assert item_keys("urn:a\n urn:b, urn:c urn:a\r\n") == ("urn:a", "urn:b", "urn:c")
    with pytest.raises(InvalidInput, match="name at least one"):
        item_keys(" \n ")


def test_a_release_names_the_items_the_hold_is_still_on() -> None:
    def event(item: str, kind: str) -> dict[str, str]:
        return {"item": item, "event": kind, "hold_type": "qc", "owner": "QA"}

    placed = [event("a", "placed"), event("b", "placed"), event("b", "released"), event("c", "placed")]
    action = hold_released({**WHERE, "hold_id": "H-1"}, NOW, placed)
    body = orjson.loads(action.payload)
    assert (body["event"], body["items"], body["owner"]) == ("released", ["a", "c"], "QA")
    assert action.done == "hold H-1 released from 2 item(s)"
    with pytest.raises(InvalidInput, match="on no item now"):
        hold_released({**WHERE, "hold_id": "H-1"}, NOW, [event("b", "placed"), event("b", "released")])


@pytest.mark.parametrize(
    ("due", "expected"),
    [
        pytest.param("2026-03-09T17:30", "2026-03-09T17:30:00", id="browser date and time, as UTC"),
        pytest.param("2026-03-09T17:30:00+01:00", "2026-03-09T16:30:00", id="with an offset"),
        pytest.param("", None, id="no due date"),
    ],
)
def test_a_job_is_created_with_its_due_date(due: str, expected: str | None) -> None:
    form = {**WHERE, "job": "J-1", "product": "PART", "quantity": "5", "due": due}
    body = orjson.loads(job_created(form, NOW).payload)
    assert (body["event"], body["quantity"]) == ("created", 5)
    assert (body.get("due") or "")[:19] == (expected or "")


def test_a_quantity_that_is_not_a_whole_number_is_refused() -> None:
    with pytest.raises(InvalidInput, match="quantity: not a whole number"):
        job_created({**WHERE, "job": "J-1", "product": "PART", "quantity": "2.5"}, NOW)
