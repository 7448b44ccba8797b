"""Drivers for the reader contract (test_contract.py): each feeds one adapter what its device
sends, built from the same reads, at the layer the adapter parses (no socket, no HTTP server).

A payload is a list of ``Read`` and ``Bad`` elements: one LLRP tag report, Impinj stream line or
scanner line each, or one Zebra POST body or handheld batch holding them all. ``Bad(case)`` is
an element the device might send that cannot be used (the cases of ``REJECTS`` in
test_contract.py). ``end()`` is what the adapter does when it stops: it reports its open cycle.
"""

from __future__ import annotations

import base64
import copy
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import orjson
from llrpkit import TagReport
from llrpkit.protocol import BitStr, params
from prometheus_client import CollectorRegistry

from ingest.errors import InvalidInput
from ingest.schema import ReadCycleReport
from ingest.settings import Settings
from ingest.timefmt import format_us
from ingest.tokens import ALL_SITES, Scope, Token, hash_token
from readers.auth import ReaderGate
from readers.barcode import (
    BarcodeTcpServer,
    LineSplitter,
    ScannerHealth,
    parse_batch,
    record_rejection,
)
from readers.barcode_http import BarcodeHttpServer
from readers.base import CycleAggregator
from readers.config import ReaderSpec
from readers.impinj import ImpinjStreamClient
from readers.llrp import LlrpAdapter
from readers.run import aggregator_for
from readers.vendorjson import Rejections
from readers.zebraevents import zebra_post
from tests.unit.factories import at, part_epc

VENDOR = Path(__file__).parents[2] / "data" / "vendor"
NOW = at(60)  # this host's clock while the payloads arrive
DAY_S = 86_400.0
GTIN = "00614141000012"  # PART's


@dataclass(frozen=True)
class Read:
    """The ``serial``-th PART seen on ``antenna`` at ``seconds`` after T0 (``count`` reads folded
    into one by the device, ``rssi`` in dBm), in whatever form the device writes it."""

    serial: int
    antenna: int
    seconds: float
    count: int = 1
    rssi: float | None = None


@dataclass(frozen=True)
class Bad:
    """An element the adapter cannot use: "unreadable id", "no antenna", "stale time",
    "future time", or "garbled" (not the device's format at all)."""

    case: str


Element = Read | Bad


@dataclass(frozen=True)
class Rejection:
    source: str
    reason: str
    detail: str
    payload: bytes


@dataclass
class RecordingOutlet:
    """The outlet the adapters hand reports and rejections to (the forwarder in production)."""

    reports: list[ReadCycleReport] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)

    def publish_report(self, report: ReadCycleReport) -> None:
        self.reports.append(report)

    def reject(self, source: str, reason: str, detail: str, payload: bytes) -> None:
        self.rejected.append(Rejection(source, reason, detail, payload))


class Driver:
    """One adapter of ``kind`` for the reader of ``spec``, and the outlet it hands its output to."""

    kind: ClassVar[str]
    counts: ClassVar[bool] = False  # the device says how many singulations a read stands for
    rssi: ClassVar[bool] = False  # the device reports the peak RSSI
    all_or_nothing: ClassVar[bool] = False  # one bad element rejects the whole payload
    # The rejection's source is the reader (the HTTP endpoints name themselves where the
    # body as a whole is unusable; their own tests cover that).
    rejects_as_reader: ClassVar[bool] = True

    def __init__(self, spec: ReaderSpec, outlet: RecordingOutlet):
        self.spec, self.outlet = spec, outlet

    def send(self, payload: Sequence[Element]) -> None:
        raise NotImplementedError

    def end(self) -> None:
        raise NotImplementedError

    def identity(self, serial: int) -> tuple[str, str]:
        """(EPC, item key) of a read of the ``serial``-th PART in its reports."""
        return part_epc(serial), ""


def _time(read: Read) -> str:
    return format_us(at(read.seconds))


def _bad_time(case: str) -> str:
    return format_us(NOW - int(8 * DAY_S * 1e6) if case == "stale time" else NOW + 301_000_000)


class LlrpDriver(Driver):
    """TagReportData as llrpkit hands them over, one at a time, to ``LlrpAdapter``."""

    kind = "llrp"
    counts = rssi = True

    def __init__(self, spec: ReaderSpec, outlet: RecordingOutlet):
        super().__init__(spec, outlet)
        self.adapter = LlrpAdapter(
            spec.reader, "127.0.0.1", 5084, aggregator_for(spec, outlet), outlet, clock=lambda: NOW
        )

    def send(self, payload: Sequence[Element]) -> None:
        for element in payload:
            self.adapter._take(self._tag(element))

    def end(self) -> None:
        self.adapter.aggregator.flush()

    def _tag(self, e: Element) -> TagReport:
        epc = bytes.fromhex(part_epc(e.serial if isinstance(e, Read) else 9))
        if isinstance(e, Read):
            return TagReport(
                epc=epc, antenna=e.antenna, rssi_dbm=e.rssi, first_seen_us=at(e.seconds), seen_count=e.count
            )
        if e.case == "unreadable id":
            trd = params.TagReportData(
                epc_parameter=params.EPCData(epc=BitStr(bit_len=9, data=b"\x30\x80")),
                antenna_id=params.AntennaID(antenna_id=1),
            )
            return TagReport.from_param(trd)
        if e.case == "no antenna":
            return TagReport(epc=epc, first_seen_us=at(0.5))
        stamp = NOW - int(8 * DAY_S * 1e6) if e.case == "stale time" else NOW + 301_000_000
        return TagReport(epc=epc, antenna=1, first_seen_us=stamp)


