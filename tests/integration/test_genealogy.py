"""Genealogy in depth through the real broker, worker, sink and chDB: a lot transformed into
parts, parts assembled into a kit, the kit packed, unpacked and packed again, dispatched and
seen again; a hold on the lot; portal direction and operators on scans."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from ingest.epc import item_key
from ingest.errors import InvalidInput
from ingest.schema import Aggregation, HoldEvent, ReadCycleReport, TagRead, Transformation
from ingest.timefmt import now_us
from ingest.wire import encode_aggregation, encode_hold, encode_report, encode_transformation
from storage.client import connect
from tests.integration.conftest import Pipeline
from tests.integration.scenario import LINE, PLANT, SITE, kit, part

pytestmark = pytest.mark.integration

S = 1_000_000
LOT = "urn:epc:class:lgtin:0614141.000009.COIL-7"
PALLET_1 = "urn:epc:id:sscc:0614141.1000000001"
PALLET_2 = "urn:epc:id:sscc:0614141.1000000002"


def _plant() -> dict[str, Any]:
    """The scenario line with a two-sided portal at A1, a handheld at B1, and d the dispatch dock."""
    doc = copy.deepcopy(PLANT)
    line = doc["sites"][0]["lines"][0]
    line["dispatch_stages"] = ["d"]
    for rp in line["read_points"]:
        if rp["reader"] == "RA":
            rp["side"] = "outside" if rp["antenna"] == 1 else "inside"
    line["read_points"].append({"reader": "RH", "antenna": 0, "station": "B1"})
    return doc


def _report(
    reader: str, seq: int, start: int, reads: list[tuple[str, int, float]], operator: str = ""
) -> bytes:
    tag_reads = tuple(TagRead(epc, antenna, start + int(dt * S), 2, -55.0) for epc, antenna, dt in reads)
    return encode_report(
        ReadCycleReport(
            site=SITE,
            line=LINE,
            reader_id=reader,
            cycle_seq=seq,
            cycle_start_us=start,
            reads=tag_reads,
            operator=operator,
        )
    )


def test_transform_assemble_pack_unpack_dispatch_and_recall(
    pipeline_factory: Callable[[dict[str, Any]], Pipeline],
) -> None:
    p = pipeline_factory(_plant())
    t = p.topics
    base = now_us() - 600 * S
    e1, e2, ek = part(1), part(2), kit(4)
    p1, p2, k4 = item_key(e1), item_key(e2), item_key(ek)

    # p1 enters through A1 (outside antenna first), p2 leaves through it (inside first).
    a1 = [(e1, 1, 0), (e1, 1, 0.1), (e2, 2, 0), (e2, 2, 0.1), (e1, 2, 0.4), (e2, 1, 0.4)]
    p.send(t.reads, _report("RA", 0, base, a1), b"RA")
    tf = Transformation(
        site=SITE,
        line=LINE,
        station="A1",
        transformation_id="T-1",
        inputs=(LOT,),
        outputs=(p1, p2),
        time_us=base + 5 * S,
    )
    p.send(t.aggregations, encode_transformation(tf), b"T-1")
    p.send(t.reads, _report("RH", 0, base + 10 * S, [(e1, 0, 0), (e2, 0, 1)], operator="OP-7"), b"RH")
    genealogy = [
        Aggregation(site=SITE, line=LINE, station="C1", parent=k4, children=(p1, p2), time_us=base + 20 * S),
        Aggregation(
            site=SITE, line=LINE, station="D1", parent=PALLET_1, children=(k4,), time_us=base + 30 * S
        ),
        Aggregation(
            site=SITE,
            line=LINE,
            station="D1",
            parent=PALLET_1,
            children=(k4,),
            time_us=base + 35 * S,
            action="delete",
        ),
        Aggregation(
            site=SITE, line=LINE, station="D1", parent=PALLET_2, children=(k4,), time_us=base + 40 * S
        ),
    ]
    for agg in genealogy:
        p.send(t.aggregations, encode_aggregation(agg), agg.parent.encode())
    p.send(t.reads, _report("RC", 0, base + 20 * S, [(ek, 1, 0)]), b"RC")
    p.send(t.reads, _report("RD", 0, base + 50 * S, [(ek, 1, 0)]), b"RD")  # dispatched
    p.send(t.reads, _report("RC", 1, base + 60 * S, [(ek, 1, 0)]), b"RC")  # seen after dispatch
    hold = HoldEvent(
        event="placed",
        hold_id="H-9",
        site=SITE,
        line=LINE,
        items=(LOT,),
        hold_type="material",
        owner="QA",
        reason="coil cracked",
        time_us=base + 70 * S,
    )
    p.send(t.jobs, encode_hold(hold), b"H-9")
    p.flush()

    expected_recall = [
        (0, LOT, "consumed"),
        (1, p1, "assembled"),
        (1, p2, "assembled"),
        (2, k4, "dispatched"),
        (3, PALLET_2, "new"),
    ]

    def recalled() -> list[tuple[int, str, str]]:
        return [(r["depth"], r["item"], r["status"]) for r in p.query("recall", item=LOT)]

    def settled() -> bool:
        held = sorted(h["item"] for h in p.query("held"))
        return recalled() == expected_recall and held == sorted([LOT, p1, p2, k4, PALLET_2])

    p.wait_until(settled, what="the recall scope and the hold to reach the repacked pallet")
    p.wait_until(lambda: len(p.query("history", item=k4)) == 3, what="the kit's last pass")

    assert p.query("genealogy", item=PALLET_1, direction="down") == []
    down = p.query("genealogy", item=PALLET_2, direction="down")
    assert [(d["depth"], d["item"]) for d in down] == [(1, k4), (2, p1), (2, p2), (3, LOT)]
    with pytest.raises(InvalidInput, match="line: 'OTHER' is not a line of the plant"):
        p.query("genealogy", item=PALLET_2, direction="down", line="OTHER")
    up = p.query("genealogy", item=p1, direction="up")
    assert [(u["depth"], u["item"], u["status"]) for u in up] == [(1, k4, "dispatched"), (2, PALLET_2, "new")]

    history = p.query("history", item=p1)
    assert [(h["station"], h["direction"], h["operator"], h["outcome"]) for h in history] == [
        ("A1", "enter", "", "movement"),
        ("B1", "", "OP-7", "movement"),
    ]
    assert [h["direction"] for h in p.query("history", item=p2)] == ["exit", ""]
    kit_history = p.query("history", item=k4)
    assert [(h["station"], h["outcome"], h["detail"]) for h in kit_history] == [
        ("C1", "movement", ""),
        ("D1", "movement", ""),
        ("C1", "seen_after_dispatch", "at c after dispatch"),
    ]
    p.wait_until(
        lambda: [(v["item"], v["type"]) for v in p.query("violations")] == [(k4, "seen_after_dispatch")],
        what="the violation confirmed once the reorder window passed",
    )

    [op] = p.query("operators")
    assert (op["operator"], op["stage"], op["passes"], op["items"], op["violations"]) == (
        "OP-7",
        "b",
        2,
        2,
        0,
    )
    assert op["passes_per_hour"] == 120.0  # two passes, counted over at least a minute

    p.stop_sink()
    store = connect(p.settings)
    try:
        links = store.query(
            "SELECT node, other, action, kind FROM links FINAL WHERE direction = 'down' "
            "ORDER BY time, node, other"
        )
        assert [(r["node"], r["other"], r["action"], r["kind"]) for r in links] == [
            (p1, LOT, "add", "transformation"),
            (p2, LOT, "add", "transformation"),
            (k4, p1, "add", "aggregation"),
            (k4, p2, "add", "aggregation"),
            (PALLET_1, k4, "add", "aggregation"),
            (PALLET_1, k4, "delete", "aggregation"),
            (PALLET_2, k4, "add", "aggregation"),
        ]
    finally:
        store.close()
