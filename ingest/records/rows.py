"""One typed row per ClickHouse table: the declaration of the table's columns in the code.

A row is what the stream writes to the trace topic, the sink inserts and the restore reads
back: the keys of a row are the table's columns (``stored_at`` aside, which ClickHouse
fills), in the order the migrations give them. Times are integer microseconds, marked
``Micros``; the sink turns them into DateTime64.

Rows are TypedDicts, not dataclasses: they are plain dicts at run time (orjson writes them
as they are, ~20k rows/s on the stream's hot path), and mypy checks every construction by
keyword (a missing, extra or mistyped column is an error; there is no positional form, so
``site`` and ``line`` cannot be swapped by position). tests/unit/ingest/test_rows.py
checks every row type against the columns the migrations create.
"""

# No ``from __future__ import annotations``: TypedDict sees NotRequired only in evaluated annotations.
from collections.abc import Mapping
from functools import cache
from typing import Annotated, Any, NotRequired, TypedDict, TypeVar, cast, get_type_hints

from ingest.schema import SCAN_CONTEXT, ScanContext, Shipment, stable_id

R = TypeVar("R", bound=Mapping[str, Any])

MICROS = "micros"
Micros = Annotated[int, MICROS]  # integer microseconds since the epoch (UTC), a DateTime64 column


class ReadCycleRow(TypedDict):
    report_id: str
    site: str
    line: str
    reader_id: str
    cycle_seq: int
    cycle_start: Micros
    entries: int
    read_count: int
    tags: int
    passes: int


class PassAt(TypedDict):
    """The columns passes and violations begin with: which pass, of which item, where."""

    pass_id: str
    item: str
    site: str
    line: str
    station: str
    stage: str


class _PassColumns(PassAt):
    reader_id: str
    first_seen: Micros
    last_seen: Micros
    reads: int
    product: str
    job: str
    outcome: str
    detail: str
    route_index: int
    revision: int
    direction: str


class ScanColumns(TypedDict):
    """The columns of a pass's ``ScanContext`` (ingest/schema.py), field for field, last in
    ``passes``: what the report that opened the pass told of its reads."""

    operator: str


def scan_columns(context: ScanContext) -> ScanColumns:
    """A pass's context as its columns (tests/unit/ingest/test_rows.py checks the names agree)."""
    return cast(ScanColumns, {name: getattr(context, name) for name in SCAN_CONTEXT})


class PassRow(_PassColumns, ScanColumns):
    # Not a column: set on a pass's first row, so the sink measures read-to-stored latency.
    first: NotRequired[int]


class ViolationRow(PassAt):
    time: Micros
    type: str
    detail: str
    missing: list[str]
    product: str
    job: str
    retracted: int
    revision: int


class ItemStateRow(TypedDict):
    item: str
    site: str
    line: str
    product: str
    job: str
    stage: str
    station: str
    status: str
    parent: str
    first_seen: Micros
    last_seen: Micros
    passes: int
    on_hold: int
    revision: int
    route_stage: str


class LinkRow(TypedDict):
    node: str
    other: str
    direction: str
    link_id: str
    site: str
    line: str
    station: str
    time: Micros
    action: str
    kind: str
    transformation_id: str  # the transformation's id on its links, '' on an aggregation's
    withdrawn: NotRequired[bool]  # see withdrawing


class JobRow(TypedDict):
    job: str
    site: str
    line: str
    product: str
    quantity: int
    created: Micros
    planned_start: Micros
    planned_end: Micros
    due: Micros
    target_rate_per_h: float


class DeadLetterRow(TypedDict):
    dead_letter_id: str
    time: Micros
    reason: str
    detail: str
    source_topic: str
    source_partition: int
    source_offset: int
    payload: str
    payload_bytes: int


class ReadRateRow(TypedDict):
    site: str
    line: str
    stage: str
    partition: int
    observed: int
    read: int
    revision: int


class HoldRow(TypedDict):
    hold_id: str
    item: str
    site: str
    line: str
    hold_type: str
    owner: str
    reason: str
    event: str
    time: Micros
    via: str


class JobEventRow(TypedDict):
    job: str
    site: str
    line: str
    event: str
    time: Micros
    blocker_id: str
    blocker_type: str
    owner: str
    note: str
    items: int


class QcResultRow(TypedDict):
    item: str
    job: str
    site: str
    line: str
    station: str
    result: str
    notes: str
    time: Micros
    withdrawn: NotRequired[bool]  # see withdrawing


class GenealogyRow(TypedDict):
    node: str
    direction: str
    other: str
    depth: int
    present: int
    version: int
    site: str
    line: str
    station: str
    time: Micros


class StationRow(TypedDict):
    site: str
    line: str
    station: str
    stage: str
    target_per_hour: float


class PassCountRow(TypedDict):
    site: str
    line: str
    station: str
    stage: str
    minute: Micros
    partition: int
    passes: int
    revision: int


class WipCountRow(TypedDict):
    """Items in process at a stage in one partition, by the minute of their last read
    (streams/wipcounts.py): ``minutes`` in minutes since the epoch, ``minute_items`` the items
    of each."""

    site: str
    line: str
    stage: str
    partition: int
    items: int
    minutes: list[int]
    minute_items: list[int]
    revision: int