class ImpinjDriver(Driver):
    """Lines of the IoT device interface's event stream (the first read of the documented
    stream in tests/data/vendor, with its fields replaced), one at a time, to the stream client."""

    kind = "impinj"
    rssi = True
    TEMPLATE: ClassVar[dict[str, Any]] = orjson.loads(
        (VENDOR / "impinj_stream.ndjson").read_bytes().splitlines()[0]
    )

    def __init__(self, spec: ReaderSpec, outlet: RecordingOutlet):
        super().__init__(spec, outlet)
        self.client = ImpinjStreamClient(
            str(spec.options["url"]), spec.reader, aggregator_for(spec, outlet), outlet, clock=lambda: NOW
        )

    def send(self, payload: Sequence[Element]) -> None:
        for element in payload:
            line = self._line(element) + b"\r\n"
            self.client._take(line, len(line))

    def end(self) -> None:
        self.client.aggregator.flush()

    def _line(self, e: Element) -> bytes:
        if isinstance(e, Bad) and e.case == "garbled":
            return b'{"eventType": "tagInventory", "tagInventoryEvent": {'
        event = copy.deepcopy(self.TEMPLATE)
        tag = event["tagInventoryEvent"]
        del tag["epcHex"]  # off by default: the EPC comes in base64url
        serial = e.serial if isinstance(e, Read) else 9
        tag["lastSeenTime"] = format_us(at(0.5))
        tag["epc"] = base64.urlsafe_b64encode(bytes.fromhex(part_epc(serial))).decode().rstrip("=")
        if isinstance(e, Read):
            tag["antennaPort"], tag["lastSeenTime"] = e.antenna, _time(e)
            tag.pop("peakRssiCdbm") if e.rssi is None else tag.update(peakRssiCdbm=round(e.rssi * 100))
        elif e.case == "unreadable id":
            tag["epc"] = "not base64!"
        elif e.case == "no antenna":
            del tag["antennaPort"]
        else:
            tag["lastSeenTime"] = _bad_time(e.case)
        return orjson.dumps(event)


class ZebraDriver(Driver):
    """POST bodies of the IoT Connector (batching on: an array of tag data events, each the
    first of the documented batch in tests/data/vendor with its fields replaced), parsed and
    aggregated as ``ZebraHttpReceiver.receive`` does."""

    kind = "zebra"
    counts = rssi = True
    all_or_nothing = True
    TEMPLATE: ClassVar[dict[str, Any]] = orjson.loads((VENDOR / "zebra_batch.json").read_bytes())[0]

    def __init__(self, spec: ReaderSpec, outlet: RecordingOutlet):
        super().__init__(spec, outlet)
        self.aggregator = aggregator_for(spec, outlet)
        self.rejections = Rejections()

    def send(self, payload: Sequence[Element]) -> None:
        if Bad("garbled") in payload:
            body = b'[{"data": {"idHex": "3034'
        else:
            body = orjson.dumps([self._event(e) for e in payload])
        try:
            post = zebra_post(body, self.spec.reader, NOW)
        except InvalidInput as error:
            self.rejections.record(self.outlet, self.spec.reader, error, body)
            return
        for obs in post.observations:
            self.aggregator.add(obs)

    def end(self) -> None:
        self.aggregator.flush()

    def _event(self, e: Element) -> dict[str, Any]:
        event = copy.deepcopy(self.TEMPLATE)
        data = event["data"]
        serial = e.serial if isinstance(e, Read) else 9
        data["idHex"] = part_epc(serial).lower()  # as the IoT Connector writes it
        if isinstance(e, Read):
            event["timestamp"] = _time(e)
            data.update(antenna=e.antenna, reads=e.count)
            data.pop("peakRssi") if e.rssi is None else data.update(peakRssi=e.rssi)
        elif e.case == "unreadable id":
            data["format"] = "tid"  # FastID on: idHex holds the TID
        elif e.case == "no antenna":
            del data["antenna"]
        else:
            event["timestamp"] = _bad_time(e.case)
        return event


def _code(serial: int) -> str:
    """A GS1-128 scan of the ``serial``-th PART: GTIN (01) and serial (21)."""
    return f"]C101{GTIN}21{serial}"


