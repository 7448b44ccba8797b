"""EPCIS capture jobs: a validated EPCISDocument taken in the background, its progress polled.

A job (``POST /epcis/capture``, storage.epcisapi) maps the document's events
(``ingest.epcis.capture``), refuses those outside the token's scope, leaves out the trace input
of events the store already holds (capturing a document again changes nothing: the stored rows
replace themselves, and no read is made twice), publishes every input on its topic and every
captured event on the epcis-events topic for the sink to store, and waits for the broker's
acks. An error declaration is taken when the event it declares is in the document or stored;
what that event's reads made of it is then withdrawn (docs/epcis.md, Capture). Jobs live in
the process that serves the API: a restart forgets them, not the events.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from confluent_kafka import KafkaException

from ingest.epcis.capture import Captured, Input, Places, Remark, capture, encode_captured, withdrawals_of
from ingest.posting import EventPoster
from ingest.records.rows import EpcisDeclarationRow, EpcisEventRow
from ingest.timefmt import format_us, now_us
from ingest.tokens import Scope
from storage.client import Store

log = logging.getLogger(__name__)

# Jobs kept for polling; the oldest finished ones are forgotten past this.
MAX_JOBS = 1_000
# The event ids asked of the store at once.
ID_BATCH = 5_000

ALREADY_STORED = "SELECT event_id FROM epcis_events FINAL WHERE event_id IN {ids:Array(String)}"
# The events declared in error, as stored: what their reads made is withdrawn.
STORED_EVENTS = "SELECT event_id, document FROM epcis_events FINAL WHERE event_id IN {ids:Array(String)}"


@dataclass
class CaptureJob:
    capture_id: str
    created_us: int
    running: bool = True
    events: int = 0
    captured: int = 0
    already_captured: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    not_traced: list[dict[str, Any]] = field(default_factory=list)
    finished_us: int = 0

    def answer(self) -> dict[str, Any]:
        """The job as ``GET /epcis/capture/{id}`` answers it."""
        return {
            "captureID": self.capture_id,
            "createdAt": format_us(self.created_us),
            "finishedAt": format_us(self.finished_us) if self.finished_us else None,
            "running": self.running,
            "success": not self.running and not self.errors,
            "captureErrorBehaviour": "proceed",
            "events": self.events,
            "captured": self.captured,
            "alreadyCaptured": self.already_captured,
            "errors": self.errors,
            "notTraced": self.not_traced,
        }


class CaptureJobs:
    def __init__(self, store: Store, poster: EventPoster):
        self.store, self.poster = store, poster
        self.jobs: dict[str, CaptureJob] = {}
        self.lock = threading.Lock()

    def start(self, document: Mapping[str, Any], scope: Scope) -> CaptureJob:
        """A new job taking ``document`` (schema-valid) in the background."""
        job = CaptureJob("cap-" + uuid.uuid4().hex, now_us())
        with self.lock:
            self.jobs[job.capture_id] = job
            finished = [k for k, j in self.jobs.items() if not j.running]
            for key in finished[: max(0, len(self.jobs) - MAX_JOBS)]:
                del self.jobs[key]
        threading.Thread(
            target=self._run, args=(job, document, scope), name="epcis-capture", daemon=True
        ).start()
        return job

    def get(self, capture_id: str) -> CaptureJob | None:
        with self.lock:
            return self.jobs.get(capture_id)

    def _run(self, job: CaptureJob, document: Mapping[str, Any], scope: Scope) -> None:
        try:
            places = Places.of(self.poster.plant())
            result = capture(document, places, job.capture_id, scope.covers)
            job.events = len(result.rows) + len(result.declared) + len(result.refused)
            declared, withdrawals = self._declarations(result, places)
            job.errors = [r.answer() for r in sorted(result.refused, key=lambda r: r.index)]
            job.not_traced = [r.answer() for r in result.not_traced]
            stored = self._stored([row["event_id"] for row in result.rows])
            self._publish(result, stored, declared, withdrawals)
            job.captured, job.already_captured = len(result.rows) + len(declared), len(stored)
        except Exception as exc:  # a job that cannot finish says why; the API stays up
            log.exception("capture %s failed", job.capture_id)
            reason = "broker" if isinstance(exc, KafkaException) else "capture_failed"
            job.errors.append({"reason": reason, "detail": str(exc)})
        finally:
            job.finished_us, job.running = now_us(), False

    def _declarations(
        self, result: Captured, places: Places
    ) -> tuple[list[EpcisDeclarationRow], list[Input]]:
        """The error declarations taken, and what withdraws the trace input of the events
        they declare stored before; a declaration of an event neither in the document nor
        stored is refused (``unknown_event``)."""
        ids = [d.row["event_id"] for d in result.declared]
        originals: dict[str, str] = {}
        for start in range(0, len(ids), ID_BATCH):
            for r in self.store.query(STORED_EVENTS, {"ids": ids[start : start + ID_BATCH]}):
                originals[str(r["event_id"])] = str(r["document"])
        taken, withdrawals = [], []
        for declared in result.declared:
            event_id = declared.row["event_id"]
            if event_id in originals:
                withdrawals += withdrawals_of(orjson.loads(originals[event_id]), event_id, places)
            elif event_id not in result.inputs:
                detail = f"no event {event_id} was captured to declare in error"
                result.refused.append(Remark(declared.index, event_id, "unknown_event", detail))
                continue
            taken.append(declared.row)
        return taken, withdrawals

    def _stored(self, ids: list[str]) -> set[str]:
        found: set[str] = set()
        for start in range(0, len(ids), ID_BATCH):
            rows = self.store.query(ALREADY_STORED, {"ids": ids[start : start + ID_BATCH]})
            found.update(str(r["event_id"]) for r in rows)
        return found

    def _publish(
        self,
        result: Captured,
        stored: set[str],
        declared: list[EpcisDeclarationRow],
        withdrawals: list[Input],
    ) -> None:
        """Every captured event and error declaration to the epcis-events topic, the input of
        the events not stored yet to its topics, and then what withdraws the input of events
        declared in error (on the reads topic under the reader of the read it withdraws, so
        after it); returns once the broker has them all."""
        topics = self.poster.topics
        rows: list[EpcisEventRow | EpcisDeclarationRow] = [*result.rows, *declared]
        messages = [(topics.epcis_events, row["event_id"], encode_captured(row)) for row in rows]
        for event_id, inputs in result.inputs.items():
            if event_id not in stored:
                messages += [(getattr(topics, i.topic), i.key, i.payload) for i in inputs]
        messages += [(getattr(topics, i.topic), i.key, i.payload) for i in withdrawals]
        self.poster.publish_all(messages)
