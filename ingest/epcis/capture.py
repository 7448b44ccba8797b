"""EPCIS 2.0 capture: a partner's events as linetrace's own input, pure of any I/O.

Each event of a (schema-valid) EPCISDocument is stored as received under its eventID (the
CBV 2.0 event hash when the sender gave none), and, where the plant places it, also becomes
linetrace input on its topics:

- an ObjectEvent OBSERVE at a known read point: a captured read of every item it names at that
  station (deduplicated and judged like a portal's); an inspection (``inspecting``) with the
  disposition ``conformant`` or ``non_conformant`` also a QC result, pass or fail; a shipping
  event (``shipping``) with a bizTransactionList or destinationList also a shipment;
- an AggregationEvent ADD or DELETE at a known read point: a pack or an unpack;
- a TransformationEvent with inputs and outputs at a known read point: a transformation.

Such an event with a read point or business step the plant does not know, or an identifier
that is no item key, is refused with a reason and not stored; the document's other events are
taken. Every other event (sensor reports, TransactionEvents, AssociationEvents, commissioning
ObjectEvents, events without a read point) is kept as received, served by queries, and feeds
no trace. docs/epcis.md has the table.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import orjson

from ingest.epcis import digitallink
from ingest.epcis.eventhash import CBV, Namespaces, event_hash
from ingest.epcis.mapping import TRANSACTION_PREFIX, TRANSFORMATION_PREFIX
from ingest.epcis.vocab import BIZ_STEPS
from ingest.errors import InvalidInput
from ingest.plant import Plant, Station
from ingest.records.rows import EpcisDeclarationRow, EpcisEventRow
from ingest.schema import Aggregation, QcResult, ReadCycleReport, Shipment, TagRead, Transformation
from ingest.timefmt import parse_us
from ingest.wire import (
    decode_shipment,
    encode_aggregation,
    encode_qc,
    encode_report,
    encode_shipment,
    encode_transformation,
)

# The topic each kind of linetrace input goes to (ingest.topics.Topics' property names).
READS, AGGREGATIONS, JOBS = "reads", "aggregations", "jobs"
# An inspection's dispositions that are QC results.
QC_DISPOSITIONS = {"conformant": "pass", "non_conformant": "fail"}


@dataclass(frozen=True)
class Input:
    """One message of linetrace input an event became: its topic (a Topics property), key, body."""

    topic: str
    key: str
    payload: bytes


# Why an event that would feed the trace is kept as received instead: it names what linetrace
# does not trace (a product class, a bare GTIN), though its place and step are known.
NOT_TRACED = frozenset({"unknown_identifier", "no_items", "no_parent"})


@dataclass(frozen=True)
class Remark:
    """An event refused, or kept without feeding the trace, with why: ``index`` in the
    document's event list."""

    index: int
    event_id: str
    reason: str
    detail: str

    def answer(self) -> dict[str, Any]:
        return {"index": self.index, "eventID": self.event_id, "reason": self.reason, "detail": self.detail}


@dataclass(frozen=True)
class Declared:
    """An error declaration (an event carrying ``errorDeclaration``): ``index`` in the
    document's event list, and its row, under the eventID of the event it declares in error."""

    index: int
    row: EpcisDeclarationRow


@dataclass
class Captured:
    """What a document becomes: the rows stored verbatim, the input of each event (by eventID),
    the error declarations, the events refused, those kept that feed no trace although they
    might have, and notes on what was taken (``ingest.epcis.declarations``). An event
    declared in error in the same document has no input."""

    rows: list[EpcisEventRow] = field(default_factory=list)
    inputs: dict[str, list[Input]] = field(default_factory=dict)
    declared: list[Declared] = field(default_factory=list)
    refused: list[Remark] = field(default_factory=list)
    not_traced: list[Remark] = field(default_factory=list)
    notes: list[Remark] = field(default_factory=list)


