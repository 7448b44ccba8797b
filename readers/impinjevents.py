"""One line of an Impinj IoT device interface event stream: a read, reader status, or nothing.

A ``ReaderEvent`` (OpenAPI 1.5 and 1.7) has ``timestamp``, ``hostname`` and one object
named after the event. 1.7 also names the type in ``eventType``; 1.5 does not, so the event
is known by its one object:

- ``tagInventoryEvent``: a read (``epc`` in base64url, ``epcHex`` when enabled, ``antennaPort``,
  ``peakRssiCdbm``, ``lastSeenTime``);
- ``antennaConnectedEvent`` and ``antennaDisconnectedEvent`` (``antennaPort``),
  ``inventoryStatusEvent`` (``status``), ``inventoryTerminatedEvent``, ``overflowEvent``
  (the reader dropped events) and ``diagnosticEvent``: reader status, taken as health;
- a bare CRLF: a keep-alive.

Status is never a dead letter; a tag event that cannot be used is (``InvalidInput``).
"""

from __future__ import annotations

from typing import Any

from ingest.errors import InvalidInput
from readers.base import Observation
from readers.status import ReaderStatus, StatusKind, text
from readers.vendorjson import (
    DEFAULT_LIMITS,
    ReadLimits,
    epc_base64,
    epc_hex,
    load_json,
    optional_number,
    positive_int,
    read_time,
)

TAG_EVENT = "tagInventory"
# The status events of the IoT device interface, by the type ``eventType`` names (the object
# is the type + "Event"), and what each is to linetrace.
STATUS_EVENTS: dict[str, StatusKind] = {
    "antennaConnected": StatusKind.ANTENNA,
    "antennaDisconnected": StatusKind.ANTENNA,
    "inventoryStatus": StatusKind.STATE,
    "inventoryTerminated": StatusKind.STATE,
    "overflow": StatusKind.WARNING,
    "diagnostic": StatusKind.OTHER,
}


def impinj_event(
    line: bytes, reader_id: str, now: int, limits: ReadLimits = DEFAULT_LIMITS
) -> Observation | ReaderStatus | None:
    """What one line of the stream is: a read, reader status, or None for a keep-alive.

    InvalidInput with a stable reason for a line that is neither."""
    frame = line.strip()
    if not frame:
        return None
    event = load_json(frame, limits)
    if not isinstance(event, dict):
        raise InvalidInput("malformed_json", "an event must be a JSON object")
    kind = _event_type(event)
    if kind != TAG_EVENT:
        return _status(kind, event.get(f"{kind}Event"), reader_id, now)
    tag = event.get("tagInventoryEvent")
    if not isinstance(tag, dict):
        raise InvalidInput("missing_field", "a tagInventory event needs its tagInventoryEvent object")
    # lastSeenTime is the reader's read time; the event timestamp is when it was queued.
    seen = tag.get("lastSeenTime", event.get("timestamp"))
    return Observation(
        reader_id,
        positive_int(tag.get("antennaPort"), "tagInventoryEvent.antennaPort"),
        read_time(seen, "tagInventoryEvent.lastSeenTime", now, limits),
        epc=_epc(tag),
        rssi=_cdbm(tag.get("peakRssiCdbm")),
    )


def parse_impinj_event(
    line: bytes, reader_id: str, now: int, limits: ReadLimits = DEFAULT_LIMITS
) -> Observation | None:
    """The read in one line of the stream; None for keep-alives and reader status."""
    taken = impinj_event(line, reader_id, now, limits)
    return taken if isinstance(taken, Observation) else None


def _event_type(event: dict[str, Any]) -> str:
    """``eventType`` where the reader names it (1.7), else the name of its event object (1.5)."""
    kind = event.get("eventType")
    if kind is not None:
        if not isinstance(kind, str):
            raise InvalidInput("missing_field", f"eventType must be text, got {kind!r}")
        return kind
    named = [k.removesuffix("Event") for k, v in event.items() if k.endswith("Event") and isinstance(v, dict)]
    if len(named) != 1:
        found = f"{len(named)} event objects" if named else "no event object"
        raise InvalidInput("missing_field", f"an event without eventType needs one event object, has {found}")
    return named[0]


def _status(kind: str, body: Any, reader_id: str, now: int) -> ReaderStatus:
    """Reader status, taken as it comes: a field missing or of another shape is left out."""
    fields = body if isinstance(body, dict) else {}
    status = STATUS_EVENTS.get(kind, StatusKind.OTHER)
    antennas: tuple[tuple[int, bool], ...] = ()
    port = fields.get("antennaPort")
    if status is StatusKind.ANTENNA and type(port) is int and port > 0:
        antennas = ((port, kind == "antennaConnected"),)
    if kind == "diagnostic":
        status = _diagnostic_level(fields)
    detail = " ".join(f"{k}={text(v)}" for k, v in sorted(fields.items()) if not isinstance(v, dict | list))
    if kind == "inventoryStatus":
        detail = f"inventory {text(fields.get('status')) or 'unknown'}"
    return ReaderStatus(reader_id, status, now, antennas=antennas, detail=f"{kind}: {detail}".strip(": "))


def _diagnostic_level(fields: dict[str, Any]) -> StatusKind:
    levels = {text(i.get("level")).lower() for i in fields.get("items") or [] if isinstance(i, dict)}
    if levels & {"error", "critical", "fatal"}:
        return StatusKind.ERROR
    if levels & {"warn", "warning"}:
        return StatusKind.WARNING
    return StatusKind.OTHER


def _epc(tag: dict[str, Any]) -> str:
    # epcHex only when the reader's TagInventoryEventConfiguration enables it (off by default);
    # epc, always sent, is base64url.
    if "epcHex" in tag or "epc" not in tag:
        return epc_hex(tag.get("epcHex"), "tagInventoryEvent.epcHex")
    return epc_base64(tag["epc"], "tagInventoryEvent.epc")


def _cdbm(value: Any) -> float | None:
    cdbm = optional_number(value, "tagInventoryEvent.peakRssiCdbm")
    return None if cdbm is None else cdbm / 100  # centi-dBm to dBm
