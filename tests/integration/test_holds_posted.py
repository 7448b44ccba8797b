"""Holds as supervisors post them: on a lot not seen yet (kept, and applied when it appears,
but not an item seen), and releases of holds never placed refused where they are posted."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ingest.epc import item_key
from ingest.timefmt import now_us
from ingest.wire import encode_report
from tests.integration.conftest import Pipeline
from tests.integration.scenario import LINE, PLANT, SITE, Line, part

S = 1_000_000


def test_a_hold_on_an_item_not_seen_yet_waits_for_it(
    pipeline_factory: Callable[[dict[str, Any]], Pipeline],
) -> None:
    p = pipeline_factory(PLANT)
    epc = part(31)
    key = item_key(epc)
    hold = ["--site", SITE, "--line", LINE, "--hold-id", "H-31", "--owner", "QA", "--type", "material"]
    assert p.cli("hold", "place", *hold, "--reason", "supplier lot", "--item", key) == (
        0,
        "posted: hold H-31 placed on 1 items\n",
        "",
    )
    p.wait_until(lambda: [h["item"] for h in p.query("held")] == [key], what="the hold on the unseen item")

    # Known from the hold only: not an item seen, no time of a read, no history.
    assert [h["last_seen"] for h in p.query("held")] == [None]
    summary = p.query("summary")
    assert summary["items"]["items"] == 0
    assert p.query("history", item=key) == []
    assert p.query("wip") == []

    # The item arrives after the hold was placed: its first pass is on hold, and now it is an
    # item seen (a pass before the hold's time would be a movement: holds count by event time).
    line = Line(now_us())
    line.at("RA", 1, [epc])
    for r in line.reports:
        p.send(p.topics.reads, encode_report(r), r.reader_id.encode())
    p.flush()
    p.wait_until(lambda: len(p.query("history", item=key)) == 1, what="the held item's first pass")
    assert [(h["outcome"], h["detail"]) for h in p.query("history", item=key)] == [
        ("on_hold", "hold H-31 (material)")
    ]
    assert p.query("summary")["items"]["items"] == 1
    (held,) = p.query("held")
    assert held["last_seen"].endswith("Z")

    # A release names the hold placed; a release of a hold never placed is refused.
    never = ["--site", SITE, "--line", LINE, "--hold-id", "H-99", "--owner", "QA", "--type", "material"]
    code, out, err = p.cli("hold", "release", *never, "--item", key)
    assert (code, out) == (2, "")
    assert err == (
        "linetrace: unknown_hold: hold 'H-99' was never placed (or is not stored yet); check its id with "
        "'linetrace query held' or 'linetrace query hold HOLD_ID'\n"
    )
    body = (
        b'{"v": 1, "type": "hold", "event": "released", "hold_id": "H-99", "site": "' + SITE.encode() + b'", '
        b'"line": "' + LINE.encode() + b'", "items": ["' + key.encode() + b'"], "hold_type": "material", '
        b'"owner": "QA", "reason": "", "time": "2026-01-05T06:00:00Z"}'
    )
    assert p.post("hold", body) == (400, "unknown_hold")
    assert p.cli("hold", "release", *hold, "--item", key)[0] == 0
    p.wait_until(lambda: p.query("held") == [], what="the release")
    assert [(e["event"], e["item"]) for e in p.query("hold", hold_id="H-31")] == [
        ("placed", key),
        ("released", key),
    ]
