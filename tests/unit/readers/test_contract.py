"""One contract for every reader adapter (docs/readers.md): whatever a device sends, the same
reads become the same read-cycle reports, and what cannot be used is rejected with its reason
while the adapter keeps reporting.

Each adapter is driven at the layer that parses what its device sends, with no socket and no
HTTP server (``contract_drivers``): LLRP tag reports, Impinj stream lines and barcode lines go
through the adapter's own per-message entry point; Zebra POST bodies and barcode batches go
through their parsers, with the endpoint's aggregation beside them. Each adapter's reader, and
its site and line, come from the ``readers`` section of a plant file (``readers.config``), as
in ``linetrace reader run``. Where an adapter departs from the contract by design, the case is
skipped with the reason and the departure is asserted on its own below.
"""

from __future__ import annotations

from typing import Any

import pytest

from ingest.errors import PlantError
from ingest.plant import Plant, parse_plant
from ingest.schema import ReadCycleReport, TagRead
from readers.config import parse_readers
from readers.simulator import LineSimulator, SimConfig
from tests.unit.factories import LINE, SITE, T0, at, plant_doc
from tests.unit.readers.contract_drivers import (
    DRIVERS,
    PLANT_WIDE,
    Bad,
    BarcodeHttpDriver,
    Driver,
    Read,
    RecordingOutlet,
    barcode_http_endpoint,
    post_batch,
)

# The adapters' line: every reader has two antennas, at two stations (not the test plant's
# line L1, so a site or line taken from anywhere but the read points shows).
CONTRACT_LINE = "L2"
READERS = {
    "llrp": "LLRP-1",
    "impinj": "IMPINJ-1",
    "zebra": "ZEBRA-1",
    "barcode_tcp": "SCAN-1",
    "barcode_http": "HAND-1",
}
UNKNOWN_ANTENNA = 7

# Where an adapter differs from the contract by design: (kind, clause) -> why.
EXCEPTIONS = {
    ("barcode_tcp", "two antennas"): "one listen port is one scanner, with one antenna (`antenna`)",
    ("barcode_tcp", "unknown antenna"): "a line carries no antenna: the scanner's is its `antenna` option",
    ("barcode_tcp", "late read"): "a scan's time is when its line arrives, so no read comes late",
}

# What each adapter rejects, with the reason docs/readers.md gives (or, where it names none,
# the one the adapter's module documents). Absent: the device cannot send it (a scanner line
# has no time or antenna; a scan posted without an antenna is on antenna 0, without a time it
# is stamped on arrival; llrpkit hands over TagReportData already decoded from LLRP frames).
REJECTS: dict[str, dict[str, str]] = {
    "llrp": {
        "unreadable id": "bad_read",  # an EPCData of 9 bits
        "no antenna": "bad_read",
        "stale time": "stale_timestamp",
        "future time": "future_timestamp",
    },
    "impinj": {
        "unreadable id": "bad_epc",
        "no antenna": "missing_field",
        "stale time": "stale_timestamp",
        "future time": "future_timestamp",
        "garbled": "malformed_json",
    },
    "zebra": {
        "unreadable id": "bad_epc",  # FastID: idHex holds the TID
        "no antenna": "missing_field",
        "stale time": "stale_timestamp",
        "future time": "future_timestamp",
        "garbled": "malformed_json",
    },
    "barcode_tcp": {"unreadable id": "bad_code", "garbled": "malformed_frame"},  # a GTIN alone; not UTF-8
    "barcode_http": {
        "unreadable id": "bad_code",
        "stale time": "stale_timestamp",
        "future time": "future_timestamp",
        "garbled": "malformed_json",
    },
}


def contract_plant() -> dict[str, Any]:
    """The test plant with a second line holding one reader of each kind."""
    doc = plant_doc()
    points = [
        {"reader": reader, "antenna": antenna, "station": station}
        for reader in READERS.values()
        for antenna, station in ((1, "IN-2"), (2, "OUT-2"))
    ]
    doc["sites"][0]["lines"].append(
        {
            "line": CONTRACT_LINE,
            "stages": ["in", "out"],
            "stations": [{"station": "IN-2", "stage": "in"}, {"station": "OUT-2", "stage": "out"}],
            "read_points": points,
        }
    )
    doc["readers"] = [
        {"reader": READERS["llrp"], "kind": "llrp", "host": "10.0.0.21"},
        {"reader": READERS["impinj"], "kind": "impinj", "url": "https://10.0.0.7"},
        {"reader": READERS["zebra"], "kind": "zebra"},
        {"reader": READERS["barcode_tcp"], "kind": "barcode_tcp", "antenna": 1},
        {"reader": READERS["barcode_http"], "kind": "barcode_http"},
    ]
    return doc


