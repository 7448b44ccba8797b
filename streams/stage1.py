"""Stage 1: read-cycle reports, job events and aggregations into item records and trace rows.

Pure of any framework: the faust agent hands over raw messages and ships the ``Batch``.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from operator import itemgetter
from typing import Any, Concatenate, ParamSpec, TypeVar

from ingest.deadletter import dead_letter
from ingest.errors import InvalidInput
from ingest.names import check_line, check_place, check_product, check_station
from ingest.plant import Plant
from ingest.records.rows import shipment_row, withdrawing
from ingest.schema import ReadCycleReport, ReadFields, TagRead, link_id
from ingest.settings import Settings
from ingest.wire import (
    decode_aggregation,
    decode_hold,
    decode_job_event,
    decode_qc,
    decode_report_reads,
    decode_shipment,
    decode_transformation,
    message_type,
)
from streams.bundles import ASSEMBLED, BIND, HOLD, QC, UNPACKED, WITHDRAWN, BundleBuilder
from streams.dedup import PassDetector
from streams.progress import InputProgress, source_of

Where = tuple[str, int, int]  # topic, partition and offset of the input record
# A read's fields (ingest.schema.ReadFields), taken at C speed over a report's reads.
_ANTENNA, _TIME, _COUNT = itemgetter(1), itemgetter(2), itemgetter(3)


def _tag(read: ReadFields) -> str:
    """A read's tag: its barcode's item key, or its EPC."""
    return read[5] or read[0]


S = TypeVar("S")
P = ParamSpec("P")


@dataclass
class Batch:
    """What one batch of input produces."""

    bundles: BundleBuilder
    trace: dict[str, list[dict[str, Any]]] = field(
        default_factory=lambda: {
            "read_cycles": [],
            "links": [],
            "jobs": [],
            "holds": [],
            "job_events": [],
            "job_bindings": [],
            "qc_results": [],
            "shipments": [],
        }
    )
    dead_letters: list[bytes] = field(default_factory=list)
    reads: int = 0
    reports: int = 0
    passes: int = 0
    reads_by_point: Counter[tuple[str, int]] = field(default_factory=Counter)  # (reader, antenna) -> reads

    def reject(self, error: InvalidInput, where: Where, payload: bytes) -> None:
        """The input record (or the part of it ``error`` names) becomes a dead letter with the
        error's reason; the stream goes on."""
        self.dead_letters.append(dead_letter(error, *where, payload))


def rejecting(
    take: Callable[Concatenate[S, Batch, bytes, Where, P], None],
) -> Callable[Concatenate[S, Batch, bytes, Where, P], None]:
    """Bad input raised in ``take`` (a typed ``InvalidInput``) dead-letters the record it was
    taking, with the error's reason, and the stream goes on. Each ``take_*`` decodes and checks
    its record before it adds anything of it to the batch."""

    @functools.wraps(take)
    def take_or_reject(
        self: S, batch: Batch, payload: bytes, where: Where, *args: P.args, **kwargs: P.kwargs
    ) -> None:
        try:
            take(self, batch, payload, where, *args, **kwargs)
        except InvalidInput as exc:
            batch.reject(exc, where, payload)

    return take_or_reject


