"""Messages of the epcis-events topic, which the sink stores: captured events, error
declarations and finished capture jobs (ingest.epcis.capture, storage.epciscapture)."""

from __future__ import annotations

from typing import cast

import orjson

from ingest.errors import InvalidInput
from ingest.records.rows import EpcisCaptureJobRow, EpcisDeclarationRow, EpcisEventRow

# The table of a message on the epcis-events topic: a captured event's row, or (with
# ``"table"``) an error declaration's or a finished capture job's. Of each table's row type, the
# column that must hold microseconds and the one that must hold a list (None: no list).
DECLARATIONS, JOBS_TABLE = "epcis_error_declarations", "epcis_capture_jobs"
_MESSAGES: dict[str, tuple[type, str, str | None]] = {
    "epcis_events": (EpcisEventRow, "event_time", "epcs"),
    DECLARATIONS: (EpcisDeclarationRow, "declaration_time", "corrective_event_ids"),
    JOBS_TABLE: (EpcisCaptureJobRow, "finished_at", None),
}
Message = EpcisEventRow | EpcisDeclarationRow | EpcisCaptureJobRow


def encode_captured(row: Message) -> bytes:
    """A captured event's (error declaration's, finished capture job's) message on the
    epcis-events topic (the sink stores it)."""
    if "declaration" in row:
        return orjson.dumps({"table": DECLARATIONS, **row})
    if "answer" in row:
        return orjson.dumps({"table": JOBS_TABLE, **row})
    return orjson.dumps(row)


def decode_captured(payload: bytes) -> tuple[str, Message]:
    """The table and row of a message on the epcis-events topic; InvalidInput
    (bad_epcis_event) if it is not one."""
    try:
        obj = orjson.loads(payload)
        table = obj.get("table", "epcis_events")
        row_type, times, lists = _MESSAGES[table]
        row = {name: obj[name] for name in row_type.__annotations__}
    except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
        raise InvalidInput("bad_epcis_event", repr(exc)) from exc
    if not isinstance(row[times], int) or (lists is not None and not isinstance(row[lists], list)):
        raise InvalidInput("bad_epcis_event", "times must be microseconds and identifiers a list")
    return table, cast(Message, row)