class JobCountRow(TypedDict):
    """Items of a job in one partition, by the status their last row gave them
    (streams/jobcounts.py)."""

    job: str
    partition: int
    items: int
    complete: int
    in_process: int
    rejected: int
    revision: int


class JobBindingRow(TypedDict):
    item: str
    job: str
    product: str
    site: str
    line: str
    time: Micros


class EpcisEventRow(TypedDict):
    """An EPCIS event captured from a partner, verbatim in ``document`` (storage.epciscapture)."""

    event_id: str
    event_type: str
    event_time: Micros
    site: str
    line: str
    biz_step: str
    disposition: str
    read_point: str
    biz_location: str
    epcs: list[str]  # every identifier it names: EPCs, parent, children, inputs, outputs, classes
    parent_id: str
    capture_id: str
    document: str


class EpcisCaptureJobRow(TypedDict):
    """An EPCIS capture job as it finished: ``answer`` its JSON as the API answers it
    (storage.epciscapture)."""

    capture_id: str
    created_at: Micros
    finished_at: Micros
    answer: str


class ShipmentRow(TypedDict):
    """An item that left in a shipment: the shipment's business transactions and destinations
    as parallel lists of types and ids (``ingest.schema.Shipment``)."""

    item: str
    shipment_id: str  # the shipment event's id (its place, time, transactions, destinations)
    site: str
    line: str
    station: str
    time: Micros
    transaction_types: list[str]
    transactions: list[str]
    destination_types: list[str]
    destinations: list[str]
    withdrawn: NotRequired[bool]  # see withdrawing


def withdrawing(row: R, withdrawn: bool) -> R:
    """``row`` (a trace row or a stage 2 record), marked withdrawn if ``withdrawn``: the event
    that made it was declared in error (ingest/schema.py, WITHDRAWN_NOTE), so the sink deletes
    the stored row of its key instead of inserting it, and stage 2 takes the record back."""
    return cast(R, {**row, "withdrawn": True}) if withdrawn else row


def shipment_row(ev: Shipment, item: str) -> ShipmentRow:
    """The row of one item of a shipment; a shipment posted again has the same id."""
    return ShipmentRow(
        item=item,
        shipment_id=stable_id(
            "shipment", ev.site, ev.line, ev.station, ev.time_us, ev.transactions, ev.destinations
        ),
        site=ev.site,
        line=ev.line,
        station=ev.station,
        time=ev.time_us,
        transaction_types=[kind for kind, _ in ev.transactions],
        transactions=[ref for _, ref in ev.transactions],
        destination_types=[kind for kind, _ in ev.destinations],
        destinations=[uri for _, uri in ev.destinations],
    )


class EpcisDeclarationRow(TypedDict):
    """An EPCIS error declaration captured from a partner: the event ``event_id`` (captured
    before) declared in error; ``declaration`` its errorDeclaration's JSON, ``document`` the
    declaring event as received (ingest/epcis/capture.py)."""

    event_id: str
    declaration_time: Micros
    reason: str
    corrective_event_ids: list[str]
    site: str
    line: str
    capture_id: str
    declaration: str
    document: str


# Every table the sink writes, and its row type.
ROW_TYPES: dict[str, type] = {
    "read_cycles": ReadCycleRow,
    "passes": PassRow,
    "violations": ViolationRow,
    "item_state": ItemStateRow,
    "links": LinkRow,
    "jobs": JobRow,
    "dead_letters": DeadLetterRow,
    "portal_read_rates": ReadRateRow,
    "holds": HoldRow,
    "job_events": JobEventRow,
    "qc_results": QcResultRow,
    "genealogy": GenealogyRow,
    "stations": StationRow,
    "pass_counts": PassCountRow,
    "wip_counts": WipCountRow,
    "job_counts": JobCountRow,
    "job_bindings": JobBindingRow,
    "epcis_events": EpcisEventRow,
    "epcis_error_declarations": EpcisDeclarationRow,
    "epcis_capture_jobs": EpcisCaptureJobRow,
    "shipments": ShipmentRow,
}


@cache
def columns(table: str) -> tuple[str, ...]:
    """The columns of ``table`` the sink writes: the required keys of its row type, in order."""
    row_type = ROW_TYPES[table]
    required = row_type.__required_keys__  # type: ignore[attr-defined]
    return tuple(name for name in get_type_hints(row_type) if name in required)


@cache
def time_columns(table: str) -> frozenset[str]:
    """The columns of ``table`` that hold microsecond timestamps (``Micros``)."""
    hints = get_type_hints(ROW_TYPES[table], include_extras=True)
    return frozenset(c for c in columns(table) if MICROS in getattr(hints[c], "__metadata__", ()))


@cache
def column_types(table: str) -> dict[str, object]:
    """Each column's Python type (``Micros`` as int), for the schema test."""
    hints = get_type_hints(ROW_TYPES[table])
    return {c: hints[c] for c in columns(table)}
