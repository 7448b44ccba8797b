"""Capture jobs with a store and a broker of plain data: a declaration and its event captured
in quick succession (before the sink stores the first) find each other in either order, the
memory of what was published is bounded, and a finished job is answered from the store by a
process that no longer holds it."""

from __future__ import annotations

import time
from typing import Any

import orjson

from ingest.epcis.capture import Places, capture
from ingest.epcis.messages import decode_captured
from ingest.plant import Plant
from ingest.tokens import ALL_SITES, Scope
from ingest.topics import Topics
from ingest.wire import decode_report
from storage import epciscapture
from storage.epciscapture import CaptureJobs, Recent
from tests.unit.ingest.test_epcis_capture import DECLARATION, ITEM, MAX, _doc, _event

TOPICS = Topics("t", 1)
ID = "urn:uuid:6a1e2f40-0c1b-4d7e-8a5f-1b2c3d4e5f60"


class Broker:
    """The poster's part a capture job uses: what it published, by topic."""

    def __init__(self, plant: Plant):
        self.topics, self._plant = TOPICS, plant
        self.published: list[tuple[str, str, bytes]] = []

    def plant(self) -> Plant:
        return self._plant

    def publish_all(self, messages: Any, timeout_s: float = 60.0) -> None:
        self.published += list(messages)

    def last_published(self, topic: str, last: int) -> list[bytes]:
        return [m for t, _, m in self.published if t == topic][-last:]

    def reads(self) -> list[bool]:
        """Each read report published: whether it withdraws."""
        return [decode_report(m, MAX).withdrawn for t, _, m in self.published if t == TOPICS.reads]


class Store:
    """A store the sink has stored ``published`` in (nothing, until told)."""

    def __init__(self, published: list[tuple[str, str, bytes]] | None = None):
        self.tables: dict[str, list[dict[str, Any]]] = {}
        for topic, _, payload in published or []:
            if topic == TOPICS.epcis_events:
                table, row = decode_captured(payload)
                self.tables.setdefault(table, []).append(dict(row))

    def query(self, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        if sql == epciscapture.STORED_JOB:
            return [r for r in self.tables.get("epcis_capture_jobs", []) if r["capture_id"] == params["id"]]
        table = "epcis_error_declarations" if sql == epciscapture.DECLARED else "epcis_events"
        return [r for r in self.tables.get(table, []) if r["event_id"] in params["ids"]]


def _captured(jobs: CaptureJobs, *events: dict[str, Any]) -> dict[str, Any]:
    job = jobs.start(_doc(*events), Scope(ALL_SITES))
    while job.running:
        time.sleep(0.01)
    return job.answer()


def test_a_declaration_and_its_event_find_each_other_before_the_sink_stores_either(plant: Plant) -> None:
    original = _event(epcList=[ITEM], eventID=ID)
    declaring = {**original, "errorDeclaration": DECLARATION}
    orders: tuple[tuple[dict[str, Any], dict[str, Any], list[bool], list[list[str]]], ...] = (
        (declaring, original, [], [["awaits_event"], ["declared_in_error"]]),
        (original, declaring, [False, True], [[], []]),
    )
    for first, then, reads, notes in orders:
        broker = Broker(plant)
        jobs = CaptureJobs(Store(), broker)  # type: ignore[arg-type]
        answers = [_captured(jobs, first), _captured(jobs, then)]
        assert [a["success"] for a in answers] == [True, True]
        assert broker.reads() == reads  # never made, or made and withdrawn
        assert [[n["reason"] for n in a["notes"]] for a in answers] == notes


def test_a_declaration_and_its_event_find_each_other_across_a_restart_before_the_sink_stores(
    plant: Plant,
) -> None:
    """The process restarts between the two, and the sink has stored neither: the new process
    finds the first on the epcis-events topic."""
    original = _event(epcList=[ITEM], eventID=ID)
    declaring = {**original, "errorDeclaration": DECLARATION}
    for first, then, reads, notes in (
        (declaring, original, [], [["awaits_event"], ["declared_in_error"]]),
        (original, declaring, [False, True], [[], []]),
    ):
        broker = Broker(plant)
        before = _captured(CaptureJobs(Store(), broker), first)  # type: ignore[arg-type]
        restarted = CaptureJobs(Store(), broker)  # type: ignore[arg-type]
        after = _captured(restarted, then)
        assert broker.reads() == reads  # never made, or made and withdrawn
        assert [[n["reason"] for n in a["notes"]] for a in (before, after)] == notes
        assert restarted.primed


def test_a_finished_job_is_answered_after_a_restart(plant: Plant) -> None:
    broker = Broker(plant)
    declaring = _event(epcList=[ITEM], eventID=ID, errorDeclaration=DECLARATION)
    answer = _captured(CaptureJobs(Store(), broker), declaring)  # type: ignore[arg-type]
    assert [n["reason"] for n in answer["notes"]] == ["awaits_event"]

    restarted = CaptureJobs(Store(broker.published), Broker(plant))  # type: ignore[arg-type]
    assert restarted.answer(answer["captureID"]) == answer
    assert restarted.answer("cap-unknown") is None
    assert orjson.loads(broker.published[-1][2])["table"] == "epcis_capture_jobs"


def test_the_memory_of_what_was_published_is_bounded(plant: Plant) -> None:
    recent = Recent(limit=2)
    for n in range(3):
        result = capture(_doc(_event(epcList=[ITEM], eventID=f"urn:uuid:{n}")), Places.of(plant), "c")
        recent.remember(result, [])
    assert list(recent.events) == ["urn:uuid:1", "urn:uuid:2"]