PLANT = parse_plant(contract_plant(), source="contract-plant")
SPECS = {spec.kind: spec for spec in parse_readers(PLANT)}


def kinds(clause: str) -> list[Any]:
    """One case per adapter kind, skipped with its reason where the adapter differs by design."""
    return [
        pytest.param(
            kind,
            id=kind,
            marks=[pytest.mark.skip(reason=f"{kind}: {EXCEPTIONS[kind, clause]}")]
            if (kind, clause) in EXCEPTIONS
            else [],
        )
        for kind in READERS
    ]


def rejects() -> list[Any]:
    return [
        pytest.param(kind, case, reason, id=f"{kind}: {case} is {reason}")
        for kind, cases in REJECTS.items()
        for case, reason in cases.items()
    ]


@pytest.fixture
def outlet() -> RecordingOutlet:
    return RecordingOutlet()


def start(kind: str, outlet: RecordingOutlet) -> Driver:
    return DRIVERS[kind](SPECS[kind], outlet)


def reads_of(reports: list[ReadCycleReport]) -> list[tuple[str, str, int]]:
    """(item, antenna) of every read reported, EPC or key."""
    return [(r.epc, r.key, r.antenna) for report in reports for r in report.reads]


def test_the_plant_gives_every_kind_a_reader_on_the_contract_line() -> None:
    assert set(SPECS) == set(DRIVERS) == set(READERS)
    assert {(s.site, s.line) for s in SPECS.values()} == {(SITE, CONTRACT_LINE)}


@pytest.mark.parametrize("kind", kinds("one tag"))
def test_a_tag_seen_several_times_in_a_cycle_is_one_read_with_the_sum(
    kind: str, outlet: RecordingOutlet
) -> None:
    driver = start(kind, outlet)
    counts = (2, 3, 4) if driver.counts else (1, 1, 1)
    rssi = (-60.0, -48.5, -55.0) if driver.rssi else (None, None, None)
    driver.send([Read(5, 1, s, c, r) for s, c, r in zip((0.02, 0.06, 0.11), counts, rssi, strict=True)])
    driver.end()
    epc, key = driver.identity(5)
    [report] = outlet.reports
    assert report.reads == (TagRead(epc, 1, at(0.02), sum(counts), rssi[1], key, at(0.11)),)
    assert outlet.rejected == []


@pytest.mark.parametrize("kind", kinds("two antennas"))
def test_reads_of_two_antennas_stay_apart(kind: str, outlet: RecordingOutlet) -> None:
    driver = start(kind, outlet)
    driver.send([Read(5, 1, 0.02), Read(5, 2, 0.04), Read(6, 2, 0.05), Read(5, 1, 0.08)])
    driver.end()
    (epc5, key5), (epc6, key6) = driver.identity(5), driver.identity(6)
    [report] = outlet.reports
    assert {(r.epc, r.key, r.antenna): (r.time_us, r.count) for r in report.reads} == {
        (epc5, key5, 1): (at(0.02), 2),
        (epc5, key5, 2): (at(0.04), 1),
        (epc6, key6, 2): (at(0.05), 1),
    }


@pytest.mark.parametrize("kind", kinds("site and line"))
def test_site_and_line_come_from_the_readers_read_points(kind: str, outlet: RecordingOutlet) -> None:
    driver = start(kind, outlet)
    driver.send([Read(5, 1, 0.02)])
    driver.end()
    station = PLANT.station_of(READERS[kind], 1)
    assert station is not None and (station.site, station.line) == (SITE, CONTRACT_LINE) != (SITE, LINE)
    assert [(r.site, r.line, r.reader_id) for r in outlet.reports] == [(SITE, CONTRACT_LINE, READERS[kind])]


@pytest.mark.parametrize("kind", kinds("report ids"))
def test_report_ids_are_reader_and_cycle_sequence_and_the_sequence_increases(
    kind: str, outlet: RecordingOutlet
) -> None:
    cycles = [[Read(5, 1, 0.02)], [Read(5, 1, 1.02), Read(6, 1, 1.03)], [Read(6, 1, 2.05)]]
    driver = start(kind, outlet)
    for payload in cycles:
        driver.send(payload)
    driver.end()
    reader = READERS[kind]
    assert [r.report_id for r in outlet.reports] == [f"{reader}:0", f"{reader}:1", f"{reader}:2"]
    assert [len(r.reads) for r in outlet.reports] == [1, 2, 1]
    starts = [r.cycle_start_us for r in outlet.reports]
    assert starts == sorted(starts) and len(set(starts)) == 3
    # The same reads again, by a fresh adapter (a restart): the same reports, so each is stored once.
    again = RecordingOutlet()
    driver = start(kind, again)
    for payload in cycles:
        driver.send(payload)
    driver.end()
    assert again.reports == outlet.reports


