"""Hostile and broken input among valid reads on the same partition: poison and malformed
messages, impossible timestamps, oversized reports, unknown tags and read points, whole
cycles sent twice, and SQL or JSON injection in tag data, operators and plant names.

Every bad message becomes exactly one dead-letter record with its reason, the partition
keeps moving (every valid read after a bad one is stored), nothing valid is lost or doubled,
and hostile text is stored as text. The negative controls show the checks bite: a decoder
whose errors are untyped stops the partition, widened bounds let impossible reads in, and
the injection probes change the answer of a query built by string formatting.
"""

from __future__ import annotations

import copy
import signal
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest

from ingest.epc import encode_sgtin96, item_key
from ingest.errors import InvalidInput, NotFound
from ingest.plant import parse_plant
from ingest.schema import ReadCycleReport, TagRead
from ingest.settings import Settings
from ingest.timefmt import now_us
from ingest.wire import encode_report
from storage.client import connect
from tests.integration.conftest import Pipeline
from tests.integration.faults.expected import Workload, build_workload, problems, send, wait_for_trace
from tests.integration.scenario import LINE, PLANT, SITE

pytestmark = pytest.mark.integration

S = 1_000_000
MAX_MESSAGE_BYTES = 200_000

EVIL_LINE = 'L-"}]}; DROP TABLE passes; --'
EVIL_STATION = "S1'); DROP TABLE item_state; --"
EVIL_READER = "R' OR '1'='1"
EVIL_OPERATOR = "'; DROP TABLE read_cycles; --"
EVIL_ITEMS = ("gs1:01/00614141000036/21/x'); DROP TABLE passes; --", 'gs1:"},{"injected":true,"x":"')
EVIL_PLANT: dict[str, Any] = copy.deepcopy(PLANT)
EVIL_PLANT["sites"][0]["lines"].append(
    {
        "line": EVIL_LINE,
        "stages": ["x"],
        "stations": [{"station": EVIL_STATION, "stage": "x"}],
        "read_points": [{"reader": EVIL_READER, "antenna": 1, "station": EVIL_STATION}],
        "products": [{"product": "EVIL'--", "gtin": "00614141000036", "route": {"stages": ["x"]}}],
    }
)
PROBE = "urn:epc:id:x' OR '1'='1"  # an item key that matches every row if pasted into SQL


def epc(serial: int) -> str:
    return encode_sgtin96("0614141", "000001", serial)


def report(seq: int, start_us: int, epcs: list[str], antenna: int = 1, reader: str = "RA") -> ReadCycleReport:
    reads = tuple(
        TagRead(e, antenna, start_us + k * 1000, count=1, rssi=-50.0) for e in epcs for k in range(2)
    )
    line = EVIL_LINE if reader == EVIL_READER else LINE
    return ReadCycleReport(
        site=SITE, line=line, reader_id=reader, cycle_seq=seq, cycle_start_us=start_us, reads=reads
    )


