"""EPCs (epc.json) through every adapter that carries one, and GS1 codes (gs1.json) through both
barcode paths: one verdict per corpus entry, every path agreeing."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import orjson
from llrpkit import TagReport

from ingest.epc import item_key
from ingest.errors import InvalidInput
from ingest.gs1 import parse_code, scan_key
from readers.barcode import Frame, TimeLimits, line_key, parse_batch
from readers.base import Observation
from readers.impinjevents import impinj_event
from readers.llrp import observation_of
from readers.vendorjson import ReadLimits
from readers.zebraevents import zebra_post
from tests.unit.conformance.corpus import Outcome, judged, manifest

NOW = 1_700_000_000_000_000
STAMP = "2023-11-14T22:13:20Z"  # NOW
LIMITS = ReadLimits()

# --- EPCs -------------------------------------------------------------------------------------


def _impinj(epc: str) -> Observation | None:
    encoded = base64.urlsafe_b64encode(bytes.fromhex(epc)).decode().rstrip("=")
    event = {
        "timestamp": STAMP,
        "eventType": "tagInventory",
        "tagInventoryEvent": {"epc": encoded, "antennaPort": 1},
    }
    taken = impinj_event(orjson.dumps(event), "R", NOW, LIMITS)
    return taken if isinstance(taken, Observation) else None


def _zebra(epc: str) -> Observation | None:
    event = {
        "type": "SIMPLE",
        "timestamp": STAMP,
        "data": {"format": "epc", "idHex": epc.lower(), "antenna": 1},
    }
    (obs,) = zebra_post(orjson.dumps(event), "R", NOW, LIMITS).observations
    return obs


def _llrp(epc: str) -> Observation | None:
    obs, _ = observation_of(TagReport(epc=bytes.fromhex(epc), antenna=1), "R", NOW, 1, 1)
    return obs


EPC_PATHS: dict[str, Callable[[str], Observation | None]] = {
    "impinj": _impinj,
    "zebra": _zebra,
    "llrp": _llrp,
}


def epc_outcomes(root: Path) -> Iterator[Outcome]:
    for entry in manifest(root, "epc.json"):
        yield judged("epc.json", entry["id"], partial(_epc_verdict, entry["payload"], entry["expect"]))


def _epc_verdict(payload: str, expect: Any) -> tuple[str, str]:
    keys = {"hex": item_key(payload)}
    for path, take in EPC_PATHS.items():
        obs = take(payload)
        keys[path] = item_key(obs.epc) if obs is not None else "(no read)"
    ok = [path for path, key in keys.items() if _epc_matches(key, expect)]
    if len(ok) == len(keys):
        return "accepted", keys["hex"]
    return "wrong", f"expected {expect}, got {keys}"


def _epc_matches(key: str, expect: Any) -> bool:
    if isinstance(expect, str):
        return key == expect
    # The source asserts fields, not a URI: check those an item key shows. The filter value is
    # no part of an item's identity (TDS: pure identity URIs leave it out), so it is not checked.
    if not key.startswith("urn:epc:id:sgtin:"):
        return False
    company, item_ref, serial = key.removeprefix("urn:epc:id:sgtin:").split(".")
    fields = expect.get("fields", {})
    checks = [
        "serial" not in fields or serial == fields["serial"],
        "partition" not in fields or len(company) == 12 - int(fields["partition"]),
        # epctagcoder writes the item reference as a number (no leading zeros).
        "cp_itemref" not in expect or company + item_ref.lstrip("0") == expect["cp_itemref"],
    ]
    return all(checks)


# --- GS1 codes --------------------------------------------------------------------------------


def gs1_outcomes(root: Path) -> Iterator[Outcome]:
    for entry in manifest(root, "gs1.json"):
        yield judged("gs1.json", entry["id"], partial(_gs1_verdict, entry["payload"], entry["expect"]))


def _gs1_verdict(code: str, expect: str | None) -> tuple[str, str]:
    results = {"code": _key_or_reason(lambda: scan_key(parse_code(code)))}
    line = code.encode()
    results["tcp line"] = _key_or_reason(lambda: line_key(Frame(line, len(line))))
    results["http batch"] = _http(code)
    if expect is not None and set(results.values()) == {expect}:
        return "accepted", expect
    # gs1.json expects a failure (null) where the code holds no item: documented as bad_code.
    if expect is None and set(results.values()) == {"rejected: bad_code"}:
        return "rejected", "bad_code"
    return "wrong", f"expected {expect}, got {results}"


def _key_or_reason(take: Callable[[], str]) -> str:
    try:
        return take()
    except InvalidInput as error:
        return f"rejected: {error.reason}"


def _http(code: str) -> str:
    body = orjson.dumps({"reader_id": "H", "site": "S", "line": "L", "scans": [{"code": code}]})
    batch = parse_batch(body, NOW, TimeLimits())
    if batch.observations:
        return batch.observations[0].key
    return f"rejected: {batch.rejected[0][1].reason}"
