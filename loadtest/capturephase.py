"""The bench's EPCIS capture phase: what it posts and how it asks the stack's EPCIS endpoints.

The document is what a partner's EPCIS repository would send about items going down the
bench's line: 10,000 OBSERVE ObjectEvents, each item observed at every station in route order
at the station's read point, each with its eventID (the CBV 2.0 event hash). It is built and
encoded before the clock starts.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

import orjson

from ingest.epc import encode_sgtin96, item_key
from ingest.epcis.eventhash import event_hash
from ingest.epcis.mapping import document, event_time
from ingest.errors import LinetraceError
from ingest.plant import Plant
from ingest.timefmt import format_us, now_us
from loadtest.dataset import COMPANY, ITEM_REF, S

EVENTS = 10_000
# An item reaches the first station every ITEM_GAP_US and each station this long after the one
# before: 1,250 items on the bench's 8 stations make the document span under six minutes.
ITEM_GAP_US, STATION_GAP_US = 100_000, 30 * S
POLL_S = 0.1
# Items named per check request: GET /epcis/events maps the passes of the items it names, so
# ten requests of a thousand events, not ten pages of ten thousand each.
CHECK_ITEMS = 125
PER_PAGE = 1_000  # the most GET /epcis/events answers at once


@dataclass(frozen=True)
class CaptureDocument:
    """The document to post, its events by eventID, their items, and their event-time window
    [first, last + 1 µs)."""

    body: bytes
    events: dict[str, dict[str, Any]]
    items: list[str]
    window: tuple[int, int]


def capture_document(plant: Plant, first_serial: int, items: int, start_us: int) -> CaptureDocument:
    """OBSERVE ObjectEvents of ``items`` new items of the bench's product (serials from
    ``first_serial``) at every station of the plant's first line in route order, the first
    at ``start_us`` (taken to the millisecond, as event times are written)."""
    line = plant.lines[0]
    start_us -= start_us % 1_000
    keys = [item_key(encode_sgtin96(COMPANY, ITEM_REF, first_serial + k)) for k in range(items)]
    timed = []
    for k, key in enumerate(keys):
        for i, station in enumerate(line.stations):
            at_us = start_us + k * ITEM_GAP_US + i * STATION_GAP_US
            when, offset = event_time(at_us, line.time_zone)
            event: dict[str, Any] = {
                "type": "ObjectEvent",
                "eventTime": when,
                "eventTimeZoneOffset": offset,
                "epcList": [key],
                "action": "OBSERVE",
                "bizStep": line.biz_steps[station.stage],
                "disposition": "in_progress",
                "readPoint": {"id": station.read_point},
                "bizLocation": {"id": station.biz_location},
            }
            timed.append((at_us, {"eventID": event_hash(event), **event}))
    timed.sort(key=lambda pair: pair[0])
    events = [event for _, event in timed]
    body = orjson.dumps(document(events, now_us()))
    return CaptureDocument(body, {e["eventID"]: e for e in events}, keys, (timed[0][0], timed[-1][0] + 1))


class EpcisClient:
    """The stack's EPCIS endpoints, as the bench's token."""

    def __init__(self, api: str, token: str):
        self.api, self.token = api, token

    def call(self, path: str, body: bytes | None = None) -> tuple[dict[str, Any], Any]:
        """The answer's JSON and headers; LinetraceError on any status but 2xx."""
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/ld+json"}
        request = urllib.request.Request(self.api + path, data=body, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=300) as response:
                return orjson.loads(response.read()), response.headers
        except urllib.error.HTTPError as exc:
            raise LinetraceError(f"EPCIS {path.split('?')[0]}: {exc.code} {exc.read()[:1000]!r}") from exc

    def capture(self, body: bytes) -> dict[str, Any]:
        """POST the document and poll its capture job until it has finished; the finished job."""
        answer, headers = self.call("/epcis/capture", body)
        location = headers.get("Location", "")
        while answer.get("running", True):
            time.sleep(POLL_S)
            answer, _ = self.call(location)
        return answer

    def object_events(self, items: list[str], window: tuple[int, int]) -> list[dict[str, Any]]:
        """The ObjectEvents ``GET /epcis/events`` answers for ``items`` within ``window``, every page."""
        found: list[dict[str, Any]] = []
        for start in range(0, len(items), CHECK_ITEMS):
            params = {
                "eventType": "ObjectEvent",
                "MATCH_epc": "|".join(items[start : start + CHECK_ITEMS]),
                "GE_eventTime": format_us(window[0]),
                "LT_eventTime": format_us(window[1]),
                "perPage": str(PER_PAGE),
            }
            path = "/epcis/events?" + urllib.parse.urlencode(params)
            while path:
                answer, headers = self.call(path)
                found += answer["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
                # The next page, when there is one: Link: <path?...>; rel="next"
                path = headers.get("Link", "").partition(">")[0].removeprefix("<")
        return found
