from __future__ import annotations

from dataclasses import replace
from typing import Any

import orjson
import pytest

from ingest.plant import Plant
from ingest.schema import Aggregation, JobEvent, QcResult
from ingest.settings import Settings
from ingest.wire import encode_aggregation, encode_job_event, encode_qc, encode_report
from streams.bundles import decode_bundle, item_partition
from streams.stage1 import Batch, Stage1
from tests.unit.factories import at, kit, part, part_epc, report

SETTINGS = Settings(partitions=4, dedup_window_s=1.0, max_future_skew_s=300.0, max_age_s=3600.0)
NOW = at(60)
WHERE = ("lt.reads", 2, 41)

A, B = part_epc(1), part_epc(2)


def _records(batch: Batch) -> list[tuple[int, dict[str, Any]]]:
    """Every item record sent to stage 2, with the partition it went to."""
    return [
        (p, r)
        for p, payload in batch.bundles.messages()
        for r in decode_bundle(payload)
        if r["k"] != "progress"
    ]


def _dead(batch: Batch) -> list[dict[str, Any]]:
    return [orjson.loads(d) for d in batch.dead_letters]


def _nothing_but_dead_letters(batch: Batch) -> bool:
    return _records(batch) == [] and all(rows == [] for rows in batch.trace.values())


def test_report_becomes_passes_per_partition_and_a_read_cycle_row(plant: Plant) -> None:
    stage1 = Stage1(SETTINGS, plant)
    batch = stage1.new_batch()
    payload = encode_report(report("R-CUT", [(A, 1, 0, 3), (A, 2, 0.1), (B, 1, 0.2)], seq=7))

    stage1.take_report(batch, payload, WHERE, NOW)

    records = _records(batch)
    assert sorted((r["item"], r["station"], r["first"], r["last"], r["reads"]) for _, r in records) == [
        (part(1), "CUT-1", at(0), at(0.1), 4),
        (part(2), "CUT-1", at(0.2), at(0.2), 1),
    ]
    assert all(p == item_partition(r["item"], 4) and r["k"] == "pass" for p, r in records)
    assert batch.trace["read_cycles"] == [
        {
            "report_id": "R-CUT:7",
            "site": "S1",
            "line": "L1",
            "reader_id": "R-CUT",
            "cycle_seq": 7,
            "cycle_start": at(0),
            "entries": 3,
            "read_count": 5,
            "tags": 2,
            "passes": 2,
        }
    ]
    assert batch.reads == 3
    assert batch.dead_letters == []


def test_reads_of_an_open_pass_in_a_later_batch_add_no_pass(plant: Plant) -> None:
    stage1 = Stage1(SETTINGS, plant)
    first, second = stage1.new_batch(), stage1.new_batch()

    stage1.take_report(first, encode_report(report("R-CUT", [(A, 1, 0)], seq=1)), WHERE, NOW)
    stage1.end_batch(first)
    stage1.take_report(second, encode_report(report("R-CUT", [(A, 2, 0.5)], seq=2)), WHERE, NOW)

    assert len(_records(first)) == 1
    assert _records(second) == []
    assert second.trace["read_cycles"][0]["passes"] == 0


def test_reads_on_an_unmapped_antenna_are_dead_lettered_and_the_rest_go_on(plant: Plant) -> None:
    stage1 = Stage1(SETTINGS, plant)
    batch = stage1.new_batch()
    payload = encode_report(report("R-CUT", [(A, 1, 0), (B, 7, 0)]))

    stage1.take_report(batch, payload, WHERE, NOW)

    [dead] = _dead(batch)
    assert dead["reason"] == "unknown_read_point"
    assert "antenna [7]" in dead["detail"]
    assert [r["item"] for _, r in _records(batch)] == [part(1)]
    assert batch.reads == 1


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        pytest.param(b"{not json", "malformed_json", id="malformed JSON"),
        pytest.param(
            encode_report(report("R-CUT", [(A, 1, 0)])).ljust(SETTINGS.max_message_bytes + 1),
            "oversized",
            id="oversized",
        ),
        pytest.param(encode_report(report("R-CUT", [(A, 1, 0)], line="L2")), "wrong_line", id="wrong line"),
        pytest.param(
            encode_report(report("R-CUT", [(A, 1, 0)])).replace(b'"antenna":1', b'"antenna":"1"'),
            "bad_read",
            id="bad read",
        ),
    ],
)
def test_a_bad_report_is_only_a_dead_letter(plant: Plant, payload: bytes, reason: str) -> None:
    stage1 = Stage1(SETTINGS, plant)
    batch = stage1.new_batch()

    stage1.take_report(batch, payload, WHERE, NOW)

    [dead] = _dead(batch)
    assert dead["reason"] == reason
    assert (dead["source_topic"], dead["source_partition"], dead["source_offset"]) == WHERE
    assert dead["payload_bytes"] == len(payload)
    assert dead["payload"] == payload[: 64 * 1024].decode("utf-8", errors="replace")
    assert _nothing_but_dead_letters(batch)
    assert batch.reads == 0
    # Nothing of the refused report lingers: the next good read of its item is a pass.
    later = stage1.new_batch()
    stage1.take_report(later, encode_report(report("R-CUT", [(A, 2, 0.5)], seq=2)), WHERE, NOW)
    assert [(r["item"], r["first"]) for _, r in _records(later)] == [(part(1), at(0.5))]