class Stage1:
    def __init__(self, settings: Settings, plant: Plant):
        self.settings = settings
        self.plant = plant
        self.window_us = int(settings.dedup_window_s * 1_000_000)
        # One pass detector per input partition, each evicting by its stations' event time: a
        # partition read ahead of another, or a reader behind the others of its partition,
        # cannot close passes that reads still to come extend.
        self.detectors: dict[str, PassDetector] = {}
        self.progress = InputProgress()
        self.max_bytes = settings.max_message_bytes

    def new_batch(self) -> Batch:
        return Batch(BundleBuilder(self.settings.partitions))

    @rejecting
    def take_report(self, batch: Batch, payload: bytes, where: Where, now_us: int) -> None:
        # Reads stay plain tuples (ReadFields): a TagRead per read would cost more than the rest.
        report, reads = decode_report_reads(payload, self.max_bytes)
        reads = self._drop_unmapped(batch, report, reads, payload, where)
        reads = self._drop_impossible(batch, report, reads, payload, where, now_us)
        source = source_of(where[0], where[1])
        detector = self.detectors.get(source)
        if detector is None:
            detector = self.detectors[source] = PassDetector(self.window_us)
        if report.withdrawn:
            withdrawn = replace(report, reads=tuple([TagRead(*r) for r in reads]))
            for item, pid in detector.withdraw(withdrawn, self.plant):
                batch.bundles.add({"k": WITHDRAWN, "item": item, "pass_id": pid})
            return
        passes = detector.passes_of_reads(report, reads, self.plant)
        if reads:
            self.progress.advance(source, max(map(_TIME, reads)))
        for p in passes:
            batch.bundles.add_pass(p)
        batch.reads += len(reads)
        batch.reports += 1
        batch.passes += sum(1 for p in passes if p.reads)  # not the direction updates
        reader = report.reader_id
        for antenna, n in Counter(map(_ANTENNA, reads)).items():
            batch.reads_by_point[(reader, antenna)] += n
        batch.trace["read_cycles"].append(
            {
                "report_id": report.report_id,
                "site": report.site,
                "line": report.line,
                "reader_id": report.reader_id,
                "cycle_seq": report.cycle_seq,
                "cycle_start": report.cycle_start_us,
                "entries": len(reads),
                "read_count": sum(map(_COUNT, reads)),
                "tags": len(set(map(_tag, reads))),
                "passes": len(passes),
            }
        )

    def _drop_unmapped(
        self, batch: Batch, report: ReadCycleReport, reads: list[ReadFields], payload: bytes, where: Where
    ) -> list[ReadFields]:
        """Reads from antennas the plant does not map are dead-lettered; the rest go on."""
        station_of = self.plant.station_of
        unmapped = {a for a in set(map(_ANTENNA, reads)) if station_of(report.reader_id, a) is None}
        if not unmapped:
            return reads
        good = [r for r in reads if r[1] not in unmapped]
        antennas = sorted(unmapped)
        error = InvalidInput(
            "unknown_read_point",
            f"reader {report.reader_id} antenna {antennas}: {len(reads) - len(good)} of "
            f"{len(reads)} reads of {report.report_id} have no station",
        )
        batch.reject(error, where, payload)
        return good

    def _drop_impossible(
        self,
        batch: Batch,
        report: ReadCycleReport,
        reads: list[ReadFields],
        payload: bytes,
        where: Where,
        now_us: int,
    ) -> list[ReadFields]:
        """Reads stamped too far ahead of our clock or too old are dead-lettered; the rest go on.
        Captured reads (a partner's EPCIS events) may be of any age: the age limit guards
        against broken reader clocks, and a partner's backlog may be years old."""
        latest = now_us + int(self.settings.max_future_skew_s * 1_000_000)
        earliest = 0 if report.captured else now_us - int(self.settings.max_age_s * 1_000_000)
        times = list(map(_TIME, reads))
        if not times or (earliest <= min(times) and max(times) <= latest):
            return reads
        good = [r for r in reads if earliest <= r[2] <= latest]
        if len(good) == len(reads):
            return reads
        bad = len(reads) - len(good)
        reason = "future_timestamp" if any(t > latest for t in times) else "stale_timestamp"
        error = InvalidInput(reason, f"{bad} of {len(reads)} reads of {report.report_id} out of range")
        batch.reject(error, where, payload)
        return good

    @rejecting
    def take_job_event(self, batch: Batch, payload: bytes, where: Where) -> None:
        kind = message_type(payload) if len(payload) <= self.max_bytes else ""
        if kind == "hold":
            self.take_hold(batch, payload, where)
            return
        if kind == "qc":
            self.take_qc(batch, payload, where)
            return
        if kind == "shipment":
            self.take_shipment(batch, payload, where)
            return
        ev = decode_job_event(payload, self.max_bytes)
        check_line(self.plant, ev.site, ev.line)
        if ev.product:
            check_product(self.plant, ev.site, ev.line, ev.product)
        self.progress.advance(source_of(where[0], where[1]), ev.time_us)
        if ev.event == "created":
            batch.trace["jobs"].append(
                {
                    "job": ev.job,
                    "site": ev.site,
                    "line": ev.line,
                    "product": ev.product,
                    "quantity": ev.quantity,
                    "created": ev.time_us,
                    "planned_start": ev.planned_start_us,
                    "planned_end": ev.planned_end_us,
                    "due": ev.due_us,
                    "target_rate_per_h": ev.target_rate_per_h,
                }
            )
        batch.trace["job_events"].append(
            {
                "job": ev.job,
                "site": ev.site,
                "line": ev.line,
                "event": ev.event,
                "time": ev.time_us,
                "blocker_id": ev.blocker_id,
                "blocker_type": ev.blocker_type,
                "owner": ev.owner,
                "note": ev.note,
                "items": len(ev.items),
            }
        )
        for item in ev.items:
            batch.bundles.add(
                {"k": BIND, "item": item, "job": ev.job, "product": ev.product, "time": ev.time_us}
            )
            # Kept per item: an item bound before its first read has no item state row yet.
            batch.trace["job_bindings"].append(
                {
                    "item": item,
                    "job": ev.job,
                    "product": ev.product,
                    "site": ev.site,
                    "line": ev.line,
                    "time": ev.time_us,
                }
            )

    @rejecting
    def take_qc(self, batch: Batch, payload: bytes, where: Where) -> None:
        """A QC verdict is recorded, and reaches the item's state (a fail rejects the item)."""
        qc = decode_qc(payload, self.max_bytes)
        check_place(self.plant, qc.site, qc.line, qc.station)
        self.progress.advance(source_of(where[0], where[1]), qc.time_us)
        row = {
            "item": qc.item,
            "job": qc.job,
            "site": qc.site,
            "line": qc.line,
            "station": qc.station,
            "result": qc.result,
            "notes": qc.notes,
            "time": qc.time_us,
        }
        batch.trace["qc_results"].append(withdrawing(row, qc.withdrawn))
        record = {"k": QC, "item": qc.item, "result": qc.result, "time": qc.time_us}
        batch.bundles.add(withdrawing(record, qc.withdrawn))

    @rejecting
    def take_shipment(self, batch: Batch, payload: bytes, where: Where) -> None:
        """A shipment is recorded with each item it names (recall lists it, the export puts it
        on the item's shipping event); the dispatch itself is the item's pass at the dock."""
        ev = decode_shipment(payload, self.max_bytes)
        check_place(self.plant, ev.site, ev.line, ev.station)
        self.progress.advance(source_of(where[0], where[1]), ev.time_us)
        for item in ev.items:
            batch.trace["shipments"].append(withdrawing({**shipment_row(ev, item)}, ev.withdrawn))

    @rejecting
    def take_hold(self, batch: Batch, payload: bytes, where: Where) -> None:
        """A hold reaches each named item's owner; stage 2 carries it on to what they went into."""
        ev = decode_hold(payload, self.max_bytes)
        check_line(self.plant, ev.site, ev.line)
        self.progress.advance(source_of(where[0], where[1]), ev.time_us)
        for item in ev.items:
            batch.trace["holds"].append(
                {
                    "hold_id": ev.hold_id,
                    "item": item,
                    "site": ev.site,
                    "line": ev.line,
                    "hold_type": ev.hold_type,
                    "owner": ev.owner,
                    "reason": ev.reason,
                    "event": ev.event,
                    "time": ev.time_us,
                    "via": "",
                }
            )
            batch.bundles.add(
                {
                    "k": HOLD,
                    "item": item,
                    "hold_id": ev.hold_id,
                    "placed": ev.event == "placed",
                    "hold_type": ev.hold_type,
                    "time": ev.time_us,
                }
            )

    @rejecting
    def take_aggregation(self, batch: Batch, payload: bytes, where: Where) -> None:
        """Genealogy events: aggregations (pack, assemble, unpack) and transformations."""
        if len(payload) <= self.max_bytes and message_type(payload) == "transformation":
            self.take_transformation(batch, payload, where)
            return
        agg = decode_aggregation(payload, self.max_bytes)
        check_station(self.plant, agg.site, agg.line, agg.station)
        self.progress.advance(source_of(where[0], where[1]), agg.time_us)
        place = (agg.site, agg.line, agg.station)
        for child in agg.children:
            self._link(batch, agg.parent, child, place, agg.time_us, agg.action, agg.withdrawn)

    @rejecting
    def take_transformation(self, batch: Batch, payload: bytes, where: Where) -> None:
        """Every input goes into every output, for good (a transformation is never unpacked)."""
        tf = decode_transformation(payload, self.max_bytes)
        check_station(self.plant, tf.site, tf.line, tf.station)
        self.progress.advance(source_of(where[0], where[1]), tf.time_us)
        place = (tf.site, tf.line, tf.station)
        for output in tf.outputs:
            for source in tf.inputs:
                self._link(
                    batch, output, source, place, tf.time_us, "add", tf.withdrawn, tf.transformation_id
                )

    @staticmethod
    def _link(
        batch: Batch,
        parent: str,
        child: str,
        place: tuple[str, str, str],
        time_us: int,
        action: str,
        withdrawn: bool,
        transformation_id: str | None = None,
    ) -> None:
        """The link in both key orders, so either end finds it with one key lookup, and the
        child's record for stage 2 (it went into the parent, or came out of it; with a
        ``transformation_id``: a transformation's input, consumed for good). ``withdrawn``:
        the link leaves the store and the child's custody (its EPCIS event declared in error)."""
        site, line, station = place
        consumed = transformation_id is not None
        common = {
            "link_id": link_id(parent, child, time_us, action),
            "action": action,
            "kind": "transformation" if consumed else "aggregation",
            "transformation_id": transformation_id or "",
            "site": site,
            "line": line,
            "station": station,
            "time": time_us,
        }
        links = batch.trace["links"]
        links.append(withdrawing({"node": parent, "other": child, "direction": "down", **common}, withdrawn))
        links.append(withdrawing({"node": child, "other": parent, "direction": "up", **common}, withdrawn))
        record: dict[str, Any] = {
            "k": ASSEMBLED if action == "add" else UNPACKED,
            "item": child,
            "parent": parent,
        }
        if consumed:
            record["consumed"] = True
        record = {**record, "site": site, "line": line, "station": station, "time": time_us}
        batch.bundles.add(withdrawing(record, withdrawn))

    def end_batch(self, batch: Batch) -> None:
        """Close the batch: passes no read can extend any more are forgotten, and every
        item-bundles partition gets this worker's input progress after the batch's records."""
        for detector in self.detectors.values():
            detector.evict()
        batch.bundles.add_progress(self.progress.record())
