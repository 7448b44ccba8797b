"""The whole trace of a running stack as its EPCIS endpoints emit it, each document checked
against the vendored EPCIS 2.0 JSON Schema with format checking: every event
``GET /epcis/events`` answers, a page at a time, and ``GET /epcis/export`` down from every
item that is in nothing (then from any item those exports did not reach), until every item
of the trace is in an export."""

from __future__ import annotations

import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import orjson

from ingest.epcis.capture import item_key
from ingest.epcis.validation import document_problems

# The fields naming an event's items, and of those the ones naming what went into another item.
_ITEMS = ("epcList", "childEPCs", "inputEPCList", "outputEPCList")
_QUANTITIES = ("quantityList", "childQuantityList", "inputQuantityList", "outputQuantityList")
_INSIDE = ("childEPCs", "childQuantityList", "inputEPCList", "inputQuantityList")


def _get(api: str, token: str, path: str) -> tuple[dict[str, Any], str]:
    """The answer's JSON and the next page's path ('' if none); AssertionError on any status but 200."""
    request = urllib.request.Request(api + path, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            link = response.headers.get("Link", "")
            return orjson.loads(response.read()), link.partition(">")[0].removeprefix("<")
    except urllib.error.HTTPError as exc:
        raise AssertionError(f"GET {path}: {exc.code} {exc.read()[:2000]!r}") from exc


def wait_for_token(api: str, token: str, timeout_s: float = 20.0) -> None:
    """Until the API takes ``token`` (it reads its tokens file again when the file changes)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            _get(api, token, "/epcis/eventTypes")
            return
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def _identifiers(event: dict[str, Any], fields: tuple[str, ...], quantities: tuple[str, ...]) -> set[str]:
    found = {str(e) for f in fields for e in event.get(f, [])}
    return found | {str(q["epcClass"]) for f in quantities for q in event.get(f, []) if "epcClass" in q}


def _checked(document: dict[str, Any], what: str) -> list[dict[str, Any]]:
    problems = document_problems(document)
    assert problems == [], (what, problems)
    body = document["epcisBody"]
    return list(
        body["queryResults"]["resultsBody"]["eventList"] if "queryResults" in body else body["eventList"]
    )


def whole_trace(api: str, token: str) -> tuple[list[dict[str, Any]], int, set[str]]:
    """Every event the query answers and every export the trace needs, each document checked;
    the events answered, the exports made and the items in them (each item in at least one)."""
    events: list[dict[str, Any]] = []
    path = "/epcis/events?perPage=1000"
    while path:
        document, path = _get(api, token, path)
        events += _checked(document, path)
    items = set().union(*(_identifiers(e, _ITEMS, _QUANTITIES) for e in events))
    items |= {str(e["parentID"]) for e in events if "parentID" in e}
    inside = set().union(*(_identifiers(e, _INSIDE, ()) for e in events))
    exported: set[str] = set()
    exports = 0
    for identifier in sorted(items - inside) + sorted(inside):  # the outermost items first
        if identifier in exported:
            continue
        query = urllib.parse.urlencode({"item": item_key(identifier), "direction": "down"})
        document, _ = _get(api, token, f"/epcis/export?{query}")
        for event in _checked(document, identifier):
            exported |= _identifiers(event, _ITEMS, _QUANTITIES) | {str(event.get("parentID", ""))}
        exports += 1
        assert identifier in exported, (identifier, "not in its own export")
    return events, exports, items
