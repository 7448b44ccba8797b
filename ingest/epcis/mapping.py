"""linetrace's trace as EPCIS 2.0 events: pure functions from stored facts to JSON-LD.

A pass is an OBSERVE ObjectEvent at its station's read point (at a dispatch stage with the
business transactions and destinations of the shipments the item left in); a pack, assembly or
unpack an AggregationEvent (ADD or DELETE); a transformation a TransformationEvent. Each event carries
its canonical eventID (``ingest.epcis.eventhash``). docs/epcis.md has the table.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from ingest.epcis.eventhash import event_hash
from ingest.epcis.vocab import IN_PROGRESS, IN_TRANSIT, NON_CONFORMANT, is_uri
from ingest.plant import Plant, Station

CONTEXT = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
# A shipment reference that is no URI (``DESADV-4711``) is exported under this prefix, which
# capture takes off again; post URIs (``urn:epcglobal:cbv:bt:<GLN>:<ref>``) to share your own.
TRANSACTION_PREFIX = "urn:linetrace:bt:"
# transformationID of a transformation whose id is no URI (capture reads it back).
TRANSFORMATION_PREFIX = "urn:linetrace:transformation:"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


Row = Mapping[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class PassFact:
    """What an ObjectEvent needs of a stored pass."""

    item: str
    station: str
    first_us: int

    @classmethod
    def of(cls, row: Row) -> PassFact:
        """From a row with ``item``, ``station`` and ``first_us`` (integer microseconds)."""
        return cls(item=row["item"], station=row["station"], first_us=int(row["first_us"]))


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkFact:
    """One parent-child link as stored (``kind``: aggregation or transformation)."""

    parent: str
    child: str
    station: str
    time_us: int
    action: str = "add"
    kind: str = "aggregation"
    transformation_id: str = ""  # a transformation's id ('' when not told, or stored before it was kept)

    @classmethod
    def of(cls, row: Row, parent: str, child: str) -> LinkFact:
        """From a links row (``station``, ``time_us``, ``action``, ``kind``,
        ``transformation_id``), between ``parent`` and ``child`` (a row names its node and the
        other end)."""
        return cls(
            parent=parent,
            child=child,
            station=row["station"],
            time_us=int(row["time_us"]),
            action=row["action"],
            kind=row["kind"],
            transformation_id=row["transformation_id"],
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class QcFact:
    """A QC result, which marks the pass it judges non-conformant when it failed."""

    item: str
    station: str
    result: str
    time_us: int

    @classmethod
    def of(cls, row: Row) -> QcFact:
        return cls(
            item=row["item"], station=row["station"], result=row["result"], time_us=int(row["time_us"])
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class ShipmentFact:
    """An item that left in a shipment: its business transactions and destinations, as
    (type, id) pairs; ``station`` the dispatch station ('' when not told)."""

    item: str
    shipment_id: str
    site: str
    line: str
    station: str
    time_us: int
    transactions: tuple[tuple[str, str], ...]
    destinations: tuple[tuple[str, str], ...]

    @classmethod
    def of(cls, row: Row) -> ShipmentFact:
        """From a shipments row (``time_us`` integer microseconds)."""
        return cls(
            item=row["item"],
            shipment_id=row["shipment_id"],
            site=row["site"],
            line=row["line"],
            station=row["station"],
            time_us=int(row["time_us"]),
            transactions=tuple(zip(row["transaction_types"], row["transactions"], strict=True)),
            destinations=tuple(zip(row["destination_types"], row["destinations"], strict=True)),
        )


def transaction_uri(reference: str) -> str:
    """A shipment reference as an EPCIS bizTransaction (a URI)."""
    return reference if is_uri(reference) else TRANSACTION_PREFIX + quote(reference, safe="-._~")


def shipped(shipments: Iterable[ShipmentFact]) -> dict[str, Any]:
    """The bizTransactionList and destinationList of ``shipments`` (each entry once)."""
    transactions = dict.fromkeys(t for s in shipments for t in s.transactions)
    destinations = dict.fromkeys(d for s in shipments for d in s.destinations)
    out: dict[str, Any] = {}
    if transactions:
        out["bizTransactionList"] = [
            {**({"type": kind} if kind else {}), "bizTransaction": transaction_uri(ref)}
            for kind, ref in transactions
        ]
    if destinations:
        out["destinationList"] = [{"type": kind, "destination": uri} for kind, uri in destinations]
    return out


def identifier(item: str) -> tuple[str, bool]:
    """An item key as an EPCIS identifier, and whether it names a class (a lot) rather than one
    instance: EPC URIs as they are, ``gs1:`` keys as GS1 Digital Link URIs, an undecoded tag as
    a raw EPC URI (TDS §12.4)."""
    if item.startswith("urn:epc:class:"):
        return item, True
    if item.startswith("gs1:"):
        path = item[len("gs1:") :]
        return f"https://id.gs1.org/{path}", "/21/" not in f"/{path}" and "/00/" not in f"/{path}"
    if item.startswith("hex:"):
        digits = item[len("hex:") :]
        return f"urn:epc:raw:{len(digits) * 4}.x{digits.upper()}", False
    if item.startswith("urn:") or item.startswith("http"):
        return item, False
    return "urn:linetrace:item:" + quote(item, safe="-._~"), False


def transformation_id(tf_id: str) -> str:
    """A transformation's id as EPCIS's transformationID, a URI: as it is when it is one (a
    captured event's), else ``TRANSFORMATION_PREFIX`` + the id, percent-encoded."""
    return tf_id if is_uri(tf_id) else TRANSFORMATION_PREFIX + quote(tf_id, safe="-._~")


def event_time(time_us: int, time_zone: str) -> tuple[str, str]:
    """eventTime in UTC with ``Z`` at millisecond precision, and the time zone's offset then."""
    moment = _EPOCH + timedelta(microseconds=time_us)
    moment -= timedelta(microseconds=moment.microsecond % 1000)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    offset = moment.astimezone(ZoneInfo(time_zone)).utcoffset() or timedelta(0)
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    return text, f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


class Mapper:
    """Events of one plant: where its stations are and what their stages do."""

    def __init__(self, plant: Plant):
        self.stations = plant.stations()
        self.lines = {(ln.site, ln.line): ln for ln in plant.lines}

    def _where(self, station: str, time_us: int) -> tuple[dict[str, Any], Station]:
        place = self.stations[station]
        line = self.lines[(place.site, place.line)]
        when, offset = event_time(time_us, line.time_zone)
        return {"eventTime": when, "eventTimeZoneOffset": offset}, place

    def _located(self, place: Station) -> dict[str, Any]:
        return {"readPoint": {"id": place.read_point}, "bizLocation": {"id": place.biz_location}}

    def biz_step(self, place: Station) -> str:
        return self.lines[(place.site, place.line)].biz_steps[place.stage]

    def object_event(
        self, fact: PassFact, disposition: str, shipments: Iterable[ShipmentFact] = ()
    ) -> dict[str, Any]:
        when, place = self._where(fact.station, fact.first_us)
        epc, is_class = identifier(fact.item)
        what = {"quantityList": [{"epcClass": epc}]} if is_class else {"epcList": [epc]}
        event = {"type": "ObjectEvent", **when, **what, "action": "OBSERVE"}
        event.update(bizStep=self.biz_step(place), disposition=disposition, **self._located(place))
        return _identified({**event, **shipped(shipments)})

    def shipping_event(self, facts: list[ShipmentFact]) -> dict[str, Any]:
        """A shipment of items no pass at a dispatch stage saw: an OBSERVE ObjectEvent of its
        items, ``shipping`` and ``in_transit``, at its station (else at no read point)."""
        first = facts[0]
        line = self.lines[(first.site, first.line)]
        when, offset = event_time(first.time_us, line.time_zone)
        ids = [identifier(f.item) for f in sorted(facts, key=lambda f: f.item)]
        event: dict[str, Any] = {"type": "ObjectEvent", "eventTime": when, "eventTimeZoneOffset": offset}
        if any(not cls for _, cls in ids):
            event["epcList"] = [epc for epc, cls in ids if not cls]
        if any(cls for _, cls in ids):
            event["quantityList"] = [{"epcClass": epc} for epc, cls in ids if cls]
        event.update(action="OBSERVE", bizStep="shipping", disposition=IN_TRANSIT)
        place = self.stations.get(first.station)
        if place is not None and (place.site, place.line) == (first.site, first.line):
            event.update(bizStep=self.biz_step(place), **self._located(place))
        return _identified({**event, **shipped(facts)})

    def aggregation_event(self, parent: str, children: list[str], link: LinkFact) -> dict[str, Any]:
        when, place = self._where(link.station, link.time_us)
        ids = [identifier(c) for c in sorted(children)]
        event: dict[str, Any] = {"type": "AggregationEvent", **when, "parentID": identifier(parent)[0]}
        if any(not cls for _, cls in ids):
            event["childEPCs"] = [epc for epc, cls in ids if not cls]
        if any(cls for _, cls in ids):
            event["childQuantityList"] = [{"epcClass": epc} for epc, cls in ids if cls]
        deleting = link.action == "delete"
        event["action"] = "DELETE" if deleting else "ADD"
        event["bizStep"] = "unpacking" if deleting else self.biz_step(place)
        return _identified({**event, **self._located(place)})

    def transformation_event(self, inputs: list[str], outputs: list[str], link: LinkFact) -> dict[str, Any]:
        when, place = self._where(link.station, link.time_us)
        event: dict[str, Any] = {"type": "TransformationEvent", **when}
        for side, items in (("input", inputs), ("output", outputs)):
            ids = [identifier(i) for i in sorted(items)]
            if any(not cls for _, cls in ids):
                event[f"{side}EPCList"] = [epc for epc, cls in ids if not cls]
            if any(cls for _, cls in ids):
                event[f"{side}QuantityList"] = [{"epcClass": epc} for epc, cls in ids if cls]
        if link.transformation_id:
            event["transformationID"] = transformation_id(link.transformation_id)
        event.update(bizStep=self.biz_step(place), disposition=IN_PROGRESS, **self._located(place))
        return _identified(event)

    def events(
        self,
        passes: Iterable[PassFact],
        links: Iterable[LinkFact],
        qc: Iterable[QcFact] = (),
        shipments: Iterable[ShipmentFact] = (),
    ) -> list[dict[str, Any]]:
        """Every event of these facts, in time order (then by eventID). A shipment goes on the
        shipping event of each item it names (``shipping_passes``); one whose item no dispatch
        pass saw is an event of its own."""
        passes = [p for p in passes if p.station in self.stations]
        failed = failed_passes(passes, qc)
        known = [s for s in shipments if (s.site, s.line) in self.lines]
        on_pass, alone = self.shipping_passes(passes, known)
        out = [self.object_event(p, self.disposition(p, p in failed), on_pass.get(p, ())) for p in passes]
        out += self._genealogy_events([k for k in links if k.station in self.stations])
        by_shipment: dict[str, list[ShipmentFact]] = defaultdict(list)
        for s in alone:
            by_shipment[s.shipment_id].append(s)
        out += [self.shipping_event(facts) for facts in by_shipment.values()]
        return sorted(out, key=lambda e: (e["eventTime"], e["eventID"]))

    def shipping_passes(
        self, passes: list[PassFact], shipments: list[ShipmentFact]
    ) -> tuple[dict[PassFact, list[ShipmentFact]], list[ShipmentFact]]:
        """Each shipment on the item's pass at a dispatch stage of its line (at its station,
        when told) nearest to it in time; and the shipments no such pass saw."""
        on_pass: dict[PassFact, list[ShipmentFact]] = defaultdict(list)
        alone = []
        for s in shipments:
            dock = [p for p in passes if p.item == s.item and self._dispatched_by(p, s)]
            if dock:
                on_pass[min(dock, key=lambda p: (abs(p.first_us - s.time_us), p.first_us))].append(s)
            else:
                alone.append(s)
        return on_pass, alone

    def _dispatched_by(self, fact: PassFact, shipment: ShipmentFact) -> bool:
        """Whether a pass is at the shipment's station, or at a dispatch stage of its line when
        the shipment names no station."""
        place = self.stations[fact.station]
        if (place.site, place.line) != (shipment.site, shipment.line):
            return False
        if shipment.station:
            return place.station == shipment.station
        return place.stage in self.lines[(place.site, place.line)].dispatch_stages

    def disposition(self, fact: PassFact, failed_qc: bool) -> str:
        place = self.stations[fact.station]
        if failed_qc:
            return NON_CONFORMANT
        if place.stage in self.lines[(place.site, place.line)].dispatch_stages:
            return IN_TRANSIT
        return IN_PROGRESS

    def _genealogy_events(self, links: list[LinkFact]) -> list[dict[str, Any]]:
        groups: dict[tuple[Any, ...], list[LinkFact]] = defaultdict(list)
        for link in links:
            if link.kind == "transformation":
                groups[("t", link.transformation_id, link.station, link.time_us)].append(link)
            else:
                groups[("a", link.parent, link.action, link.station, link.time_us)].append(link)
        out = []
        for key, members in groups.items():
            first = members[0]
            if key[0] == "t":
                inputs = sorted({m.child for m in members})
                outputs = sorted({m.parent for m in members})
                out.append(self.transformation_event(inputs, outputs, first))
            else:
                out.append(self.aggregation_event(first.parent, sorted({m.child for m in members}), first))
        return out


def failed_passes(passes: list[PassFact], qc: Iterable[QcFact]) -> set[PassFact]:
    """The pass each failed QC result judges: the item's last pass at that station before the
    result, else its first one there after it."""
    at: defaultdict[tuple[str, str], list[PassFact]] = defaultdict(list)
    for p in passes:
        at[(p.item, p.station)].append(p)
    judged = set()
    for result in qc:
        if result.result != "fail":
            continue
        there = sorted(at.get((result.item, result.station), []), key=lambda p: p.first_us)
        before = [p for p in there if p.first_us <= result.time_us]
        if before or there:
            judged.add(before[-1] if before else there[0])
    return judged


def _identified(event: dict[str, Any]) -> dict[str, Any]:
    """The event with its canonical eventID first after its type, as partners read it."""
    return {
        "type": event["type"],
        "eventID": event_hash(event),
        **{k: v for k, v in event.items() if k != "type"},
    }


def document(events: list[dict[str, Any]], created_us: int) -> dict[str, Any]:
    """An EPCISDocument (JSON-LD) holding ``events``."""
    return envelope("EPCISDocument", {"eventList": events}, created_us)


def envelope(doc_type: str, body: dict[str, Any], created_us: int) -> dict[str, Any]:
    """An EPCIS 2.0 JSON-LD document of ``doc_type`` with ``body`` as its epcisBody."""
    created, _ = event_time(created_us, "UTC")
    return {
        "@context": [CONTEXT],
        "type": doc_type,
        "schemaVersion": "2.0",
        "creationDate": created,
        "epcisBody": body,
    }