@pytest.mark.parametrize(
    ("bad_read_s", "reason"),
    [
        pytest.param(60 + 301, "future_timestamp", id="beyond the future skew"),
        pytest.param(60 - 3601, "stale_timestamp", id="older than the maximum age"),
    ],
)
def test_impossible_reads_are_dead_lettered_and_the_rest_make_passes(
    plant: Plant, bad_read_s: float, reason: str
) -> None:
    stage1 = Stage1(SETTINGS, plant)
    batch = stage1.new_batch()
    mixed = report("R-CUT", [(A, 1, 50), (B, 2, bad_read_s)], seq=9)

    stage1.take_report(batch, encode_report(mixed), WHERE, NOW)

    [dead] = _dead(batch)
    assert dead["reason"] == reason
    assert dead["detail"] == "1 of 2 reads of R-CUT:9 out of range"
    assert [(r["item"], r["first"]) for _, r in _records(batch)] == [(part(1), at(50))]
    [row] = batch.trace["read_cycles"]
    assert (row["entries"], row["passes"]) == (1, 1)


def test_captured_reads_of_any_age_make_passes(plant: Plant) -> None:
    """A partner's EPCIS backlog may be years old: the age limit is for readers' clocks."""
    stage1 = Stage1(SETTINGS, plant)
    batch = stage1.new_batch()
    years_ago = 60 - 3 * 365 * 86_400
    captured = replace(report("R-CUT", [(A, 1, years_ago)], seq=3), captured=True)

    stage1.take_report(batch, encode_report(captured), WHERE, NOW)

    assert batch.dead_letters == []
    assert [(r["item"], r["first"]) for _, r in _records(batch)] == [(part(1), at(years_ago))]


def test_dead_letter_id_is_stable_across_replays(plant: Plant) -> None:
    payload = b'{"v": 1, "type": "read_cycle"}'
    ids = []
    for now in (NOW, NOW + 1):
        stage1 = Stage1(SETTINGS, plant)
        batch = stage1.new_batch()
        stage1.take_report(batch, payload, WHERE, now)
        ids.append(_dead(batch)[0]["dead_letter_id"])

    assert ids[0] == ids[1]


def test_aggregation_links_both_ways_and_marks_children_assembled(plant: Plant) -> None:
    children = (part(1), part(2))
    payload = encode_aggregation(
        Aggregation(site="S1", line="L1", station="ASSY-1", parent=kit(1), children=children, time_us=at(30))
    )
    batches = []
    for _ in range(2):  # a replay of the same event
        stage1 = Stage1(SETTINGS, plant)
        batches.append(stage1.new_batch())
        stage1.take_aggregation(batches[-1], payload, WHERE)

    links = batches[0].trace["links"]
    assert sorted((r["node"], r["other"], r["direction"]) for r in links) == sorted(
        [(kit(1), c, "down") for c in children] + [(c, kit(1), "up") for c in children]
    )
    assert {(r["site"], r["line"], r["station"], r["time"]) for r in links} == {
        ("S1", "L1", "ASSY-1", at(30))
    }
    link_ids = {tuple(sorted((r["node"], r["other"]))): r["link_id"] for r in links}
    assert len(set(link_ids.values())) == len(children)
    for r in links:
        assert r["link_id"] == link_ids[tuple(sorted((r["node"], r["other"])))]
    assert batches[1].trace["links"] == links
    assert sorted((p, r["k"], r["item"], r["parent"]) for p, r in _records(batches[0])) == sorted(
        (item_partition(c, 4), "assembled", c, kit(1)) for c in children
    )
    assert batches[0].dead_letters == []


def test_a_bad_aggregation_is_only_a_dead_letter(plant: Plant) -> None:
    stage1 = Stage1(SETTINGS, plant)
    batch = stage1.new_batch()
    payload = encode_aggregation(
        Aggregation(site="S1", line="L1", station="ASSY-1", parent=kit(1), children=(kit(1),), time_us=at(30))
    )

    stage1.take_aggregation(batch, payload, WHERE)

    assert [d["reason"] for d in _dead(batch)] == ["bad_aggregation"]
    assert _nothing_but_dead_letters(batch)


