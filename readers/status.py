"""What a reader says about itself, as RFID middleware keeps it: heartbeats, antennas connected
or not, errors and warnings, reads per antenna.

Adapters turn a device's status messages (Zebra IoT Connector management events, Impinj
status and antenna events, LLRP READER_EVENT_NOTIFICATIONs) into ``ReaderStatus`` values and
give them, with every read they take, to the reader's ``ReaderHealthBook``. Status is health,
never input: it is counted here and exported as metrics (``readers.healthmetrics``), never
dead-lettered. All of this is plain data and pure functions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

# How much of a reader's own error text is kept (for the log and /health).
MAX_DETAIL_CHARS = 200


class StatusKind(StrEnum):
    HEARTBEAT = "heartbeat"  # the reader is alive; may carry antenna states and read counts
    ANTENNA = "antenna"  # antennas connected or disconnected
    ERROR = "error"
    WARNING = "warning"
    STATE = "state"  # inventory started, stopped, terminated; radio active or not
    OTHER = "other"  # GPI, GPO, diagnostics and events linetrace has no use for


@dataclass(frozen=True, slots=True)
class ReaderStatus:
    """One status message of a reader. ``time_us`` is when this host received it.

    ``antennas`` holds (antenna, connected) pairs the message reports; ``reads_by_antenna``
    the reader's own running totals of reads per antenna (Zebra heartbeats carry them).
    """

    reader_id: str
    kind: StatusKind
    time_us: int
    antennas: tuple[tuple[int, bool], ...] = ()
    reads_by_antenna: tuple[tuple[int, int], ...] = ()
    detail: str = ""

    def __post_init__(self) -> None:
        if len(self.detail) > MAX_DETAIL_CHARS:
            object.__setattr__(self, "detail", self.detail[: MAX_DETAIL_CHARS - 1] + "…")


@dataclass
class AntennaHealth:
    """One antenna (a port of the reader): connected as last reported (None: never said),
    since when, and the reads the adapter took on it."""

    connected: bool | None = None
    since_us: int = 0
    reads: int = 0
    reported_reads: int | None = None  # the reader's own total, where it reports one


@dataclass
class ReaderHealthBook:
    """The health of one reader, from its status messages and its reads.

    ``heartbeat_s`` is the interval the reader is configured to send heartbeats at (0: it
    sends none that linetrace sees); an alert fires when three have gone missing.
    """

    reader_id: str
    heartbeat_s: float = 0.0
    antennas: dict[int, AntennaHealth] = field(default_factory=dict)
    last_heartbeat_us: int = 0
    heartbeats: int = 0
    events: dict[str, int] = field(default_factory=dict)  # status messages by kind
    last_error: str = ""
    last_warning: str = ""
    state: str = ""  # the latest inventory or radio state the reader reported

    def take(self, status: ReaderStatus) -> None:
        kind = status.kind
        self.events[kind] = self.events.get(kind, 0) + 1
        if kind is StatusKind.HEARTBEAT:
            self.heartbeats += 1
            self.last_heartbeat_us = max(self.last_heartbeat_us, status.time_us)
        elif kind is StatusKind.ERROR:
            self.last_error = status.detail
        elif kind is StatusKind.WARNING:
            self.last_warning = status.detail
        elif kind is StatusKind.STATE and status.detail:
            self.state = status.detail
        for antenna, connected in status.antennas:
            port = self.antennas.setdefault(antenna, AntennaHealth())
            if port.connected is not connected:
                port.connected, port.since_us = connected, status.time_us
        for antenna, total in status.reads_by_antenna:
            self.antennas.setdefault(antenna, AntennaHealth()).reported_reads = total

    def beat(self, now_us: int) -> None:
        """A sign of life that is not a status message (an Impinj keep-alive or event line)."""
        self.last_heartbeat_us = max(self.last_heartbeat_us, now_us)

    def read(self, antenna: int, count: int = 1) -> None:
        self.antennas.setdefault(antenna, AntennaHealth()).reads += count

    def summary(self) -> dict[str, object]:
        """For the log and /health: what an RFID team asks first."""
        down = sorted(a for a, p in self.antennas.items() if p.connected is False)
        return {
            "antennas_disconnected": down,
            "last_heartbeat_us": self.last_heartbeat_us,
            "events": dict(self.events),
            "last_error": self.last_error,
            "last_warning": self.last_warning,
            "state": self.state,
        }


def text(value: object) -> str:
    """A reader's free text (an error message, a state) as one short line."""
    if isinstance(value, str):
        return " ".join(value.split())
    return "" if value is None else " ".join(str(value).split())
