"""The query API's access control over real HTTP against the running sink: bearer tokens scoped
to a line, the size limit and the rate limit per token."""

from __future__ import annotations

import copy
import dataclasses
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter

from ingest.epc import encode_sgtin96, gs1_check_digit, item_key
from ingest.schema import Aggregation, HoldEvent
from ingest.settings import Settings
from ingest.timefmt import now_us
from ingest.tokenfile import create_token
from ingest.tokens import Scope
from ingest.wire import encode_aggregation, encode_hold, encode_report
from storage.service import QUERIES
from tests.integration.conftest import Pipeline
from tests.integration.scenario import PLANT, SITE, Line, part
from tests.metrics import metrics_page

pytestmark = pytest.mark.integration

S = 1_000_000
LINE_A, LINE_B = "LINE-1", "LINE-2"
MAX_REQUEST_BYTES = 4_096
WIDGET_GTIN = "0" + "0614141" + "00003"
WIDGET_GTIN += str(gs1_check_digit(WIDGET_GTIN))


def widget(serial: int) -> str:
    return encode_sgtin96("0614141", "000003", serial)


def _plant() -> dict[str, Any]:
    """The scenario's line (LINE-1) and a second line of the same site making widgets."""
    doc = copy.deepcopy(PLANT)
    doc["sites"][0]["lines"].append(
        {
            "line": LINE_B,
            "stages": ["a", "b"],
            "stations": [{"station": "A2", "stage": "a"}, {"station": "B2", "stage": "b"}],
            "read_points": [
                {"reader": "RA2", "antenna": 1, "station": "A2"},
                {"reader": "RB2", "antenna": 1, "station": "B2"},
            ],
            "products": [{"product": "WIDGET", "gtin": WIDGET_GTIN, "route": {"stages": ["a", "b"]}}],
        }
    )
    return doc


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.with_(api_max_request_bytes=MAX_REQUEST_BYTES, api_rate_per_s=4.0, api_burst=30)


Answer = tuple[int, dict[str, str], Any]


