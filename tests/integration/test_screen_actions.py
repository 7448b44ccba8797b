"""Actions from the screens on the local stack: each form posts the API's event through the
real broker and worker, and what it did shows on the pages; a hold placed from the item page
makes the item's next pass an on_hold violation; another line's token and a form without its
CSRF token are refused."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ingest.epc import item_key
from ingest.timefmt import now_us
from ingest.tokenfile import create_token
from ingest.tokens import Scope
from ingest.wire import encode_report
from tests.integration.conftest import Pipeline
from tests.integration.scenario import LINE, SITE, Line, part
from tests.integration.test_api_access import LINE_B, _plant
from tests.integration.test_screens import Browser

HOLD = {"site": SITE, "line": LINE, "hold_id": "H-7", "hold_type": "material", "owner": "QA"}


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, page
    return found[1]


def _outcome(page: str) -> str:
    found = re.search(r'data-action-outcome="(\w+)">([^<]+)<', page)
    assert found, page
    return f"{found[1]}: {found[2]}"


def _send(p: Pipeline, line: Line) -> None:
    for r in line.reports:
        p.send(p.topics.reads, encode_report(r), r.reader_id.encode())
    p.flush()


def test_actions_post_the_apis_events_within_the_token_scope(
    pipeline_factory: Callable[[dict[str, Any]], Pipeline],
) -> None:
    p = pipeline_factory(_plant())
    key = item_key(part(7))
    first = Line(now_us() - 60_000_000)
    first.at("RA", 0, [part(7)])
    _send(p, first)
    p.wait_until(lambda: len(p.query("history", item=key)) == 1, what="the item's first pass")

    other_line = create_token(Path(p.settings.api_tokens_file), "line-b", Scope(SITE, LINE_B))
    stranger = Browser(p.api)
    stranger.sign_in(other_line)
    csrf = _csrf(stranger.go("GET", "/screens/")[2])
    status, _, page = stranger.go("POST", "/screens/act/hold", {**HOLD, "items": key, "csrf": csrf})
    assert (status, _outcome(page)) == (
        403,
        f"refused: Refused: this token grants site {SITE} line {LINE_B}, not site {SITE} line {LINE}",
    )

    browser = Browser(p.api)
    browser.sign_in(p.settings.api_token)
    item_path = f"/screens/item?key={key}"
    csrf = _csrf(browser.go("GET", item_path)[2])
    assert browser.go("POST", "/screens/act/hold", {**HOLD, "items": key})[0] == 403  # no CSRF token
    status, _, page = browser.go(
        "POST", "/screens/act/hold", {**HOLD, "items": key, "csrf": csrf, "back": item_path}
    )
    assert (status, _outcome(page)) == (202, "accepted: Accepted: hold H-7 placed on 1 item(s).")
    assert f'href="{item_path}"' in page
    p.wait_until(lambda: [h["item"] for h in p.query("held")] == [key], what="the hold")

    # The item's next pass, after the hold was placed, is on hold.
    after = Line(now_us())
    after.at("RB", 1, [part(7)])
    _send(p, after)
    p.wait_until(lambda: len(p.query("history", item=key)) == 2, what="the held item's next pass")
    page = browser.go("GET", item_path)[2]
    assert re.findall(r"data-outcome>([^<]+)<", page) == ["movement", "on hold"]
    assert 'data-released="H-7">in force<' in page

    # A job created from the jobs page, then its blocker, delay and a QC result.
    job = {"site": SITE, "line": LINE, "job": "J-9", "csrf": csrf}
    forms: list[tuple[str, dict[str, str]]] = [
        ("job", {**job, "product": "PART", "quantity": "5", "due": "2030-01-02T08:00"}),
        ("blocker", {**job, "blocker_id": "B-1", "blocker_type": "tool", "owner": "maint", "note": "worn"}),
        ("delay", {**job, "note": "waiting for steel"}),
        ("qc", {**job, "item": key, "station": "C1", "result": "fail", "note": "scratched"}),
    ]
    for action, form in forms:
        status, _, page = browser.go("POST", f"/screens/act/{action}", form)
        assert status == 202, (action, page)
    card = "/screens/jobs/SITE-1/LINE-1/J-9"
    p.wait_until(lambda: 'data-blocker="B-1"' in browser.go("GET", card)[2], what="the blocker on the card")
    status, _, page = browser.go(
        "POST", "/screens/act/resolve", {**job, "blocker_id": "B-1", "note": "new tool"}
    )
    assert status == 202 and "blocker B-1 of job J-9 resolved" in page
    status, _, page = browser.go("POST", "/screens/act/release", {**HOLD, "csrf": csrf})
    assert (status, _outcome(page)) == (202, "accepted: Accepted: hold H-7 released from 1 item(s).")
    p.wait_until(lambda: 'data-resolved="B-1"' in browser.go("GET", card)[2], what="the resolution")
    page = browser.go("GET", card)[2]
    assert "due 2030-01-02 08:00" in page and "waiting for steel" in page and 'data-qc="fail"' in page
    p.wait_until(lambda: p.query("held") == [], what="the release")
    # The recall screen holds the whole scope of the item (here, the item alone).
    recall = {"site": SITE, "line": LINE, "item": key, "hold_type": "qc", "owner": "QA", "csrf": csrf}
    status, _, page = browser.go("POST", "/screens/act/recall-hold", {**recall, "hold_id": "R-1"})
    assert (status, _outcome(page)) == (202, "accepted: Accepted: hold R-1 placed on 1 item(s).")
    # A mistake is refused with its reason, as the API words it.
    status, _, page = browser.go(
        "POST", "/screens/act/job", {**job, "job": "J-10", "product": "NOPE", "quantity": "1"}
    )
    assert status == 400 and "unknown_product" in page
