"""Job cards end to end: progress per job and stage, late, blocked, pending QC, dispatch."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from ingest.epc import item_key
from ingest.schema import JobEvent, QcResult
from ingest.timefmt import now_us
from ingest.wire import encode_job_event, encode_qc, encode_report
from tests.integration.conftest import Pipeline
from tests.integration.scenario import LINE, PLANT, SITE, Line, part

pytestmark = pytest.mark.integration
S = 1_000_000


def test_job_cards(pipeline_factory: Callable[[dict[str, Any]], Pipeline]) -> None:
    p = pipeline_factory(PLANT)
    base = now_us() - 600 * S
    p1, p2, p3 = part(11), part(12), part(13)
    k1, k2, k3 = (item_key(e) for e in (p1, p2, p3))

    def job(event: str, job_id: str, t: float, **kw: Any) -> None:
        ev = JobEvent(
            event=event,
            job=job_id,
            site=SITE,
            line=LINE,
            product=kw.pop("product", ""),
            quantity=kw.pop("quantity", 0),
            items=kw.pop("items", ()),
            time_us=base + int(t * S),
            **kw,
        )
        p.send(p.topics.jobs, encode_job_event(ev), job_id.encode())

    job("created", "J-7", 0, product="PART", quantity=3, due_us=base + 60 * S, target_rate_per_h=10.0)
    job("items_bound", "J-7", 0, product="PART", items=(k1, k2, k3))
    job("created", "J-8", 0, product="PART", quantity=0)
    job(
        "blocker_opened", "J-7", 1, blocker_id="B1", blocker_type="tool", owner="maintenance", note="die worn"
    )
    job("blocker_opened", "J-8", 1, blocker_id="B2", blocker_type="material", owner="stores")
    job("blocker_resolved", "J-8", 2, blocker_id="B2", note="material arrived")
    job("delay", "J-7", 3, note="operator shortage")
    p.flush()
    # People and systems post through the query API, validated like everything else.
    ready = JobEvent(
        event="ready_for_dispatch",
        job="J-8",
        site=SITE,
        line=LINE,
        product="",
        quantity=0,
        items=(),
        time_us=base + 4 * S,
    )
    assert p.post("job", encode_job_event(ready)) == (202, p.topics.jobs)
    status, reason = p.post("qc", b'{"v": 1, "type": "qc", "result": "maybe"}')
    assert (status, reason) == (
        400,
        "bad_qc",
    )  # the bindings before the reads keep this test free of re-judging

    line = Line(base)
    line.at("RA", 0, [p1, p2, p3])
    line.at("RB", 10, [p1, p2, p3])
    line.at("RC", 20, [p1, p2, p3])
    line.at("RD", 30, [p1])
    for r in line.reports:
        p.send(p.topics.reads, encode_report(r), r.reader_id.encode())
    qc = QcResult(
        item=k3,
        job="J-7",
        site=SITE,
        line=LINE,
        station="C1",
        result="fail",
        notes="crack at weld",
        time_us=base + 25 * S,
    )
    p.send(p.topics.jobs, encode_qc(qc), b"J-7")
    p.flush()

    def settled() -> bool:
        progress = p.query("job_progress", job="J-7")
        return [r["stage"] for r in progress] == ["a", "b", "c", "d"] and progress[2]["rejected"] == 1

    p.wait_until(settled, what="job progress with the QC reject")
    progress = {
        r["stage"]: (r["received"], r["completed"], r["rejected"], r["pending"])
        for r in p.query("job_progress", job="J-7")
    }
    assert progress == {"a": (3, 3, 0, 0), "b": (3, 3, 0, 0), "c": (3, 1, 1, 1), "d": (1, 1, 0, 0)}
    late = p.query("late_jobs")
    assert [(j["job"], j["done"], j["remaining"], j["past_due"]) for j in late] == [("J-7", 1, 2, True)]
    blocked = p.query("blocked_jobs")
    assert [(b["kind"], b["job"], b["blocker_id"], b["blocker_type"], b["owner"]) for b in blocked] == [
        ("blocker", "J-7", "B1", "tool", "maintenance")
    ]
    assert [q["item"] for q in p.query("pending_qc", stage="c")] == [k2]
    assert [(r["job"], r["flagged"]) for r in p.query("ready_for_dispatch")] == [("J-8", True)]
    assert p.query("wip") == [{"site": SITE, "line": LINE, "stage": "c", "items": 1}]
    assert p.query("wip_by_job") == [{"site": SITE, "line": LINE, "job": "J-7", "stage": "c", "items": 1}]


def test_a_job_card_kept_from_the_command_line(
    pipeline_factory: Callable[[dict[str, Any]], Pipeline],
) -> None:
    p = pipeline_factory(PLANT)
    base = now_us() - 600 * S
    items = [part(21), part(22)]
    keys = [item_key(e) for e in items]
    where = ["--site", SITE, "--line", LINE, "--job", "J-21"]
    for args in (
        ["job", "create", *where, "--product", "PART", "--quantity", "5", "--due", "2026-01-05T16:00:00Z",
         "--planned-start", "2026-01-05T06:00:00Z", "--planned-end", "2026-01-05T14:00:00Z",
         "--target-rate", "12"],
        ["job", "bind", *where, "--product", "PART", "--item", keys[0], "--item", keys[1]],
        ["job", "blocker", "open", *where, "--blocker", "B-7", "--type", "tool", "--owner", "maintenance",
         "--note", "die worn"],
        ["job", "delay", *where, "--note", "operator shortage"],
        ["qc", "record", keys[1], "--site", SITE, "--line", LINE, "--station", "C1", "--job", "J-21",
         "--result", "fail", "--note", "crack at weld"],
    ):  # fmt: skip
        code, out, err = p.cli(*args)
        assert (code, err) == (0, ""), args
        assert out.startswith("posted: "), out
    line = Line(base)
    line.at("RA", 0, items)
    line.at("RB", 10, items)
    line.at("RC", 20, items)
    for r in line.reports:
        p.send(p.topics.reads, encode_report(r), r.reader_id.encode())
    p.flush()

    def settled() -> bool:
        progress = {r["stage"]: r for r in p.query("job_progress", job="J-21")}
        return "c" in progress and progress["c"]["rejected"] == 1

    p.wait_until(settled, what="the job card from the command line")
    late = p.query("late_jobs")
    assert [(j["job"], j["remaining"], j["past_due"]) for j in late] == [("J-21", 5, True)]
    blocked = p.query("blocked_jobs")
    assert [(b["job"], b["blocker_id"], b["blocker_type"], b["owner"]) for b in blocked] == [
        ("J-21", "B-7", "tool", "maintenance")
    ]

    # Resolved and ready: the card says so.
    assert p.cli("job", "blocker", "resolve", *where, "--blocker", "B-7", "--note", "die replaced")[0] == 0
    assert p.cli("job", "ready", *where)[0] == 0
    p.wait_until(lambda: p.query("blocked_jobs") == [], what="the blocker resolved")
    p.wait_until(
        lambda: [r["job"] for r in p.query("ready_for_dispatch")] == ["J-21"],
        what="the job ready for dispatch",
    )

    # Posts naming what the plant lacks are refused with the reason, and nothing is sent.
    for args, message in REFUSED:
        assert p.cli(*args) == (2, "", message), args
    body = (
        b'{"v": 1, "type": "job", "event": "created", "job": "J-X", "site": "PLANT-9", "line": "L", '
        b'"product": "PART", "time": "2026-01-05T06:00:00Z"}'
    )
    assert p.post("job", body) == (400, "unknown_site")
    p.flush()
    time.sleep(2.0)  # what was refused would be stored by now
    assert p.query("job_progress", job="J-X") == []


REFUSED = [
    (
        ["job", "create", "--site", "PLANT-9", "--line", LINE, "--job", "J-X", "--product", "PART"],
        f"linetrace: unknown_site: site 'PLANT-9' is not in the plant; known: {SITE}\n",
    ),
    (
        ["job", "create", "--site", SITE, "--line", LINE, "--job", "J-X", "--product", "NOPE"],
        f"linetrace: unknown_product: product 'NOPE' is not made on {SITE}/{LINE}; known: KIT, PART\n",
    ),
    (
        ["job", "create", "--site", SITE, "--line", LINE, "--job", "J-X", "--product", "PART",
         "--due", "tomorrow"],
        "linetrace: bad_timestamp: --due: not an RFC 3339 timestamp: 'tomorrow'\n",
    ),
    (
        ["qc", "record", "urn:epc:id:sgtin:0614141.000001.1", "--site", SITE, "--line", LINE, "--job", "J-X",
         "--station", "QC-9", "--result", "pass"],
        f"linetrace: unknown_station: station 'QC-9' is not a station of {SITE}/{LINE}; "
        "known: A1, B1, C1, D1\n",
    ),
]  # fmt: skip
