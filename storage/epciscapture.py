"""EPCIS capture jobs: a validated EPCISDocument taken in the background, its progress polled.

A job (``POST /epcis/capture``, storage.epcisapi) maps the document's events
(``ingest.epcis.capture``), refuses those outside the token's scope, leaves out the trace input
of events the store already holds (capturing a document again changes nothing: the stored rows
replace themselves, and no read is made twice), publishes every input on its topic and every
captured event on the epcis-events topic for the sink to store, and waits for the broker's
acks. Error declarations are matched with the events they declare whichever comes first
(``ingest.epcis.declarations``; docs/epcis.md, Error declarations). Jobs run in the process
that serves the API; a finished job is published too (the sink stores it in
``epcis_capture_jobs``) and answered from the store when this process no longer holds it, after
a restart. A job still running when the process stops is forgotten (its events are not).

Jobs decide and publish one at a time, and the process remembers what it published last
(``Recent``), so a declaration and its event captured in quick succession, before the sink has
stored the first, still find each other; a process starts by remembering the last messages of
the epcis-events topic, so they find each other across a restart too.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from confluent_kafka import KafkaException

from ingest.epcis.capture import Captured, Input, Places, capture
from ingest.epcis.declarations import settle
from ingest.epcis.messages import DECLARATIONS, decode_captured, encode_captured
from ingest.errors import InvalidInput
from ingest.posting import EventPoster
from ingest.records.rows import EpcisCaptureJobRow, EpcisDeclarationRow, EpcisEventRow
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
# The events declared in error before they are captured: they make nothing in the trace.
DECLARED = "SELECT event_id FROM epcis_error_declarations FINAL WHERE event_id IN {ids:Array(String)}"
# A finished job as stored, for a process that no longer holds it.
STORED_JOB = "SELECT answer FROM epcis_capture_jobs FINAL WHERE capture_id = {id:String}"
# Events and declarations a process remembers having published (the sink may not have stored
# them yet): far more than a sink lags behind by, at a few hundred bytes an event.
MAX_RECENT = 100_000


class Recent:
    """The events that fed the trace (their JSON, by eventID) and the declarations (eventIDs)
    this process published last, oldest forgotten first."""

    def __init__(self, limit: int = MAX_RECENT):
        self.limit = limit
        self.events: dict[str, str] = {}
        self.declared: dict[str, None] = {}

    def remember(self, result: Captured, declared: list[EpcisDeclarationRow]) -> None:
        for row in result.rows:
            if result.inputs.get(row["event_id"]):
                self.events[row["event_id"]] = row["document"]
        self.declared.update(dict.fromkeys(d["event_id"] for d in declared))
        self._forget()

    def remember_published(self, payloads: Iterable[bytes]) -> int:
        """Messages of the epcis-events topic, oldest first, as if this process had published
        them: what a process published before a restart, which the sink may not have stored
        yet. Returns how many events and declarations it took."""
        taken = 0
        for payload in payloads:
            try:
                table, row = decode_captured(payload)
            except InvalidInput:
                continue  # the sink dead-letters it; nothing to match with
            if table == "epcis_events":
                self.events[row["event_id"]] = row["document"]  # type: ignore[typeddict-item]
            elif table == DECLARATIONS:
                self.declared[row["event_id"]] = None  # type: ignore[typeddict-item]
            else:
                continue
            taken += 1
        self._forget()
        return taken

    def _forget(self) -> None:
        for kept in (self.events, self.declared):
            for key in list(kept)[: max(0, len(kept) - self.limit)]:
                del kept[key]


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
    notes: list[dict[str, Any]] = field(default_factory=list)
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
            "notes": self.notes,
        }


class CaptureJobs:
    def __init__(self, store: Store, poster: EventPoster):
        self.store, self.poster = store, poster
        self.jobs: dict[str, CaptureJob] = {}
        self.lock = threading.Lock()
        self.deciding = threading.Lock()  # one job at a time asks the store and publishes
        self.recent = Recent()
        self.primed = False

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

    def answer(self, capture_id: str) -> dict[str, Any] | None:
        """The job as ``GET /epcis/capture/{id}`` answers it: held here, or as stored when it
        finished (in an earlier process); None when neither."""
        job = self.get(capture_id)
        if job is not None:
            return job.answer()
        rows = self.store.query(STORED_JOB, {"id": capture_id})
        return dict(orjson.loads(rows[0]["answer"])) if rows else None

    def _run(self, job: CaptureJob, document: Mapping[str, Any], scope: Scope) -> None:
        try:
            places = Places.of(self.poster.plant())
            result = capture(document, places, job.capture_id, scope.covers)
            job.events = len(result.rows) + len(result.declared) + len(result.refused)
            job.errors = [r.answer() for r in sorted(result.refused, key=lambda r: r.index)]
            job.not_traced = [r.answer() for r in result.not_traced]
            with self.deciding:
                self._prime()
                ids = [row["event_id"] for row in result.rows]
                originals = self._originals([d.row["event_id"] for d in result.declared])
                declared_before = self._declared(ids)
                withdrawals = settle(result, originals, declared_before, places)
                stored = self._stored(ids)
                declared = [d.row for d in result.declared]
                self._publish(result, stored, declared, withdrawals)
                self.recent.remember(result, declared)
            job.notes = [r.answer() for r in result.notes]
            job.captured, job.already_captured = len(result.rows) + len(declared), len(stored)
        except Exception as exc:  # a job that cannot finish says why; the API stays up
            log.exception("capture %s failed", job.capture_id)
            reason = "broker" if isinstance(exc, KafkaException) else "capture_failed"
            job.errors.append({"reason": reason, "detail": str(exc)})
        finally:
            job.finished_us, job.running = now_us(), False
            self._keep(job)

    def _prime(self) -> None:
        """Once, before the first job decides: remember what was published last, before this
        process started (by an earlier process, in the sink's lag), so a declaration captured
        just after a restart still finds its event, and an event its declaration."""
        if self.primed:
            return
        published = self.poster.last_published(self.poster.topics.epcis_events, self.recent.limit)
        taken = self.recent.remember_published(published)
        log.info("capture: %d recent events and declarations taken from the epcis-events topic", taken)
        self.primed = True

    def _keep(self, job: CaptureJob) -> None:
        """The finished job published for the sink to store; a broker that does not take it
        leaves it answered by this process only."""
        row = EpcisCaptureJobRow(
            capture_id=job.capture_id,
            created_at=job.created_us,
            finished_at=job.finished_us,
            answer=orjson.dumps(job.answer()).decode(),
        )
        try:
            self.poster.publish_all([(self.poster.topics.epcis_events, job.capture_id, encode_captured(row))])
        except Exception as exc:  # the job is answered all the same, by this process
            log.error("capture job %s not kept: %s", job.capture_id, exc)

    def _originals(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        """The events of ``ids`` captured before (stored, or published here last), by eventID."""
        found = {i: self.recent.events[i] for i in ids if i in self.recent.events}
        for start in range(0, len(ids), ID_BATCH):
            for r in self.store.query(STORED_EVENTS, {"ids": ids[start : start + ID_BATCH]}):
                found[str(r["event_id"])] = str(r["document"])
        return {i: orjson.loads(document) for i, document in found.items()}

    def _declared(self, ids: list[str]) -> set[str]:
        """The eventIDs of ``ids`` declared in error before (stored, or published here last)."""
        found = {i for i in ids if i in self.recent.declared}
        for start in range(0, len(ids), ID_BATCH):
            rows = self.store.query(DECLARED, {"ids": ids[start : start + ID_BATCH]})
            found.update(str(r["event_id"]) for r in rows)
        return found

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