def events_of(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    body = document.get("epcisBody", {})
    return list(body.get("eventList", [body["event"]] if "event" in body else []))


@dataclass(frozen=True)
class Places:
    """What the plant knows for capture: each station by its EPCIS read point (also in canonical
    Digital Link form), the (reader, antenna) a station's captured reads are made at (its first
    read point), and the plant's own business steps."""

    stations: Mapping[str, Station]
    readers: Mapping[Station, tuple[str, int]]
    own_steps: frozenset[str]

    @classmethod
    def of(cls, plant: Plant) -> Places:
        stations: dict[str, Station] = {}
        for station in plant.stations().values():
            stations[station.read_point] = station
            canonical = digitallink.canonical(station.read_point)
            if canonical:
                stations[canonical] = station
        readers: dict[Station, tuple[str, int]] = {}
        for point, station in sorted(plant.read_points.items()):
            readers.setdefault(station, point)
        own = frozenset(s for ln in plant.lines for s in ln.biz_steps.values())
        return cls(stations, readers, own)

    def station(self, read_point: str) -> Station | None:
        return self.stations.get(read_point) or self.stations.get(digitallink.canonical(read_point) or "")


def capture(
    document: Mapping[str, Any],
    places: Places,
    capture_id: str,
    covers: Callable[[str, str], bool] = lambda site, line: True,
) -> Captured:
    """Every event of ``document`` stored, turned into input, or refused (see the module);
    ``covers`` tells the sites and lines the sender may capture events at (its token's scope)."""
    ns = Namespaces(document.get("@context"))
    out = Captured()
    for index, event in enumerate(events_of(document)):
        event_id = str(event.get("eventID") or event_hash(event, ns))
        place = places.station(_location(event, "readPoint"))
        try:
            if place is not None and not covers(place.site, place.line):
                raise InvalidInput(
                    "forbidden", f"site {place.site} line {place.line} is outside this token's scope"
                )
            if "errorDeclaration" in event:
                out.declared.append(Declared(index, _declaration_row(event, event_id, place, capture_id)))
                continue
            inputs = list(_inputs(event, event_id, place, places, ns)) if _feeds_trace(event) else []
        except InvalidInput as exc:
            remark = Remark(index, event_id, exc.reason, exc.detail)
            if exc.reason not in NOT_TRACED:
                out.refused.append(remark)
                continue
            out.not_traced.append(remark)
            inputs = []
        out.rows.append(_row(event, event_id, place, capture_id, ns))
        out.inputs[event_id] = inputs
    for declared in out.declared:
        if declared.row["event_id"] in out.inputs:
            out.inputs[declared.row["event_id"]] = []  # declared in error: nothing made of it
    return out


def withdrawals_of(event: Mapping[str, Any], event_id: str, places: Places) -> list[Input]:
    """What withdraws the trace input of a captured ``event`` declared in error: every input
    it made, sent again marked withdrawn under the same key (so after it, in its partition).
    The pass its read opened, its QC result, shipment, pack, unpack or transformation leave
    the trace; the event itself stays stored as received."""
    place = places.station(_location(event, "readPoint"))
    if not _feeds_trace(event):
        return []
    try:
        return list(_inputs(event, event_id, place, places, Namespaces(), withdrawn=True))
    except InvalidInput:
        return []  # it made nothing


def _feeds_trace(event: Mapping[str, Any]) -> bool:
    kind, action = event.get("type"), event.get("action")
    if "readPoint" not in event:
        return False
    if kind == "ObjectEvent":
        return action == "OBSERVE"
    if kind == "AggregationEvent":
        return action in ("ADD", "DELETE")
    if kind == "TransformationEvent":
        return bool(_keys(event, "inputEPCList", "inputQuantityList")) and bool(
            _keys(event, "outputEPCList", "outputQuantityList")
        )
    return False


def _inputs(
    event: Mapping[str, Any],
    event_id: str,
    place: Station | None,
    places: Places,
    ns: Namespaces,
    withdrawn: bool = False,
) -> Iterator[Input]:
    """The linetrace input of an event that feeds the trace; InvalidInput says why it cannot."""
    if place is None:
        point = _location(event, "readPoint")
        raise InvalidInput("unknown_read_point", f"read point {point!r} is no station's")
    step = event.get("bizStep")
    if step is not None and not _known_step(str(step), places.own_steps, ns):
        raise InvalidInput("unknown_biz_step", f"business step {step!r} is neither CBV 2.0's nor the plant's")
    time_us = parse_us(str(event["eventTime"]))
    at: dict[str, Any] = {
        "site": place.site,
        "line": place.line,
        "station": place.station,
        "time_us": time_us,
    }
    kind = event["type"]
    if kind == "ObjectEvent":
        items = [item_key(e) for e in _keys(event, "epcList", "quantityList")]
        if not items:
            raise InvalidInput("no_items", "the event names no EPC or lot")
        if place not in places.readers:
            raise InvalidInput("station_without_portal", f"station {place.station} has no reader to read at")
        yield _read(place, places.readers[place], items, time_us, event_id, withdrawn)
        result = QC_DISPOSITIONS.get(cbv_word(str(event.get("disposition", "")), ns))
        if result is not None and cbv_word(str(step or ""), ns) == "inspecting":
            for item in items:
                qc = QcResult(
                    item=item, job="", result=result, notes=f"EPCIS {event_id}", withdrawn=withdrawn, **at
                )
                yield Input(JOBS, item, encode_qc(qc))
        if cbv_word(str(step or ""), ns) == "shipping":
            yield from _shipment(event, items, at, ns, withdrawn)
    elif kind == "AggregationEvent":
        if "parentID" not in event:
            raise InvalidInput("no_parent", "an ADD or DELETE AggregationEvent needs a parentID")
        parent = item_key(str(event["parentID"]))
        children = tuple(item_key(c) for c in _keys(event, "childEPCs", "childQuantityList"))
        action = "add" if event["action"] == "ADD" else "delete"
        agg = Aggregation(parent=parent, children=children, action=action, withdrawn=withdrawn, **at)
        yield Input(AGGREGATIONS, parent, encode_aggregation(agg))
    else:
        tf_id = unquote(str(event.get("transformationID") or event_id).removeprefix(TRANSFORMATION_PREFIX))
        inputs = tuple(item_key(i) for i in _keys(event, "inputEPCList", "inputQuantityList"))
        outputs = tuple(item_key(o) for o in _keys(event, "outputEPCList", "outputQuantityList"))
        tf = Transformation(
            transformation_id=tf_id, inputs=inputs, outputs=outputs, withdrawn=withdrawn, **at
        )
        yield Input(AGGREGATIONS, tf_id, encode_transformation(tf))


# The CBV 2.0 prefix of business transaction and source/destination types as web URIs (the
# schema refuses their CBV 1.x URNs).
_TYPE_PREFIXES = {"bizTransaction": CBV + "BTT-", "destination": CBV + "SDT-"}


def _shipment(
    event: Mapping[str, Any], items: list[str], at: dict[str, Any], ns: Namespaces, withdrawn: bool
) -> Iterator[Input]:
    """The shipment a shipping event's bizTransactionList and destinationList make, if any;
    InvalidInput (bad_shipment) when linetrace cannot take it."""
    transactions = tuple(_typed(t, "bizTransaction", ns) for t in event.get("bizTransactionList", []))
    transactions = tuple((kind, _reference(ref)) for kind, ref in transactions)
    destinations = tuple(_typed(d, "destination", ns) for d in event.get("destinationList", []))
    if not transactions and not destinations:
        return
    ev = Shipment(
        items=tuple(items), transactions=transactions, destinations=destinations, withdrawn=withdrawn, **at
    )
    payload = encode_shipment(ev)
    decode_shipment(payload, len(payload))  # refused here, with the reason, rather than dead-lettered
    yield Input(JOBS, (transactions or destinations)[0][1], payload)


def _typed(entry: Mapping[str, Any], name: str, ns: Namespaces) -> tuple[str, str]:
    """An EPCIS ``{type, <name>}`` entry as (type, id), the type a bare CBV word where it is one."""
    kind = ns.value(str(entry.get("type", ""))).removeprefix(_TYPE_PREFIXES[name])
    return kind, ns.value(str(entry.get(name, "")))


def _reference(transaction: str) -> str:
    """A bizTransaction as linetrace's shipment reference (the export's own prefix taken off)."""
    if transaction.startswith(TRANSACTION_PREFIX):
        return unquote(transaction.removeprefix(TRANSACTION_PREFIX))
    return transaction


def _read(
    place: Station,
    point: tuple[str, int],
    items: list[str],
    time_us: int,
    event_id: str,
    withdrawn: bool = False,
) -> Input:
    """A captured read of ``items`` at the station's read point ``point``, one cycle per event
    (its sequence from the eventID, so the same event makes the same report); ``withdrawn``:
    the same read, withdrawing the passes it opened."""
    reader, antenna = point
    seq = int(hashlib.sha256(event_id.encode()).hexdigest()[:15], 16)
    reads = tuple(TagRead("", antenna, time_us, 1, None, item) for item in dict.fromkeys(items))
    report = ReadCycleReport(
        site=place.site, line=place.line, reader_id=reader, cycle_seq=seq, cycle_start_us=time_us,
        reads=reads, captured=True, withdrawn=withdrawn,
    )  # fmt: skip
    return Input(READS, reader, encode_report(report))


def item_key(identifier: str) -> str:
    """An EPCIS identifier as linetrace's item key (the inverse of ``mapping.identifier``)."""
    if identifier.startswith(("urn:epc:id:", "urn:epc:class:lgtin:")):
        return identifier
    if identifier.startswith("urn:epc:raw:") and ".x" in identifier:
        return "hex:" + identifier.partition(".x")[2].upper()
    canonical = digitallink.canonical(identifier) if identifier.startswith("http") else None
    if canonical:
        path = canonical.removeprefix(digitallink.CANONICAL_DOMAIN + "/")
        if not path.startswith("01/") or "/21/" in path or "/10/" in path:  # not a bare GTIN (a product)
            return "gs1:" + path
    raise InvalidInput("unknown_identifier", f"{identifier!r} names no item or lot linetrace can key")


def _keys(event: Mapping[str, Any], epcs: str, quantities: str) -> list[str]:
    found = [str(e) for e in event.get(epcs, [])]
    return found + [str(q["epcClass"]) for q in event.get(quantities, []) if "epcClass" in q]


def cbv_word(value: str, ns: Namespaces | None = None) -> str:
    """A CBV word in any of its spellings (bare, ``cbv:BizStep-x``, web URI, CBV 1.x URN) as the bare word."""
    expanded = (ns or Namespaces()).value(value)
    for prefix in (CBV + "BizStep-", CBV + "Disp-", "urn:epcglobal:cbv:bizstep:", "urn:epcglobal:cbv:disp:"):
        if expanded.startswith(prefix):
            return expanded[len(prefix) :]
    return value


def _known_step(step: str, own_steps: frozenset[str], ns: Namespaces) -> bool:
    return cbv_word(step, ns) in BIZ_STEPS or step in own_steps or ns.value(step) in own_steps


def _location(event: Mapping[str, Any], name: str) -> str:
    where = event.get(name)
    return str(where.get("id", "")) if isinstance(where, Mapping) else ""


def _row(
    event: Mapping[str, Any], event_id: str, place: Station | None, capture_id: str, ns: Namespaces
) -> EpcisEventRow:
    parent = str(event.get("parentID", ""))
    epcs = [
        *_keys(event, "epcList", "quantityList"),
        *_keys(event, "childEPCs", "childQuantityList"),
        *_keys(event, "inputEPCList", "inputQuantityList"),
        *_keys(event, "outputEPCList", "outputQuantityList"),
        *([parent] if parent else []),
    ]
    stored = dict(event) if "eventID" in event else {**event, "eventID": event_id}
    return EpcisEventRow(
        event_id=event_id,
        event_type=str(event.get("type", "")),
        event_time=parse_us(str(event["eventTime"])),
        site=place.site if place else "",
        line=place.line if place else "",
        biz_step=cbv_word(str(event.get("bizStep", "")), ns),
        disposition=cbv_word(str(event.get("disposition", "")), ns),
        read_point=_location(event, "readPoint"),
        biz_location=_location(event, "bizLocation"),
        epcs=list(dict.fromkeys(epcs)),
        parent_id=parent,
        capture_id=capture_id,
        document=orjson.dumps(stored).decode(),
    )


def _declaration_row(
    event: Mapping[str, Any], event_id: str, place: Station | None, capture_id: str
) -> EpcisDeclarationRow:
    declaration = event["errorDeclaration"]
    stored = dict(event) if "eventID" in event else {**event, "eventID": event_id}
    return EpcisDeclarationRow(
        event_id=event_id,
        declaration_time=parse_us(str(declaration["declarationTime"])),
        reason=str(declaration.get("reason", "")),
        corrective_event_ids=[str(i) for i in declaration.get("correctiveEventIDs", [])],
        site=place.site if place else "",
        line=place.line if place else "",
        capture_id=capture_id,
        declaration=orjson.dumps(declaration).decode(),
        document=orjson.dumps(stored).decode(),
    )
