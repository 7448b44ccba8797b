"""What a query says about things that are not there: an unknown item, a string that is not
an item key, a site or line the plant does not have, a window that ends before it starts.
Through the CLI and the API alike, from the running sink."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import orjson

from tests.integration.conftest import Pipeline
from tests.integration.scenario import LINE, PLANT, SITE

UNKNOWN = "urn:epc:id:sgtin:0614141.000001.999999"


def _get(p: Pipeline, path: str) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        f"{p.api}{path}", headers={"Authorization": f"Bearer {p.settings.api_token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            return resp.status, orjson.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, orjson.loads(exc.read())


def test_queries_say_what_is_not_there(pipeline_factory: Callable[[dict[str, Any]], Pipeline]) -> None:
    p = pipeline_factory(PLANT)
    p.wait_until(lambda: p.query("wip", site=SITE) == [], what="the plant's stations in the store")
    unknown = f"linetrace: unknown_item: no read, state or link of {UNKNOWN} is stored\n"
    for name in ("history", "genealogy", "trace", "recall"):
        assert p.cli("query", name, UNKNOWN) == (1, "", unknown), name
        status, body = _get(p, f"/v1/{name}?item={UNKNOWN}")
        assert (status, body["error"]) == (404, "unknown_item"), name
    cases = [
        (["history", "PART-1"], "item: not an item key: 'PART-1' (an item key starts with urn:epc:id:, "
         "urn:epc:class:lgtin:, hex:, gs1:)"),
        (["wip", "--site", "PLANT-9"], f"site: 'PLANT-9' is not in the plant; known: {SITE}"),
        (["wip", "--site", SITE, "--line", "L9"], f"line: 'L9' is not a line of site {SITE}; known: {LINE}"),
        (["throughput", "--minutes", "-5"], "minutes: must be at least 1, got -5"),
    ]  # fmt: skip
    for args, detail in cases:
        assert p.cli("query", *args) == (2, "", f"linetrace: bad_parameter: {detail}\n"), args
    status, body = _get(p, "/v1/wip?site=PLANT-9")
    assert status == 403 or (status, body["error"]) == (400, "bad_parameter")  # outside a token's scope: 403
    status, body = _get(p, "/v1/verdicts?since=2026-03-02T09:00:00Z&until=2026-03-02T08:00:00Z")
    assert (status, body) == (400, {"error": "bad_parameter", "detail": "since must be before until"})
