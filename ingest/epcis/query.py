"""The EPCIS 2.0 REST query (``GET /epcis/events``), pure of any I/O: its parameters, whether an
event matches them, its pages, and the EPCISQueryDocument that answers it.

One matcher serves the captured events (as received) and the events linetrace derives from its
passes and links, so both answer a parameter the same way; the store's SQL only narrows what is
read (storage.epcisquery).
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import orjson

from ingest.epcis.capture import cbv_word
from ingest.epcis.eventhash import Namespaces
from ingest.epcis.mapping import CONTEXT, envelope
from ingest.errors import InvalidInput
from ingest.plant import Plant
from ingest.timefmt import parse_us

EVENT_TYPES = (
    "ObjectEvent",
    "AggregationEvent",
    "TransformationEvent",
    "TransactionEvent",
    "AssociationEvent",
)
# The page size when none is asked for, and the largest one given (a larger perPage is cut to it).
PER_PAGE, MAX_PER_PAGE = 30, 1_000
# The most events one query reads from each source; a query reaching it says so (``complete``).
MAX_EVENTS = 20_000
# The list parameters whose values the query takes as given, by the EventQuery field they fill.
_AS_GIVEN = {
    "read_points": "EQ_readPoint",
    "biz_locations": "EQ_bizLocation",
    "epcs": "MATCH_epc",
    "any_epcs": "MATCH_anyEPC",
    "parents": "MATCH_parentID",
    "epc_classes": "MATCH_epcClass",
}
LIST_PARAMS = ("eventType", "EQ_bizStep", "EQ_disposition", *_AS_GIVEN.values())
PARAMS = (*LIST_PARAMS, "GE_eventTime", "LT_eventTime", "perPage", "nextPageToken")

_EPC_FIELDS = ("epcList", "childEPCs")
_ANY_FIELDS = ("epcList", "childEPCs", "inputEPCList", "outputEPCList")
# Where MATCH_epcClass looks (EPCIS 2.0 §8.2.7.1; MATCH_anyEPCClass would add inputs and outputs).
_CLASS_FIELDS = ("quantityList", "childQuantityList")


@dataclass(frozen=True)
class EventQuery:
    event_types: tuple[str, ...] = ()
    ge_us: int | None = None
    lt_us: int | None = None
    biz_steps: tuple[str, ...] = ()  # bare CBV words where they are CBV's
    dispositions: tuple[str, ...] = ()
    read_points: tuple[str, ...] = ()
    biz_locations: tuple[str, ...] = ()
    epcs: tuple[str, ...] = ()
    any_epcs: tuple[str, ...] = ()
    parents: tuple[str, ...] = ()
    epc_classes: tuple[str, ...] = ()
    per_page: int = PER_PAGE
    offset: int = 0

    @property
    def identifiers(self) -> tuple[str, ...]:
        """Every identifier the query names (what the store is narrowed to when any)."""
        return (*self.epcs, *self.any_epcs, *self.parents, *self.epc_classes)


def parse_query(params: Mapping[str, str]) -> EventQuery:
    """The query of ``params`` (values of a list parameter separated by ``|`` or ``,``);
    InvalidInput names an unknown parameter or a bad value."""
    unknown = sorted(set(params) - set(PARAMS))
    if unknown:
        raise InvalidInput(
            "bad_parameter", f"{unknown[0]}: not a query parameter; known: {', '.join(PARAMS)}"
        )
    lists = {name: _values(params.get(name, "")) for name in LIST_PARAMS}
    bad = [t for t in lists["eventType"] if t not in EVENT_TYPES]
    if bad:
        raise InvalidInput("bad_parameter", f"eventType: {bad[0]!r} is not one of {', '.join(EVENT_TYPES)}")
    given: dict[str, Any] = {field: lists[param] for field, param in _AS_GIVEN.items()}
    return EventQuery(
        event_types=lists["eventType"],
        ge_us=_time(params, "GE_eventTime"),
        lt_us=_time(params, "LT_eventTime"),
        biz_steps=tuple(cbv_word(s) for s in lists["EQ_bizStep"]),
        dispositions=tuple(cbv_word(d) for d in lists["EQ_disposition"]),
        **given,
        per_page=min(_count(params, "perPage", PER_PAGE), MAX_PER_PAGE),
        offset=_offset(params.get("nextPageToken", "")),
    )


def matches(event: Mapping[str, Any], query: EventQuery, ns: Namespaces | None = None) -> bool:
    """Whether ``event`` answers ``query`` (EPCIS 2.0 §8.2.7.1: every given parameter holds)."""
    ns = ns or Namespaces()
    checks: list[tuple[tuple[str, ...], Callable[[], set[str]]]] = [
        (query.event_types, lambda: {str(event.get("type"))}),
        (query.biz_steps, lambda: {cbv_word(str(event.get("bizStep", "")), ns)}),
        (query.dispositions, lambda: {cbv_word(str(event.get("disposition", "")), ns)}),
        (query.read_points, lambda: {_id(event.get("readPoint"))}),
        (query.biz_locations, lambda: {_id(event.get("bizLocation"))}),
        (query.epcs, lambda: _named(event, _EPC_FIELDS)),
        (query.any_epcs, lambda: _named(event, _ANY_FIELDS) | {str(event.get("parentID", ""))}),
        (query.parents, lambda: {str(event.get("parentID", ""))}),
        (query.epc_classes, lambda: _classes(event)),
    ]
    if any(wanted and not set(wanted) & found() for wanted, found in checks):
        return False
    time_us = parse_us(str(event["eventTime"]))
    return (query.ge_us is None or time_us >= query.ge_us) and (query.lt_us is None or time_us < query.lt_us)


def page(events: list[dict[str, Any]], query: EventQuery) -> tuple[list[dict[str, Any]], str]:
    """The events of the query's page, in time order (then eventID), and the next page's token
    ('' on the last page)."""
    ordered = sorted(events, key=lambda e: (parse_us(str(e["eventTime"])), str(e.get("eventID", ""))))
    end = query.offset + query.per_page
    token = _token(end) if end < len(ordered) else ""
    return ordered[query.offset : end], token


def query_document(events: list[dict[str, Any]], created_us: int) -> dict[str, Any]:
    """An EPCISQueryDocument (JSON-LD) answering SimpleEventQuery with ``events``."""
    results = {"queryName": "SimpleEventQuery", "resultsBody": {"eventList": events}}
    return envelope("EPCISQueryDocument", {"queryResults": results}, created_us)


def for_epc(params: Mapping[str, str], epc: str) -> EventQuery:
    """The query of ``/epcis/epcs/{epc}/events``: ``params`` with ``epc`` as its MATCH_anyEPC
    (the path names the EPC; the parameter is refused beside it)."""
    if "MATCH_anyEPC" in params:
        raise InvalidInput("bad_parameter", "MATCH_anyEPC: the path names the EPC already")
    return replace(parse_query(params), any_epcs=(epc,))


# The collections of the REST binding (``/epcis/eventTypes`` ...), by the event field they list.
COLLECTIONS = {"eventTypes": "type", "bizSteps": "bizStep", "readPoints": "readPoint"}
# The event types linetrace derives from its passes and links.
DERIVED_TYPES = ("ObjectEvent", "AggregationEvent", "TransformationEvent")


def own_members(plant: Plant, site: str, line: str) -> dict[str, set[str]]:
    """What linetrace's own events can hold within ``site`` and ``line`` ('' for all), by
    collection: the derived event types, the business steps of the stations' stages (and
    ``unpacking``, every unpack's), the stations' read points."""
    lines = [ln for ln in plant.lines if site in ("", ln.site) and line in ("", ln.line)]
    stations = [s for ln in lines for s in ln.stations]
    return {
        "eventTypes": set(DERIVED_TYPES) if stations else set(),
        "bizSteps": {ln.biz_steps[s.stage] for ln in lines for s in ln.stations}
        | ({"unpacking"} if stations else set()),
        "readPoints": {s.read_point for s in stations},
    }


def collection_page(members: set[str], params: Mapping[str, str]) -> tuple[list[str], str]:
    """The sorted ``members`` of the page ``params`` ask for (perPage, nextPageToken), and the
    next page's token ('' on the last page)."""
    unknown = sorted(set(params) - {"perPage", "nextPageToken"})
    if unknown:
        raise InvalidInput(
            "bad_parameter", f"{unknown[0]}: not a parameter here; known: perPage, nextPageToken"
        )
    per_page = min(_count(params, "perPage", PER_PAGE), MAX_PER_PAGE)
    start = _offset(params.get("nextPageToken", ""))
    ordered = sorted(members)
    end = start + per_page
    return ordered[start:end], _token(end) if end < len(ordered) else ""


