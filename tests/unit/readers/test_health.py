"""Reader health: status messages and reads into a reader's health book, the book as the
Prometheus metrics the alerts and the dashboard use, and LLRP notifications as status."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from llrpkit.protocol import enums, messages, params
from prometheus_client import CollectorRegistry

from readers.healthmetrics import ReaderHealthCollector
from readers.llrp import LlrpAdapter, llrp_status
from readers.status import MAX_DETAIL_CHARS, ReaderHealthBook, ReaderStatus, StatusKind
from tests.unit.factories import at

NOW = at(100)


def _book() -> ReaderHealthBook:
    book = ReaderHealthBook("ZEBRA-3", heartbeat_s=60)
    book.take(ReaderStatus("ZEBRA-3", StatusKind.HEARTBEAT, NOW, antennas=((1, True), (2, False))))
    book.take(ReaderStatus("ZEBRA-3", StatusKind.ERROR, NOW + 1, detail="radio fault"))
    book.read(1, 3)
    book.read(3)
    return book


def test_the_book_keeps_antenna_states_reads_heartbeats_and_errors() -> None:
    book = _book()
    assert {a: (p.connected, p.reads) for a, p in book.antennas.items()} == {
        1: (True, 3),
        2: (False, 0),
        3: (None, 1),  # read, never reported on
    }
    assert (book.heartbeats, book.last_heartbeat_us, book.last_error) == (1, NOW, "radio fault")
    book.take(ReaderStatus("ZEBRA-3", StatusKind.ANTENNA, NOW + 5, antennas=((2, True),)))
    assert (book.antennas[2].connected, book.antennas[2].since_us) == (True, NOW + 5)
    book.beat(NOW + 9)
    assert book.last_heartbeat_us == NOW + 9 and book.heartbeats == 1  # a sign of life, not a heartbeat
    assert book.summary()["antennas_disconnected"] == []


def test_a_readers_long_error_text_is_cut() -> None:
    status = ReaderStatus("R", StatusKind.ERROR, NOW, detail="x" * 1000)
    assert len(status.detail) == MAX_DETAIL_CHARS and status.detail.endswith("…")


def test_the_books_are_metrics_per_reader_and_antenna() -> None:
    registry = CollectorRegistry()
    books = [_book(), ReaderHealthBook("R-CUT-1")]
    registry.register(ReaderHealthCollector(lambda: books))

    def value(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, labels)

    assert value("linetrace_reader_antenna_connected", reader="ZEBRA-3", antenna="1") == 1
    assert value("linetrace_reader_antenna_connected", reader="ZEBRA-3", antenna="2") == 0
    assert value("linetrace_reader_antenna_connected", reader="ZEBRA-3", antenna="3") is None
    assert value("linetrace_reader_antenna_reads_total", reader="ZEBRA-3", antenna="1") == 3
    assert value("linetrace_reader_heartbeat_timestamp_seconds", reader="ZEBRA-3") == NOW / 1e6
    assert value("linetrace_reader_heartbeat_interval_seconds", reader="ZEBRA-3") == 60
    assert value("linetrace_reader_status_events_total", reader="ZEBRA-3", kind="error") == 1
    # A reader that never sent a heartbeat has no heartbeat time (the alert must not fire on it).
    assert value("linetrace_reader_heartbeat_timestamp_seconds", reader="R-CUT-1") is None
    assert value("linetrace_reader_heartbeat_interval_seconds", reader="R-CUT-1") is None


def _notification(**events: object) -> messages.READER_EVENT_NOTIFICATION:
    data = params.ReaderEventNotificationData(timestamp=params.UTCTimestamp(microseconds=NOW), **events)  # type: ignore[arg-type]
    return messages.READER_EVENT_NOTIFICATION(reader_event_notification_data=data)


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        pytest.param(
            {
                "antenna_event": params.AntennaEvent(
                    event_type=enums.AntennaEventType.Antenna_Disconnected, antenna_id=2
                )
            },
            [(StatusKind.ANTENNA, ((2, False),), "")],
            id="antenna disconnected",
        ),
        pytest.param(
            {
                "antenna_event": params.AntennaEvent(
                    event_type=enums.AntennaEventType.Antenna_Connected, antenna_id=1
                )
            },
            [(StatusKind.ANTENNA, ((1, True),), "")],
            id="antenna connected",
        ),
        pytest.param(
            {"reader_exception_event": params.ReaderExceptionEvent(message="  PLL   unlocked ")},
            [(StatusKind.ERROR, (), "PLL unlocked")],
            id="reader exception",
        ),
        pytest.param(
            {
                "report_buffer_level_warning_event": params.ReportBufferLevelWarningEvent(
                    report_buffer_percentage_full=90
                ),
                "report_buffer_overflow_error_event": params.ReportBufferOverflowErrorEvent(),
            },
            [
                (StatusKind.ERROR, (), "report buffer overflow: reads lost"),
                (StatusKind.WARNING, (), "report buffer 90% full"),
            ],
            id="report buffer",
        ),
        pytest.param(
            {"connection_attempt_event": params.ConnectionAttemptEvent(status=0)},
            [],
            id="connection: nothing",
        ),
    ],
)
def test_llrp_notifications_are_reader_status(events: dict[str, object], expected: list[object]) -> None:
    statuses = llrp_status(_notification(**events), "R-CUT-1", NOW)
    assert [(s.kind, s.antennas, s.detail) for s in statuses] == expected
    assert llrp_status(messages.KEEPALIVE(), "R-CUT-1", NOW) == []


class _Reader:
    def __init__(self, notes: list[messages.READER_EVENT_NOTIFICATION]):
        self.notes = notes

    async def events(self) -> AsyncIterator[messages.READER_EVENT_NOTIFICATION]:
        for note in self.notes:
            yield note


def test_the_llrp_adapter_takes_antenna_events_into_its_book() -> None:
    class _Outlet:
        def publish_report(self, report: object) -> None: ...

        def reject(self, source: str, reason: str, detail: str, payload: bytes) -> None: ...

    from readers.base import CycleAggregator

    adapter = LlrpAdapter(
        "R-CUT-1", "127.0.0.1", 1, CycleAggregator("S", "L", "R-CUT-1", 500_000, lambda r: None), _Outlet()
    )
    down = params.AntennaEvent(event_type=enums.AntennaEventType.Antenna_Disconnected, antenna_id=4)
    asyncio.run(adapter._watch(_Reader([_notification(antenna_event=down)])))  # type: ignore[arg-type]
    assert adapter.book.antennas[4].connected is False and adapter.book.events == {"antenna": 1}