def test_job_event_gives_a_job_row_and_binds_its_items(plant: Plant) -> None:
    stage1 = Stage1(SETTINGS, plant)
    batch = stage1.new_batch()
    event = JobEvent(
        event="items_bound",
        job="J-1",
        site="S1",
        line="L1",
        product="PART",
        quantity=10,
        items=(part(1), part(2)),
        time_us=at(1),
    )

    stage1.take_job_event(batch, encode_job_event(event), WHERE)

    assert batch.trace["jobs"] == []  # only "created" makes the job card
    assert [(e["job"], e["event"], e["items"]) for e in batch.trace["job_events"]] == [
        ("J-1", "items_bound", 2)
    ]
    assert sorted((p, r["k"], r["item"], r["job"], r["product"]) for p, r in _records(batch)) == sorted(
        (item_partition(i, 4), "bind", i, "J-1", "PART") for i in (part(1), part(2))
    )
    # Each binding is kept per item too, so an item bound before its first read keeps its job.
    assert [(b["item"], b["job"], b["product"], b["time"]) for b in batch.trace["job_bindings"]] == [
        (part(1), "J-1", "PART", at(1)),
        (part(2), "J-1", "PART", at(1)),
    ]


def test_a_created_job_carries_its_plan(plant: Plant) -> None:
    stage1 = Stage1(SETTINGS, plant)
    batch = stage1.new_batch()
    event = JobEvent(
        event="created",
        job="J-2",
        site="S1",
        line="L1",
        product="PART",
        quantity=50,
        items=(),
        time_us=at(1),
        planned_start_us=at(10),
        planned_end_us=at(3600),
        due_us=at(7200),
        target_rate_per_h=60.0,
    )
    stage1.take_job_event(batch, encode_job_event(event), WHERE)
    assert batch.trace["jobs"] == [
        {
            "job": "J-2",
            "site": "S1",
            "line": "L1",
            "product": "PART",
            "quantity": 50,
            "created": at(1),
            "planned_start": at(10),
            "planned_end": at(3600),
            "due": at(7200),
            "target_rate_per_h": 60.0,
        }
    ]


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        pytest.param(
            JobEvent(
                event="blocker_opened",
                job="J-1",
                site="S1",
                line="L1",
                product="",
                quantity=0,
                items=(),
                time_us=at(1),
            ),
            "bad_job_event",
            id="blocker without id",
        ),
        pytest.param(
            JobEvent(
                event="blocker_opened",
                job="J-1",
                site="S1",
                line="L1",
                product="",
                quantity=0,
                items=(),
                time_us=at(1),
                blocker_id="B1",
                blocker_type="weather",
            ),
            "bad_job_event",
            id="blocker of unknown type",
        ),
        pytest.param(
            JobEvent(
                event="items_bound",
                job="J-1",
                site="S1",
                line="L1",
                product="",
                quantity=0,
                items=(part(1),),
                time_us=at(1),
            ),
            "missing_field",
            id="binding without product",
        ),
    ],
)
def test_bad_job_card_events_are_dead_lettered(plant: Plant, event: JobEvent, reason: str) -> None:
    stage1 = Stage1(SETTINGS, plant)
    batch = stage1.new_batch()
    stage1.take_job_event(batch, encode_job_event(event), WHERE)
    assert [d["reason"] for d in _dead(batch)] == [reason]


def test_blockers_delays_and_dispatch_are_job_events(plant: Plant) -> None:
    stage1 = Stage1(SETTINGS, plant)
    batch = stage1.new_batch()
    for ev in (
        JobEvent(
            event="blocker_opened",
            job="J-1",
            site="S1",
            line="L1",
            product="",
            quantity=0,
            items=(),
            time_us=at(1),
            blocker_id="B1",
            blocker_type="tool",
            owner="maint",
            note="die worn",
        ),
        JobEvent(
            event="blocker_resolved",
            job="J-1",
            site="S1",
            line="L1",
            product="",
            quantity=0,
            items=(),
            time_us=at(2),
            blocker_id="B1",
            note="die changed",
        ),
        JobEvent(
            event="delay",
            job="J-1",
            site="S1",
            line="L1",
            product="",
            quantity=0,
            items=(),
            time_us=at(3),
            note="operator shortage",
        ),
        JobEvent(
            event="ready_for_dispatch",
            job="J-1",
            site="S1",
            line="L1",
            product="",
            quantity=0,
            items=(),
            time_us=at(4),
        ),
    ):
        stage1.take_job_event(batch, encode_job_event(ev), WHERE)
    assert [(e["event"], e["blocker_id"], e["note"]) for e in batch.trace["job_events"]] == [
        ("blocker_opened", "B1", "die worn"),
        ("blocker_resolved", "B1", "die changed"),
        ("delay", "", "operator shortage"),
        ("ready_for_dispatch", "", ""),
    ]
    assert batch.dead_letters == []