class Hostile:
    """Bad messages for the reads topic, keyed like reader RA's, and what each must become."""

    def __init__(self) -> None:
        now = now_us()
        envelope = {"v": 1, "type": "read_cycle", "site": SITE, "line": LINE, "reader_id": "RA"}
        bad_read = orjson.loads(encode_report(report(900_001, now - 60 * S, [epc(1)])))
        bad_read["reads"][0]["epc"] = "'); DROP TABLE passes; --"
        many = [epc(95_000 + i) for i in range(4_000)]
        self.messages: list[tuple[bytes, str]] = [
            (b"{not json", "malformed_json"),
            (bytes(range(256)), "malformed_json"),
            (b"[1, 2, 3]", "malformed_json"),
            (b"[" * 100_000, "malformed_json"),
            (orjson.dumps({**envelope, "v": 99}), "unsupported_version"),
            (orjson.dumps({**envelope, "type": "aggregation"}), "wrong_type"),
            (orjson.dumps(envelope), "missing_field"),
            (orjson.dumps(bad_read), "bad_read"),
            (encode_report(report(900_002, now - 60 * S, many)), "oversized"),
            (encode_report(report(900_003, now + 86_400 * S, [epc(90_001)])), "future_timestamp"),
            (encode_report(report(900_004, now - 30 * 86_400 * S, [epc(90_002)])), "stale_timestamp"),
            (encode_report(report(900_005, now - 60 * S, [epc(90_004)], antenna=9)), "unknown_read_point"),
        ]
        # Valid, and kept: a reader clock 60 s ahead (within the skew allowed) and a tag
        # whose EPC is no GS1 scheme (kept as hex).
        self.accepted = [
            (encode_report(report(900_006, now + 60 * S, [epc(90_003)])), item_key(epc(90_003))),
            (encode_report(report(900_007, now - 60 * S, ["E2801160600002"])), item_key("E2801160600002")),
        ]
        self.impossible_items = [item_key(e) for e in [epc(90_001), epc(90_002), epc(90_004), *many[:3]]]

    def expected_reasons(self) -> Counter[str]:
        return Counter(reason for _, reason in self.messages)


def evil_reports(base_us: int) -> list[ReadCycleReport]:
    reads = tuple(TagRead("", 1, base_us + k * 1000, 1, -40.0, key) for key in EVIL_ITEMS for k in range(2))
    return [
        ReadCycleReport(
            site=SITE,
            line=EVIL_LINE,
            reader_id=EVIL_READER,
            cycle_seq=0,
            cycle_start_us=base_us,
            reads=reads,
            operator=EVIL_OPERATOR,
        )
    ]


def send_everything(p: Pipeline, w: Workload, hostile: Hostile) -> None:
    """Valid reports with a bad message after every few, then every 7th report again."""
    bad = iter(hostile.messages + [(m, "") for m, _ in hostile.accepted])
    for i, r in enumerate(w.reports):
        p.send(p.topics.reads, encode_report(r), r.reader_id.encode())
        if i % 5 == 4 and (item := next(bad, None)) is not None:
            p.send(p.topics.reads, item[0], b"RA")
    for m in bad:
        p.send(p.topics.reads, m[0], b"RA")
    for r in evil_reports(now_us() - 120 * S):
        p.send(p.topics.reads, encode_report(r), r.reader_id.encode())
    p.flush()
    send(p, w.reports[::7])  # whole cycles replayed


def start(settings: Settings, tmp_path: Path, worker: str = "") -> Pipeline:
    return Pipeline(settings, parse_plant(EVIL_PLANT), tmp_path).start({"worker": worker})


