"""What a report tells of its reads (``ScanContext``: the operator, and any field declared
there later) reaches every pass it opens, on every path a pass takes: the report's wire
format, stage 1, the item-bundles record, stage 2's state and its changelog, the pass row,
and the state restore from ClickHouse. Each field of the declaration is tested here by
name, so a new one is tested without a new test."""

from __future__ import annotations

import dataclasses
from typing import Any

import orjson
import pytest

from ingest.errors import InvalidInput
from ingest.plant import Plant
from ingest.records import routestate
from ingest.records.rows import ScanColumns
from ingest.schema import SCAN_CONTEXT, SCAN_CONTEXT_MAX, ReadCycleReport
from ingest.settings import Settings
from ingest.wire import decode_report, encode_report
from streams.bundles import BundleBuilder, pass_of
from streams.dedup import PassDetector
from streams.restore import StoredTrace, restore_states
from streams.stage2 import RouteStates
from tests.unit.factories import part, part_epc, report

WINDOW_US = 5_000_000
MAX_BYTES = 1 << 20


def _told(name: str) -> ReadCycleReport:
    scan = report("R-CUT", [(part_epc(1), 1, 0)])
    told: dict[str, Any] = {name: f"{name}-7"}
    return dataclasses.replace(scan, **told)


@pytest.mark.parametrize("name", SCAN_CONTEXT)
def test_a_field_the_report_tells_reaches_the_pass_row_and_comes_back(plant: Plant, name: str) -> None:
    value = f"{name}-7"
    scan = decode_report(encode_report(_told(name)), MAX_BYTES)
    assert getattr(scan, name) == value

    [p] = PassDetector(WINDOW_US).passes_of(scan, plant)
    assert getattr(p, name) == value
    builder = BundleBuilder(1)
    builder.add_pass(p)
    [record] = builder.by_partition[0]
    assert pass_of(record) == p

    states = RouteStates(Settings(partitions=1), plant)
    states.load(0, [])
    states.apply(0, [record])
    [row] = states.settle(0, idle=True).rows.passes
    assert row[name] == value  # type: ignore[literal-required]

    state = states.items[0][part(1)]
    [kept] = routestate.CODEC.decode(routestate.CODEC.encode(state)[1]).history
    assert getattr(kept.context, name) == value

    restored = restore_states(StoredTrace(items=[{"item": part(1)}], passes=[row]), plant)
    [rebuilt] = restored[part(1)].history
    assert getattr(rebuilt.context, name) == value


@pytest.mark.parametrize("name", SCAN_CONTEXT)
def test_a_field_left_untold_is_left_out_of_the_wire(name: str) -> None:
    obj = orjson.loads(encode_report(report("R-CUT", [(part_epc(1), 1, 0)])))
    assert name not in obj


@pytest.mark.parametrize("name", SCAN_CONTEXT)
@pytest.mark.parametrize("bad", [7, None, ["x"], "x" * (SCAN_CONTEXT_MAX + 1)], ids=repr)
def test_a_field_that_is_not_short_text_is_refused(name: str, bad: object) -> None:
    obj = orjson.loads(encode_report(report("R-CUT", [(part_epc(1), 1, 0)])))
    obj[name] = bad
    with pytest.raises(InvalidInput, match=name) as refused:
        decode_report(orjson.dumps(obj), MAX_BYTES)
    assert refused.value.reason == "missing_field"


def test_every_field_of_the_declaration_has_its_column_in_the_pass_row() -> None:
    assert tuple(ScanColumns.__annotations__) == SCAN_CONTEXT