def test_a_qc_result_is_recorded_and_reaches_the_item(plant: Plant) -> None:
    stage1 = Stage1(SETTINGS, plant)
    batch = stage1.new_batch()
    qc = QcResult(
        item=part(1),
        job="J-1",
        site="S1",
        line="L1",
        station="QC-1",
        result="fail",
        notes="crack at weld",
        time_us=at(5),
    )
    stage1.take_job_event(batch, encode_qc(qc), WHERE)
    assert [(r["item"], r["result"], r["notes"]) for r in batch.trace["qc_results"]] == [
        (part(1), "fail", "crack at weld")
    ]
    assert [(r["k"], r["item"], r["result"]) for _, r in _records(batch)] == [("qc", part(1), "fail")]


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        pytest.param(
            encode_job_event(
                JobEvent(
                    event="created",
                    job="J-9",
                    site="S1",
                    line="L1",
                    product="NOPE",
                    quantity=5,
                    items=(),
                    time_us=at(1),
                )
            ),
            "unknown_product",
            id="unknown product",
        ),
        pytest.param(
            encode_job_event(
                JobEvent(
                    event="cancelled",
                    job="J-9",
                    site="S1",
                    line="L1",
                    product="PART",
                    quantity=5,
                    items=(),
                    time_us=at(1),
                )
            ),
            "bad_job_event",
            id="unknown event",
        ),
    ],
)
def test_a_bad_job_event_is_only_a_dead_letter(plant: Plant, payload: bytes, reason: str) -> None:
    stage1 = Stage1(SETTINGS, plant)
    batch = stage1.new_batch()

    stage1.take_job_event(batch, payload, WHERE)

    assert [d["reason"] for d in _dead(batch)] == [reason]
    assert _nothing_but_dead_letters(batch)


STATIONS_OF_L1 = "ASSY-1, CUT-1, MACH-1, MACH-2, PACK-1, QC-1"


@pytest.mark.parametrize(
    ("take", "payload", "reason", "detail"),
    [
        pytest.param(
            "take_job_event",
            encode_job_event(
                JobEvent(
                    event="created",
                    job="J-9",
                    site="PLANT-9",
                    line="L1",
                    product="PART",
                    quantity=5,
                    items=(),
                    time_us=at(1),
                )
            ),
            "unknown_site",
            "site 'PLANT-9' is not in the plant; known: S1",
            id="job on an unknown site",
        ),
        pytest.param(
            "take_job_event",
            encode_job_event(
                JobEvent(
                    event="blocker_opened",
                    job="J-1",
                    site="S1",
                    line="L9",
                    product="",
                    quantity=0,
                    items=(),
                    time_us=at(1),
                    blocker_id="B",
                    blocker_type="tool",
                )
            ),
            "unknown_line",
            "line 'L9' is not a line of site S1; known: L1",
            id="blocker on an unknown line",
        ),
        pytest.param(
            "take_job_event",
            encode_qc(
                QcResult(
                    item=part(1),
                    job="J-1",
                    site="S1",
                    line="L1",
                    station="QC-9",
                    result="pass",
                    notes="",
                    time_us=at(1),
                )
            ),
            "unknown_station",
            f"station 'QC-9' is not a station of S1/L1; known: {STATIONS_OF_L1}",
            id="QC result at an unknown station",
        ),
        pytest.param(
            "take_aggregation",
            encode_aggregation(
                Aggregation(
                    site="S1", line="L1", station="DOCK", parent=kit(1), children=(part(1),), time_us=at(1)
                )
            ),
            "unknown_station",
            f"station 'DOCK' is not a station of S1/L1; known: {STATIONS_OF_L1}",
            id="pack at an unknown station",
        ),
    ],
)
def test_an_event_naming_what_the_plant_lacks_is_only_a_dead_letter(
    plant: Plant, take: str, payload: bytes, reason: str, detail: str
) -> None:
    stage1 = Stage1(SETTINGS, plant)
    batch = stage1.new_batch()

    getattr(stage1, take)(batch, payload, WHERE)

    assert [(d["reason"], d["detail"]) for d in _dead(batch)] == [(reason, detail)]
    assert _nothing_but_dead_letters(batch)
