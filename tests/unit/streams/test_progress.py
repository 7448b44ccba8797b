"""Input progress: stage 1 reports how far each input partition has got, stage 2 confirms below
the lowest of them, and an input counts as idle only after a while at its log end."""

from __future__ import annotations

import orjson

from ingest.plant import Plant
from ingest.settings import Settings
from ingest.wire import encode_report
from streams.bundles import decode_bundle
from streams.progress import END_OF_TIME, InputProgress, Watermarks, idle_inputs
from streams.stage1 import Stage1
from tests.unit.factories import at, part_epc, report

SETTINGS = Settings(dedup_window_s=1.0, partitions=3)
NOW = at(100)


def test_an_input_is_idle_only_after_a_while_at_its_log_end() -> None:
    since: dict[str, float] = {}
    assert idle_inputs({"reads/0": True, "reads/1": False}, since, 10.0, 1.0) == {
        "reads/0": False,
        "reads/1": False,
    }
    assert idle_inputs({"reads/0": True, "reads/1": True}, since, 11.0, 1.0) == {
        "reads/0": True,
        "reads/1": False,
    }
    # behind again: not idle, and the wait starts over once it is back at the end
    assert idle_inputs({"reads/0": False, "reads/1": True}, since, 12.0, 1.0)["reads/0"] is False
    assert idle_inputs({"reads/0": True, "reads/1": True}, since, 12.5, 1.0) == {
        "reads/0": False,
        "reads/1": True,
    }


def test_taking_a_record_restarts_the_idle_wait() -> None:
    progress = InputProgress()
    progress.hold(["reads/0"])
    progress.check_idle({"reads/0": True}, 10.0, 1.0)
    progress.check_idle({"reads/0": True}, 11.0, 1.0)
    assert progress.idle == {"reads/0": True}
    progress.took("reads/0")
    progress.check_idle({"reads/0": True}, 11.5, 1.0)
    assert progress.idle == {"reads/0": False}


def test_traffic_resuming_on_one_idle_input_restarts_the_idle_wait_of_all() -> None:
    progress = InputProgress()
    progress.hold(["reads/0", "reads/1"])
    progress.check_idle({"reads/0": True, "reads/1": True}, 10.0, 1.0)
    progress.check_idle({"reads/0": True, "reads/1": True}, 11.0, 1.0)
    assert progress.idle == {"reads/0": True, "reads/1": True}

    progress.took("reads/0")  # reads/1's records may be on their way, unseen yet
    progress.check_idle({"reads/0": False, "reads/1": True}, 11.1, 1.0)
    assert progress.idle == {"reads/0": False, "reads/1": False}
    progress.check_idle({"reads/0": True, "reads/1": True}, 12.2, 1.0)
    assert progress.idle == {"reads/0": False, "reads/1": True}


def test_an_idle_input_whose_log_end_moves_restarts_the_idle_wait_of_all() -> None:
    """Traffic resuming is seen by the log end moving, before any record of it is taken: the
    other idle inputs must wait again then, or a batch of the busy input confirms verdicts
    that their records, not fetched yet, contradict."""
    progress = InputProgress()
    progress.hold(["reads/0", "reads/1"])
    progress.check_idle({"reads/0": True, "reads/1": True}, 10.0, 1.0)
    progress.check_idle({"reads/0": True, "reads/1": True}, 11.0, 1.0)
    assert progress.idle == {"reads/0": True, "reads/1": True}

    # The latest fetch brought reads/0's new log end; reads/1's records are not fetched yet.
    progress.check_idle({"reads/0": False, "reads/1": True}, 11.1, 1.0)
    assert progress.idle == {"reads/0": False, "reads/1": False}
    progress.took("reads/0")  # no longer idle when taken: taking it wakes nothing now
    progress.check_idle({"reads/0": False, "reads/1": True}, 11.5, 1.0)
    assert progress.idle == {"reads/0": False, "reads/1": False}
    progress.check_idle({"reads/0": True, "reads/1": True}, 12.1, 1.0)
    assert progress.idle == {"reads/0": False, "reads/1": True}


def test_the_low_watermark_is_the_slowest_input_that_is_not_idle() -> None:
    marks = Watermarks(frozenset({"reads/0", "reads/1", "jobs/0"}))
    marks.update({"reads/0": [50, 0], "reads/1": [30, 0]})
    assert marks.low_us() == 0  # jobs/0 never heard from
    marks.update({"jobs/0": [5, 1]})
    assert marks.low_us() == 30
    marks.update({"reads/1": [30, 1]})
    assert marks.low_us() == 50
    marks.update({"reads/0": [50, 1]})
    assert marks.low_us() == END_OF_TIME


def test_stage1_reports_its_inputs_last_on_every_item_partition(plant: Plant) -> None:
    stage1 = Stage1(SETTINGS, plant)
    stage1.progress.hold(["reads/0", "reads/1", "jobs/0"])
    batch = stage1.new_batch()
    stage1.take_report(batch, encode_report(report("R-CUT", [(part_epc(1), 1, 5)])), ("reads", 1, 7), NOW)
    stage1.end_batch(batch)

    bundles = {p: decode_bundle(payload) for p, payload in batch.bundles.messages()}

    assert sorted(bundles) == [0, 1, 2]
    for records in bundles.values():
        assert records[-1] == {
            "k": "progress",
            "item": "",
            "sources": {"jobs/0": [0, 0], "reads/0": [0, 0], "reads/1": [at(5), 0]},
        }
    assert sum(len(r) for r in bundles.values()) == 3 + 1  # the pass, and the progress on each


def test_a_partition_read_ahead_does_not_close_passes_another_still_extends(plant: Plant) -> None:
    """Each input partition has its own dedup state, evicted by its own event time."""
    stage1 = Stage1(SETTINGS, plant)
    a = part_epc(1)
    first = stage1.new_batch()
    stage1.take_report(first, encode_report(report("R-CUT", [(a, 1, 0)], seq=1)), ("reads", 0, 1), NOW)
    stage1.take_report(first, encode_report(report("R-QC", [(a, 1, 60)], seq=1)), ("reads", 1, 1), NOW)
    stage1.end_batch(first)
    second = stage1.new_batch()
    stage1.take_report(second, encode_report(report("R-CUT", [(a, 1, 0.8)], seq=2)), ("reads", 0, 2), NOW)
    stage1.end_batch(second)

    passes = [r for _, p in second.bundles.messages() for r in orjson.loads(p)["records"] if r["k"] == "pass"]
    assert passes == []  # the open pass at CUT-1 absorbed the read
