"""The canonical records of linetrace, as plain frozen dataclasses.

Times are integer microseconds since the epoch (UTC); ``ingest.wire`` turns them into
RFC 3339 text on the public topics.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

WIRE_VERSION = 1


@dataclass(frozen=True, slots=True)
class TagRead:
    """One entry of a read-cycle report: a tag seen on one antenna, aggregated at the edge.

    A barcode scan has no EPC: it carries the item key its code decodes to in ``key`` (and
    ``epc`` is empty); its ``antenna`` is the scanner's port (0 for a single scanner).
    """

    epc: str
    antenna: int
    time_us: int
    count: int = 1
    rssi: float | None = None
    key: str = ""
    last_us: int = 0  # last time seen within the cycle (0: only once, at ``time_us``)


# A read as a plain tuple of TagRead's fields, in their order (``TagRead(*fields)`` builds it):
# what the stream worker takes reads as, 200 per report.
ReadFields = tuple[str, int, int, int, float | None, str, int]


def read_fields(read: TagRead) -> ReadFields:
    return (read.epc, read.antenna, read.time_us, read.count, read.rssi, read.key, read.last_us)


@dataclass(frozen=True, slots=True, kw_only=True)
class ScanContext:
    """What a reader's report tells of every read in it, and every pass it opens carries.

    The one declaration of such a field: the report's wire format (``ingest.wire``), stage
    1's passes, the item-bundles and route-state records, the pass row and the state
    restore all take every field declared here by name. Each is text, empty when not told
    (and then left out of the wire), at most ``SCAN_CONTEXT_MAX`` characters. Its column in
    ``passes`` is declared by the pass row (``ingest/records/rows.py`` ``ScanColumns``) and
    added by a migration.
    """

    operator: str = ""  # who scanned, where a scanner or handheld carries a logged-in operator


SCAN_CONTEXT = tuple(f.name for f in fields(ScanContext))
SCAN_CONTEXT_MAX = 256
NO_CONTEXT = ScanContext()

# Contexts are few (a plant's operators); records that tell the same one share one object.
_CONTEXTS: dict[tuple[str, ...], ScanContext] = {tuple("" for _ in SCAN_CONTEXT): NO_CONTEXT}
_CONTEXTS_MAX = 10_000


def context_from(values: Mapping[str, Any], keys: tuple[str, ...] = SCAN_CONTEXT) -> ScanContext:
    """The context whose fields ``values`` holds by name, or under ``keys`` (one per field, in
    their order: a record's own names for them); a field it lacks is not told."""
    return _interned(tuple([values.get(key, "") for key in keys]))


def context_of(record: ScanContext) -> ScanContext:
    """The context a report or a pass carries, as a shared ``ScanContext``."""
    return _interned(tuple([getattr(record, name) for name in SCAN_CONTEXT]))


def _interned(key: tuple[str, ...]) -> ScanContext:
    context = _CONTEXTS.get(key)
    if context is None:
        if len(_CONTEXTS) > _CONTEXTS_MAX:
            _CONTEXTS.clear()
            _CONTEXTS[tuple("" for _ in SCAN_CONTEXT)] = NO_CONTEXT
        context = _CONTEXTS[key] = ScanContext(**dict(zip(SCAN_CONTEXT, key, strict=True)))
    return context


def context_values(context: ScanContext) -> dict[str, Any]:
    """The fields of ``context`` that are told, by name (what the wire and the records carry;
    text, typed Any so it spreads into a record's keywords)."""
    return {name: value for name in SCAN_CONTEXT if (value := getattr(context, name))}


@dataclass(frozen=True, slots=True, kw_only=True)
class ReadCycleReport(ScanContext):
    """All reads of one reader cycle. ``report_id`` is reader id + cycle sequence."""

    site: str
    line: str
    reader_id: str
    cycle_seq: int
    cycle_start_us: int
    reads: tuple[TagRead, ...]
    # Reads captured from a partner's EPCIS events (storage.epciscapture), not a reader's: a
    # partner's backlog may be years old, so the readers' age limit does not apply to them.
    captured: bool = False
    # Captured reads of an event its sender has since declared in error (EPCIS
    # errorDeclaration): the passes they opened are withdrawn, not made.
    withdrawn: bool = False

    @property
    def report_id(self) -> str:
        return f"{self.reader_id}:{self.cycle_seq}"


# WITHDRAWN_NOTE: a pack, unpack, transformation, QC result or shipment ``withdrawn`` is the
# same event sent again by the EPCIS capture when its partner declared it in error
# (errorDeclaration) after it was captured: what it made leaves the trace. Only the capture
# sends it (the event API refuses it), after the event itself and under the same key.

# Aggregation actions, as in GS1 EPCIS: ``add`` packs or assembles children into a parent,
# ``delete`` unpacks them (the link stays in the history; the parent no longer holds them).
AGGREGATION_ACTIONS = ("add", "delete")


@dataclass(frozen=True, slots=True, kw_only=True)
class Aggregation:
    """Parent assembled or packed from children at a station, or unpacked (explicit, never inferred)."""

    site: str
    line: str
    station: str
    parent: str
    children: tuple[str, ...]
    time_us: int
    action: str = "add"
    withdrawn: bool = False  # see WITHDRAWN_NOTE


@dataclass(frozen=True, slots=True, kw_only=True)
class Transformation:
    """Inputs (lots or items) consumed into outputs at a station, as in a GS1 EPCIS
    TransformationEvent: every output is made from every input, and it cannot be undone."""

    site: str
    line: str
    station: str
    transformation_id: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    time_us: int
    withdrawn: bool = False  # see WITHDRAWN_NOTE


@dataclass(frozen=True, slots=True, kw_only=True)
class JobEvent:
    """Something that happened to a job card (see ``JOB_EVENTS``).

    ``created`` carries the plan (quantity, planned start and end, due date, target rate);
    ``items_bound`` the items; ``blocker_opened`` / ``blocker_resolved`` a blocker id, type,
    owner and note (the resolution); ``delay`` and ``ready_for_dispatch`` a note.
    """

    event: str
    job: str
    site: str
    line: str
    product: str
    quantity: int
    items: tuple[str, ...]
    time_us: int
    planned_start_us: int = 0
    planned_end_us: int = 0
    due_us: int = 0
    target_rate_per_h: float = 0.0
    blocker_id: str = ""
    blocker_type: str = ""
    owner: str = ""
    note: str = ""


JOB_EVENTS = ("created", "items_bound", "blocker_opened", "blocker_resolved", "delay", "ready_for_dispatch")
QC_RESULTS = ("pass", "fail", "rework")


@dataclass(frozen=True, slots=True, kw_only=True)
class QcResult:
    """A QC verdict on one item, with the inspector's notes."""

    item: str
    job: str
    site: str
    line: str
    station: str
    result: str
    notes: str
    time_us: int
    withdrawn: bool = False  # see WITHDRAWN_NOTE


# A shipment's business transaction types (CBV 2.0 §7.3: despatch advice, purchase order,
# invoice, ...) and destination types (§7.4), as the EPCIS 2.0 JSON Schema enumerates them.
SHIPMENT_TYPES = (
    "desadv", "po", "poc", "inv", "bol", "recadv", "rma", "prodorder", "cert", "pedigree",
    "testprd", "testres", "upevt",
)  # fmt: skip
DESTINATION_TYPES = ("owning_party", "possessing_party", "location")


@dataclass(frozen=True, slots=True, kw_only=True)
class Shipment:
    """Items leaving the plant in a shipment, as EPCIS business transactions and destinations
    on a shipping event: ``transactions`` are (type, reference) pairs (a despatch advice, an
    order; the type a ``SHIPMENT_TYPES`` word, a URI or '' when not told), ``destinations``
    (type, URI) pairs (the customer as ``owning_party``, its ship-to ``location``). The station
    is the dispatch station, '' when not told."""

    site: str
    line: str
    station: str
    items: tuple[str, ...]
    transactions: tuple[tuple[str, str], ...]
    destinations: tuple[tuple[str, str], ...]
    time_us: int
    withdrawn: bool = False  # see WITHDRAWN_NOTE


# What a violation row's ``type`` may be (streams/route.py and streams/custody.py judge them).
VIOLATION_TYPES = (
    "skipped_stage",
    "out_of_sequence",
    "loop_limit_exceeded",
    "seen_after_completion",
    "seen_after_dispatch",
    "stage_not_in_route",
    "unknown_item",
    "unknown_route",
    "on_hold",
    "already_in_parent",  # streams/custody.py: packed into a parent while in another one
)

HOLD_TYPES = (
    "material",
    "machine",
    "tool",
    "operator",
    "qc",
    "drawing",
    "customer_approval",
    "outside_process",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class HoldEvent:
    """A hold placed on (or released from) items or lots; it reaches everything they went into."""

    event: str  # placed or released
    hold_id: str
    site: str
    line: str
    items: tuple[str, ...]
    hold_type: str
    owner: str
    reason: str
    time_us: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Pass(ScanContext):
    """An item's visit to a station: its reads at that station, deduplicated, with what the
    report that opened it tells of its reads (``ScanContext``).

    The pass record of the item-bundles topic, field for field (ingest/records/bundles.py);
    a field with a default is optional there.
    """

    item: str
    site: str
    line: str
    station: str
    stage: str
    reader_id: str
    first_us: int
    last_us: int
    reads: int
    direction: str = ""  # enter or exit, where the portal has inside and outside antennas

    @property
    def pass_id(self) -> str:
        return pass_id(self.item, self.station, self.first_us)


def stable_id(*parts: object) -> str:
    """A short deterministic id (hex of BLAKE2b-128) over the given parts."""
    joined = "\x1f".join(map(str, parts)).encode()
    return hashlib.blake2b(joined, digest_size=16).hexdigest()


def pass_id(item: str, station: str, first_us: int) -> str:
    """``stable_id("pass", item, station, first_us)``, its parts joined in one format: both
    stages hash one per pass, and the generic join cost more than the hash."""
    joined = f"pass\x1f{item}\x1f{station}\x1f{first_us}".encode()
    return hashlib.blake2b(joined, digest_size=16).hexdigest()


def link_id(parent: str, child: str, time_us: int, action: str = "add") -> str:
    if action == "add":
        return stable_id("link", parent, child, time_us)
    return stable_id("link", parent, child, time_us, action)