def collection(members: list[str]) -> dict[str, Any]:
    """A collection of the EPCIS 2.0 REST binding (``GET /eventTypes`` and its kin)."""
    return {"@context": [CONTEXT], "type": "Collection", "member": members}


def _values(text: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in text.replace("|", ",").split(",") if v.strip())


def _time(params: Mapping[str, str], name: str) -> int | None:
    text = params.get(name)
    if text is None:
        return None
    try:
        return parse_us(text)
    except InvalidInput as exc:
        raise InvalidInput("bad_parameter", f"{name}: {exc.detail}") from exc


def _count(params: Mapping[str, str], name: str, default: int) -> int:
    text = params.get(name)
    if text is None:
        return default
    if not text.isdigit() or int(text) < 1:
        raise InvalidInput("bad_parameter", f"{name}: a positive whole number, got {text!r}")
    return int(text)


def _token(offset: int) -> str:
    return base64.urlsafe_b64encode(orjson.dumps({"offset": offset})).decode().rstrip("=")


def _offset(token: str) -> int:
    if not token:
        return 0
    try:
        offset = orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))["offset"]
    except (ValueError, TypeError, KeyError) as exc:
        raise InvalidInput("bad_parameter", "nextPageToken: not a token this API gave") from exc
    if type(offset) is not int or offset < 0:
        raise InvalidInput("bad_parameter", "nextPageToken: not a token this API gave")
    return offset


def _id(where: Any) -> str:
    return str(where.get("id", "")) if isinstance(where, Mapping) else ""


def _named(event: Mapping[str, Any], fields: tuple[str, ...]) -> set[str]:
    return {str(e) for name in fields for e in event.get(name, [])}


def _classes(event: Mapping[str, Any]) -> set[str]:
    return {
        str(q.get("epcClass", ""))
        for name in _CLASS_FIELDS
        for q in event.get(name, [])
        if isinstance(q, Mapping)
    }


def without_echoes(own: list[dict[str, Any]], captured: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """linetrace's own events less those its captured events made (a captured OBSERVE became a
    pass, a captured aggregation a link): a captured event is answered once, as received."""
    seen = {key for event in captured for key in _echo_keys(event)}
    return [e for e in own if not seen & _echo_keys(e)]


def _echo_keys(event: Mapping[str, Any]) -> set[tuple[str, ...]]:
    kind = str(event.get("type"))
    at = (kind, str(parse_us(str(event["eventTime"])) // 1000), _id(event.get("readPoint")))
    if kind == "ObjectEvent":
        return {(*at, str(epc)) for epc in event.get("epcList", [])}
    if kind == "AggregationEvent":
        return {(*at, str(event.get("parentID", "")), str(event.get("action", "")))}
    return {at}
