"""One POST body of a Zebra IoT Connector: tag data events, management events, or both.

A tag data event (data interface; the ``type`` is the operating mode: SIMPLE, INVENTORY,
PORTAL, CONVEYOR, DIRECTIONALITY, CUSTOM) is

    {"data": {"eventNum": 194, "format": "epc", "idHex": "ad99160040aac99525000025",
              "antenna": 1, "peakRssi": -54, "reads": 9, "PC": "3000", "CRC": "518e"},
     "timestamp": "2023-02-24T10:14:42.851+0000", "type": "INVENTORY"}

The operating mode's ``tagMetaData`` decides which fields are present: ``ANTENNA`` gives
``antenna`` (required here: it names the read point), ``RSSI`` gives ``peakRssi`` (dBm, the
peak since the last report) and ``SEEN_COUNT`` gives ``reads``. The timestamp's offset has no
colon (``+0000``), which the parser accepts.

A management event (management events interface: ``type`` HEARTBEAT, ERRORS, WARNINGS, GPI,
GPO, firmwareUpdateProgress, ...) is reader health: a heartbeat carries, in sections such as
``radio_control``, the antennas' connection status (``antennas``: ``{"1": "connected"}``),
radio activity and connection, CPU and RAM, error and warning counts and reads per antenna.
Field names differ between firmware versions (``radio_control`` or ``radioControl``,
``NUM_TAG_READS_PER_ANTENNA`` or ``numTagReadsPerAntenna``): they are matched without case
and underscores. Management events, and messages that are neither tag data nor management
events, are health, never dead letters.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ingest.errors import InvalidInput
from readers.base import Observation
from readers.status import ReaderStatus, StatusKind, text
from readers.vendorjson import (
    DEFAULT_LIMITS,
    ReadLimits,
    epc_hex,
    load_json,
    optional_number,
    positive_int,
    read_time,
)

# A read count beyond 32 bits is no reader's (LLRP's TagSeenCount has 16); the bound keeps the
# sum of one tag's counts in a read cycle within the 64-bit integers of the wire format.
MAX_READ_COUNT = 2**32 - 1
# The operating modes, which name the tag data events they report (lower case).
TAG_TYPES = frozenset({"simple", "inventory", "portal", "conveyor", "conveyer", "directionality", "custom"})
MANAGEMENT_TYPES: dict[str, StatusKind] = {
    "heartbeat": StatusKind.HEARTBEAT,
    "error": StatusKind.ERROR,
    "errors": StatusKind.ERROR,
    "warning": StatusKind.WARNING,
    "warnings": StatusKind.WARNING,
}
_TYPES = {t.upper(): t for t in TAG_TYPES}
# Fields only tag data has: an event without a type that holds one of them is tag data.
_TAG_FIELDS = frozenset({"idhex", "format", "antenna", "peakrssi", "reads", "eventnum", "pc", "crc", "tid"})
FASTID_HINT = (
    "idHex holds the TID, not the EPC: FastID or a TID tag identifier is on in the operating mode; "
    "turn it off (report the EPC bank), or every read of this reader is lost"
)


@dataclass
class ZebraPost:
    """What one POST holds: reads, reader status, and configuration problems it shows."""

    observations: list[Observation] = field(default_factory=list)
    statuses: list[ReaderStatus] = field(default_factory=list)


def zebra_post(body: bytes, reader_id: str, now: int, limits: ReadLimits = DEFAULT_LIMITS) -> ZebraPost:
    """The reads and reader status of one POST body (one event or an array of them).

    All or nothing: InvalidInput with a stable reason if any tag data event is unusable, so
    a body is either taken whole or dead-lettered whole.
    """
    doc = load_json(body, limits)
    post = ZebraPost()
    for i, event in enumerate(doc if isinstance(doc, list) else [doc]):
        taken = _event(event, i, reader_id, now, limits)
        if isinstance(taken, Observation):
            post.observations.append(taken)
        else:
            post.statuses.append(taken)
    return post


def parse_zebra_payload(
    body: bytes, reader_id: str, now: int, limits: ReadLimits = DEFAULT_LIMITS
) -> list[Observation]:
    """The reads of one POST body; reader status in it is left out."""
    return zebra_post(body, reader_id, now, limits).observations


def _norm(name: object) -> str:
    return name.replace("_", "").lower() if isinstance(name, str) else ""


def _kind(name: object) -> str:
    # Tag data types come in upper case, once per read: a lookup is cheaper than normalising.
    known = _TYPES.get(name) if isinstance(name, str) else None
    return known or _norm(name)


def _event(event: Any, i: int, reader_id: str, now: int, limits: ReadLimits) -> Observation | ReaderStatus:
    if not isinstance(event, dict):
        raise InvalidInput("malformed_json", f"event {i} is not a JSON object")
    kind, data = _kind(event.get("type")), event.get("data")
    if kind in MANAGEMENT_TYPES:
        return _management(kind, data, reader_id, now)
    if kind in TAG_TYPES or (isinstance(data, dict) and any(_norm(k) in _TAG_FIELDS for k in data)):
        return _read(event, data, i, reader_id, now, limits)
    if not kind:
        raise InvalidInput(
            "missing_field", f"event {i}: neither tag data (data.idHex) nor a management event (type)"
        )
    return ReaderStatus(reader_id, StatusKind.OTHER, now, detail=f"{event.get('type')}: not tag data")


def _read(
    event: dict[str, Any], data: Any, i: int, reader_id: str, now: int, limits: ReadLimits
) -> Observation:
    if not isinstance(data, dict):
        raise InvalidInput("missing_field", f"event {i}: tag data needs its data object")
    kind = data.get("format", "epc")
    if kind == "tid":
        raise InvalidInput("bad_epc", f"event {i}: {FASTID_HINT}")
    if kind != "epc":
        raise InvalidInput("bad_epc", f"event {i}: idHex holds {kind!r}, not the EPC (report the EPC bank)")
    antenna = data.get("antenna")
    if antenna is None:
        raise InvalidInput(
            "missing_field",
            f"event {i}: tag data without antenna: add ANTENNA to the operating mode's tagMetaData",
        )
    return Observation(
        reader_id,
        positive_int(antenna, f"event {i}: data.antenna"),
        read_time(event.get("timestamp"), f"event {i}: timestamp", now, limits),
        epc=epc_hex(data.get("idHex"), f"event {i}: data.idHex"),
        rssi=optional_number(data.get("peakRssi"), f"event {i}: data.peakRssi"),
        count=_read_count(data.get("reads", 1), i),
    )


def _read_count(value: Any, i: int) -> int:
    count = positive_int(value, f"event {i}: data.reads", "bad_field")
    if count > MAX_READ_COUNT:
        raise InvalidInput("bad_field", f"event {i}: data.reads {count} is more than {MAX_READ_COUNT}")
    return count


# --- management events ---------------------------------------------------------------------


def _management(kind: str, data: Any, reader_id: str, now: int) -> ReaderStatus:
    """A management event as reader status, taken as it comes: what is missing or of
    another shape is left out, never a reason to reject."""
    status = MANAGEMENT_TYPES[kind]
    fields = data if isinstance(data, dict) else {}
    if status is not StatusKind.HEARTBEAT:
        return ReaderStatus(reader_id, status, now, detail=_message(fields, data))
    activity = text(_find(fields, "radioactivity"))
    connection = text(_find(fields, "radioconnection"))
    detail = ", ".join(f"radio {v}" for v in (activity, connection) if v)
    return ReaderStatus(
        reader_id,
        status,
        now,
        antennas=_antenna_states(_find(fields, "antennas")),
        reads_by_antenna=_antenna_counts(_find(fields, "numtagreadsperantenna")),
        detail=detail,
    )


def _find(fields: dict[str, Any], name: str) -> Any:
    """The field ``name`` (compared without case and underscores) of a heartbeat, at its top
    or in one of its sections (radio_control, reader_gateway, system...)."""
    sections = [fields, *(v for v in fields.values() if isinstance(v, dict))]
    for section in sections:
        for key, value in section.items():
            if _norm(key) == name:
                return value
    return None


def _antenna_states(value: Any) -> tuple[tuple[int, bool], ...]:
    states = []
    for port, state in _by_port(value):
        connected = (
            state if isinstance(state, bool) else {"connected": True, "disconnected": False}.get(_norm(state))
        )
        if connected is not None:
            states.append((port, connected))
    return tuple(states)


def _antenna_counts(value: Any) -> tuple[tuple[int, int], ...]:
    return tuple((port, n) for port, n in _by_port(value) if type(n) is int and n >= 0)


def _by_port(value: Any) -> list[tuple[int, Any]]:
    """(antenna, value) pairs of ``{"1": v, ...}`` or ``[{"antenna": 1, "status": v}, ...]``."""
    if isinstance(value, dict):
        pairs = list(value.items())
    elif isinstance(value, list):
        pairs = [(_port_of(e), _state_of(e)) for e in value if isinstance(e, dict)]
    else:
        return []
    return [
        (int(k), v) for k, v in pairs if isinstance(k, int | str) and str(k).isdigit() and 0 < int(k) < 65536
    ]


def _port_of(entry: dict[str, Any]) -> Any:
    return next((v for k, v in entry.items() if _norm(k) in ("antenna", "id", "port", "antennaid")), None)


def _state_of(entry: dict[str, Any]) -> Any:
    return next((v for k, v in entry.items() if _norm(k) in ("status", "connected", "state", "count")), None)


def _message(fields: dict[str, Any], data: Any) -> str:
    for key, value in fields.items():
        if _norm(key) in ("message", "description", "msg", "errormessage", "warningmessage", "reason"):
            return text(value)
    return text(data)