class BarcodeTcpDriver(Driver):
    """Lines from a fixed scanner, split as the connection splits them, to
    ``BarcodeTcpServer.take``; each arrives at its read's time (a scan's time is its arrival)."""

    kind = "barcode_tcp"

    def __init__(self, spec: ReaderSpec, outlet: RecordingOutlet):
        super().__init__(spec, outlet)
        self.now = NOW
        o = spec.options
        self.server = BarcodeTcpServer(
            spec.reader,
            spec.site,
            spec.line,
            outlet,
            antenna=int(o["antenna"]),
            operator=str(o["operator"]),
            cycle_s=float(o["cycle_s"]),
            clock=lambda: self.now,
        )
        self.splitter = LineSplitter()

    def send(self, payload: Sequence[Element]) -> None:
        for e in payload:
            if isinstance(e, Read):
                assert e.antenna == self.server.antenna, "a scanner line carries no antenna"
                self.now, line = at(e.seconds), _code(e.serial).encode()
            else:
                line = b"\xff\xfe]C1" if e.case == "garbled" else f"]C101{GTIN}".encode()  # a GTIN alone
            for frame in self.splitter.feed(line + b"\r\n"):
                self.server.take(frame)

    def end(self) -> None:
        self.server.aggregator.flush()

    def identity(self, serial: int) -> tuple[str, str]:
        return "", f"gs1:01/{GTIN}/21/{serial}"


class BarcodeHttpDriver(Driver):
    """``POST /v1/scans`` bodies from a handheld naming its reader, site and line, parsed and
    reported as ``BarcodeHttpServer`` does: the batch's bad scans rejected alone, its scans
    folded into read cycles by a cycle aggregator per POST that goes on with the reader's
    sequence, and reported before the answer."""

    kind = "barcode_http"
    rejects_as_reader = False

    def __init__(self, spec: ReaderSpec, outlet: RecordingOutlet, place: tuple[str, str] | None = None):
        super().__init__(spec, outlet)
        self.site, self.line = place or (spec.site, spec.line)
        self.health = ScannerHealth("barcode-http", "")
        self.next_seq = 0

    def send(self, payload: Sequence[Element]) -> None:
        batch = {"reader_id": self.spec.reader, "site": self.site, "line": self.line, "operator": "anna"}
        body = orjson.dumps(batch | {"scans": [self._scan(e) for e in payload]})
        if Bad("garbled") in payload:
            body = body[: len(body) // 2]
        try:
            scans = parse_batch(body, NOW)
        except InvalidInput as error:
            record_rejection(self.health, self.outlet, self.health.name, error, body)
            return
        for _, scan_error, rejected in scans.rejected:
            record_rejection(self.health, self.outlet, scans.reader_id, scan_error, rejected)
        if not scans.observations:
            return
        aggregator = CycleAggregator(
            scans.site,
            scans.line,
            scans.reader_id,
            self.spec.cycle_us,
            self.outlet.publish_report,
            operator=scans.operator,
            next_seq=self.next_seq,
        )
        for obs in sorted(scans.observations, key=lambda o: o.time_us):
            aggregator.add(obs)
        aggregator.flush()
        self.next_seq = aggregator.next_seq

    def end(self) -> None:
        """Each POST's scans are reported before its answer: nothing is left open."""

    def identity(self, serial: int) -> tuple[str, str]:
        return "", f"gs1:01/{GTIN}/21/{serial}"

    def _scan(self, e: Element) -> dict[str, Any]:
        if isinstance(e, Read):
            return {"code": _code(e.serial), "time": _time(e), "antenna": e.antenna}
        if e.case == "unreadable id":
            return {"code": f"]C101{GTIN}", "time": format_us(at(0.5))}
        return {"code": _code(9), "time": _bad_time(e.case)}


# A token of every site: the endpoint's scope check lets any line through, so what refuses a
# batch for another line is the endpoint's own check against its reader's line.
PLANT_WIDE = "lt_plant_wide"


def barcode_http_endpoint(spec: ReaderSpec, outlet: RecordingOutlet) -> BarcodeHttpServer:
    """The reader's ``POST /v1/scans`` endpoint as ``linetrace reader run`` builds it, unbound."""
    gate = ReaderGate(
        lambda: (Token("plant", hash_token(PLANT_WIDE), Scope(ALL_SITES)),), CollectorRegistry()
    )
    return BarcodeHttpServer(
        outlet,
        Settings(max_future_skew_s=300, max_age_s=3600),
        gate,
        cycle_s=float(spec.options["cycle_s"]),
        reader_ids=frozenset({spec.reader}),
        place=(spec.site, spec.line),
        name=spec.reader,
        clock=lambda: NOW,
    )


def post_batch(server: BarcodeHttpServer, names: dict[str, str], token: str) -> tuple[int, dict[str, Any]]:
    """POST one scan of the first PART in a batch that ``names`` its reader, site and line."""
    body = orjson.dumps(names | {"scans": [{"code": _code(1), "time": format_us(at(0.5))}]})
    answer = server.receive(f"Bearer {token}", str(len(body)), io.BytesIO(body).read)
    return answer.status, answer.body


DRIVERS: dict[str, type[Driver]] = {
    d.kind: d for d in (LlrpDriver, ImpinjDriver, ZebraDriver, BarcodeTcpDriver, BarcodeHttpDriver)
}
