"""The EPCIS 2.0 REST query (``GET /epcis/events``), pure of any I/O: its parameters, whether an
event matches them, its pages, and the EPCISQueryDocument that answers it.

One matcher serves the captured events (as received) and the events linetrace derives from its
passes and links, so both answer a parameter the same way; the store's SQL only narrows what is
read (storage.epcisquery).
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from ingest.epcis.capture import cbv_word
from ingest.epcis.eventhash import Namespaces
from ingest.epcis.mapping import envelope
from ingest.errors import InvalidInput
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
LIST_PARAMS = ("eventType", "EQ_bizStep", "EQ_disposition", "EQ_readPoint", "MATCH_epc", "MATCH_anyEPC",
               "MATCH_parentID")  # fmt: skip
PARAMS = (*LIST_PARAMS, "GE_eventTime", "LT_eventTime", "perPage", "nextPageToken")

_EPC_FIELDS = ("epcList", "childEPCs")
_ANY_FIELDS = ("epcList", "childEPCs", "inputEPCList", "outputEPCList")


@dataclass(frozen=True)
class EventQuery:
    event_types: tuple[str, ...] = ()
    ge_us: int | None = None
    lt_us: int | None = None
    biz_steps: tuple[str, ...] = ()  # bare CBV words where they are CBV's
    dispositions: tuple[str, ...] = ()
    read_points: tuple[str, ...] = ()
    epcs: tuple[str, ...] = ()
    any_epcs: tuple[str, ...] = ()
    parents: tuple[str, ...] = ()
    per_page: int = PER_PAGE
    offset: int = 0

    @property
    def identifiers(self) -> tuple[str, ...]:
        """Every identifier the query names (what the store is narrowed to when any)."""
        return (*self.epcs, *self.any_epcs, *self.parents)


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
    return EventQuery(
        event_types=lists["eventType"],
        ge_us=_time(params, "GE_eventTime"),
        lt_us=_time(params, "LT_eventTime"),
        biz_steps=tuple(cbv_word(s) for s in lists["EQ_bizStep"]),
        dispositions=tuple(cbv_word(d) for d in lists["EQ_disposition"]),
        read_points=lists["EQ_readPoint"],
        epcs=lists["MATCH_epc"],
        any_epcs=lists["MATCH_anyEPC"],
        parents=lists["MATCH_parentID"],
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
        (query.epcs, lambda: _named(event, _EPC_FIELDS)),
        (query.any_epcs, lambda: _named(event, _ANY_FIELDS) | {str(event.get("parentID", ""))}),
        (query.parents, lambda: {str(event.get("parentID", ""))}),
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