def call(url: str, token: str = "", body: bytes | None = None) -> Answer:
    """(status, headers, JSON body) of one request, with ``token`` as its bearer token."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    request = urllib.request.Request(url, data=body, headers=headers, method="POST" if body else "GET")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), json.loads(exc.read() or b"null")


def test_tokens_scopes_and_limits(pipeline_factory: Callable[[dict[str, Any]], Pipeline]) -> None:
    p = pipeline_factory(_plant())
    tokens_file = Path(p.settings.api_tokens_file)
    # Created while the sink runs: it reads the tokens file again when it changes.
    line_a = create_token(tokens_file, "line-a", Scope(SITE, LINE_A))
    line_b = create_token(tokens_file, "line-b", Scope(SITE, LINE_B))
    base = now_us() - 600 * S
    p1, p2, w1, w2 = item_key(part(1)), item_key(part(2)), item_key(widget(1)), item_key(widget(2))
    line = Line(base)
    line.at("RA", 0, [part(1), part(2)])
    line.at("RB", 10, [part(1), part(2)])
    reports = list(line.reports)
    line.at("RA2", 0, [widget(1), widget(2)])
    line.at("RB2", 10, [widget(1)])
    reports += [dataclasses.replace(r, line=LINE_B) for r in line.reports[2:]]
    for r in reports:
        p.send(p.topics.reads, encode_report(r), r.reader_id.encode())
    packed = Aggregation(
        site=SITE, line=LINE_B, station="B2", parent=w1, children=(w2,), time_us=base + 12 * S
    )
    p.send(p.topics.aggregations, encode_aggregation(packed), w1.encode())
    p.flush()
    p.wait_until(lambda: p.query("summary")["passes"]["passes"] == 7, what="every pass stored")
    p.wait_until(lambda: len(p.query("genealogy", item=w1, direction="down")) == 1, what="the pack")

    # Probes and Prometheus need no token.
    assert call(f"{p.api}/health")[0] == 200
    sink_metrics = metrics_page(f"{p.api}/metrics")

    # No token, or an unknown one: 401 with a Bearer challenge.
    status, headers, body = call(f"{p.api}/v1/wip")
    assert (status, body["error"]) == (401, "unauthorized")
    assert headers["WWW-Authenticate"].startswith("Bearer")
    status, headers, body = call(f"{p.api}/v1/wip", "lt_not-a-token")
    assert status == 401 and 'error="invalid_token"' in headers["WWW-Authenticate"]

    # A line's token: its own line's data, 403 for another line or site.
    status, _, wip = call(f"{p.api}/v1/wip", line_a)
    assert status == 200 and wip == [{"site": SITE, "line": LINE_A, "stage": "b", "items": 2}]
    for other in ("line=LINE-2", "site=SITE-2", f"site={SITE}&line={LINE_B}"):
        status, _, body = call(f"{p.api}/v1/wip?{other}", line_a)
        assert (status, body["error"]) == (403, "forbidden"), other
        assert "LINE-1" in body["detail"]
    assert call(f"{p.api}/v1/progress", line_a)[0] == 403  # counts every site

    def ask(token: str, query: str, **params: str) -> Any:
        status, _, body = call(f"{p.api}/v1/{query}?{urllib.parse.urlencode(params)}", token)
        assert status == 200, (query, body)
        return body

    assert [h["station"] for h in ask(line_a, "history", item=p1)] == ["A1", "B1"]
    # Another line's items: no history, links, passes or state for this token...
    assert ask(line_a, "history", item=w1) == []
    assert ask(line_a, "genealogy", item=w1, direction="down") == []
    assert ask(line_a, "trace", item=w1, direction="down") == {
        "item": w1,
        "direction": "down",
        "nodes": [],
        "passes": [],
    }
    [itself] = ask(line_a, "recall", item=w2)
    assert (itself["item"], itself["stage"], itself["status"]) == (w2, "", "")
    summary = ask(line_a, "summary")
    assert summary["items"]["items"] == 2 and summary["passes"]["passes"] == 4
    assert summary["genealogy"] == {} and summary["dead_letters"] == []
    # ...which exist, as that line's token sees.
    assert [h["station"] for h in ask(line_b, "history", item=w1)] == ["A2", "B2"]
    [member] = ask(line_b, "trace", item=w1, direction="down")["nodes"]
    assert (member["item"], member["stage"]) == (w2, "a")
    assert ask(line_b, "history", item=p1) == []

    # Events: only for the token's line, and about items not at another line.
    def hold(line: str, item: str) -> bytes:
        ev = HoldEvent(
            event="placed",
            hold_id=f"H-{line}",
            site=SITE,
            line=line,
            items=(item,),
            hold_type="material",
            owner="QA",
            reason="",
            time_us=now_us(),
        )
        return encode_hold(ev)

    status, _, body = call(f"{p.api}/v1/events/hold", line_a, hold(LINE_B, w1))
    assert (status, body["error"]) == (403, "forbidden")
    status, _, body = call(f"{p.api}/v1/events/hold", line_a, hold(LINE_A, w1))
    assert (status, body["error"]) == (403, "forbidden") and w1 in body["detail"]
    assert call(f"{p.api}/v1/events/hold", line_a, hold(LINE_A, p2))[0] == 202

    # A body over the size limit: 413 with the reason.
    status, _, body = call(f"{p.api}/v1/events/hold", line_a, b"{" + b" " * MAX_REQUEST_BYTES + b"}")
    assert (status, body["error"]) == (413, "oversized")
    assert str(MAX_REQUEST_BYTES) in body["detail"]

    # Past the burst, 429 with Retry-After; after that wait, the token is answered again.
    answers: list[Answer] = []
    while len(answers) < 60 and (not answers or answers[-1][0] == 200):
        answers.append(call(f"{p.api}/v1/wip", line_b))
    status, headers, body = answers[-1]
    assert status == 429 and len(answers) > 20, [a[0] for a in answers]
    assert body["error"] == "rate_limited" and int(headers["Retry-After"]) >= 1
    assert call(f"{p.api}/v1/wip", line_a)[0] == 200  # each token has its own bucket
    time.sleep(int(headers["Retry-After"]))
    status, _, wip = call(f"{p.api}/v1/wip", line_b)
    assert status == 200 and {w["line"] for w in wip} <= {LINE_B}

    # Every answer is what its response model in the OpenAPI document says it is.
    for name, query in QUERIES.items():
        params = {q.name: "none" for q in query.params if q.required}  # a required key found nothing
        if query.param("item"):
            params["item"] = w1 if name == "trace" else p1
        TypeAdapter(query.answer).validate_python(p.query(name, **params))

    # Prometheus sees counts by query and status, never an item key or a token.
    sink_metrics += metrics_page(f"{p.api}/metrics")
    worker_metrics = metrics_page(f"http://127.0.0.1:{p.settings.metrics_port}/metrics")
    assert 'code="401"' in sink_metrics and 'code="429"' in sink_metrics
    for key in (p1, p2, w1, w2, part(1), widget(1), line_a, line_b, p.settings.api_token):
        assert key not in sink_metrics and key not in worker_metrics
