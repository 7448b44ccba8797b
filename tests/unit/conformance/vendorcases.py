"""The makers' published event shapes (Impinj IoT device interface OpenAPI 1.5 and 1.7, Zebra
IoT Connector documentation), as linetrace's own cases in ``tests/data/vendor``: each is a read
with its EPC, reader health, or a rejection with its documented reason."""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

from ingest.errors import InvalidInput
from ingest.timefmt import parse_us
from readers.base import Observation
from readers.impinjevents import impinj_event
from readers.vendorjson import ReadLimits
from readers.zebraevents import zebra_post
from tests.unit.conformance.corpus import Outcome, judged

# The documents' examples are dated: their times are taken as they are.
MAKERS = (1_700_000_000_000_000, ReadLimits(max_future_us=2**62, max_age_us=2**62))
# The rejection cases are written a minute before this, some of them to be too old or too new.
REJECTS = (parse_us("2023-06-01T08:01:00Z"), ReadLimits())


def outcomes(vendor: Path) -> Iterator[Outcome]:
    cases: list[dict[str, Any]] = json.loads((vendor / "maker_cases.json").read_text())
    for c in cases:
        yield judged("maker_cases.json", c["id"], partial(_verdict, c["adapter"], c["payload"], c["expect"]))
    for name, adapter in (("impinj_rejects.json", "impinj"), ("zebra_rejects.json", "zebra")):
        for c in json.loads((vendor / name).read_text()):
            payload, expect = c.get("line", c.get("body")), {"reason": c["reason"]}
            yield judged(name, c["case"], partial(_verdict, adapter, payload, expect, REJECTS))


def _verdict(
    adapter: str, payload: str, expect: dict[str, Any], clock: tuple[int, ReadLimits] = MAKERS
) -> tuple[str, str]:
    try:
        reads, health = _take(adapter, payload.encode(), *clock)
    except InvalidInput as error:
        if error.reason == expect.get("reason"):
            return "rejected", error.reason
        return "wrong", f"rejected as {error.reason} ({error.detail}), expected {expect}"
    if "epcs" in expect and [o.epc for o in reads] == expect["epcs"] and not health:
        return "accepted", ", ".join(expect["epcs"])
    if "health" in expect and not reads and len(health) == expect["health"]:
        return "health", ", ".join(health)
    return "wrong", f"reads {[o.epc for o in reads]}, health {health}, expected {expect}"


def _take(adapter: str, payload: bytes, now: int, limits: ReadLimits) -> tuple[list[Observation], list[str]]:
    if adapter == "impinj":
        taken = impinj_event(payload, "R", now, limits)
        if isinstance(taken, Observation):
            return [taken], []
        return [], [] if taken is None else [str(taken.kind)]
    post = zebra_post(payload, "R", now, limits)
    return post.observations, [str(s.kind) for s in post.statuses]