@pytest.mark.parametrize("kind", kinds("late read"))
def test_a_read_after_its_cycle_was_reported_is_a_new_report_not_dropped(
    kind: str, outlet: RecordingOutlet
) -> None:
    driver = start(kind, outlet)
    driver.send([Read(5, 1, 1.02)])
    driver.send([Read(6, 1, 0.02)])  # late: its cycle is before the one already open
    driver.end()
    epc6, key6 = driver.identity(6)
    assert [r.cycle_seq for r in outlet.reports] == [0, 1]
    assert outlet.reports[1].reads == (TagRead(epc6, 1, at(0.02), 1, None, key6, at(0.02)),)


@pytest.mark.parametrize(("kind", "case", "reason"), rejects())
def test_an_unusable_payload_is_rejected_with_its_reason_and_reports_go_on(
    kind: str, case: str, reason: str, outlet: RecordingOutlet
) -> None:
    driver = start(kind, outlet)
    driver.send([Read(5, 1, 0.02)])
    driver.send([Bad(case)])
    driver.send([Read(6, 1, 1.02)])
    driver.end()
    assert [r.reason for r in outlet.rejected] == [reason]
    [rejection] = outlet.rejected
    assert rejection.payload, "the dead letter keeps what the device sent"
    if driver.rejects_as_reader:
        assert rejection.source == READERS[kind]
    epc5, key5 = driver.identity(5)
    epc6, key6 = driver.identity(6)
    assert [r.report_id for r in outlet.reports] == [f"{READERS[kind]}:0", f"{READERS[kind]}:1"]
    assert reads_of(outlet.reports) == [(epc5, key5, 1), (epc6, key6, 1)]


@pytest.mark.parametrize("kind", kinds("one bad element"))
def test_one_bad_read_in_a_payload_loses_nothing_valid(kind: str, outlet: RecordingOutlet) -> None:
    driver = start(kind, outlet)
    driver.send([Read(5, 1, 0.02), Bad("unreadable id"), Read(6, 1, 0.03)])
    driver.send([Read(7, 1, 1.02)])
    driver.end()
    (epc5, key5), (epc6, key6), (epc7, key7) = (driver.identity(s) for s in (5, 6, 7))
    [rejection] = outlet.rejected
    assert rejection.reason == REJECTS[kind]["unreadable id"]
    if not driver.all_or_nothing:
        # The bad read is rejected alone; the good ones beside it are reported.
        assert reads_of(outlet.reports) == [(epc5, key5, 1), (epc6, key6, 1), (epc7, key7, 1)]
        return
    # Documented exception, Zebra: "the body is dead-lettered whole, nothing is half-taken". The
    # good reads of the body are not reported, but they are not lost: the dead letter holds them.
    assert reads_of(outlet.reports) == [(epc7, key7, 1)]
    assert epc5.lower() in rejection.payload.decode().lower()
    assert epc6.lower() in rejection.payload.decode().lower()
    assert [r.report_id for r in outlet.reports] == [f"{READERS[kind]}:0"]


@pytest.mark.parametrize("kind", kinds("unknown antenna"))
def test_a_read_on_an_antenna_without_a_read_point_is_reported_as_the_device_sent_it(
    kind: str, outlet: RecordingOutlet
) -> None:
    """An adapter does not know the plant's read points: the read is reported as the device
    sent it, and the stream worker dead-letters it as ``unknown_read_point`` (docs/operations.md:
    the plant file and the devices disagree)."""
    driver = start(kind, outlet)
    driver.send([Read(5, 1, 0.02), Read(5, UNKNOWN_ANTENNA, 0.03)])
    driver.end()
    epc, key = driver.identity(5)
    assert PLANT.station_of(READERS[kind], UNKNOWN_ANTENNA) is None
    assert reads_of(outlet.reports) == [(epc, key, 1), (epc, key, UNKNOWN_ANTENNA)]
    assert outlet.rejected == []


# --- documented exceptions, asserted ------------------------------------------------------------


def test_barcode_tcp_reports_every_scan_on_its_configured_antenna(outlet: RecordingOutlet) -> None:
    """A fixed scanner sends bare lines: its antenna is the reader's `antenna` option."""
    driver = start("barcode_tcp", outlet)
    driver.send([Read(5, 1, 0.02), Read(6, 1, 0.05)])
    driver.end()
    assert {r.antenna for r in outlet.reports[0].reads} == {SPECS["barcode_tcp"].options["antenna"]} == {1}


