"""/metrics of the stream worker and the sink, scraped over HTTP while data flows."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from ingest.timefmt import now_us
from ingest.wire import encode_report
from tests.integration.conftest import Pipeline
from tests.integration.scenario import PLANT, build
from tests.metrics import scrape, total, try_scrape, value

pytestmark = pytest.mark.integration


def test_worker_and_sink_metrics_move(pipeline_factory: Callable[[dict[str, Any]], Pipeline]) -> None:
    p = pipeline_factory(PLANT)
    worker_url = f"http://127.0.0.1:{p.settings.metrics_port}/metrics"
    sink_url = f"{p.api}/metrics"
    reports, _, _ = build(now_us() - 600 * 1_000_000)
    first, rest = reports[:2], reports[2:]
    for r in first:
        p.send(p.topics.reads, encode_report(r), r.reader_id.encode())
    p.send(p.topics.reads, b"{not json", b"RA")
    p.flush()
    p.wait_until(
        lambda: total(try_scrape(worker_url), "linetrace_passes_total") == 5, what="first passes counted"
    )
    before_worker, before_sink = scrape(worker_url), scrape(sink_url)

    for r in rest:
        p.send(p.topics.reads, encode_report(r), r.reader_id.encode())
    p.flush()
    p.wait_until(lambda: p.query("summary")["passes"]["passes"] == 14, what="every pass stored")
    p.wait_until(lambda: len(p.query("violations")) == 2, what="violations confirmed")
    p.wait_until(
        lambda: value(try_scrape(sink_url), "linetrace_sink_rows_total", table="read_cycles") == len(reports),
        what="read cycles inserted with the commit",
    )
    worker, sink = scrape(worker_url), scrape(sink_url)

    reads_ra = sum(len(r.reads) for r in first)
    assert value(before_worker, "linetrace_reads_total", reader="RA", antenna="1") == reads_ra / 2
    assert value(worker, "linetrace_reads_total", reader="RB", antenna="1") > 0
    assert total(worker, "linetrace_reads_total") == sum(len(r.reads) for r in reports)
    assert total(worker, "linetrace_read_cycles_total") == len(reports)
    assert total(worker, "linetrace_passes_total") == 14 > total(before_worker, "linetrace_passes_total")
    assert value(worker, "linetrace_dead_letters_total", reason="malformed_json") == 1
    assert value(worker, "linetrace_violations_total", type="skipped_stage") == 1
    assert value(worker, "linetrace_violations_total", type="out_of_sequence") == 1
    assert value(worker, "linetrace_batch_duration_seconds_count", stage=p.topics.reads) > 0
    p.wait_until(
        lambda: any(n == "linetrace_consumer_lag_messages" for n, _ in try_scrape(worker_url)),
        what="lag gauges",
    )
    p.wait_until(lambda: value(try_scrape(worker_url), "linetrace_route_state_items") == 6, what="item count")

    assert value(sink, "linetrace_sink_rows_total", table="passes") >= 14
    assert value(sink, "linetrace_pass_latency_seconds_count") == 14  # each pass's first row
    assert value(sink, "linetrace_pass_latency_seconds_count") > value(
        before_sink, "linetrace_pass_latency_seconds_count"
    )
    assert value(sink, "linetrace_sink_insert_duration_seconds_count", table="passes") >= 1
    assert value(sink, "linetrace_dead_letters_stored_total", reason="malformed_json") == 1
    assert value(sink, "linetrace_sink_commits_total") >= 1
    assert value(sink, "linetrace_sink_errors_total") == 0
    assert value(sink, "linetrace_api_request_duration_seconds_count", query="summary", code="200") >= 1
    # The plant gauges are asked of ClickHouse at most every 15 s.
    p.wait_until(
        lambda: (
            # the item read back at b (out of sequence) is counted where it is
            value(try_scrape(sink_url), "linetrace_wip_items", site="SITE-1", line="LINE-1", stage="c") == 1
            and value(try_scrape(sink_url), "linetrace_wip_items", site="SITE-1", line="LINE-1", stage="b")
            == 1
            and value(try_scrape(sink_url), "linetrace_open_violations", type="skipped_stage") == 1
        ),
        what="WIP and open violations on the sink's /metrics",
    )