def test_hostile_input_is_dead_lettered_and_valid_input_is_exact(settings: Settings, tmp_path: Path) -> None:
    p = start(settings.with_(max_message_bytes=MAX_MESSAGE_BYTES), tmp_path)
    try:
        w, hostile = build_workload(120), Hostile()
        send_everything(p, w, hostile)
        # Besides the workload: the two accepted reports and the injection report with their
        # passes, and the three reports whose every read was refused (stored with 0 entries).
        wait_for_trace(p, w, extra=(6, 4))
        # The query API binds parameters: hostile values select exactly their own rows.
        assert {r["station"] for r in p.query("history", item=EVIL_ITEMS[0])} == {EVIL_STATION}
        with pytest.raises(NotFound):  # bound as a value: it matches no row
            p.query("history", item=PROBE)
        with pytest.raises(InvalidInput, match="not an item key"):
            p.query("history", item="x' OR '1'='1")
        assert p.query("summary", site=SITE, line=EVIL_LINE)["passes"]["passes"] == len(EVIL_ITEMS)
        assert p.processes["worker"].popen.poll() is None
        p.stop_sink()
        assert problems(p.settings, w) == []
        store = connect(p.settings, migrate=False)
        try:
            reasons = store.query(
                "SELECT reason, count() AS n FROM dead_letters FINAL WHERE source_topic = {t:String} "
                "GROUP BY reason",
                {"t": p.topics.reads},
            )
            assert Counter({r["reason"]: int(r["n"]) for r in reasons}) == hostile.expected_reasons()
            injected = store.query(
                "SELECT payload FROM dead_letters FINAL "
                "WHERE reason = 'bad_read' AND source_topic = {t:String}",
                {"t": p.topics.reads},
            )
            assert "DROP TABLE passes" in injected[0]["payload"]
            stored = _passes_of(store, hostile.impossible_items + [k for _, k in hostile.accepted])
            assert stored == {k: 1 for _, k in hostile.accepted}, (
                "impossible reads stored, or valid ones lost"
            )
            evil = store.query(
                "SELECT item, line, station, reader_id, operator FROM passes FINAL "
                "WHERE item IN {items:Array(String)} ORDER BY item",
                {"items": list(EVIL_ITEMS)},
            )
            assert [r["item"] for r in evil] == sorted(EVIL_ITEMS)
            assert {(r["line"], r["station"], r["reader_id"], r["operator"]) for r in evil} == {
                (EVIL_LINE, EVIL_STATION, EVIL_READER, EVIL_OPERATOR)
            }
            tables = {
                r["name"]
                for r in store.query("SELECT name FROM system.tables WHERE database = currentDatabase()")
            }
            assert {"passes", "item_state", "read_cycles"} <= tables
            # Negative control of the injection check: the probe pasted into SQL matches every row.
            pasted = store.query(f"SELECT count() AS n FROM passes WHERE item = '{PROBE}'")
            bound = store.query("SELECT count() AS n FROM passes WHERE item = {i:String}", {"i": PROBE})
            assert int(pasted[0]["n"]) > 0 and int(bound[0]["n"]) == 0
        finally:
            store.close()
    finally:
        p.stop()


def test_control_untyped_decoder_errors_stop_the_partition(settings: Settings, tmp_path: Path) -> None:
    """Negative control: a decoder whose errors are not typed bad input ends the worker at
    the first poison message, again at every restart, and the reads behind it never arrive."""
    p = start(settings.with_(max_message_bytes=MAX_MESSAGE_BYTES), tmp_path, worker="untyped_decode_errors")
    try:
        w, hostile = build_workload(120), Hostile()
        send_everything(p, w, hostile)
        assert p.processes["worker"].popen.wait(60) == 70
        p.start_process("worker", "untyped_decode_errors")
        assert p.processes["worker"].popen.wait(60) == 70
        p.processes["worker"].stop(signal.SIGKILL)
        p.stop_sink()
        assert any("lost" in f for f in problems(p.settings, w))
    finally:
        p.stop()


def test_control_widened_bounds_let_impossible_reads_in(settings: Settings, tmp_path: Path) -> None:
    """Negative control: with the size and time bounds widened, the oversized and impossible
    reports are taken as passes, which the check above refuses."""
    wide = settings.with_(max_message_bytes=10_000_000, max_future_skew_s=10 * 86_400.0, max_age_s=1e9)
    p = start(wide, tmp_path)
    try:
        w, hostile = build_workload(120), Hostile()
        send_everything(p, w, hostile)
        # The oversized report's 4,000 items and the future and stale ones are taken as passes.
        wait_for_trace(p, w, extra=(7, 4 + 4_000 + 2))
        p.stop_sink()
        store = connect(p.settings, migrate=False)
        try:
            stored = _passes_of(store, hostile.impossible_items)
            assert {item_key(epc(90_001)), item_key(epc(90_002))} <= set(stored), stored
            assert item_key(epc(95_000)) in stored, "the oversized report was taken"
        finally:
            store.close()
    finally:
        p.stop()


def _passes_of(store: Any, items: list[str]) -> dict[str, int]:
    rows = store.query(
        "SELECT item, count() AS n FROM passes FINAL WHERE item IN {items:Array(String)} GROUP BY item",
        {"items": items},
    )
    return {r["item"]: int(r["n"]) for r in rows}