def test_barcode_http_reports_the_site_and_line_its_batch_names(outlet: RecordingOutlet) -> None:
    """A handheld's batch names its site and line; at the parser they are taken as named (the
    endpoint checks them against the poster's token and against its reader's line, below)."""
    driver = BarcodeHttpDriver(SPECS["barcode_http"], outlet, place=(SITE, LINE))
    driver.send([Read(5, 1, 0.02)])
    assert [(r.site, r.line) for r in outlet.reports] == [(SITE, LINE)]
    assert (SPECS["barcode_http"].site, SPECS["barcode_http"].line) == (SITE, CONTRACT_LINE) != (SITE, LINE)


@pytest.mark.parametrize(
    "line", [pytest.param(LINE, id="the plant's other line"), pytest.param("L-NONE", id="no such line")]
)
def test_barcode_http_refuses_a_batch_for_a_line_not_its_readers(line: str, outlet: RecordingOutlet) -> None:
    """The worker would dead-letter such reports as ``wrong_line`` after the handheld was told
    they were taken: the endpoint refuses the batch (400, naming the reader's line) and
    dead-letters it, and reports nothing, even for a token of every site."""
    spec = SPECS["barcode_http"]
    server = barcode_http_endpoint(spec, outlet)
    status, answer = post_batch(server, {"reader_id": spec.reader, "site": SITE, "line": line}, PLANT_WIDE)
    assert (status, answer["reason"]) == (400, "wrong_line")
    assert f"{SITE}/{CONTRACT_LINE}" in answer["detail"]
    assert [(r.reason, r.source) for r in outlet.rejected] == [("wrong_line", spec.reader)]
    assert outlet.reports == []
    # The reader's own line is taken from the same endpoint.
    own = {"reader_id": spec.reader, "site": SITE, "line": CONTRACT_LINE}
    status, answer = post_batch(server, own, PLANT_WIDE)
    assert (status, answer["accepted"]) == (202, 1)
    assert [(r.site, r.line) for r in outlet.reports] == [(SITE, CONTRACT_LINE)]


@pytest.mark.parametrize(
    ("antenna", "problem"),
    [
        pytest.param({}, "antenna 0 has no read point", id="the default antenna 0"),
        pytest.param({"antenna": 3}, "antenna 3 has no read point", id="an antenna without a read point"),
    ],
)
def test_a_fixed_scanner_is_refused_at_start_without_a_read_point_on_its_antenna(
    antenna: dict[str, Any], problem: str
) -> None:
    """Every scan of a fixed scanner is on its ``antenna``: without a read point there, each
    would be dead-lettered as ``unknown_read_point``, so the configuration is refused."""
    doc = contract_plant()
    doc["readers"] = [{"reader": READERS["barcode_tcp"], "kind": "barcode_tcp", **antenna}]
    with pytest.raises(PlantError) as raised:
        parse_readers(parse_plant(doc))
    assert problem in str(raised.value) and "antennas 1, 2" in str(raised.value)


# --- the simulator, where the contract applies ----------------------------------------------------

S = 1_000_000


def simulated(plant: Plant, **config: Any) -> list[ReadCycleReport]:
    sim = LineSimulator(plant, SimConfig(items_per_minute=120, seed=4, **config), T0)
    events: list[object] = []
    for second in range(1, 91):
        events += sim.advance(T0 + second * S)
    return [e for e in events if isinstance(e, ReadCycleReport)]


def test_the_simulator_reports_one_read_per_tag_and_antenna_per_cycle(plant: Plant) -> None:
    reports = simulated(plant, storm_rate=0.05)
    assert reports
    for report in reports:
        keys = [(r.epc, r.antenna) for r in report.reads]
        assert len(keys) == len(set(keys)), report.report_id


def test_the_simulators_report_ids_are_reader_and_an_increasing_sequence(plant: Plant) -> None:
    """A simulated reader sends a cycle twice now and then: the same report, the same id."""
    reports = simulated(plant, duplicate_cycle_rate=0.2)
    last: dict[str, ReadCycleReport] = {}
    twice = 0
    for report in reports:
        assert report.report_id == f"{report.reader_id}:{report.cycle_seq}"
        before = last.get(report.reader_id)
        if before is not None and before.cycle_seq == report.cycle_seq:
            assert before == report
            twice += 1
        elif before is not None:
            assert report.cycle_seq > before.cycle_seq
        last[report.reader_id] = report
    assert twice > 0


def test_the_simulator_reports_a_read_on_a_spare_antenna_as_read(plant: Plant) -> None:
    reports = simulated(plant, unmapped_antenna_rate=1.0)
    spare = {(r.reader_id, t.antenna) for r in reports for t in r.reads if t.antenna == 99}
    assert spare and all(plant.station_of(reader, antenna) is None for reader, antenna in spare)


def test_the_simulators_site_and_line_come_from_the_read_points(plant: Plant) -> None:
    reports = simulated(plant)
    assert reports
    for report in reports:
        station = plant.station_of(report.reader_id, 1)
        assert station is not None and (report.site, report.line) == (station.site, station.line)
