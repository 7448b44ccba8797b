from __future__ import annotations

from dataclasses import replace
from typing import Any

import orjson
import pytest

from ingest.plant import Plant
from ingest.records.routestate import CODEC as ROUTE_STATE
from ingest.schema import pass_id
from ingest.settings import Settings
from streams.items import ItemState
from streams.route import Step, judge
from streams.stage2 import Changes, RouteStates
from streams.verdicts import MAX_HISTORY
from tests.plugins.stage2 import feed, loaded
from tests.unit.factories import T0, at, kit, part, pass_record
from tests.unit.streams.unversioned import unversioned_record

SETTINGS = Settings(dedup_window_s=1.0, reorder_window_s=2.0)
P = 0
ITEM = part(1)
KIT = kit(1)

Record = dict[str, Any]


def _states(plant: Plant, changelog: list[tuple[int, str, bytes]] | None = None) -> RouteStates:
    return loaded(plant, SETTINGS, P, [(item.encode(), state) for _, item, state in changelog or []])


def _feed(states: RouteStates, *records: Record, idle: bool = False) -> Changes:
    return feed(states, P, *records, idle=idle)


def _kit_journey(repeats: int) -> list[Record]:
    """A kit reworked once, then seen ``repeats`` more times at assembly, then reworked once too often."""
    stations = ["ASSY-1", "QC-1", "ASSY-1"] + ["ASSY-1"] * repeats + ["QC-1", "ASSY-1", "PACK-1"]
    # 10 s apart: far outside the dedup window, so every record is a pass of its own.
    return [pass_record(KIT, station, 10 * i) for i, station in enumerate(stations)]


def _qc(result: str, seconds: float, withdrawn: bool = False) -> Record:
    return {
        "k": "qc",
        "item": ITEM,
        "result": result,
        "time": at(seconds),
        **({"withdrawn": True} if withdrawn else {}),
    }


# Each scenario: records fed before the state is saved, then records fed after (None: settle when idle).
SCENARIOS = [
    pytest.param(
        [pass_record(ITEM, "CUT-1", 0), pass_record(ITEM, "MACH-1", 10)],
        [pass_record(ITEM, "ASSY-1", 20), None, pass_record(ITEM, "MACH-1", 30), None],
        id="saved with a pass pending",
    ),
    pytest.param(
        [pass_record(ITEM, "MACH-1", 10), pass_record(ITEM, "ASSY-1", 20), None],
        [pass_record(ITEM, "CUT-1", 5), {"k": "assembled", "item": ITEM, "parent": KIT}, None],
        id="saved with a violation a late pass retracts",
    ),
    pytest.param(
        [*_kit_journey(MAX_HISTORY)[:-3], None],
        [*_kit_journey(MAX_HISTORY)[-3:], None],
        id="saved after the history folded",
    ),
    pytest.param(
        [pass_record(ITEM, "CUT-1", 0), _qc("fail", 5), _qc("pass", 3), None],
        [_qc("fail", 5, withdrawn=True), None],
        id="saved with QC results a withdrawal goes back to",
    ),
]


def _run(states: RouteStates, steps: list[Record | None]) -> list[Changes]:
    return [states.settle(P, idle=True) if r is None else _feed(states, r) for r in steps]


@pytest.mark.parametrize("before", [pytest.param(s.values[0], id=s.id) for s in SCENARIOS])
def test_item_state_survives_its_changelog_record(states: RouteStates, before: list[Record | None]) -> None:
    latest = {
        item: record
        for changes in _run(states, before)
        for _, item, record in changes.changelog
        if not item.startswith("\x00")  # partition counters, not item states
    }

    assert latest
    for item, record in latest.items():
        state = states.items[P][item]
        assert ROUTE_STATE.decode(record) == state
        assert ROUTE_STATE.decode(ROUTE_STATE.encode_value(state)) == state


@pytest.mark.parametrize(("before", "after"), SCENARIOS)
def test_state_restored_from_changelog_gives_identical_later_rows(
    plant: Plant, before: list[Record | None], after: list[Record | None]
) -> None:
    running = _states(plant)
    saved = [c for changes in _run(running, before) for c in changes.changelog]
    restored = _states(plant, saved)

    expected = _run(running, after)
    got = _run(restored, after)

    # WIP counts carry the clock as revision, and a loaded partition writes all of them once.
    assert [replace(c, wip_counts=[]) for c in got] == [replace(c, wip_counts=[]) for c in expected]
    assert restored.wip_counts[P].groups == running.wip_counts[P].groups
    assert any(len(c.rows) for c in got)


@pytest.mark.parametrize("before", [pytest.param(s.values[0], id=s.id) for s in SCENARIOS])
def test_item_state_comes_back_from_a_record_written_before_versions(
    states: RouteStates, before: list[Record | None]
) -> None:
    changed = {item for changes in _run(states, before) for _, item, _ in changes.changelog}
    for item in changed - {k for k in changed if k.startswith("\x00")}:
        state = states.items[P][item]
        assert orjson.loads(ROUTE_STATE.encode_value(state))["v"] == 2
        # A record of before versions kept the QC result in force only.
        assert ROUTE_STATE.decode(orjson.dumps(unversioned_record(state))) == replace(
            state, qcs=state.qcs[-1:]
        )


def test_states_saved_before_fold_counting_still_load() -> None:
    state = ItemState(ITEM, product="PART", revision=4)
    record = unversioned_record(state)
    del record["folded"], record["folded_first_us"]

    assert ROUTE_STATE.decode(orjson.dumps(record)) == state


def test_history_beyond_max_folds_but_verdicts_stay_right(plant: Plant) -> None:
    journey = _kit_journey(MAX_HISTORY + 10)
    states = _states(plant)
    first_verdicts: dict[str, tuple[str, str]] = {}
    item_rows = []

    for record in journey:
        changes = _feed(states, record, idle=True)
        for row in changes.rows.passes:
            first_verdicts.setdefault(row["pass_id"], (row["outcome"], row["detail"]))
        item_rows.extend(changes.rows.item_state)
        [(_, _, saved)] = [c for c in changes.changelog if not c[1].startswith("\x00")]
        assert len(orjson.loads(saved)["history"]) <= MAX_HISTORY

    route = plant.products["KIT"].route
    steps = [Step(pass_id(r["item"], r["station"], r["first"]), r["stage"], r["first"]) for r in journey]
    expected, _ = judge(route, steps)
    assert [first_verdicts[s.pass_id] for s in steps] == [(v.outcome, v.detail) for v in expected]
    assert [first_verdicts[s.pass_id] for s in steps[-3:]] == [
        ("movement", ""),
        ("loop_limit_exceeded", "rework qc>assemble #2 > 1"),
        ("skipped_stage", "missing qc"),
    ]
    last = item_rows[-1]
    assert (last["stage"], last["status"]) == ("pack", "complete")
    assert (last["passes"], last["first_seen"], last["last_seen"]) == (
        len(journey),
        T0,
        at(10 * (len(journey) - 1)),
    )
